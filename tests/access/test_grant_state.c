/* Unit tests for the grant state machine: the allowed transitions are
 * listed here independently of the implementation's table, and every other
 * (state, event) pair must be refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "access/access.h"

struct edge {
	mm_grant_state from;
	mm_grant_event ev;
	mm_grant_state to;
};

static const struct edge allowed[] = {
	{ MM_GRANT_PENDING, MM_GEV_APPROVE, MM_GRANT_APPROVED },
	{ MM_GRANT_PENDING, MM_GEV_DENY, MM_GRANT_DENIED },
	{ MM_GRANT_PENDING, MM_GEV_EXPIRE, MM_GRANT_EXPIRED },
	{ MM_GRANT_PENDING, MM_GEV_CANCEL, MM_GRANT_CANCELLED },
	{ MM_GRANT_APPROVED, MM_GEV_ACTIVATE, MM_GRANT_ACTIVE },
	{ MM_GRANT_APPROVED, MM_GEV_CANCEL, MM_GRANT_CANCELLED },
	{ MM_GRANT_APPROVED, MM_GEV_REVOKE, MM_GRANT_REVOKED },
	{ MM_GRANT_APPROVED, MM_GEV_END, MM_GRANT_ENDED },
	{ MM_GRANT_ACTIVE, MM_GEV_END, MM_GRANT_ENDED },
	{ MM_GRANT_ACTIVE, MM_GEV_REVOKE, MM_GRANT_REVOKED },
};

static void test_transitions(void **state)
{
	int n = 0;

	for (int s = 0; s < MM_GRANT__COUNT; s++) {
		for (int e = 0; e < MM_GEV__COUNT; e++) {
			const struct edge *want = NULL;
			mm_grant_state to = MM_GRANT__COUNT;
			mm_err rc;

			for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
				if ((int)allowed[i].from == s && (int)allowed[i].ev == e)
					want = &allowed[i];
			rc = mm_grant_transition((mm_grant_state)s, (mm_grant_event)e, &to);
			if (want != NULL) {
				assert_int_equal(rc, MM_OK);
				assert_int_equal(to, want->to);
				n++;
			} else {
				assert_int_equal(rc, MM_ERR_CONFLICT);
				assert_int_equal(to, MM_GRANT__COUNT); /* untouched */
			}
		}
	}
	assert_int_equal(n, (int)(sizeof(allowed) / sizeof(allowed[0])));
}

static void test_terminal(void **state)
{
	static const mm_grant_state terminal[] = { MM_GRANT_DENIED, MM_GRANT_EXPIRED,
		MM_GRANT_CANCELLED, MM_GRANT_ENDED, MM_GRANT_REVOKED };
	mm_grant_state to;

	for (size_t i = 0; i < sizeof(terminal) / sizeof(terminal[0]); i++)
		for (int e = 0; e < MM_GEV__COUNT; e++)
			assert_int_equal(mm_grant_transition(terminal[i], (mm_grant_event)e, &to),
					 MM_ERR_CONFLICT);
	/* An active grant can never go back to needing approval or be cancelled. */
	assert_int_equal(mm_grant_transition(MM_GRANT_ACTIVE, MM_GEV_APPROVE, &to), MM_ERR_CONFLICT);
	assert_int_equal(mm_grant_transition(MM_GRANT_ACTIVE, MM_GEV_CANCEL, &to), MM_ERR_CONFLICT);
	assert_int_equal(mm_grant_transition(MM_GRANT__COUNT, MM_GEV_END, &to), MM_ERR_INVALID);
}

static void test_names(void **state)
{
	static const char *const names[] = { "pending", "approved", "active", "denied", "expired",
		"cancelled", "ended", "revoked" };
	mm_grant_state s;

	for (int i = 0; i < MM_GRANT__COUNT; i++) {
		assert_string_equal(mm_grant_state_name((mm_grant_state)i), names[i]);
		assert_int_equal(mm_grant_state_parse(names[i], &s), MM_OK);
		assert_int_equal(s, i);
	}
	assert_int_equal(mm_grant_state_parse("Active", &s), MM_ERR_INVALID);
	assert_int_equal(mm_grant_state_parse(NULL, &s), MM_ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transitions),
		cmocka_unit_test(test_terminal),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
