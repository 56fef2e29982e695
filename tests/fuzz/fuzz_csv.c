/*
 * fuzz_csv.c: libFuzzer target for the FISC response CSV parser and
 * validator (mm_fisc_csv_parse_responses) against the built-in 12th
 * edition. Build: clang -fsanitize=fuzzer,address,undefined with
 * libmm_compliance and its dependencies (the lead wires this in the fuzz
 * build); tests/compliance/test_fuzz_replay.c runs the same entry point on
 * seeds and mutations in the normal test suite.
 *
 * Besides memory safety, it checks the all-or-nothing contract: either the
 * call succeeds with rows and no errors, every row naming a live criterion,
 * or it fails with errors (each with a line number inside the input) and no
 * rows. A violation aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compliance/fisc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mm_fisc_catalog *catalog; /* loaded once, kept for the process */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const mm_fisc_edition *ed;
	mm_fisc_csv_rows rows;
	mm_fisc_import_result errs;
	size_t lines = 1;
	mm_err rc;

	if (catalog == NULL && mm_fisc_catalog_new_builtin(&catalog) != MM_OK)
		abort();
	ed = mm_fisc_catalog_edition(catalog, 12);
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n' || (data[i] == '\r' && (i + 1 == size || data[i + 1] != '\n'));
	rc = mm_fisc_csv_parse_responses(ed, (const char *)data, size, &rows, &errs);
	if (rc == MM_OK) {
		if (errs.nerrors != 0 || rows.n == 0)
			abort();
		for (size_t i = 0; i < rows.n; i++) {
			const mm_fisc_criterion *c = mm_fisc_edition_find(ed, rows.rows[i].id);

			if (c == NULL || c->status == MM_FISC_RETIRED || rows.rows[i].text_ja == NULL ||
			    rows.rows[i].line < 2 || rows.rows[i].line > lines ||
			    (i > 0 && rows.rows[i].line <= rows.rows[i - 1].line))
				abort();
		}
	} else if (rc == MM_ERR_INVALID) {
		if (rows.n != 0 || errs.nerrors == 0)
			abort();
		for (size_t i = 0; i < errs.nerrors; i++)
			if (errs.errors[i].line < 1 || errs.errors[i].line > lines ||
			    (i > 0 && errs.errors[i].line < errs.errors[i - 1].line))
				abort();
	} else if (rc != MM_ERR_LIMIT && rc != MM_ERR_NOMEM) {
		abort();
	}
	mm_fisc_csv_rows_release(&rows);
	mm_fisc_import_result_release(&errs);
	return 0;
}
