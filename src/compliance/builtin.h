/*
 * builtin.h (private): the data files compiled into mm_compliance by
 * embed.py: data/fisc/edition-*.json and data/fisc/evidence-bindings.json,
 * each under its base name. The arrays are not NUL-terminated.
 */
#ifndef MM_COMPLIANCE_BUILTIN_H
#define MM_COMPLIANCE_BUILTIN_H

#include <stddef.h>

typedef struct mm_fisc_blob {
	const char *name;
	const unsigned char *data;
	size_t len;
} mm_fisc_blob;

extern const mm_fisc_blob mm_fisc_builtin_blobs[];
extern const size_t mm_fisc_builtin_nblobs;

/* The blob called name, or NULL. */
const mm_fisc_blob *mm_fisc_builtin_find(const char *name);

#endif
