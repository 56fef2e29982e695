/*
 * fuzz_config.c: the configuration parser. Invariant: any input either loads
 * or fails with MM_ERR_CONFIG/MM_ERR_NOMEM, and the config is releasable.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mm_config c;
	char *text;
	mm_err rc;

	if (size > 65536)
		return 0;
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (mm_config_init(&c) == MM_OK) {
		rc = mm_config_load_string(&c, "fuzz", text);
		if (rc != MM_OK && rc != MM_ERR_CONFIG && rc != MM_ERR_NOMEM)
			abort();
		if (rc == MM_OK)
			(void)mm_config_validate(&c);
		mm_config_release(&c);
	}
	free(text);
	return 0;
}
