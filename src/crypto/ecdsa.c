/*
 * ecdsa.c: ECDSA over NIST P-256 with SHA-256 (FIPS 186-4, X9.62) over
 * OpenSSL 3. See primitives.h.
 *
 * Keys travel as raw bytes (32-byte big-endian scalar, 65-byte uncompressed
 * point) and become an EVP_PKEY only for the duration of one call.
 * Invariants: a private scalar is checked to lie in [1, n-1]; a public point
 * is checked to lie on the curve (EVP_PKEY_fromdata decodes it with
 * EC_POINT_oct2point); DER signatures are accepted only in canonical DER; BIGNUMs
 * that held private scalars are freed with BN_clear_free.
 */
#include "crypto/primitives.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <string.h>

#include "crypto/crypto.h"

/* Builds an EVP_PKEY from a public point and, when priv is not NULL, a
 * private scalar. Errors: MM_ERR_INVALID, MM_ERR_CRYPTO. */
static mm_err make_pkey(const uint8_t *priv, const uint8_t pub[MM_P256_PUB_LEN], EVP_PKEY **ret)
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *d = NULL;
	mm_err rc = MM_OK;

	if (pub[0] != 0x04)
		return mm_err_set(MM_ERR_INVALID, "P-256 public key must be an uncompressed point");
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, MM_P256_PUB_LEN)) {
		rc = mm_err_set(MM_ERR_CRYPTO, "cannot build P-256 key parameters");
		goto out;
	}
	if (priv != NULL) {
		if ((d = BN_secure_new()) == NULL || BN_bin2bn(priv, MM_P256_PRIV_LEN, d) == NULL ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d)) {
			rc = mm_err_set(MM_ERR_CRYPTO, "cannot build P-256 key parameters");
			goto out;
		}
	}
	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(pctx) != 1) {
		rc = mm_err_set(MM_ERR_CRYPTO, "cannot create P-256 key");
		goto out;
	}
	if (EVP_PKEY_fromdata(pctx, &pkey, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
			      params) != 1) {
		rc = mm_err_set(MM_ERR_INVALID, "not a valid P-256 key");
		goto out;
	}
	*ret = pkey;
	pkey = NULL;
out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(pctx);
	OSSL_PARAM_free(params); /* the BN part lives in secure memory, cleared on free */
	OSSL_PARAM_BLD_free(bld);
	BN_clear_free(d);
	return rc;
}

mm_err mm_ecdsa_p256_public(const uint8_t priv[MM_P256_PRIV_LEN], uint8_t pub[MM_P256_PUB_LEN])
{
	EC_GROUP *g = NULL;
	EC_POINT *p = NULL;
	BN_CTX *bctx = NULL;
	BIGNUM *d = NULL;
	mm_err rc = MM_OK;

	if ((g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1)) == NULL ||
	    (p = EC_POINT_new(g)) == NULL || (bctx = BN_CTX_secure_new()) == NULL ||
	    (d = BN_secure_new()) == NULL || BN_bin2bn(priv, MM_P256_PRIV_LEN, d) == NULL) {
		rc = mm_err_set(MM_ERR_CRYPTO, "P-256 setup failed");
		goto out;
	}
	if (BN_is_zero(d) || BN_cmp(d, EC_GROUP_get0_order(g)) >= 0) {
		rc = mm_err_set(MM_ERR_INVALID, "P-256 private key out of range");
		goto out;
	}
	if (EC_POINT_mul(g, p, d, NULL, NULL, bctx) != 1 ||
	    EC_POINT_point2oct(g, p, POINT_CONVERSION_UNCOMPRESSED, pub, MM_P256_PUB_LEN, bctx) !=
		    MM_P256_PUB_LEN)
		rc = mm_err_set(MM_ERR_CRYPTO, "P-256 point multiplication failed");
out:
	BN_clear_free(d);
	BN_CTX_free(bctx);
	EC_POINT_free(p);
	EC_GROUP_free(g);
	return rc;
}

mm_err mm_ecdsa_p256_keygen(uint8_t priv[MM_P256_PRIV_LEN], uint8_t pub[MM_P256_PUB_LEN])
{
	EVP_PKEY *pkey = NULL;
	BIGNUM *d = NULL;
	mm_err rc = MM_OK;

	if ((pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL ||
	    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1 ||
	    BN_bn2binpad(d, priv, MM_P256_PRIV_LEN) != MM_P256_PRIV_LEN) {
		rc = mm_err_set(MM_ERR_CRYPTO, "P-256 key generation failed");
		goto out;
	}
	rc = mm_ecdsa_p256_public(priv, pub);
out:
	if (rc != MM_OK)
		mm_crypto_wipe(priv, MM_P256_PRIV_LEN);
	BN_clear_free(d);
	EVP_PKEY_free(pkey);
	return rc;
}

mm_err mm_ecdsa_p256_sign(const uint8_t priv[MM_P256_PRIV_LEN], const void *msg, size_t n,
			  mm_sig_format fmt, mm_buf *sig)
{
	uint8_t pub[MM_P256_PUB_LEN], der[MM_P256_DER_SIG_MAX], raw[MM_P256_RAW_SIG_LEN];
	static const uint8_t empty = 0;
	const unsigned char *p = der;
	EVP_MD_CTX *md = NULL;
	EVP_PKEY *pkey = NULL;
	ECDSA_SIG *es = NULL;
	size_t der_len = sizeof(der);
	mm_err rc;

	if ((rc = mm_ecdsa_p256_public(priv, pub)) != MM_OK ||
	    (rc = make_pkey(priv, pub, &pkey)) != MM_OK)
		goto out;
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, pkey, NULL) != 1 ||
	    EVP_DigestSign(md, der, &der_len, n ? msg : &empty, n) != 1) {
		rc = mm_err_set(MM_ERR_CRYPTO, "ECDSA signing failed");
		goto out;
	}
	if (fmt == MM_SIG_DER) {
		rc = mm_buf_append(sig, der, der_len);
		goto out;
	}
	if ((es = d2i_ECDSA_SIG(NULL, &p, (long)der_len)) == NULL ||
	    BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32) != 32 ||
	    BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32) != 32) {
		rc = mm_err_set(MM_ERR_CRYPTO, "ECDSA signature conversion failed");
		goto out;
	}
	rc = mm_buf_append(sig, raw, sizeof(raw));
out:
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	return rc;
}

/* Converts r || s into DER. Errors: MM_ERR_VERIFY (malformed), MM_ERR_CRYPTO. */
static mm_err raw_to_der(const uint8_t *sig, uint8_t der[MM_P256_DER_SIG_MAX], size_t *ret_len)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
	unsigned char *p = der;
	int len;
	mm_err rc = MM_OK;

	if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		rc = mm_err_set(MM_ERR_CRYPTO, "ECDSA signature conversion failed");
		goto out;
	}
	if ((len = i2d_ECDSA_SIG(es, NULL)) <= 0 || len > MM_P256_DER_SIG_MAX ||
	    i2d_ECDSA_SIG(es, &p) != len) {
		rc = mm_err_set(MM_ERR_VERIFY, "malformed ECDSA signature");
		goto out;
	}
	*ret_len = (size_t)len;
out:
	ECDSA_SIG_free(es);
	return rc;
}

/* Accepts only canonical DER: decoding then re-encoding must give the input. */
static mm_err check_der(const uint8_t *sig, size_t len)
{
	const unsigned char *p = sig;
	unsigned char *re = NULL;
	ECDSA_SIG *es = NULL;
	int relen;
	mm_err rc = MM_OK;

	if (len == 0 || len > MM_P256_DER_SIG_MAX ||
	    (es = d2i_ECDSA_SIG(NULL, &p, (long)len)) == NULL || (size_t)(p - sig) != len ||
	    (relen = i2d_ECDSA_SIG(es, &re)) <= 0 || (size_t)relen != len ||
	    memcmp(re, sig, len) != 0)
		rc = mm_err_set(MM_ERR_VERIFY, "malformed ECDSA signature");
	OPENSSL_free(re);
	ECDSA_SIG_free(es);
	return rc;
}

mm_err mm_ecdsa_p256_verify(const uint8_t pub[MM_P256_PUB_LEN], const void *msg, size_t n,
			    const uint8_t *sig, size_t sig_len, mm_sig_format fmt)
{
	uint8_t der[MM_P256_DER_SIG_MAX];
	static const uint8_t empty = 0;
	const uint8_t *s = sig;
	size_t slen = sig_len;
	EVP_MD_CTX *md = NULL;
	EVP_PKEY *pkey = NULL;
	int ok;
	mm_err rc;

	if (fmt == MM_SIG_RAW) {
		if (sig_len != MM_P256_RAW_SIG_LEN)
			return mm_err_set(MM_ERR_VERIFY, "ECDSA raw signature must be 64 bytes");
		if ((rc = raw_to_der(sig, der, &slen)) != MM_OK)
			return rc;
		s = der;
	} else if ((rc = check_der(sig, sig_len)) != MM_OK) {
		return rc;
	}
	if ((rc = make_pkey(NULL, pub, &pkey)) != MM_OK)
		goto out;
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit_ex(md, NULL, "SHA256", NULL, NULL, pkey, NULL) != 1) {
		rc = mm_err_set(MM_ERR_CRYPTO, "ECDSA verification setup failed");
		goto out;
	}
	ok = EVP_DigestVerify(md, s, slen, n ? msg : &empty, n);
	if (ok != 1)
		rc = mm_err_set(MM_ERR_VERIFY, "ECDSA signature does not verify");
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	return rc;
}

mm_err mm_ecdsa_p256_public_pem(const uint8_t pub[MM_P256_PUB_LEN], mm_buf *out)
{
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	char *data;
	long len;
	mm_err rc;

	if ((rc = make_pkey(NULL, pub, &pkey)) != MM_OK)
		return rc;
	if ((bio = BIO_new(BIO_s_mem())) == NULL || PEM_write_bio_PUBKEY(bio, pkey) != 1 ||
	    (len = BIO_get_mem_data(bio, &data)) <= 0) {
		rc = mm_err_set(MM_ERR_CRYPTO, "cannot encode P-256 public key");
		goto out;
	}
	rc = mm_buf_append(out, data, (size_t)len);
out:
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	return rc;
}
