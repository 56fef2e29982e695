"""Access integration test: identity, TOTP (codes from oathtool), sessions,
lockout, allowlists, inventory, and the just-in-time access flow against the
real mamorid and mamori CLI.

Covers: self-approval refused; approval by a user without the approver role
refused; a second approval by the same person not counted; an expired
request cannot be approved; a grant allowed during and denied one second
after its end, also across a daemon restart; a replayed TOTP code refused;
lockout after repeated failures and recovery after the back-off (unknown
names lock out the same way); a disabled user's sessions dead at once; user
and role source-address allowlists; password change ends sessions;
recovery codes work once; work reports and confirmation; break-glass;
webhook notifications with retry; every decision audited with its grant id.
"""
import http.server
import json
import threading
import time

from harness import Daemon, check, finish, free_port, strong_password, totp

CONFIG = """
[log]
level = "warn"
[identity]
lockout_threshold = 3
lockout_base = "2s"
source_lockout_threshold = 100000
[access]
breakglass_user = "emergency"
request_review = "5s"
[notify]
webhook_url = "http://127.0.0.1:%(hook)d/hook"

[role.dbapprover]
permissions = ["self", "access.approve", "access.read"]

[role.basic]
permissions = ["self"]

[role.remote-reader]
permissions = ["self", "user.read"]
allow_cidrs = ["192.0.2.0/24"]

[role.local-reader]
permissions = ["self", "user.read"]
allow_cidrs = ["127.0.0.0/8", "::1/128"]

[target.prod-db]
description = "production database"
roles = ["dba", "readonly"]
approvals = 2
max_duration = "1h"
report_required = true
actions = ["ssh", "sql.read", "dba:sql.write"]

[policy.prod-db-readonly]
target = "prod-db"
role = "readonly"
approvals = 1
report_required = false

[target.payments]
roles = ["payops"]
approver_role = "dbapprover"
approvals = 1
max_duration = "30m"
"""


class Hook(http.server.BaseHTTPRequestHandler):
    events = []
    attempts = 0
    lock = threading.Lock()

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        with Hook.lock:
            Hook.attempts += 1
            first = Hook.attempts == 1
            if not first:
                Hook.events.append(json.loads(body))
        # The first delivery fails: the notifier must retry it.
        self.send_response(500 if first else 204)
        self.end_headers()

    def log_message(self, *args):
        pass


def hook_events(kind):
    with Hook.lock:
        return [e for e in Hook.events if e["event"] == kind]


def wait_for(fn, timeout, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return fn()


def audit_rows(d, action):
    """Every audit event with this action, through the audit API."""
    rows, cursor = [], None
    while True:
        q = "/v1/audit/events?limit=1000&action=%s" % action
        if cursor:
            q += "&cursor=%s" % cursor
        st, body, _ = d.http("GET", q, token=d.admin_token)
        if st != 200:
            raise RuntimeError("audit query failed: %s %s" % (st, body))
        rows += body["events"]
        cursor = body.get("next_cursor")
        if not cursor:
            return rows


def main():
    hook_port = free_port()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", hook_port), Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    d = Daemon(config_text=CONFIG % {"hook": hook_port})
    try:
        d.start()
        admin = d.init_admin("alice", mfa=True)
        st, who, _ = d.http("GET", "/v1/auth/whoami", token=admin)
        check(st == 200 and who["mfa"] and not who["restricted"], "admin session upgraded by TOTP")

        # ---- password policy at user creation ----
        st, body, _ = d.http("POST", "/v1/users", token=admin,
                             body={"name": "weak", "roles": ["operator"], "password": "short"})
        check(st == 400 and "at least 12" in body["error"]["message"], "short password refused")
        st, body, _ = d.http("POST", "/v1/users", token=admin,
                             body={"name": "weak", "roles": ["operator"],
                                   "password": "password1234"})
        check(st == 400 and "list" in body["error"]["message"], "common password refused")
        st, body, _ = d.http("POST", "/v1/users", token=admin,
                             body={"name": "weak", "roles": ["auditor"],
                                   "password": "Quiet river 77"})
        check(st == 400 and "15" in body["error"]["message"],
              "account without MFA needs 15 characters: %s" % body)
        st, body, _ = d.http("POST", "/v1/users", token=admin,
                             body={"name": "weak", "roles": ["dba"],
                                   "password": strong_password()})
        check(st == 400 and "just-in-time" in body["error"]["message"],
              "target role cannot be assigned directly")

        # ---- users ----
        bob = d.add_user("bob", ["approver"])
        carol = d.add_user("carol", ["approver"])
        dave = d.add_user("dave", ["operator"])
        erin = d.add_user("erin", ["operator", "approver"])
        frank = d.add_user("frank", ["auditor"])
        paula = d.add_user("paula", ["dbapprover"])
        emergency = d.add_user("emergency", ["operator"])
        check(all([bob, carol, dave, erin, frank, paula, emergency]), "users signed in and enrolled")
        st, body, _ = d.http("GET", "/v1/users/dave", token=admin)
        check(st == 200 and body["mfa"] == "active" and "argon2" not in json.dumps(body) and
              d.secrets["dave"] not in json.dumps(body), "user shows MFA active and no secrets")

        # ---- JIT: request, approvals ----
        t0 = time.time()
        st, r1, _ = d.http("POST", "/v1/access/requests", token=dave,
                           body={"target": "prod-db", "role": "dba", "duration": "8s",
                                 "reason": "rotate replica", "ticket": "CHG-1"})
        check(st == 201 and r1["state"] == "pending" and r1["approvals_required"] == 2,
              "request created pending: %s" % (r1,))
        rid = r1["id"]
        st, body, _ = d.http("POST", "/v1/access/requests", token=dave,
                             body={"target": "prod-db", "role": "dba", "duration": "2h",
                                   "reason": "too long"})
        check(st == 400 and "longest" in body["error"]["message"], "duration capped by policy")
        st, body, _ = d.http("POST", "/v1/access/requests", token=dave,
                             body={"target": "prod-db", "role": "dba", "duration": "5m",
                                   "reason": "dup"})
        check(st == 409, "second open request for the same role refused")

        # Self-approval, even holding the approver role.
        st, r2, _ = d.http("POST", "/v1/access/requests", token=erin,
                           body={"target": "prod-db", "role": "readonly", "duration": "10m",
                                 "reason": "look at slow queries"})
        st, body, _ = d.http("POST", "/v1/access/requests/%d/approve" % r2["id"], token=erin)
        check(st == 403 and "own request" in body["error"]["message"], "self-approval refused")
        # Approval by users without the role.
        st, body, _ = d.http("POST", "/v1/access/requests/%d/approve" % rid, token=frank)
        check(st == 403, "auditor cannot approve (route permission)")
        st, body, _ = d.http("POST", "/v1/access/requests/%d/approve" % rid, token=paula)
        check(st == 403 and "approver role" in body["error"]["message"],
              "approver of another policy cannot approve: %s" % body)
        # One person counts once.
        st, body, _ = d.http("POST", "/v1/access/requests/%d/approve" % rid, token=bob,
                             body={"comment": "ok"})
        check(st == 200 and body["state"] == "pending" and len(body["approvals"]) == 1,
              "first approval recorded")
        st, body, _ = d.http("POST", "/v1/access/requests/%d/approve" % rid, token=bob)
        check(st == 409 and "once" in body["error"]["message"], "second approval by same person refused")
        st, body, _ = d.http("GET", "/v1/access/requests/%d" % rid, token=bob)
        check(body["state"] == "pending" and len(body["approvals"]) == 1,
              "duplicate approval not counted")
        # Check before approval: denied.
        st, c, _ = d.http("POST", "/v1/access/check", token=bob,
                          body={"user": "dave", "target": "prod-db", "action": "ssh"})
        check(st == 200 and c["allowed"] is False and c["grant_id"] is None and
              c["reason"] == "no active grant", "no access before approval: %s" % c)
        st, body, _ = d.http("POST", "/v1/access/requests/%d/approve" % rid, token=carol)
        check(st == 200 and body["state"] == "active" and body["access_now"],
              "second approval activates: %s" % body.get("state"))
        end = t0 + 8

        # ---- access checks during the grant ----
        st, c, _ = d.http("POST", "/v1/access/check", token=bob,
                          body={"user": "dave", "target": "prod-db", "action": "ssh"})
        check(st == 200 and c["allowed"] and c["grant_id"] == rid and 0 < c["remaining_s"] <= 8,
              "allowed during the grant: %s" % c)
        rc, out, err = d.cli_json("access", "check", "--user", "dave", "--target", "prod-db",
                                  "--action", "sql.write", token=bob)
        check(rc == 0 and out["allowed"] and out["role"] == "dba", "role action allowed (CLI)")
        rc, out, err = d.cli_json("access", "check", "--user", "dave", "--target", "prod-db",
                                  "--action", "rm -rf", token=bob)
        check(rc == 1 and out["allowed"] is False and out["grant_id"] == rid and
              out["reason"] == "action not allowed for the granted role",
              "undeclared action denied under the grant: %s" % out)
        st, c, _ = d.http("POST", "/v1/access/check", token=bob,
                          body={"user": "erin", "target": "prod-db", "action": "ssh"})
        check(c["allowed"] is False, "other user denied")
        st, c, _ = d.http("POST", "/v1/access/check", token=bob,
                          body={"user": "nobody", "target": "prod-db", "action": "ssh"})
        check(st == 200 and c["allowed"] is False and c["grant_id"] is None and
              c["reason"] == "unknown user", "unknown user denied: %s" % c)
        st, c, _ = d.http("POST", "/v1/access/check", token=bob,
                          body={"user": "dave", "target": "no-such-host", "action": "ssh"})
        check(st == 200 and c["allowed"] is False and c["reason"] == "unknown target",
              "unknown target denied: %s" % c)
        st, c, _ = d.http("POST", "/v1/access/check", token=dave,
                          body={"user": "dave", "target": "prod-db", "action": "ssh"})
        check(st == 403, "operator lacks access.check")

        # Expired request cannot be approved (review window 5 s).
        st, r4, _ = d.http("POST", "/v1/access/requests", token=emergency,
                           body={"target": "prod-db", "role": "readonly", "duration": "10m",
                                 "reason": "will expire"})
        # Deny flow meanwhile.
        st, body, _ = d.http("POST", "/v1/access/requests/%d/deny" % r2["id"], token=bob,
                             body={"reason": "use the replica"})
        check(st == 200 and body["state"] == "denied", "request denied")

        # ---- end of grant: denied one second after its end ----
        time.sleep(max(0, end - time.time()) + 1.0)
        st, c, _ = d.http("POST", "/v1/access/check", token=bob,
                          body={"user": "dave", "target": "prod-db", "action": "ssh"})
        check(st == 200 and c["allowed"] is False, "denied one second after the end: %s" % c)
        st, body, _ = d.http("GET", "/v1/access/requests/%d" % rid, token=bob)
        check(body["state"] == "ended", "tick ended the grant within a second: %s" % body["state"])

        time.sleep(max(0, t0 + 5.5 - time.time()))
        st, body, _ = d.http("POST", "/v1/access/requests/%d/approve" % r4["id"], token=bob)
        check(st == 409 and "expired" in body["error"]["message"], "expired request cannot be approved")
        st, body, _ = d.http("GET", "/v1/access/requests/%d" % r4["id"], token=bob)
        check(body["state"] == "expired", "request expired")

        # Operations under the grant are listed, each with an audit record.
        st, ops, _ = d.http("GET", "/v1/access/requests/%d/operations" % rid, token=admin)
        allowed = [o for o in ops["operations"] if o["allowed"]]
        check(st == 200 and len(allowed) >= 2 and all(o["audit_seq"] > 0 for o in ops["operations"])
              and any(not o["allowed"] and o["action"] == "rm -rf" for o in ops["operations"]),
              "operations under the grant listed: %d" % len(ops["operations"]))
        hist = [e["action"] for e in ops["history"]]
        check(hist[:1] == ["access.request.create"] and "access.grant.approve" in hist and
              "access.grant.end" in hist, "grant history from the audit log: %s" % hist)
        checks = audit_rows(d, "access.check")
        check(any(a["details"].get("grant_id") == rid and a["result"] == "allowed" for a in checks)
              and any(a["result"] == "denied" for a in checks), "every decision audited")
        refusals = [a for a in audit_rows(d, "access.request.approve") if a["result"] == "denied"]
        check(len(refusals) >= 3, "refused approvals audited: %d" % len(refusals))

        # ---- work report ----
        rc, out, err = d.cli_json("access", "list", "--unconfirmed", token=admin)
        check(rc == 0 and any(g["id"] == rid for g in out["requests"]), "missing report listed")
        st, body, _ = d.http("POST", "/v1/access/requests/%d/report" % rid, token=dave,
                             body={"text": "rotated replica credentials; no data touched"})
        check(st == 200 and body["report"]["text"].startswith("rotated"), "report submitted")
        st, body, _ = d.http("POST", "/v1/access/requests/%d/confirm" % rid, token=erin)
        check(st == 200 and body["report"]["confirmed_by"] == "user:erin", "report confirmed")
        rc, out, err = d.cli_json("access", "list", "--unconfirmed", token=admin)
        check(rc == 0 and not any(g["id"] == rid for g in out["requests"]),
              "confirmed report no longer listed")

        # ---- target policy with another approver role ----
        st, r5, _ = d.http("POST", "/v1/access/requests", token=dave,
                           body={"target": "payments", "role": "payops", "duration": "5m",
                                 "reason": "refund batch"})
        st, body, _ = d.http("POST", "/v1/access/requests/%d/approve" % r5["id"], token=bob)
        check(st == 403, "approver without the policy's role refused")
        st, body, _ = d.http("POST", "/v1/access/requests/%d/approve" % r5["id"], token=paula)
        check(st == 200 and body["state"] == "active", "policy approver approves")
        st, body, _ = d.http("POST", "/v1/access/requests/%d/revoke" % r5["id"], token=dave,
                             body={"reason": "done early"})
        check(st == 200 and body["state"] == "revoked", "requester revokes own grant")
        st, c, _ = d.http("POST", "/v1/access/check", token=bob,
                          body={"user": "dave", "target": "payments", "action": "x"})
        check(c["allowed"] is False, "revoked grant denies")

        # ---- break-glass ----
        st, body, _ = d.http("POST", "/v1/access/requests", token=dave,
                             body={"target": "prod-db", "role": "dba", "duration": "5m",
                                   "reason": "x", "breakglass": True})
        check(st == 403, "only the break-glass account may break glass")
        rc, out, err = d.cli_json("access", "request", "--target", "prod-db", "--role", "dba",
                                  "--for", "10m", "--reason", "outage INC-9", "--breakglass",
                                  token=emergency)
        check(rc == 0 and out["state"] == "active" and out["breakglass"],
              "break-glass active at once: %s %s" % (out, err))
        st, c, _ = d.http("POST", "/v1/access/check", token=bob,
                          body={"user": "emergency", "target": "prod-db", "action": "ssh"})
        check(c["allowed"] and c["breakglass"], "break-glass use marked")
        check(len(audit_rows(d, "access.breakglass")) == 1, "break-glass audited")

        # ---- grant across a restart ----
        st, r6, _ = d.http("POST", "/v1/access/requests", token=dave,
                           body={"target": "prod-db", "role": "readonly", "duration": "12s",
                                 "reason": "restart test"})
        st, body, _ = d.http("POST", "/v1/access/requests/%d/approve" % r6["id"], token=carol)
        end6 = time.time() + 12
        check(body["state"] == "active", "readonly needs one approval")
        d.restart()
        d.unseal()
        bob = d.login("bob")[1]["token"]  # sessions survive, but take a fresh one anyway
        st, c, _ = d.http("POST", "/v1/access/check", token=bob,
                          body={"user": "dave", "target": "prod-db", "action": "sql.read"})
        check(st == 200 and c["allowed"] and c["grant_id"] == r6["id"],
              "grant still allowed after restart: %s" % c)
        d.stop()
        time.sleep(max(0, end6 - time.time()) + 1.0)
        d.start()
        d.unseal()
        st, c, _ = d.http("POST", "/v1/access/check", token=bob,
                          body={"user": "dave", "target": "prod-db", "action": "sql.read"})
        check(st == 200 and c["allowed"] is False, "denied after end across restart: %s" % c)
        st, body, _ = d.http("GET", "/v1/access/requests/%d" % r6["id"], token=bob)
        check(body["state"] == "ended", "ended at start-up: %s" % body["state"])

        # ---- notifications (first delivery failed and was retried) ----
        got = wait_for(lambda: hook_events("access.breakglass") and
                       hook_events("access.request.approved") and
                       hook_events("access.request.denied") and
                       hook_events("access.request.created"), 20)
        check(bool(got), "webhook received created/approved/denied/break-glass: %s"
              % sorted({e["event"] for e in Hook.events}))
        check(Hook.attempts > len(Hook.events), "failed delivery retried")
        bg = hook_events("access.breakglass")
        check(bg and bg[0]["data"]["requester"] == "emergency" and bg[0]["data"]["breakglass"],
              "break-glass notification body")

        # ---- replayed TOTP code ----
        d.add_user("jack", ["operator"])
        code = d.code("jack")
        st, body = d.login("jack", code=code)
        check(st == 200 and body["mfa"], "login with a fresh code")
        st, body = d.login("jack", code=code)
        check(st == 401, "replayed code refused")
        check(any(a["details"].get("reason") == "replayed_code" for a in audit_rows(d, "auth.login")),
              "replay audited with its reason")
        st, body = d.login("jack", code="000000" if code != "000000" else "111111")
        check(st == 401 and body["error"]["message"] == "invalid user name, password or code",
              "wrong code: generic error")

        # ---- recovery codes work once ----
        kate_token = d.add_user("kate", ["operator"])
        st, body, _ = d.http("POST", "/v1/auth/mfa/enroll", token=kate_token)
        check(st == 403, "re-enrolment needs the current code")
        d.secrets.pop("kate")
        st, enr, _ = d.http("POST", "/v1/users/kate/mfa/reset", token=admin)
        st, body, _ = d.http("GET", "/v1/auth/whoami", token=kate_token)
        check(st == 401, "MFA reset ends sessions")
        st, body = d.login("kate")
        check(st == 200 and body["restricted"], "after reset: restricted session")
        codes = d.enrol("kate", body["token"])
        st, body, _ = d.http("POST", "/v1/auth/login",
                             body={"user": "kate", "password": d.passwords["kate"],
                                   "recovery_code": codes[0].upper()})
        check(st == 200 and body["recovery_codes_left"] == 9, "recovery code accepted: %s" % body)
        st, body, _ = d.http("POST", "/v1/auth/login",
                             body={"user": "kate", "password": d.passwords["kate"],
                                   "recovery_code": codes[0]})
        check(st == 401, "recovery code works once")

        # ---- lockout and back-off; unknown names behave the same ----
        d.add_user("greg", ["auditor"], enrol=False)
        times_bad, times_unknown = [], []
        for i in range(3):
            t = time.time()
            st, body = d.login("greg", password="Wrong password number %d" % i)
            times_bad.append(time.time() - t)
            check(st == 401, "wrong password %d -> 401" % i)
            t = time.time()
            st2, body2 = d.login("nobody-here", password="Wrong password number %d" % i)
            times_unknown.append(time.time() - t)
            check(st2 == 401 and body2["error"]["code"] == body["error"]["code"] and
                  body2["error"]["message"] == body["error"]["message"],
                  "unknown user: same status and message")
        st, body = d.login("greg")
        check(st == 429, "locked after 3 failures even with the right password")
        st2, body2 = d.login("nobody-here", password="Whatever password 1")
        check(st2 == 429 and body2["error"]["message"] == body["error"]["message"],
              "unknown name locks out the same way")
        tb, tu = sorted(times_bad)[1], sorted(times_unknown)[1]
        check(0.3 < tu / tb < 3.0, "unknown user takes Argon2 time too (%.3fs vs %.3fs)" % (tu, tb))
        time.sleep(2.2)
        st, body = d.login("greg")
        check(st == 200 and body["mfa"] is False and body["restricted"] is False,
              "login works after the back-off: %s" % body)
        logins = audit_rows(d, "auth.login")
        check(all(a["source"] == "127.0.0.1" for a in logins) and
              any(a["details"].get("reason") == "account_locked" for a in logins) and
              any(a["details"].get("reason") == "unknown_user" for a in logins),
              "login outcomes audited with source and reason")

        # ---- disabled user's sessions die at once ----
        rc, out, err = d.cli("token", "create", token=dave)
        dave_api = out.strip()
        st, _, _ = d.http("GET", "/v1/access/requests", token=dave_api)
        check(st == 200, "dave's API token works")
        rc, out, err = d.cli("user", "disable", "dave", token=admin)
        check(rc == 0, "user disable (CLI)")
        st, _, _ = d.http("GET", "/v1/auth/whoami", token=dave)
        st2, _, _ = d.http("GET", "/v1/auth/whoami", token=dave_api)
        check(st == 401 and st2 == 401, "disabled user's session and token dead at once")
        st, c, _ = d.http("POST", "/v1/access/check", token=admin,
                          body={"user": "dave", "target": "prod-db", "action": "ssh"})
        check(st == 200 and c["allowed"] is False and c["reason"] == "user disabled",
              "disabled user denied by the check: %s" % c)
        st, body = d.login("dave")
        check(st == 401, "disabled user cannot sign in")
        rc, out, err = d.cli("user", "enable", "dave", token=admin)
        st, _, _ = d.http("GET", "/v1/auth/whoami", token=dave)
        check(rc == 0 and st == 401, "enabling does not revive old sessions")

        # ---- source-address allowlists ----
        d.add_user("henry", ["auditor"], cidrs=["10.0.0.0/8"], enrol=False)
        st, body = d.login("henry")
        check(st == 401, "login refused outside the user's allowlist")
        st, body, _ = d.http("PATCH", "/v1/users/henry", token=admin,
                             body={"allow_cidrs": ["127.0.0.0/8", "2001:db8::/32"]})
        check(st == 200 and body["allow_cidrs"] == ["127.0.0.0/8", "2001:db8::/32"],
              "allowlist updated (IPv4 and IPv6)")
        st, body = d.login("henry")
        check(st == 200, "login inside the allowlist")
        henry = body["token"]
        st, body, _ = d.http("PATCH", "/v1/users/henry", token=admin,
                             body={"allow_cidrs": ["192.0.2.0/24"]})
        st, _, _ = d.http("GET", "/v1/auth/whoami", token=henry)
        check(st == 401, "existing session refused once the address is excluded")
        st, c, _ = d.http("POST", "/v1/access/check", token=admin,
                          body={"user": "henry", "target": "prod-db", "action": "ssh",
                                "source": "127.0.0.1"})
        check(st == 200 and c["allowed"] is False and
              c["reason"] == "source address not allowed for the user",
              "check applies the user's allowlist to source: %s" % c)
        st, c, _ = d.http("POST", "/v1/access/check", token=admin,
                          body={"user": "henry", "target": "prod-db", "action": "ssh",
                                "source": "192.0.2.7"})
        check(st == 200 and c["reason"] == "no active grant",
              "source inside the user's allowlist passes to the grants: %s" % c)
        st, body, _ = d.http("PATCH", "/v1/users/henry", token=admin,
                             body={"allow_cidrs": ["10.1.2.3/8"]})
        check(st == 400, "CIDR with host bits refused")
        ivan = d.add_user("ivan", ["basic", "remote-reader"], enrol=False)
        st, who, _ = d.http("GET", "/v1/auth/whoami", token=ivan)
        st2, _, _ = d.http("GET", "/v1/users", token=ivan)
        check(st == 200 and who["roles"] == ["basic"] and st2 == 403,
              "role with an allowlist is dropped outside it: %s %s" % (who, st2))
        judy = d.add_user("judy", ["local-reader"], enrol=False)
        st, _, _ = d.http("GET", "/v1/users", token=judy)
        check(st == 200, "role with an allowlist works inside it")

        # ---- password change ends sessions ----
        lena = d.add_user("lena", ["auditor"], enrol=False)
        st, body, _ = d.http("POST", "/v1/auth/password", token=lena,
                             body={"current": "Not the password 123", "new": strong_password()})
        check(st == 401 and any(a["result"] == "failure" and a["target"] == "user:lena"
                                for a in audit_rows(d, "user.password.change")),
              "wrong current password refused and audited")
        st, body, _ = d.http("POST", "/v1/auth/password", token=lena,
                             body={"current": d.passwords["lena"], "new": "password1234"})
        check(st == 400, "new password checked against the list")
        newpw = strong_password()
        st, body, _ = d.http("POST", "/v1/auth/password", token=lena,
                             body={"current": d.passwords["lena"], "new": newpw})
        st2, _, _ = d.http("GET", "/v1/auth/whoami", token=lena)
        check(st == 200 and st2 == 401, "password change ends the session")
        d.passwords["lena"] = newpw
        st, body = d.login("lena")
        check(st == 200, "login with the new password")

        # ---- inventory (棚卸) ----
        rc, inv, err = d.cli_json("user", "inventory", token=admin)
        acc = {a["name"]: a for a in inv["accounts"]}
        check(rc == 0 and acc["alice"]["standing_privileged"] and
              not acc["bob"]["standing_privileged"] and acc["emergency"]["breakglass"] and
              acc["greg"]["mfa"] == "none" and inv["last_review"] is None,
              "inventory lists roles, MFA, flags")
        check(any(g["target"] == "prod-db" for g in acc["emergency"]["active_grants"]),
              "inventory shows active grants")
        rc, out, err = d.cli_json("user", "inventory", "review", "--note", "quarterly review Q4",
                                  token=frank)
        check(rc == 0 and out["reviewer"] == "frank", "auditor records the review: %s" % err)
        st, inv, _ = d.http("GET", "/v1/inventory", token=admin)
        check(inv["last_review"]["note"] == "quarterly review Q4", "last review queryable")
        check(len(audit_rows(d, "user.inventory.review")) == 1, "review audited")
        rc, out, err = d.cli("user", "inventory", "review", "--note", "x", token=dave)
        check(rc == 1, "operator cannot record a review")

        # ---- CLI login and request flow ----
        rc, out, err = d.cli("login", "--user", "carol", "--password-stdin", "--code",
                             d.code("carol"), stdin=d.passwords["carol"] + "\n")
        check(rc == 0 and "Signed in as carol" in out, "mamori login: %s" % err)
        rc, out, err = d.cli("access", "list", "--active")
        check(rc == 0 and "emergency" in out, "access list --active from the session")
        rc, out, err = d.cli("whoami")
        check(rc == 0 and "carol" in out and "mfa:   yes" in out, "whoami after CLI login")
        rc = d.stop()
        check(rc == 0, "daemon exits cleanly (no leak or crash under sanitizers): %r" % rc)
    finally:
        d.cleanup()
        srv.shutdown()
    finish()


if __name__ == "__main__":
    main()
