/*
 * fuzz_json_request.c: the JSON request layer: body parsing with duplicate
 * rejection, field whitelisting and typed getters as handlers use them, and
 * error-detail formatting, and the reply serialiser. Invariants checked:
 * never crashes, never reads out of bounds, a value returned as valid has the
 * promised type and bounds, the parser's yajl fast path gives a value only
 * when jansson gives the same value, and mm_json_dump_buf writes exactly what
 * json_dumps(JSON_COMPACT) writes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const allowed[] = { "admin", "ttl", "reason", "n", "flag", NULL };
	json_t *v = NULL;
	const char *s = NULL;
	int64_t n = 7;
	bool b = false;

	{
		json_t *fast = NULL, *want = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);

		if (mm_json_parse_fast((const char *)data, size, &fast) &&
		    (want == NULL || !json_equal(want, fast)))
			abort();
		json_decref(fast);
		json_decref(want);
	}
	if (mm_json_parse((const char *)data, size, &v) != MM_OK)
		return 0;
	(void)mm_json_only(v, allowed);
	if (mm_json_str(v, "admin", false, 64, &s) == MM_OK && s != NULL && strlen(s) > 64)
		abort();
	if (mm_json_str(v, "reason", true, 1024, &s) == MM_OK && (s == NULL || strlen(s) > 1024))
		abort();
	if (mm_json_int(v, "n", false, -5, 5, &n) == MM_OK && (n < -5 || n > 5) && n != 7)
		abort();
	(void)mm_json_bool(v, "flag", false, &b);
	{
		char *out = mm_json_dump(v), *want = json_dumps(v, JSON_COMPACT);
		mm_buf text = MM_BUF_INIT(MM_BUF_UNLIMITED);
		mm_err rc = mm_json_dump_buf(v, &text);

		if ((want != NULL) != (rc == MM_OK) ||
		    (want != NULL && (text.len != strlen(want) || memcmp(text.data, want, text.len) != 0)))
			abort();
		mm_buf_release(&text);
		free(want);
		free(out);
	}
	json_decref(v);
	return 0;
}
