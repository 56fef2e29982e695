"""bench/access_setup.py PORT ADMIN_TOKEN: prepares a grant for the access
check benchmark: an operator and an approver (both enrolling TOTP with
oathtool codes), a request for role ops on target bench, approved. Prints
the user name to check. Python 3 standard library only."""
import http.client
import json
import secrets
import subprocess
import sys

port, admin = int(sys.argv[1]), sys.argv[2]


def call(method, path, body=None, token=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = "Bearer " + token
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
    r = c.getresponse()
    out = json.loads(r.read() or b"{}")
    if r.status >= 300:
        raise SystemExit("%s %s: %s %s" % (method, path, r.status, out))
    return out


def user(name, roles):
    pw = "Bench user passphrase " + secrets.token_hex(6)
    call("POST", "/v1/users", {"name": name, "roles": roles, "password": pw}, admin)
    tok = call("POST", "/v1/auth/login", {"user": name, "password": pw})["token"]
    secret = call("POST", "/v1/auth/mfa/enroll", None, tok)["secret"]
    code = subprocess.check_output(["oathtool", "--totp", "-b", secret], text=True).strip()
    call("POST", "/v1/auth/mfa/confirm", {"code": code}, tok)
    return tok


op = user("op1", ["operator"])
ap = user("ap1", ["approver"])
req = call("POST", "/v1/access/requests",
           {"target": "bench", "role": "ops", "duration": "1h", "reason": "benchmark"}, op)
g = call("POST", "/v1/access/requests/%d/approve" % req["id"], None, ap)
assert g["state"] == "active", g
print("op1")
