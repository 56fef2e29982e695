"""Spine integration test: first run, bootstrap, init, tokens, errors for bad
input (malformed JSON, wrong types, missing fields, 10 MiB body, slowloris,
unknown routes and methods), metrics, restart and graceful shutdown."""
import email.utils
import os
import socket
import stat
import threading
import time

from harness import Daemon, check, finish


def read_all(s):
    """Reads until the server closes the connection."""
    got = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return got
        got += chunk


def main():
    d = Daemon(config_text='[log]\nlevel = "warn"\n[limits]\nrequest_timeout = "2s"\n')
    try:
        d.start()
        check(d.bootstrap is not None, "first start prints a bootstrap token")

        st, body, hdr = d.http("GET", "/v1/sys/health")
        check(st == 200 and body["status"] == "ok" and body["initialized"] is False,
              "health before init: %r" % (body,))
        check("X-Request-Id" in hdr, "responses carry X-Request-Id")
        st, body, hdr = d.http("GET", "/v1/sys/health", headers={"X-Request-Id": "abc-123"})
        check(hdr.get("X-Request-Id") == "abc-123", "client request id is echoed")
        try:
            skew = abs(time.time() - email.utils.parsedate_to_datetime(hdr["Date"]).timestamp())
        except (KeyError, TypeError, ValueError):
            skew = None
        check(skew is not None and skew < 5 and hdr["Date"].endswith(" GMT"),
              "responses carry the current RFC 1123 Date (%r)" % hdr.get("Date"))

        # Authentication: none, garbage, bootstrap on the wrong route.
        st, body, _ = d.http("GET", "/v1/auth/whoami")
        check(st == 401 and body["error"]["code"] == "unauthenticated", "no token -> 401")
        st, body, _ = d.http("GET", "/v1/auth/whoami", token="mmt_" + "x" * 43)
        check(st == 401, "unknown token -> 401")
        st, body, _ = d.http("GET", "/v1/auth/whoami", token=d.bootstrap)
        check(st == 403, "bootstrap token cannot call other routes -> 403 (%d)" % st)

        # Bad input on init.
        st, body, _ = d.http("POST", "/v1/sys/init", raw=b"{not json", token=d.bootstrap)
        check(st == 400 and body["error"]["code"] == "invalid_argument", "malformed JSON -> 400")
        st, body, _ = d.http("POST", "/v1/sys/init", body={"admin": 5}, token=d.bootstrap)
        check(st == 400 and "admin" in body["error"]["message"], "wrong type -> 400 naming field")
        st, body, _ = d.http("POST", "/v1/sys/init", body={}, token=d.bootstrap)
        check(st == 400 and "required" in body["error"]["message"], "missing field -> 400")
        st, body, _ = d.http("POST", "/v1/sys/init", body={"admin": "x", "extra": 1},
                             token=d.bootstrap)
        check(st == 400 and "extra" in body["error"]["message"], "unknown field -> 400")
        st, body, _ = d.http("POST", "/v1/sys/init", body={"admin": "Bad Name"},
                             token=d.bootstrap)
        check(st == 400, "invalid user name -> 400")
        st, body, _ = d.http("POST", "/v1/sys/init", raw=b"{" + b" " * (10 << 20) + b"}",
                             token=d.bootstrap, headers={"Content-Type": "application/json"})
        check(st == 413 and body["error"]["code"] == "limit_exceeded", "10 MiB body -> 413 JSON")

        # Unknown routes and methods.
        st, body, _ = d.http("GET", "/v1/no/such/route")
        check(st == 404 and body["error"]["code"] == "not_found", "unknown route -> 404")
        st, body, hdr = d.http("DELETE", "/v1/sys/health")
        check(st == 405 and "GET" in hdr.get("Allow", ""), "wrong method -> 405 with Allow")
        # Workers remember matched routes: the path of a remembered route with
        # another method is still a 405 (each call may reach either worker).
        got = [d.http(m, "/v1/sys/health")[0] for m in ("GET", "DELETE") * 4]
        check(got == [200, 405] * 4, "remembered route, other method -> 405 (%r)" % got)
        st, body, _ = d.http("GET", "/v1/users/%2Fetc")
        check(st in (400, 404), "encoded slash in a parameter is refused")

        # Keep-alive, pipelining, Connection: close and HTTP/1.0 all get
        # complete answers (replies are written directly to the socket).
        s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        s.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n" * 5)
        got = b""
        while got.count(b"HTTP/1.1 200") < 5:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        check(got.count(b"HTTP/1.1 200") == 5, "5 pipelined requests answered")
        s.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        got = read_all(s)
        check(got.startswith(b"HTTP/1.1 200") and b'"status":"ok"' in got,
              "Connection: close answered, then closed")
        s.close()
        s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        s.sendall(b"GET /v1/sys/health HTTP/1.0\r\n\r\n")
        got = read_all(s)
        check(b" 200 " in got.split(b"\r\n")[0] and got.endswith(b"}"), "HTTP/1.0 answered and closed")
        s.close()
        st, text, _ = d.http("GET", "/v1/no/route/" + "x" * 5000)
        check(st == 414, "over-long path -> 414 (%d)" % st)

        # Slowloris: a client that sends headers byte by byte is cut off by the
        # request timeout while other clients are served.
        s = socket.create_connection(("127.0.0.1", d.port))
        s.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n")
        t0 = time.time()
        closed = False
        while time.time() - t0 < 8:
            try:
                s.sendall(b"X-A: b\r\n")
                st, _, _ = d.http("GET", "/v1/sys/health")
                check(st == 200, "server answers others during slowloris")
                time.sleep(0.5)
                s.settimeout(0.01)
                try:
                    if s.recv(1) == b"":
                        closed = True
                        break
                except socket.timeout:
                    pass
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
        s.close()
        check(closed, "slowloris connection closed by the request timeout")

        # Init through the CLI: token saved 0600, single use.
        tok = d.init_admin("alice")
        check(tok.startswith("mms_"), "init returns a session token")
        sess = os.path.join(d.cfgdir, "session.json")
        check(stat.S_IMODE(os.stat(sess).st_mode) == 0o600, "session file is 0600")
        rc, out, err = d.cli("init", "--admin", "bob", "--bootstrap-token", d.bootstrap,
                             "--password-stdin", stdin="Another long passphrase 42\n")
        check(rc == 1 and "HTTP 401" in err, "bootstrap token is single-use (%d %s)" % (rc, err))
        rc, out, err = d.cli("whoami")
        check(rc == 0 and "alice" in out, "whoami from the session file")
        got = [d.http("GET", "/v1/users/" + n, token=tok)[0] for n in ("alice", "nobody") * 3]
        check(got == [200, 404] * 3, "routes with parameters matched per path (%r)" % got)
        rc, out, err = d.cli("init")
        check(rc == 2, "usage error -> exit 2")
        rc, out, err = d.cli("no-such-command")
        check(rc == 2, "unknown command -> exit 2")

        # Tokens: a second token via the env var acts independently.
        rc, out, err = d.cli("token", "create", "--ttl", "1h")
        tok2 = out.strip()
        check(rc == 0 and tok2.startswith("mmt_"), "token create")
        rc, out, err = d.cli_json("whoami", token=tok2)
        check(rc == 0 and out["user"] == "alice", "MAMORI_TOKEN overrides the session")
        rc, out, err = d.cli("token", "create", "--ttl", "soon")
        check(rc == 2, "bad ttl -> exit 2")

        st, text, _ = d.http("GET", "/metrics", token=tok)
        check(st == 200 and "mamori_http_requests_total" in text and
              "mamori_http_request_duration_seconds_bucket" in text, "metrics exposed")
        m = {l.split()[0]: float(l.split()[1]) for l in text.splitlines()
             if l and not l.startswith("#") and "{" not in l}
        check(m.get("mamori_audit_events", 0) > 0 and "mamori_audit_index_lag_events" in m and
              m["mamori_audit_index_lag_events"] <= m["mamori_audit_events"] and
              "mamori_store_checkpoints_total" in m, "audit and store metrics exposed")
        for h in ("mamori_store_group_seconds", "mamori_store_commit_seconds"):
            buckets = [float(l.split()[1]) for l in text.splitlines()
                       if l.startswith(h + "_bucket{")]
            check(len(buckets) == 9 and buckets == sorted(buckets) and
                  buckets[-1] == m[h + "_count"] == m["mamori_store_commit_groups_total"] > 0 and
                  0 < m[h + "_sum"], h + ": cumulative buckets, one count per group commit")
        st, text, _ = d.http("GET", "/metrics")
        check(st == 401, "metrics need a token")

        # Concurrent load while stopping: in-flight requests are answered.
        results = []

        def hammer():
            for _ in range(50):
                try:
                    results.append(d.http("GET", "/v1/auth/whoami", token=tok)[0])
                except OSError:
                    results.append("refused")
        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        check(all(r == 200 for r in results), "concurrent requests all succeed")

        # Restart keeps state; logout revokes.
        rc = d.stop()
        check(rc == 0, "SIGTERM exits 0 (graceful), got %r" % rc)
        d.start()
        check(d.bootstrap is None, "no bootstrap token once initialised")
        rc, out, err = d.cli("whoami")
        check(rc == 0, "token survives restart")
        rc, out, err = d.cli("logout")
        check(rc == 0, "logout")
        rc, out, err = d.cli_json("whoami", token=tok)
        check(rc == 1, "revoked token refused")
        st, body, _ = d.http("GET", "/v1/sys/health")
        check(st == 200 and body["initialized"] is True, "health after init")
    finally:
        d.cleanup()

    # A bad config file is refused with the key and line.
    d = Daemon(config_text="listen = \"127.0.0.1:1\"\nbogus_key = 3\n")
    try:
        try:
            d.start()
            check(False, "bad config must not start")
        except RuntimeError as e:
            check("bogus_key" in str(e) and ":2:" in str(e), "config error names key and line: %s" % e)
    finally:
        d.cleanup()
    finish()


if __name__ == "__main__":
    main()
