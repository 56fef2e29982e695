/* tls.c: server TLS context and bufferevents; see tls.h. */
#include "crypto/tls.h"

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>

struct mm_tls {
	SSL_CTX *ctx;
};

mm_err mm_tls_new(const char *cert_file, const char *key_file, mm_tls **ret)
{
	mm_tls *t = calloc(1, sizeof(*t));
	mm_err rc = MM_OK;

	if (t == NULL)
		return MM_ERR_NOMEM;
	t->ctx = SSL_CTX_new(TLS_server_method());
	if (t->ctx == NULL) {
		rc = MM_ERR_NOMEM;
		goto out;
	}
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
				    SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_set_cipher_list(t->ctx, "ECDHE+AESGCM") != 1) {
		rc = mm_err_set(MM_ERR_CONFIG, "tls: cipher policy rejected");
		goto out;
	}
	if (SSL_CTX_use_certificate_chain_file(t->ctx, cert_file) != 1) {
		rc = mm_err_set(MM_ERR_CONFIG, "tls.cert: cannot load certificate chain from %s",
				cert_file);
		goto out;
	}
	if (SSL_CTX_use_PrivateKey_file(t->ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		rc = mm_err_set(MM_ERR_CONFIG, "tls.key: cannot load private key from %s", key_file);
		goto out;
	}
	if (SSL_CTX_check_private_key(t->ctx) != 1) {
		rc = mm_err_set(MM_ERR_CONFIG, "tls.key does not match tls.cert");
		goto out;
	}
out:
	ERR_clear_error();
	if (rc != MM_OK) {
		mm_tls_free(t);
		return rc;
	}
	*ret = t;
	return MM_OK;
}

struct bufferevent *mm_tls_bufferevent(mm_tls *t, struct event_base *base)
{
	SSL *ssl = SSL_new(t->ctx);

	if (ssl == NULL)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
					      BEV_OPT_CLOSE_ON_FREE);
}

void mm_tls_free(mm_tls *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}
