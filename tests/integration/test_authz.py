"""Authorization matrix against the running server: every route from
`mamorid --routes` × every built-in role (plus no token and a session that
still has to enrol TOTP) is called, and the server's decision must match
tests/api/authz_matrix.txt. A route missing from the matrix fails.

A call counts as refused by authorization when the server answers 403 with
its route-level message (or 401 without a token); anything else (200, 400,
404, 409...) means the request got past authorization to the handler.
"""
import json
import os
import re
import subprocess

from harness import MAMORID, Daemon, check, finish

ROLES = ["admin", "approver", "operator", "auditor"]
SRC = os.environ.get("MAMORI_SRC", os.path.join(os.path.dirname(__file__), "../.."))


def load_matrix():
    rows = {}
    with open(os.path.join(SRC, "tests/api/authz_matrix.txt")) as f:
        for line in f:
            w = line.split()
            if not w or w[0].startswith("#"):
                continue
            rows[(w[0], w[1])] = set(w[2:])
    return rows


def route_denied(status, body):
    if status == 401:
        return True
    if status != 403:
        return False
    msg = body["error"]["message"] if isinstance(body, dict) else ""
    return (msg.startswith("permission '") or msg.startswith("enrol a TOTP") or
            "bootstrap token" in msg)


def main():
    routes = json.loads(subprocess.check_output([MAMORID, "--routes"]))
    matrix = load_matrix()
    for r in routes:
        check((r["method"], r["path"]) in matrix,
              "route %s %s has a row in authz_matrix.txt" % (r["method"], r["path"]))
    check(len(routes) == len(matrix), "matrix and route table have the same rows")

    d = Daemon(config_text='[log]\nlevel = "warn"\n')
    try:
        d.start()
        tokens = {"admin": d.init_admin("alice", mfa=True)}
        tokens["approver"] = d.add_user("bob", ["approver"])
        tokens["operator"] = d.add_user("dave", ["operator"])
        tokens["auditor"] = d.add_user("frank", ["auditor"], enrol=False)
        restricted = d.add_user("olga", ["operator"], enrol=False)
        st, who, _ = d.http("GET", "/v1/auth/whoami", token=restricted)
        check(st == 200 and who["restricted"], "operator without TOTP gets a restricted session")
        principals = dict(tokens)
        principals["restricted"] = restricted
        principals["anonymous"] = None

        # Revoking the token is done last for each principal.
        ordered = sorted(routes, key=lambda r: (r["method"], r["path"]) == ("DELETE", "/v1/auth/token"))
        calls = 0
        for r in ordered:
            want = matrix.get((r["method"], r["path"]), set())
            path = re.sub(r"\{id\}", "999999", r["path"])
            path = re.sub(r"\{[a-z_]+\}", "nosuch", path)
            # A field no handler knows: handlers that read a body refuse it
            # (400) before acting, so passing authorization changes nothing.
            body = {"authz_probe": 1} if r["method"] in ("POST", "PUT", "PATCH") else None
            for who, tok in principals.items():
                st, out, _ = d.http(r["method"], path, body=body, token=tok)
                if st == 503 and isinstance(out, dict) and out["error"]["code"] == "sealed":
                    # An earlier allowed call sealed the daemon (POST /v1/sys/seal).
                    d.unseal()
                    st, out, _ = d.http(r["method"], path, body=body, token=tok)
                calls += 1
                denied = route_denied(st, out)
                if who in ROLES:
                    expect = who not in want and "public" not in want
                elif who == "restricted":
                    expect = "+enrol" not in want and "public" not in want
                else:
                    expect = "public" not in want
                check(denied == expect, "%s %s as %s: %s (HTTP %d %s)" %
                      (r["method"], r["path"], who, "refused" if denied else "passed", st,
                       out if isinstance(out, dict) and st >= 400 else ""))
        check(calls == len(routes) * len(principals), "%d calls made" % calls)
        rc = d.stop()
        check(rc == 0, "daemon exits cleanly: %r" % rc)
    finally:
        d.cleanup()
    finish()


if __name__ == "__main__":
    main()
