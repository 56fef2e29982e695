/*
 * fisc.c: opening and closing the compliance module (catalog, bindings,
 * built-in checks); see fisc.h.
 * Invariant: a returned mm_fisc has a catalog with every edition the
 * bindings refer to checked, and its built-in checks registered.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compliance/builtin.h"
#include "compliance/internal.h"

#define BINDINGS_MAX_BYTES (4u << 20)

static mm_err read_file(const char *path, mm_buf *b)
{
	char chunk[65536];
	FILE *f;
	size_t n;
	mm_err rc = MM_OK;

	if ((f = fopen(path, "rb")) == NULL)
		return mm_err_set(MM_ERR_IO, "cannot open %.200s: %s", path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if ((rc = mm_buf_append(b, chunk, n)) != MM_OK)
			break;
	if (rc == MM_ERR_LIMIT)
		rc = mm_err_set(MM_ERR_LIMIT, "%.200s is too large", path);
	else if (rc == MM_OK && ferror(f))
		rc = mm_err_set(MM_ERR_IO, "cannot read %.200s", path);
	fclose(f);
	return rc;
}

mm_err mm_fisc_open(const mm_fisc_opts *o, mm_fisc **ret)
{
	mm_fisc *f;
	mm_buf b = MM_BUF_INIT(BINDINGS_MAX_BYTES);
	mm_err rc;

	if (o == NULL || o->store == NULL)
		return mm_err_set(MM_ERR_INVALID, "the compliance module needs a store");
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return MM_ERR_NOMEM;
	f->store = o->store;
	f->cfg = o->cfg;
	if ((rc = mm_fisc_catalog_new_builtin(&f->cat)) != MM_OK)
		goto out;
	for (size_t i = 0; o->edition_files != NULL && o->edition_files[i] != NULL; i++)
		if ((rc = mm_fisc_catalog_load_file(f->cat, o->edition_files[i])) != MM_OK)
			goto out;
	if (o->bindings_file != NULL) {
		if ((rc = read_file(o->bindings_file, &b)) != MM_OK)
			goto out;
		rc = fisc_bindings_load(f, o->bindings_file, mm_buf_str(&b), b.len);
	} else {
		const mm_fisc_blob *blob = mm_fisc_builtin_find("evidence-bindings.json");

		if (blob == NULL) {
			rc = mm_err_set(MM_ERR_INTERNAL, "built-in evidence bindings are missing");
			goto out;
		}
		rc = fisc_bindings_load(f, "builtin:evidence-bindings.json", (const char *)blob->data,
					blob->len);
	}
	if (rc != MM_OK)
		goto out;
	if ((rc = fisc_register_builtin_checks()) != MM_OK)
		goto out;
	*ret = f;
	f = NULL;
out:
	mm_buf_release(&b);
	mm_fisc_close(f);
	return rc;
}

void mm_fisc_close(mm_fisc *f)
{
	if (f == NULL)
		return;
	fisc_bindings_release(f);
	mm_fisc_catalog_free(f->cat);
	free(f);
}

const mm_fisc_catalog *mm_fisc_get_catalog(const mm_fisc *f)
{
	return f->cat;
}
