"""Keys integration test: seal init, the sealed daemon refusing every route
but the seal routes, unseal with right, duplicated and wrong shares (CLI,
stdin), named keys through the CLI (encrypt/decrypt from stdin and files,
tampering, wrong context, rotate, rewrap, min_decryption_version, destroy,
datakey, HMAC, Ed25519 and ECDSA signatures), batches and policies over HTTP,
seal, rekey (old shares refused after a restart), unattended unseal from a
key file (refused unless mode 0600), and an audit log without shares or
plaintext."""
import base64
import glob
import json
import os
import re
import sqlite3

from harness import Daemon, check, finish

SRC = os.environ.get("MAMORI_SRC", os.path.join(os.path.dirname(__file__), "../.."))


def all_routes():
    """(method, pattern, flags) of every route in src/api/routes_*.c."""
    routes = []
    pat = re.compile(r'\{\s*"(GET|POST|PUT|DELETE|PATCH)",\s*"([^"]+)",\s*[^,]+,\s*([^,]+),')
    for path in sorted(glob.glob(os.path.join(SRC, "src/api/routes_*.c"))):
        for m in pat.finditer(open(path).read()):
            routes.append((m.group(1), m.group(2), m.group(3)))
    return routes


def b64(s):
    return base64.b64encode(s if isinstance(s, bytes) else s.encode()).decode()


def audit_bodies(d):
    """Every audit event as a JSON text (columns of audit_events)."""
    db = sqlite3.connect(os.path.join(d.data, "mamori.db"))
    try:
        cols = ("actor", "action", "target", "result", "source", "request_id", "details")
        return [json.dumps(dict(zip(cols, r))) for r in
                db.execute("SELECT %s FROM audit_events" % ", ".join(cols))]
    finally:
        db.close()


def seal_status(d):
    st, body, _ = d.http("GET", "/v1/sys/seal-status")
    check(st == 200, "seal-status is public (%d)" % st)
    return body


def main():
    d = Daemon(config_text='[log]\nlevel = "warn"\n')
    other = Daemon(config_text='[log]\nlevel = "warn"\n')
    try:
        d.start()
        tok = d.init_admin("admin")
        s = seal_status(d)
        check(s["initialized"] is False, "seal not initialised at first")
        st, body, _ = d.http("GET", "/v1/keys", token=tok)
        check(st == 200, "before seal init, routes are served (%d)" % st)
        st, body, _ = d.http("POST", "/v1/keys", token=tok, body={"name": "k", "type": "aes256-gcm"})
        check(st == 503 and body["error"]["code"] == "sealed", "no key without a root key")

        # Seal init through the CLI: shares printed once.
        rc, out, err = d.cli_json("seal", "init", "--shares", "3", "--threshold", "2")
        check(rc == 0 and len(out["shares"]) == 3, "seal init: %r %s" % (out, err))
        shares = out["shares"]
        rc, out, err = d.cli("seal", "init", "--shares", "3", "--threshold", "2")
        check(rc == 1 and "already" in err, "second seal init refused (409): %s" % err)
        rc, out, err = d.cli("seal", "init", "--shares", "3", "--threshold", "5")
        check(rc == 2, "threshold above shares -> 400 exit 2")

        # Sealed: every route except the seal ones answers 503.
        s = seal_status(d)
        check(s["initialized"] and s["sealed"] and s["threshold"] == 2, "sealed after init: %r" % s)
        routes = all_routes()
        check(len(routes) >= 30, "found the route tables (%d routes)" % len(routes))
        served_sealed = set()
        for method, pattern, flags in routes:
            path = pattern.replace("{name}", "x")
            st, body, _ = d.http(method, path, token=tok, body={} if method == "POST" else None)
            if "MM_ROUTE_SEALED" in flags:
                served_sealed.add(pattern)
                check(st != 503 or pattern == "/v1/sys/unseal",
                      "%s %s is served while sealed (%d)" % (method, pattern, st))
            else:
                check(st == 503 and body["error"]["code"] == "sealed",
                      "sealed daemon refuses %s %s (%d %r)" % (method, pattern, st, body))
        check({"/v1/sys/seal-status", "/v1/sys/unseal", "/v1/sys/seal"} <= served_sealed,
              "seal routes are marked as served while sealed")
        st, body, _ = d.http("GET", "/v1/sys/health")
        check(st == 200 and body["sealed"] is True, "health says sealed")

        # Unseal: one share, the same again (counts once), a share of another
        # installation (wrong: refused, progress reset), then two good ones.
        rc, out, err = d.cli_json("unseal", stdin=shares[0] + "\n")
        check(rc == 0 and out["sealed"] and out["progress"] == 1, "first share: %r %s" % (out, err))
        rc, out, err = d.cli_json("unseal", stdin=shares[0] + "\n")
        check(rc == 0 and out["sealed"] and out["progress"] == 1, "duplicate counts once: %r" % out)
        other.start()
        otok = other.init_admin("admin")
        st, ob, _ = other.http("POST", "/v1/sys/seal/init", token=otok,
                               body={"secret_shares": 3, "secret_threshold": 2})
        check(st == 200, "second installation initialised")
        rc, out, err = d.cli("unseal", stdin=ob["shares"][1] + "\n")
        check(rc == 2 and "do not reconstruct" in err, "wrong share refused (exit 2): %s" % err)
        check(seal_status(d)["progress"] == 0 and seal_status(d)["sealed"], "progress reset")
        rc, out, err = d.cli("unseal", stdin="garbage\n")
        check(rc == 2, "malformed share -> exit 2")
        rc, out, err = d.cli("unseal", stdin=shares[2] + "\n" + shares[1] + "\n")
        check(rc == 0 and "unsealed" in out, "two shares from stdin unseal: %s %s" % (out, err))
        s = seal_status(d)
        check(s["sealed"] is False and s["unseal_method"] == "shares", "status unsealed: %r" % s)
        # Unsealed: TOTP is now mandatory for the administrator (issue 4).
        d.enrol_admin("admin")

        # Named keys through the CLI.
        rc, out, err = d.cli("key", "create", "pay", "--type", "aes256-gcm")
        check(rc == 0 and "pay (aes256-gcm)" in out, "key create: %s %s" % (out, err))
        rc, out, err = d.cli("encrypt", "pay", "--context", "customer:42",
                             stdin="4111 1111 1111 1111")
        ct = out.strip()
        check(rc == 0 and ct.startswith("mamori:v1:"), "encrypt from stdin: %s %s" % (out, err))
        rc, out, err = d.cli("decrypt", "pay", "--context", "customer:42", stdin=ct + "\n")
        check(rc == 0 and out == "4111 1111 1111 1111", "decrypt round trip: %r %s" % (out, err))
        rc, out, err = d.cli("decrypt", "pay", "--context", "customer:43", stdin=ct)
        check(rc == 2 and out == "" and "authentication" in err, "wrong context -> exit 2: %s" % err)
        bad = ct[:15] + ("A" if ct[15] != "A" else "B") + ct[16:]
        rc, out, err = d.cli("decrypt", "pay", "--context", "customer:42", stdin=bad)
        check(rc == 2 and out == "", "one changed character -> exit 2, no output")
        rc, out, err = d.cli("decrypt", "pay", stdin="mamori:v1:not*base64")
        check(rc == 2 and "base64" in err, "non-base64 -> exit 2: %s" % err)
        rc, out, err = d.cli("decrypt", "pay", "--context", "customer:42", stdin=ct[:-8])
        check(rc == 2, "truncated -> exit 2")
        rc, out, err = d.cli("decrypt", "pay", stdin="mamori:v7:" + ct[10:])
        check(rc == 2 and "does not exist" in err, "unknown version -> exit 2: %s" % err)

        # Files in and out (binary safe); --output is created 0600.
        blob = bytes(range(256)) * 40
        src = os.path.join(d.tmp, "blob.bin")
        with open(src, "wb") as f:
            f.write(blob)
        rc, out, err = d.cli("encrypt", "pay", src)
        ctf = os.path.join(d.tmp, "blob.ct")
        with open(ctf, "w") as f:
            f.write(out)
        dst = os.path.join(d.tmp, "blob.out")
        rc, out, err = d.cli("decrypt", "pay", ctf, "--output", dst)
        check(rc == 0 and open(dst, "rb").read() == blob, "binary file round trip")
        check(os.stat(dst).st_mode & 0o777 == 0o600, "--output file is 0600")

        # Versions: rotate, rewrap, min_decryption_version, destroy.
        rc, out, err = d.cli_json("key", "rotate", "pay")
        check(rc == 0 and out["latest_version"] == 2, "rotate -> v2")
        rc, out, err = d.cli("rewrap", "pay", "--context", "customer:42", stdin=ct)
        ct2 = out.strip()
        check(rc == 0 and ct2.startswith("mamori:v2:"), "rewrap to v2: %s" % err)
        rc, out, err = d.cli("decrypt", "pay", "--context", "customer:42", stdin=ct2)
        check(rc == 0 and out == "4111 1111 1111 1111", "rewrapped decrypts")
        rc, out, err = d.cli("key", "config", "pay", "--min-decryption-version", "2")
        check(rc == 0, "config min-decryption-version: %s" % err)
        rc, out, err = d.cli("decrypt", "pay", "--context", "customer:42", stdin=ct)
        check(rc == 2 and "min_decryption_version" in err, "v1 below minimum: %s" % err)
        rc, out, err = d.cli("key", "config", "pay", "--min-decryption-version", "1")
        rc, out, err = d.cli("key", "destroy", "pay", "--version", "2")
        check(rc == 2 and "latest" in err, "latest version cannot be destroyed")
        rc, out, err = d.cli("key", "destroy", "pay", "--version", "1")
        check(rc == 0, "destroy v1: %s" % err)
        rc, out, err = d.cli("decrypt", "pay", "--context", "customer:42", stdin=ct)
        check(rc == 2 and "destroyed" in err, "destroyed version unreadable: %s" % err)
        rc, out, err = d.cli_json("key", "show", "pay")
        check(rc == 0 and out["versions"][0]["destroyed"] is True and
              out["versions"][1]["destroyed"] is False, "show lists the destroyed version")

        # Data keys.
        rc, out, err = d.cli_json("datakey", "pay", "--plaintext", "--context", "f1")
        check(rc == 0 and len(base64.b64decode(out["plaintext"])) == 32, "datakey with plaintext")
        dkf = os.path.join(d.tmp, "dk.bin")
        rc, _, err = d.cli("decrypt", "pay", "--context", "f1", "--output", dkf,
                           stdin=out["ciphertext"])
        check(rc == 0 and open(dkf, "rb").read() == base64.b64decode(out["plaintext"]),
              "wrapped data key decrypts to the same key: %s" % err)

        # HMAC and signatures.
        rc, out, err = d.cli("key", "create", "mac", "--type", "hmac-sha256")
        rc, out, err = d.cli("hmac", "mac", stdin="message")
        mac = out.strip()
        check(rc == 0 and mac.startswith("mamori:v1:"), "hmac")
        rc, out, err = d.cli("verify", "mac", "--hmac", mac, stdin="message")
        check(rc == 0 and "valid" in out, "hmac verifies")
        rc, out, err = d.cli("verify", "mac", "--hmac", mac, stdin="messagE")
        check(rc == 1 and "INVALID" in out, "hmac mismatch -> exit 1")
        for typ, extra in (("ed25519", []), ("ecdsa-p256", []), ("ecdsa-p256", ["--raw"])):
            name = "sig-" + typ
            d.cli("key", "create", name, "--type", typ)
            rc, out, err = d.cli("sign", name, *extra, stdin="contract")
            sig = out.strip()
            check(rc == 0 and sig.startswith("mamori:v1:"), "sign %s %s: %s" % (typ, extra, err))
            rc, out, err = d.cli("verify", name, "--signature", sig, *extra, stdin="contract")
            check(rc == 0, "verify %s %s" % (typ, extra))
            rc, out, err = d.cli("verify", name, "--signature", sig, *extra, stdin="contracT")
            check(rc == 1, "tampered message -> exit 1 (%s)" % typ)
        rc, out, err = d.cli_json("key", "show", "sig-ecdsa-p256")
        check("BEGIN PUBLIC KEY" in out["versions"][0]["public_key"], "ECDSA public key as PEM")
        rc, out, err = d.cli("sign", "pay", stdin="x")
        check(rc == 2, "sign with an AES key -> exit 2")
        rc, out, err = d.cli("key", "export", "pay")
        check(rc == 1 and "not exportable" in err, "non-exportable key is not exported: %s" % err)
        rc, out, err = d.cli("key", "create", "ex", "--type", "hmac-sha256", "--exportable")
        rc, out, err = d.cli("key", "export", "ex")
        check(rc == 0 and len(base64.b64decode(out.strip())) == 32, "exportable key exported")

        # Batches over HTTP: per-item results.
        st, body, _ = d.http("POST", "/v1/keys/pay/encrypt", token=tok, body={
            "batch_input": [{"plaintext": b64("one"), "context": b64("a")},
                            {"plaintext": b64("two")}]})
        check(st == 200 and len(body["batch_results"]) == 2, "batch encrypt")
        c1 = body["batch_results"][0]["ciphertext"]
        st, body, _ = d.http("POST", "/v1/keys/pay/decrypt", token=tok, body={
            "batch_input": [{"ciphertext": c1, "context": b64("a")},
                            {"ciphertext": c1, "context": b64("b")},
                            {"ciphertext": "nonsense"}]})
        r = body["batch_results"]
        check(st == 200 and base64.b64decode(r[0]["plaintext"]) == b"one" and
              r[1]["error"]["code"] == "verification_failed" and
              r[2]["error"]["code"] == "invalid_argument" and "plaintext" not in r[1],
              "batch decrypt with per-item errors: %r" % body)
        st, body, _ = d.http("POST", "/v1/keys/pay/encrypt", token=tok,
                             body={"plaintext": "***"})
        check(st == 400 and "plaintext" in body["error"]["message"], "bad base64 names the field")
        st, body, _ = d.http("POST", "/v1/keys/pay/encrypt", token=tok,
                             body={"plaintext": b64("x"), "bogus": 1})
        check(st == 400 and "bogus" in body["error"]["message"], "unknown field refused")
        st, body, _ = d.http("POST", "/v1/keys/nope/encrypt", token=tok, body={"plaintext": ""})
        check(st == 404, "unknown key -> 404")
        st, body, _ = d.http("GET", "/v1/keys/algorithms", token=tok)
        check(st == 200 and "CRYPTREC" in body["source"] and
              {"aes256-gcm", "hmac-sha256", "ed25519", "ecdsa-p256"} <=
              {a["name"] for a in body["algorithms"]}, "algorithm list")

        # Per-key policy: the admin is not listed for decrypt on this key.
        rc, out, err = d.cli("key", "create", "guarded", "--policy",
                             '{"decrypt": ["auditor"], "encrypt": ["*"]}')
        check(rc == 0, "create with policy: %s" % err)
        rc, out, err = d.cli("encrypt", "guarded", stdin="s")
        gct = out.strip()
        check(rc == 0, "policy allows encrypt to everyone")
        rc, out, err = d.cli("decrypt", "guarded", stdin=gct)
        check(rc == 1 and "policy" in err, "policy refuses decrypt to admin (403): %s" % err)
        rc, out, err = d.cli("key", "config", "guarded", "--policy", "null")
        rc, out, err = d.cli("decrypt", "guarded", stdin=gct)
        check(rc == 0 and out == "s", "after clearing the policy, decrypt works")

        # Seal: keys gone from memory, operations refused; unseal again.
        rc, out, err = d.cli("seal")
        check(rc == 0 and "sealed" in out, "seal")
        rc, out, err = d.cli("encrypt", "pay", stdin="x")
        check(rc == 1 and "sealed" in err, "sealed -> encrypt refused (503)")
        rc, out, err = d.cli("unseal", stdin="\n".join(shares[:2]) + "\n")
        check(rc == 0, "unseal again")
        rc, out, err = d.cli("decrypt", "pay", "--context", "customer:42", stdin=ct2)
        check(rc == 0 and out == "4111 1111 1111 1111", "data survives seal/unseal")

        # Rekey: new 2-of-2 shares; old ones stop working after a restart.
        rc, out, err = d.cli_json("rekey", "init", "--shares", "2", "--threshold", "2")
        check(rc == 0 and len(out["nonce"]) == 32, "rekey init: %s" % err)
        nonce = out["nonce"]
        rc, out, err = d.cli_json("rekey", "submit", "--nonce", nonce,
                                  stdin=shares[0] + "\n" + shares[1] + "\n")
        check(rc == 0 and out["complete"] and len(out["shares"]) == 2, "rekey complete: %s" % err)
        new_shares = out["shares"]
        d.stop()
        d.start()
        check(seal_status(d)["sealed"], "sealed after restart")
        rc, out, err = d.cli("unseal", stdin="\n".join(shares[:2]) + "\n")
        check(rc == 2, "old shares refused after rekey")
        rc, out, err = d.cli("unseal", stdin="\n".join(new_shares) + "\n")
        check(rc == 0 and "unsealed" in out, "new shares unseal: %s" % err)
        rc, out, err = d.cli("decrypt", "pay", "--context", "customer:42", stdin=ct2)
        check(rc == 0 and out == "4111 1111 1111 1111", "data readable after rekey")

        # Unattended unseal: refused while the key file is group-readable.
        keyfile = os.path.join(d.tmp, "unseal.key")
        with open(keyfile, "w") as f:
            f.write("# unattended unseal\n" + "\n".join(new_shares) + "\n")
        os.chmod(keyfile, 0o644)
        d.stop()
        d.config_text = '[log]\nlevel = "warn"\n[seal]\nunseal_key_file = "%s"\n' % keyfile
        d.start()
        check(seal_status(d)["sealed"], "0644 key file refused: still sealed")
        check("auto_unseal_failed" in open(d.err_path).read(), "refusal logged")
        os.chmod(keyfile, 0o600)
        d.stop()
        d.start()
        s = seal_status(d)
        check(not s["sealed"] and s["unseal_method"] == "key_file", "0600 key file unseals: %r" % s)
        rc, out, err = d.cli("decrypt", "pay", "--context", "customer:42", stdin=ct2)
        check(rc == 0, "works after unattended unseal")

        # The audit log records every step and never a share or plaintext.
        bodies = audit_bodies(d)
        text = "\n".join(bodies)
        for sh in shares + new_shares:
            check(sh not in text, "no unseal share in the audit log")
        check("4111" not in text and b64("4111 1111 1111 1111") not in text,
              "no plaintext in the audit log")
        actions = [json.loads(b)["action"] for b in bodies]
        for a in ("sys.init", "sys.unseal", "sys.seal", "sys.rekey", "keys.create", "keys.encrypt",
                  "keys.decrypt", "keys.rotate", "keys.destroy", "keys.rewrap", "keys.sign",
                  "keys.verify", "keys.hmac", "keys.datakey", "keys.internal.create"):
            check(a in actions, "audit has %s" % a)
        fails = [json.loads(b) for b in bodies
                 if json.loads(b)["action"] == "keys.decrypt" and json.loads(b)["result"] == "failure"]
        check(len(fails) >= 5 and all(f["actor"] == "user:admin" for f in fails),
              "failed decrypts are audited with the caller")
        rc = d.stop()
        err = open(d.err_path).read()
        check(rc == 0, "SIGTERM exits 0 (%r)" % rc)
        check("Sanitizer" not in err and "runtime error" not in err,
              "no sanitizer report from mamorid: %s" % err[-2000:])
    finally:
        d.cleanup()
        other.cleanup()
    finish()


if __name__ == "__main__":
    main()
