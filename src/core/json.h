/*
 * json.h: typed access to JSON objects from outside input (jansson).
 *
 * Each getter checks presence and type and returns MM_ERR_INVALID with a
 * detail naming the field ("field 'reason': expected a string"), which the API
 * layer returns to the client as a 400. Returned strings are borrowed from the
 * object: valid while the object lives.
 */
#ifndef MM_CORE_JSON_H
#define MM_CORE_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

/* Parses exactly one JSON object or array of len bytes (no trailing data),
 * as jansson's json_loadb(JSON_REJECT_DUPLICATES) does. The caller owns *ret
 * (json_decref). Errors: MM_ERR_INVALID with jansson's line, column and text. */
mm_err mm_json_parse(const char *data, size_t len, json_t **ret);

/* mm_json_parse's fast path (yajl), public for the differential tests and
 * the fuzz target: true with *ret (the caller's) when the text is in the
 * subset it handles and it produced the value jansson would; false, *ret
 * untouched, when jansson must decide — which includes every invalid text. */
bool mm_json_parse_fast(const char *data, size_t len, json_t **ret);

/* Requires obj to be an object whose keys are all in allowed (NULL-ended).
 * Errors: MM_ERR_INVALID naming the first unknown field. */
mm_err mm_json_only(const json_t *obj, const char *const *allowed);

/* String field of at most maxlen bytes; absent gives *ret = NULL unless
 * required. Errors: MM_ERR_INVALID. */
mm_err mm_json_str(const json_t *obj, const char *key, bool required, size_t maxlen,
		   const char **ret);
mm_err mm_json_int(const json_t *obj, const char *key, bool required, int64_t min,
		   int64_t max, int64_t *ret);
mm_err mm_json_bool(const json_t *obj, const char *key, bool required, bool *ret);

/* Serialises compactly; caller frees. NULL when out of memory. */
char *mm_json_dump(const json_t *v);

/* Appends to out exactly the text json_dumps(v, JSON_COMPACT) gives (v an
 * object or array; anything else fails), faster when v is an object with a
 * string member of at least MM_JSON_PLAIN_MIN bytes, such as a key
 * operation's base64 ciphertext or plaintext: such an object is written
 * member by member, and each key or string made only of characters JSON
 * never escapes (A-Z a-z 0-9 + / = - _ : .) is copied as is; every other
 * key and value, and every other document, is written by jansson.
 * Errors: MM_ERR_NOMEM (also when jansson cannot write v), MM_ERR_LIMIT
 * (out's limit); out may then hold part of the text. */
#define MM_JSON_PLAIN_MIN 256
mm_err mm_json_dump_buf(const json_t *v, mm_buf *out);

#endif
