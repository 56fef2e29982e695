/*
 * cert.c: reading a PEM certificate and key with OpenSSL 3 and summarising
 * them (see cert.h). The key is held only inside this function.
 */
#include "crypto/cert.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int64_t asn1_ms(const ASN1_TIME *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm) * 1000;
}

static void classify(mm_cert_info *ci, EVP_PKEY *pk, const X509 *x)
{
	int id = EVP_PKEY_get_base_id(pk);
	int sig_nid = X509_get_signature_nid(x), md_nid = NID_undef, pk_nid = NID_undef;
	const char *sn;

	ci->key_bits = EVP_PKEY_get_bits(pk);
	ci->cryptrec_ok = true;
	switch (id) {
	case EVP_PKEY_RSA:
	case EVP_PKEY_RSA_PSS:
		snprintf(ci->key_type, sizeof(ci->key_type), "%s", id == EVP_PKEY_RSA ? "RSA" : "RSA-PSS");
		if (ci->key_bits < 2048) {
			ci->cryptrec_ok = false;
			snprintf(ci->cryptrec_reason, sizeof(ci->cryptrec_reason),
				 "RSA key of %d bits (at least 2048 needed)", ci->key_bits);
		}
		break;
	case EVP_PKEY_EC: {
		char name[sizeof(ci->curve)] = "";
		size_t len = 0;

		snprintf(ci->key_type, sizeof(ci->key_type), "EC");
		if (EVP_PKEY_get_utf8_string_param(pk, "group", name, sizeof(name), &len) == 1)
			snprintf(ci->curve, sizeof(ci->curve), "%s", name);
		if (strcmp(ci->curve, "prime256v1") != 0 && strcmp(ci->curve, "P-256") != 0 &&
		    strcmp(ci->curve, "secp384r1") != 0 && strcmp(ci->curve, "P-384") != 0 &&
		    strcmp(ci->curve, "secp521r1") != 0 && strcmp(ci->curve, "P-521") != 0) {
			ci->cryptrec_ok = false;
			snprintf(ci->cryptrec_reason, sizeof(ci->cryptrec_reason),
				 "EC curve %s is not P-256, P-384 or P-521", ci->curve[0] ? ci->curve : "(unknown)");
		}
		break;
	}
	case EVP_PKEY_ED25519:
		snprintf(ci->key_type, sizeof(ci->key_type), "ED25519");
		break;
	case EVP_PKEY_ED448:
		snprintf(ci->key_type, sizeof(ci->key_type), "ED448");
		break;
	case EVP_PKEY_DSA:
		snprintf(ci->key_type, sizeof(ci->key_type), "DSA");
		ci->cryptrec_ok = false;
		snprintf(ci->cryptrec_reason, sizeof(ci->cryptrec_reason), "DSA keys are not recommended");
		break;
	default:
		snprintf(ci->key_type, sizeof(ci->key_type), "other");
		ci->cryptrec_ok = false;
		snprintf(ci->cryptrec_reason, sizeof(ci->cryptrec_reason), "key type is not on the list");
		break;
	}
	sn = OBJ_nid2sn(sig_nid);
	snprintf(ci->sig_alg, sizeof(ci->sig_alg), "%s", sn ? sn : "unknown");
	if (OBJ_find_sigid_algs(sig_nid, &md_nid, &pk_nid) == 1 &&
	    (md_nid == NID_sha1 || md_nid == NID_md5 || md_nid == NID_md5_sha1) && ci->cryptrec_ok) {
		ci->cryptrec_ok = false;
		snprintf(ci->cryptrec_reason, sizeof(ci->cryptrec_reason),
			 "certificate signed with %s", sn ? sn : "a weak hash");
	}
}

mm_err mm_crypto_cert_inspect(const char *cert_path, const char *key_path, mm_cert_info *ret)
{
	mm_cert_info ci;
	FILE *f = NULL;
	X509 *x = NULL;
	EVP_PKEY *pub = NULL, *priv = NULL;
	mm_err rc = MM_OK;

	memset(&ci, 0, sizeof(ci));
	if ((f = fopen(cert_path, "r")) == NULL) {
		rc = mm_err_set(MM_ERR_IO, "cannot open certificate %.200s: %s", cert_path,
				strerror(errno));
		goto out;
	}
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	f = NULL;
	if (x == NULL) {
		rc = mm_err_set(MM_ERR_INVALID, "%.200s is not a PEM certificate", cert_path);
		goto out;
	}
	X509_NAME_oneline(X509_get_subject_name(x), ci.subject, sizeof(ci.subject));
	ci.not_before_ms = asn1_ms(X509_get0_notBefore(x));
	ci.not_after_ms = asn1_ms(X509_get0_notAfter(x));
	if ((pub = X509_get_pubkey(x)) == NULL) {
		rc = mm_err_set(MM_ERR_INVALID, "%.200s: unsupported public key", cert_path);
		goto out;
	}
	classify(&ci, pub, x);
	if (key_path != NULL) {
		if ((f = fopen(key_path, "r")) == NULL) {
			rc = mm_err_set(MM_ERR_IO, "cannot open key %.200s: %s", key_path,
					strerror(errno));
			goto out;
		}
		priv = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
		f = NULL;
		if (priv == NULL) {
			rc = mm_err_set(MM_ERR_INVALID, "%.200s is not an unencrypted PEM private key",
					key_path);
			goto out;
		}
		ci.key_matches = EVP_PKEY_eq(pub, priv) == 1;
	}
	*ret = ci;
out:
	EVP_PKEY_free(priv);
	EVP_PKEY_free(pub);
	X509_free(x);
	return rc;
}
