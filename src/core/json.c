/* json.c: strict typed JSON field access; see json.h. */
#include "core/json.h"

#include <string.h>

mm_err mm_json_parse(const char *data, size_t len, json_t **ret)
{
	json_error_t e;
	json_t *v;

	if (len == 0)
		return mm_err_set(MM_ERR_INVALID, "request body must be a JSON value");
	v = json_loadb(data, len, JSON_REJECT_DUPLICATES, &e);
	if (v == NULL)
		return mm_err_set(MM_ERR_INVALID, "malformed JSON at line %d column %d: %.100s",
				  e.line, e.column, e.text);
	*ret = v;
	return MM_OK;
}

mm_err mm_json_only(const json_t *obj, const char *const *allowed)
{
	const char *k;
	json_t *v;

	if (!json_is_object(obj))
		return mm_err_set(MM_ERR_INVALID, "expected a JSON object");
	json_object_foreach((json_t *)obj, k, v) {
		bool ok = false;

		(void)v;
		for (size_t i = 0; allowed[i] != NULL && !ok; i++)
			ok = strcmp(allowed[i], k) == 0;
		if (!ok)
			return mm_err_set(MM_ERR_INVALID, "unknown field '%.64s'", k);
	}
	return MM_OK;
}

static mm_err field(const json_t *obj, const char *key, bool required, json_t **ret)
{
	json_t *v;

	if (!json_is_object(obj))
		return mm_err_set(MM_ERR_INVALID, "expected a JSON object");
	v = json_object_get(obj, key);
	if (v == NULL || json_is_null(v)) {
		if (required)
			return mm_err_set(MM_ERR_INVALID, "field '%s' is required", key);
		v = NULL;
	}
	*ret = v;
	return MM_OK;
}

mm_err mm_json_str(const json_t *obj, const char *key, bool required, size_t maxlen,
		   const char **ret)
{
	json_t *v;
	mm_err rc;

	if ((rc = field(obj, key, required, &v)) != MM_OK)
		return rc;
	if (v == NULL) {
		*ret = NULL;
		return MM_OK;
	}
	if (!json_is_string(v))
		return mm_err_set(MM_ERR_INVALID, "field '%s': expected a string", key);
	if (json_string_length(v) > maxlen)
		return mm_err_set(MM_ERR_INVALID, "field '%s': longer than %zu bytes", key, maxlen);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return mm_err_set(MM_ERR_INVALID, "field '%s': contains a NUL character", key);
	*ret = json_string_value(v);
	return MM_OK;
}

mm_err mm_json_int(const json_t *obj, const char *key, bool required, int64_t min,
		   int64_t max, int64_t *ret)
{
	json_t *v;
	json_int_t n;
	mm_err rc;

	if ((rc = field(obj, key, required, &v)) != MM_OK)
		return rc;
	if (v == NULL)
		return MM_OK; /* *ret keeps the caller's default */
	if (!json_is_integer(v))
		return mm_err_set(MM_ERR_INVALID, "field '%s': expected an integer", key);
	n = json_integer_value(v);
	if (n < min || n > max)
		return mm_err_set(MM_ERR_INVALID, "field '%s': must be between %lld and %lld", key,
				  (long long)min, (long long)max);
	*ret = n;
	return MM_OK;
}

mm_err mm_json_bool(const json_t *obj, const char *key, bool required, bool *ret)
{
	json_t *v;
	mm_err rc;

	if ((rc = field(obj, key, required, &v)) != MM_OK)
		return rc;
	if (v == NULL)
		return MM_OK;
	if (!json_is_boolean(v))
		return mm_err_set(MM_ERR_INVALID, "field '%s': expected true or false", key);
	*ret = json_is_true(v);
	return MM_OK;
}

char *mm_json_dump(const json_t *v)
{
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}
