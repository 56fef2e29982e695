/*
 * harden.c: process hardening for a daemon that holds keys in memory.
 * See keys.h (mm_keys_harden_process).
 * Invariant: a failure to apply a protection is reported, never ignored;
 * the secure heap is created at most once per process.
 */
#include "keys/keys.h"

#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "crypto/primitives.h"

mm_err mm_keys_harden_process(size_t secure_heap_bytes, mm_keys_hardening *ret)
{
	mm_keys_hardening h = { false, false, false, false };
	struct rlimit rl = { 0, 0 };
	mm_err rc = MM_OK;

	if (secure_heap_bytes == 0)
		secure_heap_bytes = 1 << 20;
	if (setrlimit(RLIMIT_CORE, &rl) == 0)
		h.no_core = true;
	else
		rc = mm_err_set(MM_ERR_IO, "setrlimit(RLIMIT_CORE): %s", strerror(errno));
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0)
		h.not_dumpable = true;
	else if (rc == MM_OK)
		rc = mm_err_set(MM_ERR_IO, "prctl(PR_SET_DUMPABLE): %s", strerror(errno));
	{
		bool locked = false;
		mm_err e = mm_secmem_init(secure_heap_bytes, &locked);

		if (e == MM_OK) {
			h.secure_heap = true;
			h.memory_locked = locked;
		} else if (rc == MM_OK) {
			rc = e;
		}
	}
	if (ret != NULL)
		*ret = h;
	return rc;
}
