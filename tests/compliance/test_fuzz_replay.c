/* Runs the libFuzzer entry point of tests/fuzz/fuzz_csv.c over seeds and
 * deterministic mutations of them, so the target's checks (memory safety
 * under ASan/UBSan, all-or-nothing results, line numbers inside the input)
 * also run in the ordinary test suite. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const seeds[] = {
	"\xEF\xBB\xBFid,party,mark,response_ja,response_en\r\n"
	"実1,provider,主体,\"パスワードは, 非表示\",\"Passwords are hidden\"\r\n"
	"統1,金融機関,一部,\"複数\n行\",\r\n",
	"基準番号,対応者,区分,対応内容\n設83-1,cloud,主体,\"\"\"引用\"\"\"\n",
	"id,party,mark,response_ja\n実127,fi,主体,x\n実999,fi,主体,x\n実1,fi,主体,x\n実1,fi,主体,y\n",
	"id,party,mark,response_ja\n\"unterminated,fi,主体,x\n",
	"id,party,mark,response_ja\nA\"B,fi,主体,x\n\"a\"b,fi,主体,x\n",
	"",
	"\xEF\xBB\xBF",
	"id\n",
	"id,party,mark,response_ja\r\r\n\r\n実2,provider,対象外,\r",
};

static uint32_t rng = 2463534242u;

static uint32_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

static void test_replay(void **state)
{
	static const char alphabet[] = ",\"\r\n実統設監-0123456789 \xEF\xBB\xBF\xE3\x80\x80\xff";
	uint8_t buf[4096];

	for (size_t s = 0; s < sizeof(seeds) / sizeof(seeds[0]); s++)
		assert_int_equal(LLVMFuzzerTestOneInput((const uint8_t *)seeds[s], strlen(seeds[s])), 0);
	for (int iter = 0; iter < 20000; iter++) {
		const char *seed = seeds[next() % (sizeof(seeds) / sizeof(seeds[0]))];
		size_t n = strlen(seed), edits = 1 + next() % 6;

		memcpy(buf, seed, n);
		for (size_t e = 0; e < edits; e++) {
			size_t pos = n ? next() % (n + 1) : 0;

			switch (next() % 3) {
			case 0: /* overwrite */
				if (pos < n)
					buf[pos] = (uint8_t)alphabet[next() % (sizeof(alphabet) - 1)];
				break;
			case 1: /* insert */
				if (n + 1 < sizeof(buf)) {
					memmove(buf + pos + 1, buf + pos, n - pos);
					buf[pos] = (uint8_t)alphabet[next() % (sizeof(alphabet) - 1)];
					n++;
				}
				break;
			default: /* delete */
				if (pos < n) {
					memmove(buf + pos, buf + pos + 1, n - pos - 1);
					n--;
				}
			}
		}
		assert_int_equal(LLVMFuzzerTestOneInput(buf, n), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_replay) };

	return cmocka_run_group_tests(tests, NULL, NULL);
}
