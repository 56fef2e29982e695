"""The access module's FISC evidence checks against the running system:
each is evaluated through `mamori fisc evaluate` and flips from pass to fail
when the system is put in the failing state (a standing privileged role, a
privileged user without MFA, an unconfirmed work report, no recent account
review), and back once the state is repaired."""
import json
import os
import time

from harness import Daemon, check, finish, strong_password

CONFIG = """
[log]
level = "warn"
[identity]
lockout_threshold = 5
[access]
request_review = "1h"
[fisc]
bindings_file = "%(bindings)s"

[role.standing-dba]
permissions = ["self", "access.read"]
privileged = true

[target.prod-db]
roles = ["dba"]
approvals = 1
max_duration = "1h"
report_required = true
"""


def evaluate(d, token):
    rc, ev, err = d.cli_json("fisc", "evaluate", token=token)
    if rc != 0:
        check(False, "fisc evaluate: %s" % err)
        return {}
    return {r["check"]: r["result"] for r in ev["results"]}


def main():
    d = Daemon()
    # Bindings with the work-report deadline at 0 days so that a closed
    # grant without a confirmed report fails at once.
    src = os.environ.get("MAMORI_SRC", os.path.join(os.path.dirname(__file__), "../.."))
    b = json.load(open(os.path.join(src, "data/fisc/evidence-bindings.json")))
    for c in b["checks"]:
        if c["check"] == "access.work_reports_confirmed":
            c["params"] = {"max_days": 0}
    bpath = os.path.join(d.tmp, "bindings.json")
    json.dump(b, open(bpath, "w"), ensure_ascii=False)
    d.config_text = CONFIG % {"bindings": bpath}
    try:
        d.start()
        admin = d.init_admin("alice", mfa=True)
        res = evaluate(d, admin)
        check(res.get("access.no_standing_privilege") == "pass", "no standing privilege: %r" % res)
        check(res.get("identity.mfa_privileged") == "pass", "admin has MFA: %r" % res)
        check(res.get("identity.password_policy") == "pass", "password policy")
        check(res.get("identity.lockout") == "pass", "lockout configured")
        check(res.get("identity.inventory_reviewed") == "fail", "no review yet -> fail")
        check(res.get("access.grants_approved_by_other") == "not_applicable", "no grants: n/a")
        check(res.get("access.work_reports_confirmed") == "not_applicable", "no reports: n/a")

        # A standing privileged role flips the check; disabling the user repairs it.
        st, body, _ = d.http("POST", "/v1/users", token=admin,
                             body={"name": "sam", "roles": ["standing-dba"],
                                   "password": strong_password() + strong_password()})
        check(st == 201, "user with a privileged role created: %s %s" % (st, body))
        res = evaluate(d, admin)
        check(res.get("access.no_standing_privilege") == "fail", "standing privileged role -> fail")
        check(res.get("identity.mfa_privileged") == "fail", "privileged user without MFA -> fail")
        st, body, _ = d.http("POST", "/v1/users/sam/disable", token=admin)
        check(st == 200, "disable sam: %s %s" % (st, body))
        res = evaluate(d, admin)
        check(res.get("access.no_standing_privilege") == "pass", "disabled -> pass again")
        check(res.get("identity.mfa_privileged") == "pass", "disabled -> MFA check passes again")

        # Inventory review recorded -> pass.
        rc, out, err = d.cli_json("user", "inventory", "review", "--note", "monthly", token=admin)
        check(rc == 0, "review recorded: %s" % err)
        res = evaluate(d, admin)
        check(res.get("identity.inventory_reviewed") == "pass", "reviewed -> pass")

        # A grant approved by another person, ended, report missing -> fail;
        # report submitted and confirmed -> pass.
        bob = d.add_user("bob", ["approver"])
        dave = d.add_user("dave", ["operator"])
        st, r, _ = d.http("POST", "/v1/access/requests", token=dave,
                          body={"target": "prod-db", "role": "dba", "duration": "2s",
                                "reason": "rotate keys"})
        check(st == 201, "request: %s %s" % (st, r))
        st, body, _ = d.http("POST", "/v1/access/requests/%d/approve" % r["id"], token=bob)
        check(st == 200, "approved by bob: %s" % body)
        time.sleep(3.5)
        res = evaluate(d, admin)
        check(res.get("access.grants_approved_by_other") == "pass", "approved by another: %r" % res)
        check(res.get("access.grants_ended_on_time") == "pass", "ended on time: %r" % res)
        check(res.get("access.work_reports_confirmed") == "fail", "report missing -> fail")
        st, body, _ = d.http("POST", "/v1/access/requests/%d/report" % r["id"], token=dave,
                             body={"text": "keys rotated, no incident"})
        check(st == 200, "report submitted: %s" % body)
        st, body, _ = d.http("POST", "/v1/access/requests/%d/confirm" % r["id"], token=bob)
        check(st == 200, "report confirmed: %s" % body)
        res = evaluate(d, admin)
        check(res.get("access.work_reports_confirmed") == "pass", "confirmed -> pass: %r" % res)

        # Lockout made lax in the configuration -> fail after restart.
        d.stop()
        d.config_text = d.config_text.replace("lockout_threshold = 5", "lockout_threshold = 50")
        d.start()
        d.unseal()
        st, out = d.login("alice")
        tok = out["token"] if st == 200 else admin
        res = evaluate(d, tok)
        check(res.get("identity.lockout") == "fail", "lax lockout -> fail: %r" % res)
    finally:
        d.cleanup()
    finish()


if __name__ == "__main__":
    main()
