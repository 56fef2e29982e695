/*
 * cert.h: inspection of the daemon's TLS certificate and key (PEM files), for
 * evidence checks and start-up diagnostics. Nothing here makes or changes
 * keys; the private key is read only to confirm it matches the certificate
 * and is freed (and cleansed by OpenSSL) before returning.
 */
#ifndef MM_CRYPTO_CERT_H
#define MM_CRYPTO_CERT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

typedef struct mm_cert_info {
	char subject[256];     /* one-line RFC 2253 subject, truncated */
	char key_type[16];     /* "RSA", "RSA-PSS", "EC", "ED25519", "ED448", "DSA", "other" */
	int key_bits;
	char curve[32];        /* EC curve short name, e.g. "prime256v1"; "" otherwise */
	char sig_alg[64];      /* signature algorithm short name, e.g. "RSA-SHA256" */
	int64_t not_before_ms;
	int64_t not_after_ms;
	bool key_matches;      /* the private key corresponds to the certificate */
	bool cryptrec_ok;      /* key and signature algorithms are on the CRYPTREC
	                        * e-Government Recommended Ciphers List at a size
	                        * it recommends (RSA >= 2048, P-256/384/521,
	                        * Ed25519/Ed448; no SHA-1 or MD5 signatures) */
	char cryptrec_reason[128]; /* why not, when !cryptrec_ok */
} mm_cert_info;

/*
 * Reads the first certificate in cert_path and, if key_path is not NULL, the
 * private key in key_path. On success fills *ret. Errors: MM_ERR_IO (a file
 * cannot be opened), MM_ERR_INVALID (not a PEM certificate or key; the detail
 * names the file, never key material).
 */
mm_err mm_crypto_cert_inspect(const char *cert_path, const char *key_path, mm_cert_info *ret);

#endif
