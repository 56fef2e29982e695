/*
 * algorithms.c: the algorithms mamori's key manager uses, with their place
 * on the CRYPTREC Ciphers List, published for GET /v1/keys/algorithms so that
 * auditors can check them against FISC's guidance to use recommended ciphers.
 *
 * Source: CRYPTREC, "電子政府における調達のために参照すべき暗号のリスト
 * (CRYPTREC暗号リスト)", CRYPTREC LS-0001-2022, first edition 2023-03-30
 * (e-Government Recommended Ciphers List). EdDSA was promoted to the
 * e-Government Recommended Ciphers List in that edition.
 * Invariant: only algorithms on the e-Government Recommended Ciphers List
 * appear as usable here; this table is data and changes only with the code
 * that implements an algorithm.
 */
#include "keys/named.h"

#include <jansson.h>

struct alg {
	const char *name;          /* key type or internal use */
	const char *use;           /* "named-key" or "internal" */
	const char *category;      /* CRYPTREC category */
	const char *cryptrec;      /* the listed technique(s) */
	int security_bits;
	const char *operations;    /* space separated */
	const char *standard;
};

static const struct alg algs[] = {
	{ "aes256-gcm", "named-key", "symmetric-key cipher + mode of operation (authenticated encryption)",
	  "AES (256-bit key); GCM", 256, "encrypt decrypt rewrap datakey",
	  "FIPS 197; NIST SP 800-38D" },
	{ "hmac-sha256", "named-key", "message authentication code", "HMAC with SHA-256", 256,
	  "hmac verify", "FIPS 198-1; RFC 2104; FIPS 180-4" },
	{ "ed25519", "named-key", "public-key cipher (signature)", "EdDSA (Ed25519)", 128,
	  "sign verify", "RFC 8032; FIPS 186-5" },
	{ "ecdsa-p256", "named-key", "public-key cipher (signature)", "ECDSA (P-256) with SHA-256",
	  128, "sign verify", "FIPS 186-4; ANSI X9.62; SEC 1" },
	{ "keyring", "internal", "symmetric-key cipher + mode of operation (authenticated encryption)",
	  "AES (256-bit key); GCM", 256, "root key wraps the keyring; keyring wraps stored secrets",
	  "FIPS 197; NIST SP 800-38D" },
	{ "audit-signing", "internal", "public-key cipher (signature)", "EdDSA (Ed25519)", 128,
	  "audit checkpoint signatures", "RFC 8032" },
	{ "sha-256", "internal", "hash function", "SHA-256", 128, "hashing, Merkle tree",
	  "FIPS 180-4" },
	{ "drbg", "internal", "pseudo-random number generator", "CTR_DRBG (AES-256)", 256,
	  "keys, nonces, tokens", "NIST SP 800-90A (OpenSSL default provider)" },
};

json_t *mm_keys_algorithms_json(void)
{
	json_t *o = json_object(), *a = json_array();

	if (o == NULL || a == NULL)
		goto fail;
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s}", "name", algs[i].name,
				      "use", algs[i].use, "cryptrec_list",
				      "e-Government Recommended Ciphers List", "cryptrec_category",
				      algs[i].category, "cryptrec_technique", algs[i].cryptrec,
				      "security_bits", algs[i].security_bits, "operations",
				      algs[i].operations, "standard", algs[i].standard);

		if (e == NULL || json_array_append_new(a, e) != 0)
			goto fail;
	}
	if (json_object_set_new(o, "source", json_string("CRYPTREC LS-0001-2022 (CRYPTREC Ciphers "
							 "List, 2023-03-30)")) != 0 ||
	    json_object_set_new(o, "secret_sharing",
				json_string("Shamir secret sharing over GF(2^8) (libgfshare) splits the "
					    "root key; information-theoretic, not a cipher")) != 0 ||
	    json_object_set_new(o, "algorithms", a) != 0) {
		a = NULL;
		goto fail;
	}
	return o;
fail:
	json_decref(a);
	json_decref(o);
	return NULL;
}
