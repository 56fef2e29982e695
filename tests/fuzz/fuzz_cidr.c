/*
 * fuzz_cidr.c: libFuzzer target for the CIDR / allowlist parser.
 *
 * Input: bytes split at the first newline into an allowlist text and an
 * address. Properties checked: no crash or sanitizer report; a list that
 * parses formats to canonical text that parses again to the same prefixes
 * (round trip); every prefix contains its own network address; and
 * mm_cidr_text_allows agrees with parse + contains.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "access/cidr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, *addr, *nl;
	mm_cidr_list *a, *b;
	mm_buf out = MM_BUF_INIT(1 << 16);
	mm_ip ip;

	if (size > 4096)
		return 0;
	text = malloc(size + 1);
	a = malloc(sizeof(*a));
	b = malloc(sizeof(*b));
	if (text == NULL || a == NULL || b == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	nl = strchr(text, '\n');
	addr = nl ? nl + 1 : text;
	if (nl)
		*nl = '\0';
	if (mm_cidr_list_parse(text, a) == MM_OK) {
		if (mm_cidr_list_format(a, &out) != MM_OK)
			abort();
		if (mm_cidr_list_parse(mm_buf_str(&out), b) != MM_OK || a->n != b->n)
			abort();
		for (size_t i = 0; i < a->n; i++) {
			mm_ip self;

			if (a->v[i].family != b->v[i].family || a->v[i].bits != b->v[i].bits ||
			    memcmp(a->v[i].addr, b->v[i].addr, 16) != 0)
				abort();
			self.family = a->v[i].family;
			memcpy(self.addr, a->v[i].addr, 16);
			if (!mm_cidr_contains(&a->v[i], &self))
				abort();
		}
		if (nl != NULL && a->n > 0) {
			bool want = mm_ip_parse(addr, &ip) == MM_OK && mm_cidr_list_allows(a, &ip);

			if (mm_cidr_text_allows(text, addr) != want)
				abort();
		}
	}
	if (mm_ip_parse(addr, &ip) == MM_OK && ip.family != 4 && ip.family != 6)
		abort();
	mm_buf_release(&out);
	free(text);
	free(a);
	free(b);
	return 0;
}
