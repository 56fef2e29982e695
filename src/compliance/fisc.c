/*
 * fisc.c: opening and closing the compliance module (catalog, bindings,
 * built-in checks); see fisc.h.
 * Invariant: a returned mm_fisc has a catalog with every edition the
 * bindings refer to checked, and its built-in checks registered.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compliance/builtin.h"
#include "compliance/internal.h"
#include "core/mem.h"

#define BINDINGS_MAX_BYTES (4u << 20)

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads every edition-*.json of dir, in name order. */
static mm_err load_dir(mm_fisc_catalog *cat, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	mm_err rc = MM_OK;

	if (d == NULL)
		return mm_err_set(MM_ERR_IO, "fisc.edition_dir %.200s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (strncmp(de->d_name, "edition-", 8) != 0 || len < 6 ||
		    strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		if (n == cap) {
			char **v = mm_grow(names, &cap, 8, sizeof(*v));

			if (v == NULL) {
				rc = MM_ERR_NOMEM;
				goto out;
			}
			names = v;
		}
		if (n >= 64) {
			rc = mm_err_set(MM_ERR_LIMIT, "fisc.edition_dir holds more than 64 edition files");
			goto out;
		}
		if ((names[n] = malloc(strlen(dir) + len + 2)) == NULL) {
			rc = MM_ERR_NOMEM;
			goto out;
		}
		sprintf(names[n], "%s/%s", dir, de->d_name);
		n++;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n && rc == MM_OK; i++)
		rc = mm_fisc_catalog_load_file(cat, names[i]);
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
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
	if (o->edition_dir != NULL && (rc = load_dir(f->cat, o->edition_dir)) != MM_OK)
		goto out;
	for (size_t i = 0; o->edition_files != NULL && o->edition_files[i] != NULL; i++)
		if ((rc = mm_fisc_catalog_load_file(f->cat, o->edition_files[i])) != MM_OK)
			goto out;
	if (o->bindings_file != NULL) {
		if ((rc = fisc_read_file(o->bindings_file, &b)) != MM_OK)
			goto out;
		rc = fisc_bindings_load(f, o->bindings_file, mm_buf_str(&b), b.len, true);
	} else {
		const mm_fisc_blob *blob = mm_fisc_builtin_find("evidence-bindings.json");

		if (blob == NULL) {
			rc = mm_err_set(MM_ERR_INTERNAL, "built-in evidence bindings are missing");
			goto out;
		}
		rc = fisc_bindings_load(f, "builtin:evidence-bindings.json", (const char *)blob->data,
					blob->len, false);
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
