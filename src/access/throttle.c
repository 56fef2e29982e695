/*
 * throttle.c: bounded in-memory failure counters for login throttling, keyed
 * by "s:ADDRESS" (source) or "u:NAME" (names that are not accounts, so an
 * unknown name locks exactly like a real one and reveals nothing).
 *
 * Invariants: the table has a fixed number of slots (memory is bounded
 * whatever an attacker sends); a key lives in one of BUCKET consecutive
 * slots from its hash; when all are taken the least recently failed entry
 * is replaced. Every access holds the mutex.
 */
#include <stdlib.h>
#include <string.h>

#include "access/internal.h"

#define KEY_MAX 80
#define BUCKET 8
#define DAY_MS (86400LL * 1000)

struct entry {
	char key[KEY_MAX];
	int64_t first_ms;      /* start of the counting window */
	int64_t last_ms;
	int64_t failures;
	int64_t locked_until;
};

struct mm_throttle {
	pthread_mutex_t mu;
	struct entry *e;
	size_t cap;
};

mm_err mm_throttle_new(size_t cap, mm_throttle **ret)
{
	mm_throttle *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return MM_ERR_NOMEM;
	t->cap = cap < BUCKET ? BUCKET : cap;
	t->e = calloc(t->cap, sizeof(*t->e));
	if (t->e == NULL) {
		free(t);
		return MM_ERR_NOMEM;
	}
	pthread_mutex_init(&t->mu, NULL);
	*ret = t;
	return MM_OK;
}

void mm_throttle_free(mm_throttle *t)
{
	if (t == NULL)
		return;
	pthread_mutex_destroy(&t->mu);
	free(t->e);
	free(t);
}

static size_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return (size_t)h;
}

static struct entry *find(mm_throttle *t, const char *key, bool create, int64_t now)
{
	size_t h = hash(key), victim = SIZE_MAX;

	for (size_t i = 0; i < BUCKET; i++) {
		struct entry *e = &t->e[(h + i) % t->cap];

		if (e->key[0] != '\0' && strcmp(e->key, key) == 0)
			return e;
	}
	if (!create)
		return NULL;
	for (size_t i = 0; i < BUCKET; i++) {
		size_t s = (h + i) % t->cap;
		struct entry *e = &t->e[s];

		if (e->key[0] == '\0' || (e->locked_until <= now && e->last_ms < now - DAY_MS)) {
			victim = s;
			break;
		}
		if (victim == SIZE_MAX || e->last_ms < t->e[victim].last_ms)
			victim = s;
	}
	memset(&t->e[victim], 0, sizeof(t->e[victim]));
	mm_str_copy(t->e[victim].key, KEY_MAX, key);
	return &t->e[victim];
}

int64_t mm_throttle_locked_until(mm_throttle *t, const char *key, int64_t now)
{
	struct entry *e;
	int64_t until = 0;

	pthread_mutex_lock(&t->mu);
	e = find(t, key, false, now);
	if (e != NULL && e->locked_until > now)
		until = e->locked_until;
	pthread_mutex_unlock(&t->mu);
	return until;
}

int64_t mm_lockout_ms(int64_t failures, int64_t threshold, int64_t base_ms)
{
	int64_t d = base_ms;

	for (int64_t i = threshold; i < failures && d < DAY_MS; i++)
		d *= 2;
	return d < DAY_MS ? d : DAY_MS;
}

int64_t mm_throttle_fail(mm_throttle *t, const char *key, int64_t now, int64_t threshold,
			 int64_t base_ms, int64_t window_ms)
{
	struct entry *e;
	int64_t until = 0;

	pthread_mutex_lock(&t->mu);
	e = find(t, key, true, now);
	if (e->failures == 0 || (window_ms > 0 && now - e->first_ms > window_ms &&
				 e->locked_until <= now)) {
		e->failures = 0;
		e->first_ms = now;
	}
	e->failures++;
	e->last_ms = now;
	if (e->failures >= threshold) {
		e->locked_until = now + mm_lockout_ms(e->failures, threshold, base_ms);
		until = e->locked_until;
	}
	pthread_mutex_unlock(&t->mu);
	return until;
}

void mm_throttle_reset(mm_throttle *t, const char *key)
{
	struct entry *e;

	pthread_mutex_lock(&t->mu);
	e = find(t, key, false, 0);
	if (e != NULL)
		memset(e, 0, sizeof(*e));
	pthread_mutex_unlock(&t->mu);
}
