/*
 * targets.c: access targets and their per-role policies, from the
 * configuration ([target.NAME], [policy.NAME]) and from the API (table
 * `targets`, one normalised JSON spec per target).
 *
 * A target offers roles; for each role a policy says who approves
 * (approver_role, which must hold access.approve), how many distinct
 * approvals are needed, the longest grant and whether a work report is
 * required. Actions are "ACTION" (any role) or "ROLE:ACTION"; a target
 * without actions allows any action to a grant holder.
 *
 * Invariants:
 *  - The cache (a->targets) is rebuilt whole and swapped under the write
 *    lock after every change; readers hold the read lock only while copying.
 *  - Target roles are never built-in roles, and no user holds a target role
 *    directly (checked when a target is defined and when roles are
 *    assigned), so a privileged role on a target exists only through grants.
 *  - Configuration targets cannot be changed or deleted through the API.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access/internal.h"
#include "core/json.h"
#include "core/time.h"

#define MAX_APPROVALS 10
#define MAX_ACTIONS 256
#define MAX_ROLES 32

struct target {
	char name[MM_NAME_MAX + 1];
	char *description;
	char **actions;
	size_t nactions;
	mm_policy *pol;
	size_t npol;
	bool from_config;
	int64_t updated_ms;
	char updated_by[MM_NAME_MAX + 8];
};

struct target_set {
	struct target *t;
	size_t n;
};

static void target_release(struct target *t)
{
	free(t->description);
	for (size_t i = 0; i < t->nactions; i++)
		free(t->actions[i]);
	free(t->actions);
	free(t->pol);
	memset(t, 0, sizeof(*t));
}

static void set_free(struct target_set *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		target_release(&s->t[i]);
	free(s->t);
	free(s);
}

static mm_err set_push(struct target_set *s, struct target *t)
{
	struct target *n = realloc(s->t, (s->n + 1) * sizeof(*n));

	if (n == NULL)
		return MM_ERR_NOMEM;
	s->t = n;
	s->t[s->n++] = *t;
	memset(t, 0, sizeof(*t));
	return MM_OK;
}

static struct target *set_find(struct target_set *s, const char *name)
{
	for (size_t i = 0; s != NULL && i < s->n; i++)
		if (strcmp(s->t[i].name, name) == 0)
			return &s->t[i];
	return NULL;
}

static mm_policy *find_policy(struct target *t, const char *role)
{
	for (size_t i = 0; i < t->npol; i++)
		if (strcmp(t->pol[i].role, role) == 0)
			return &t->pol[i];
	return NULL;
}

/* Validates a policy against the roles known to a. */
static mm_err check_policy(const mm_access *a, const char *target, const mm_policy *p)
{
	if (mm_access_check_name("role", p->role) != MM_OK)
		return mm_err_set(MM_ERR_INVALID, "target %s: role '%.64s' is not a valid name",
				  target, p->role);
	for (size_t i = 0; mm_access_builtin_roles[i] != NULL; i++)
		if (strcmp(mm_access_builtin_roles[i], p->role) == 0)
			return mm_err_set(MM_ERR_INVALID, "target %s: role '%s' is a built-in role; "
					  "target roles are granted just-in-time", target, p->role);
	if (!mm_access_is_role(a, p->approver_role) ||
	    !mm_access_role_permits(a, p->approver_role, "access.approve"))
		return mm_err_set(MM_ERR_INVALID, "target %s role %s: approver role '%s' is not a "
				  "role with the access.approve permission", target, p->role,
				  p->approver_role);
	if (p->approvals < 1 || p->approvals > MAX_APPROVALS)
		return mm_err_set(MM_ERR_INVALID, "target %s role %s: approvals must be 1 to %d",
				  target, p->role, MAX_APPROVALS);
	if (p->max_ms < 1000 || p->max_ms > a->cfg->max_grant_ms)
		return mm_err_set(MM_ERR_INVALID, "target %s role %s: max_duration must be between "
				  "1s and access.max_grant", target, p->role);
	return MM_OK;
}

static mm_err check_actions(const struct target *t)
{
	for (size_t i = 0; i < t->nactions; i++) {
		const char *act = t->actions[i], *colon = strchr(act, ':');
		size_t n = strlen(act);

		if (n == 0 || n > 128)
			return mm_err_set(MM_ERR_INVALID, "target %s: empty or over-long action",
					  t->name);
		if (colon != NULL) {
			char role[MM_NAME_MAX + 1];
			size_t rl = (size_t)(colon - act);

			if (rl == 0 || rl > MM_NAME_MAX || colon[1] == '\0')
				return mm_err_set(MM_ERR_INVALID, "target %s: action '%.64s' must be "
						  "ACTION or ROLE:ACTION", t->name, act);
			memcpy(role, act, rl);
			role[rl] = '\0';
			if (find_policy((struct target *)t, role) == NULL)
				return mm_err_set(MM_ERR_INVALID, "target %s: action '%.64s' names a "
						  "role the target does not offer", t->name, act);
		}
	}
	return MM_OK;
}

static mm_err push_action(struct target *t, const char *act)
{
	char **n;

	if (t->nactions == MAX_ACTIONS)
		return mm_err_set(MM_ERR_INVALID, "target %s: too many actions", t->name);
	n = realloc(t->actions, (t->nactions + 1) * sizeof(*n));
	if (n == NULL)
		return MM_ERR_NOMEM;
	t->actions = n;
	if ((t->actions[t->nactions] = strdup(act)) == NULL)
		return MM_ERR_NOMEM;
	t->nactions++;
	return MM_OK;
}

static mm_err push_policy(struct target *t, const mm_policy *p)
{
	mm_policy *n;

	if (find_policy(t, p->role) != NULL)
		return mm_err_set(MM_ERR_INVALID, "target %s: role %s listed twice", t->name, p->role);
	if (t->npol == MAX_ROLES)
		return mm_err_set(MM_ERR_INVALID, "target %s: too many roles", t->name);
	n = realloc(t->pol, (t->npol + 1) * sizeof(*n));
	if (n == NULL)
		return MM_ERR_NOMEM;
	t->pol = n;
	t->pol[t->npol++] = *p;
	return MM_OK;
}

/* ---- from the configuration ---- */

static mm_err config_targets(mm_access *a, struct target_set *s)
{
	const mm_config *cfg = a->cfg;
	struct target t;
	mm_err rc = MM_OK;

	memset(&t, 0, sizeof(t));
	for (size_t i = 0; i < cfg->ntables; i++) {
		const mm_config_table *ct = &cfg->tables[i];
		const mm_config_item *roles, *it;
		mm_policy base;

		if (strcmp(ct->kind, "target") != 0)
			continue;
		if (mm_access_check_name("target name", ct->name) != MM_OK) {
			rc = mm_err_set(MM_ERR_CONFIG, "line %d: target.%s: target names are lowercase "
					"letters, digits, '.', '_' and '-'", ct->line, ct->name);
			goto out;
		}
		mm_str_copy(t.name, sizeof(t.name), ct->name);
		t.from_config = true;
		if ((it = mm_config_table_get(ct, "description")) != NULL &&
		    (t.description = strdup(it->str)) == NULL) {
			rc = MM_ERR_NOMEM;
			goto out;
		}
		memset(&base, 0, sizeof(base));
		it = mm_config_table_get(ct, "approver_role");
		mm_str_copy(base.approver_role, sizeof(base.approver_role),
				   it ? it->str : "approver");
		it = mm_config_table_get(ct, "approvals");
		base.approvals = it ? it->num : 1;
		it = mm_config_table_get(ct, "max_duration");
		base.max_ms = it ? it->num : cfg->max_grant_ms;
		it = mm_config_table_get(ct, "report_required");
		base.report_required = it ? it->num != 0 : false;
		roles = mm_config_table_get(ct, "roles");
		if (roles == NULL || roles->nlist == 0) {
			rc = mm_err_set(MM_ERR_CONFIG, "line %d: target.%s.roles: a target offers at "
					"least one role", ct->line, ct->name);
			goto out;
		}
		for (size_t r = 0; r < roles->nlist; r++) {
			mm_policy p = base;

			mm_str_copy(p.role, sizeof(p.role), roles->list[r]);
			if ((rc = push_policy(&t, &p)) != MM_OK)
				goto cfgerr;
		}
		if ((it = mm_config_table_get(ct, "actions")) != NULL)
			for (size_t k = 0; k < it->nlist; k++)
				if ((rc = push_action(&t, it->list[k])) != MM_OK)
					goto cfgerr;
		if ((rc = set_push(s, &t)) != MM_OK)
			goto out;
		continue;
cfgerr:
		rc = mm_err_set(MM_ERR_CONFIG, "line %d: %s", ct->line, mm_err_detail(rc));
		goto out;
	}
	/* [policy.NAME] overrides one role of one target. */
	for (size_t i = 0; i < cfg->ntables; i++) {
		const mm_config_table *ct = &cfg->tables[i];
		const mm_config_item *tg = mm_config_table_get(ct, "target");
		const mm_config_item *ro = mm_config_table_get(ct, "role"), *it;
		struct target *tt;
		mm_policy *p;

		if (strcmp(ct->kind, "policy") != 0)
			continue;
		if (tg == NULL || ro == NULL) {
			rc = mm_err_set(MM_ERR_CONFIG, "line %d: policy.%s: target and role are "
					"required", ct->line, ct->name);
			goto out;
		}
		if ((tt = set_find(s, tg->str)) == NULL || (p = find_policy(tt, ro->str)) == NULL) {
			rc = mm_err_set(MM_ERR_CONFIG, "line %d: policy.%s: no target '%s' offering "
					"role '%s'", ct->line, ct->name, tg->str, ro->str);
			goto out;
		}
		if ((it = mm_config_table_get(ct, "approver_role")) != NULL)
			mm_str_copy(p->approver_role, sizeof(p->approver_role), it->str);
		if ((it = mm_config_table_get(ct, "approvals")) != NULL)
			p->approvals = it->num;
		if ((it = mm_config_table_get(ct, "max_duration")) != NULL)
			p->max_ms = it->num;
		if ((it = mm_config_table_get(ct, "report_required")) != NULL)
			p->report_required = it->num != 0;
	}
	for (size_t i = 0; i < s->n; i++) {
		for (size_t k = 0; k < s->t[i].npol; k++)
			if ((rc = check_policy(a, s->t[i].name, &s->t[i].pol[k])) != MM_OK)
				goto bad;
		if ((rc = check_actions(&s->t[i])) != MM_OK)
			goto bad;
		/* A configured custom role that is also a target role would be
		 * assignable standing privilege through [role.X]: allowed, the
		 * role is still refused in user assignments. */
	}
	goto out;
bad:
	rc = mm_err_set(MM_ERR_CONFIG, "%s", mm_err_detail(rc));
out:
	target_release(&t);
	return rc;
}

/* ---- from JSON (API and database) ---- */

static mm_err duration_field(const json_t *o, const char *key, int64_t *ret)
{
	const char *s = NULL;
	mm_err rc;

	if ((rc = mm_json_str(o, key, false, 32, &s)) != MM_OK)
		return rc;
	if (s != NULL && mm_time_parse_duration(s, ret) != MM_OK)
		return mm_err_set(MM_ERR_INVALID, "field '%s': expected a duration such as \"2h\"",
				  key);
	return MM_OK;
}

static mm_err policy_fields(const json_t *o, mm_policy *p)
{
	static const char *const allowed[] = { "role", "approver_role", "approvals",
		"max_duration", "report_required", NULL };
	const char *s = NULL;
	mm_err rc;

	if ((rc = mm_json_only(o, allowed)) != MM_OK)
		return rc;
	if ((rc = mm_json_str(o, "approver_role", false, MM_NAME_MAX, &s)) != MM_OK)
		return rc;
	if (s != NULL)
		mm_str_copy(p->approver_role, sizeof(p->approver_role), s);
	if ((rc = mm_json_int(o, "approvals", false, 1, MAX_APPROVALS, &p->approvals)) != MM_OK)
		return rc;
	if ((rc = duration_field(o, "max_duration", &p->max_ms)) != MM_OK)
		return rc;
	return mm_json_bool(o, "report_required", false, &p->report_required);
}

static mm_err target_from_json(mm_access *a, const char *name, const json_t *spec,
			       struct target *t)
{
	static const char *const allowed[] = { "description", "actions", "roles", "approver_role",
		"approvals", "max_duration", "report_required", NULL };
	const char *desc = NULL;
	const json_t *roles, *acts, *v;
	mm_policy base;
	size_t i;
	mm_err rc;

	memset(t, 0, sizeof(*t));
	mm_str_copy(t->name, sizeof(t->name), name);
	if ((rc = mm_json_only(spec, allowed)) != MM_OK)
		return rc;
	if ((rc = mm_json_str(spec, "description", false, 1024, &desc)) != MM_OK)
		return rc;
	if (desc != NULL && (t->description = strdup(desc)) == NULL)
		return MM_ERR_NOMEM;
	memset(&base, 0, sizeof(base));
	mm_str_copy(base.approver_role, sizeof(base.approver_role), "approver");
	base.approvals = 1;
	base.max_ms = a->cfg->max_grant_ms;
	{
		/* Top-level defaults for every role given by name only. */
		static const char *const pol_keys[] = { "approver_role", "approvals",
			"max_duration", "report_required", NULL };
		json_t *d = json_object();

		if (d == NULL)
			return MM_ERR_NOMEM;
		for (i = 0; pol_keys[i] != NULL; i++)
			if ((v = json_object_get(spec, pol_keys[i])) != NULL)
				json_object_set(d, pol_keys[i], (json_t *)v);
		rc = policy_fields(d, &base);
		json_decref(d);
		if (rc != MM_OK)
			return rc;
	}
	roles = json_object_get(spec, "roles");
	if (!json_is_array(roles) || json_array_size(roles) == 0)
		return mm_err_set(MM_ERR_INVALID, "field 'roles': a target offers at least one role");
	json_array_foreach(roles, i, v) {
		mm_policy p = base;
		const char *r = NULL;

		if (json_is_string(v)) {
			r = json_string_value(v);
		} else if (json_is_object(v)) {
			if ((rc = mm_json_str(v, "role", true, MM_NAME_MAX, &r)) != MM_OK ||
			    (rc = policy_fields(v, &p)) != MM_OK)
				return rc;
		} else {
			return mm_err_set(MM_ERR_INVALID, "field 'roles': entry %zu must be a role "
					  "name or a policy object", i);
		}
		if (strlen(r) > MM_NAME_MAX)
			return mm_err_set(MM_ERR_INVALID, "field 'roles': role name too long");
		mm_str_copy(p.role, sizeof(p.role), r);
		if ((rc = check_policy(a, name, &p)) != MM_OK || (rc = push_policy(t, &p)) != MM_OK)
			return rc;
	}
	acts = json_object_get(spec, "actions");
	if (acts != NULL && !json_is_null(acts)) {
		if (!json_is_array(acts))
			return mm_err_set(MM_ERR_INVALID, "field 'actions': expected a list");
		json_array_foreach(acts, i, v) {
			if (!json_is_string(v))
				return mm_err_set(MM_ERR_INVALID, "field 'actions': entry %zu is not a "
						  "string", i);
			if ((rc = push_action(t, json_string_value(v))) != MM_OK)
				return rc;
		}
	}
	return check_actions(t);
}

static void format_duration(int64_t ms, char out[32])
{
	int64_t s = ms / 1000, d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60, sec = s % 60;
	size_t n = 0;

	out[0] = '\0';
	if (d)
		n += (size_t)snprintf(out + n, 32 - n, "%lldd", (long long)d);
	if (h)
		n += (size_t)snprintf(out + n, 32 - n, "%lldh", (long long)h);
	if (m)
		n += (size_t)snprintf(out + n, 32 - n, "%lldm", (long long)m);
	if (sec || n == 0)
		snprintf(out + n, 32 - n, "%llds", (long long)sec);
}

static json_t *target_json(const struct target *t)
{
	json_t *roles = json_array(), *acts = json_array(), *o;

	for (size_t i = 0; i < t->npol; i++) {
		char d[32];

		format_duration(t->pol[i].max_ms, d);
		json_array_append_new(roles, json_pack("{s:s,s:s,s:I,s:s,s:b}", "role",
			t->pol[i].role, "approver_role", t->pol[i].approver_role, "approvals",
			(json_int_t)t->pol[i].approvals, "max_duration", d, "report_required",
			t->pol[i].report_required));
	}
	for (size_t i = 0; i < t->nactions; i++)
		json_array_append_new(acts, json_string(t->actions[i]));
	o = json_pack("{s:s,s:s?,s:s,s:o,s:o}", "name", t->name, "description", t->description,
		      "source", t->from_config ? "config" : "api", "actions", acts, "roles", roles);
	if (o != NULL && !t->from_config) {
		char ts[MM_TIME_RFC3339_LEN];

		mm_time_format(t->updated_ms, ts);
		json_object_set_new(o, "updated", json_string(ts));
		json_object_set_new(o, "updated_by", json_string(t->updated_by));
	}
	return o;
}

/* The stored form: explicit per-role policies. */
static json_t *target_spec(const struct target *t)
{
	json_t *o = target_json(t);

	if (o != NULL) {
		json_object_del(o, "name");
		json_object_del(o, "source");
		json_object_del(o, "updated");
		json_object_del(o, "updated_by");
		if (t->description == NULL)
			json_object_del(o, "description");
	}
	return o;
}

static mm_err db_targets(mm_access *a, struct target_set *s)
{
	static const char sql[] = "SELECT name, spec, updated_ms, updated_by FROM targets";
	mm_db *db = NULL;
	mm_stmt *st = NULL;
	bool row;
	mm_err rc;

	if ((rc = mm_store_acquire(a->store, &db)) != MM_OK)
		return rc;
	if ((rc = mm_db_prepare(db, sql, &st)) != MM_OK)
		goto out;
	while ((rc = mm_stmt_step(st, &row)) == MM_OK && row) {
		const char *name = mm_stmt_text(st, 0), *text = mm_stmt_text(st, 1);
		struct target t;
		json_t *spec = NULL;

		if (set_find(s, name) != NULL)
			continue; /* the configuration wins */
		if (mm_json_parse(text, strlen(text), &spec) != MM_OK ||
		    target_from_json(a, name, spec, &t) != MM_OK) {
			/* A stored target that no longer validates (a role removed
			 * from the configuration) is skipped: it cannot be requested. */
			json_decref(spec);
			target_release(&t);
			continue;
		}
		json_decref(spec);
		t.updated_ms = mm_stmt_int(st, 2);
		mm_str_copy(t.updated_by, sizeof(t.updated_by), mm_stmt_text(st, 3));
		if ((rc = set_push(s, &t)) != MM_OK) {
			target_release(&t);
			break;
		}
	}
out:
	mm_stmt_done(st);
	mm_store_release(a->store, db);
	return rc;
}

mm_err mm_targets_reload(mm_access *a)
{
	struct target_set *s = calloc(1, sizeof(*s)), *old;
	mm_err rc;

	if (s == NULL)
		return MM_ERR_NOMEM;
	if ((rc = config_targets(a, s)) != MM_OK || (rc = db_targets(a, s)) != MM_OK) {
		set_free(s);
		return rc;
	}
	pthread_rwlock_wrlock(&a->tlock);
	old = a->targets;
	a->targets = s;
	pthread_rwlock_unlock(&a->tlock);
	set_free(old);
	return MM_OK;
}

mm_err mm_targets_open(mm_access *a)
{
	return mm_targets_reload(a);
}

void mm_targets_free(mm_access *a)
{
	set_free(a->targets);
	a->targets = NULL;
}

bool mm_targets_role_is_target_role(mm_access *a, const char *role)
{
	bool found = false;

	pthread_rwlock_rdlock(&a->tlock);
	for (size_t i = 0; a->targets != NULL && i < a->targets->n && !found; i++)
		found = find_policy(&a->targets->t[i], role) != NULL;
	pthread_rwlock_unlock(&a->tlock);
	return found;
}

mm_err mm_targets_policy(mm_access *a, const char *target, const char *role,
			 mm_policy *ret_policy)
{
	struct target *t;
	mm_policy *p = NULL;

	pthread_rwlock_rdlock(&a->tlock);
	if ((t = set_find(a->targets, target)) != NULL && (p = find_policy(t, role)) != NULL)
		*ret_policy = *p;
	pthread_rwlock_unlock(&a->tlock);
	if (t == NULL)
		return mm_err_set(MM_ERR_NOT_FOUND, "no target '%.64s'", target);
	if (p == NULL)
		return mm_err_set(MM_ERR_NOT_FOUND, "target '%.64s' offers no role '%.64s'", target,
				  role);
	return MM_OK;
}

mm_err mm_targets_exists(mm_access *a, const char *target, bool *ret)
{
	pthread_rwlock_rdlock(&a->tlock);
	*ret = set_find(a->targets, target) != NULL;
	pthread_rwlock_unlock(&a->tlock);
	return MM_OK;
}

mm_err mm_targets_action_allowed(mm_access *a, const char *target, const char *role,
				 const char *action, bool *ret)
{
	struct target *t;
	size_t rl = strlen(role);
	bool ok = false;

	pthread_rwlock_rdlock(&a->tlock);
	if ((t = set_find(a->targets, target)) != NULL) {
		ok = t->nactions == 0;
		for (size_t i = 0; i < t->nactions && !ok; i++) {
			const char *e = t->actions[i], *colon = strchr(e, ':');

			if (colon == NULL)
				ok = strcmp(e, action) == 0;
			else
				ok = (size_t)(colon - e) == rl && strncmp(e, role, rl) == 0 &&
				     strcmp(colon + 1, action) == 0;
		}
	}
	pthread_rwlock_unlock(&a->tlock);
	if (t == NULL)
		return mm_err_set(MM_ERR_NOT_FOUND, "no target '%.64s'", target);
	*ret = ok;
	return MM_OK;
}

mm_err mm_access_target_list(mm_access *a, json_t **ret)
{
	json_t *arr = json_array();

	if (arr == NULL)
		return MM_ERR_NOMEM;
	pthread_rwlock_rdlock(&a->tlock);
	for (size_t i = 0; a->targets != NULL && i < a->targets->n; i++)
		json_array_append_new(arr, target_json(&a->targets->t[i]));
	pthread_rwlock_unlock(&a->tlock);
	*ret = json_pack("{s:o}", "targets", arr);
	return *ret ? MM_OK : MM_ERR_NOMEM;
}

mm_err mm_access_target_get(mm_access *a, const char *name, json_t **ret)
{
	struct target *t;

	pthread_rwlock_rdlock(&a->tlock);
	t = set_find(a->targets, name);
	*ret = t ? target_json(t) : NULL;
	pthread_rwlock_unlock(&a->tlock);
	if (t == NULL)
		return mm_err_set(MM_ERR_NOT_FOUND, "no target '%.64s'", name);
	return *ret ? MM_OK : MM_ERR_NOMEM;
}

struct target_job {
	mm_access *a;
	const mm_access_ctx *ctx;
	const char *name;
	const struct target *t;   /* NULL = delete */
	const char *spec;
};

static mm_err target_job(mm_db *db, void *arg)
{
	static const char q_put[] =
		"INSERT INTO targets (name, spec, updated_ms, updated_by) VALUES (?, ?, ?, ?)"
		" ON CONFLICT (name) DO UPDATE SET spec = excluded.spec,"
		" updated_ms = excluded.updated_ms, updated_by = excluded.updated_by";
	static const char q_del[] = "DELETE FROM targets WHERE name = ?";
	static const char q_open[] =
		"SELECT COUNT(*) FROM grants WHERE target = ?"
		" AND state IN ('pending', 'approved', 'active')";
	static const char q_holders[] =
		"SELECT name FROM users WHERE (',' || roles || ',') LIKE ?";
	struct target_job *j = arg;
	char actor[MM_NAME_MAX + 8], target[MM_NAME_MAX + 8];
	mm_audit_event ev;
	int64_t open = 0;
	json_t *d = NULL;
	mm_stmt *st;
	mm_err rc;

	if ((rc = mm_access_query_int(db, q_open, j->name, 0, NULL, &open)) != MM_OK)
		return rc;
	if (j->t == NULL) {
		if (open > 0)
			return mm_err_set(MM_ERR_CONFLICT, "target %s has %lld open request(s) or "
					  "grant(s): end them first", j->name, (long long)open);
		if ((rc = mm_db_prepare(db, q_del, &st)) != MM_OK)
			return rc;
		if ((rc = mm_stmt_bind_text(st, 1, j->name)) == MM_OK)
			rc = mm_stmt_run(st);
		mm_stmt_done(st);
		if (rc != MM_OK)
			return rc;
		if (mm_db_changes(db) != 1)
			return mm_err_set(MM_ERR_NOT_FOUND, "no target '%.64s'", j->name);
	} else {
		for (size_t i = 0; i < j->t->npol; i++) {
			char like[MM_NAME_MAX + 8];
			bool row = false;

			snprintf(like, sizeof(like), "%%,%s,%%", j->t->pol[i].role);
			if ((rc = mm_db_prepare(db, q_holders, &st)) != MM_OK)
				return rc;
			if ((rc = mm_stmt_bind_text(st, 1, like)) == MM_OK)
				rc = mm_stmt_step(st, &row);
			if (rc == MM_OK && row)
				rc = mm_err_set(MM_ERR_CONFLICT, "user %s holds role %s directly; target "
						"roles are only granted just-in-time",
						mm_stmt_text(st, 0), j->t->pol[i].role);
			mm_stmt_done(st);
			if (rc != MM_OK)
				return rc;
		}
		if ((rc = mm_db_prepare(db, q_put, &st)) != MM_OK)
			return rc;
		mm_access_event(&ev, j->ctx, actor, "", NULL, "");
		if ((rc = mm_stmt_bind_text(st, 1, j->name)) == MM_OK &&
		    (rc = mm_stmt_bind_text(st, 2, j->spec)) == MM_OK &&
		    (rc = mm_stmt_bind_int(st, 3, mm_time_wall_ms())) == MM_OK &&
		    (rc = mm_stmt_bind_text(st, 4, actor)) == MM_OK)
			rc = mm_stmt_run(st);
		mm_stmt_done(st);
		if (rc != MM_OK)
			return rc;
		if (mm_json_parse(j->spec, strlen(j->spec), &d) != MM_OK)
			d = NULL;
	}
	snprintf(target, sizeof(target), "target:%s", j->name);
	mm_access_event(&ev, j->ctx, actor, j->t ? "access.target.put" : "access.target.delete",
			target, "success");
	ev.details = d;
	rc = mm_audit_append(db, &ev, NULL);
	json_decref(d);
	return rc;
}

static bool is_config_target(mm_access *a, const char *name)
{
	struct target *t;
	bool cfg;

	pthread_rwlock_rdlock(&a->tlock);
	t = set_find(a->targets, name);
	cfg = t != NULL && t->from_config;
	pthread_rwlock_unlock(&a->tlock);
	return cfg;
}

mm_err mm_access_target_put(mm_access *a, const mm_access_ctx *ctx, const char *name,
			    const json_t *spec, json_t **ret)
{
	struct target t;
	struct target_job j;
	json_t *norm = NULL;
	char *text = NULL;
	mm_err rc;

	if ((rc = mm_access_check_name("target name", name)) != MM_OK)
		return rc;
	if (is_config_target(a, name))
		return mm_err_set(MM_ERR_CONFLICT, "target %s is defined in the configuration file",
				  name);
	if ((rc = target_from_json(a, name, spec, &t)) != MM_OK)
		goto out;
	if ((norm = target_spec(&t)) == NULL || (text = mm_json_dump(norm)) == NULL) {
		rc = MM_ERR_NOMEM;
		goto out;
	}
	j = (struct target_job){ a, ctx, name, &t, text };
	if ((rc = mm_store_write(a->store, target_job, &j)) != MM_OK)
		goto out;
	if ((rc = mm_targets_reload(a)) != MM_OK)
		goto out;
	rc = mm_access_target_get(a, name, ret);
out:
	free(text);
	json_decref(norm);
	target_release(&t);
	return rc;
}

mm_err mm_access_target_delete(mm_access *a, const mm_access_ctx *ctx, const char *name)
{
	struct target_job j = { a, ctx, name, NULL, NULL };
	mm_err rc;

	if (is_config_target(a, name))
		return mm_err_set(MM_ERR_CONFLICT, "target %s is defined in the configuration file",
				  name);
	if ((rc = mm_store_write(a->store, target_job, &j)) != MM_OK)
		return rc;
	return mm_targets_reload(a);
}
