/*
 * tls.h: TLS for the HTTP server (OpenSSL through libevent's OpenSSL
 * bufferevents). Kept in src/crypto so that OpenSSL headers stay here.
 * Policy: TLS 1.2 minimum, TLS 1.3 preferred; TLS 1.2 limited to AEAD
 * suites with ECDHE (AES-GCM, on the CRYPTREC list).
 */
#ifndef MM_CRYPTO_TLS_H
#define MM_CRYPTO_TLS_H

#include "core/err.h"

struct bufferevent;
struct event_base;

typedef struct mm_tls mm_tls;

/* Loads a PEM certificate chain and private key. Errors: MM_ERR_CONFIG
 * (unreadable file, key does not match certificate), MM_ERR_NOMEM. */
mm_err mm_tls_new(const char *cert_file, const char *key_file, mm_tls **ret);
/* A server-side TLS bufferevent with no socket yet (evhttp sets it), or
 * NULL when out of memory. */
struct bufferevent *mm_tls_bufferevent(mm_tls *t, struct event_base *base);
void mm_tls_free(mm_tls *t);

#endif
