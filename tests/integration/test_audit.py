"""Audit integration test: the real mamorid and mamori CLI. Appends single and
batched events over HTTP (durable before the reply), queries with cursors,
fetches inclusion and consistency proofs and verifies them here in Python
from the documented formats (leaf serialisation, RFC 9162), exports a bundle
and recomputes every leaf hash from it, then verifies the data directory
offline with `mamori audit verify` before and after tampering with sqlite3."""
import base64
import hashlib
import json
import os
import sqlite3
import struct

from harness import Daemon, check, finish


def leaf_bytes(e):
    """The canonical serialisation of docs/audit.md."""
    out = b"\x01" + struct.pack(">QQ", e["seq"], e["time_ms"])
    for k in ("actor", "action", "target", "result", "source", "request_id", "details"):
        v = e.get(k)
        if v is None:
            out += b"\x00"
        else:
            b = v.encode()
            out += b"\x01" + struct.pack(">I", len(b)) + b
    return out


def leaf_hash(e):
    return hashlib.sha256(b"\x00" + leaf_bytes(e)).digest()


def node(l, r):
    return hashlib.sha256(b"\x01" + l + r).digest()


def mth(leaves):
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k < n - k:
        k <<= 1
    return node(mth(leaves[:k]), mth(leaves[k:]))


def verify_inclusion(index, size, leaf, proof, root):
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(n1, n2, r1, r2, proof):
    """RFC 9162 section 2.1.4.2."""
    if n1 == n2:
        return not proof and r1 == r2
    if n1 == 0 or not proof:
        return n1 == 0 and not proof
    if n1 & (n1 - 1) == 0:
        proof = [r1] + proof
    fn, sn = n1 - 1, n2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == r1 and sr == r2


def b64(s):
    return base64.b64decode(s)


def main():
    d = Daemon(config_text='[log]\nlevel = "warn"\n')
    try:
        d.start()
        tok = d.init_admin("alice")

        # Single event: durable, a seq number back; the caller is the actor.
        st, body, _ = d.http("POST", "/v1/audit/events", token=tok,
                             body={"action": "payment.approve", "result": "success",
                                   "target": "payment:42", "details": {"amount": 1200}})
        check(st == 201 and isinstance(body.get("seq"), int), "single append -> 201: %r" % body)
        first = body["seq"]

        # A batch, with an actor that is not the caller (recorded as submitted_by).
        evs = [{"actor": "app:billing", "action": "invoice.create", "result": "success",
                "target": "invoice:%d" % i, "details": {"i": i}} for i in range(1000)]
        st, body, _ = d.http("POST", "/v1/audit/events", token=tok, body={"events": evs})
        check(st == 201 and body["count"] == 1000 and body["first_seq"] == first + 1 and
              body["last_seq"] == first + 1000, "batch append: %r" % body)

        # Bad input.
        st, body, _ = d.http("POST", "/v1/audit/events", token=tok, body={"action": "x"})
        check(st == 400 and "result" in body["error"]["message"], "missing result -> 400")
        st, body, _ = d.http("POST", "/v1/audit/events", token=tok,
                             body={"events": [{"action": "a", "result": "b"}] * 10001})
        check(st == 413, "10,001 events -> 413 (%d)" % st)
        st, body, _ = d.http("POST", "/v1/audit/events", token=tok,
                             body={"action": "a", "result": "b", "colour": "red"})
        check(st == 400 and "colour" in body["error"]["message"], "unknown field -> 400")
        st, body, _ = d.http("POST", "/v1/audit/events", body={"action": "a", "result": "b"})
        check(st == 401, "no token -> 401")

        # Query with cursor paging.
        got, cursor = [], None
        while True:
            q = "/v1/audit/events?actor=app:billing&limit=300"
            if cursor:
                q += "&cursor=" + cursor
            st, body, _ = d.http("GET", q, token=tok)
            check(st == 200, "query -> 200")
            got += body["events"]
            cursor = body["next_cursor"]
            if not cursor:
                break
        check(len(got) == 1000, "actor query pages through 1000 events (%d)" % len(got))
        check(got[0]["details"] == {"i": 0, "submitted_by": "user:alice"},
              "submitted_by recorded: %r" % got[0]["details"])
        st, body, _ = d.http("GET", "/v1/audit/events?target=payment:42", token=tok)
        check(len(body["events"]) == 1 and body["events"][0]["actor"] == "user:alice",
              "target query")
        size = body["tree_size"]
        check(size == first + 1001, "tree size %d" % size)

        # Proofs, verified here from the documented algorithms.
        for seq in (0, first, first + 500, size - 1):
            st, p, _ = d.http("GET", "/v1/audit/proof/inclusion?seq=%d&size=%d" % (seq, size),
                              token=tok)
            check(st == 200 and verify_inclusion(seq, size, b64(p["leaf_hash"]),
                                                 [b64(h) for h in p["proof"]], b64(p["root"])),
                  "inclusion proof of %d verifies" % seq)
            root = b64(p["root"])
        for n1 in (1, first, first + 1, size - 1):
            st, p, _ = d.http("GET", "/v1/audit/proof/consistency?from=%d&to=%d" % (n1, size),
                              token=tok)
            check(st == 200 and verify_consistency(n1, size, b64(p["root1"]), b64(p["root2"]),
                                                   [b64(h) for h in p["proof"]]),
                  "consistency proof %d -> %d verifies" % (n1, size))
        st, body, _ = d.http("GET", "/v1/audit/proof/inclusion?seq=%d" % (size + 5), token=tok)
        check(st == 400, "proof beyond the tree -> 400 (%d)" % st)

        # No signing key yet (the key module installs it): honest refusals.
        st, body, _ = d.http("GET", "/v1/audit/checkpoint", token=tok)
        check(st == 404, "no checkpoint yet -> 404 (%d)" % st)
        st, body, _ = d.http("POST", "/v1/audit/checkpoint", token=tok)
        check(st == 503 and body["error"]["code"] == "sealed", "no key -> 503 sealed: %r" % body)
        st, body, _ = d.http("GET", "/v1/audit/public-key", token=tok)
        check(st == 503, "no key -> public key 503")

        # The CLI.
        rc, out, err = d.cli("audit", "append", "--action", "cli.test", "--result", "success",
                             "--details", '{"k": "v"}', token=tok)
        check(rc == 0 and "recorded as seq %d" % size in out, "cli append: %s %s" % (out, err))
        size += 1
        rc, out, err = d.cli("audit", "tail", "-n", "3", token=tok)
        check(rc == 0 and len(out.strip().splitlines()) == 3 and "cli.test" in out,
              "cli tail: %s %s" % (out, err))
        rc, out, err = d.cli("audit", "query", "--action", "invoice.create", "--limit", "7",
                             "--all", token=tok)
        check(rc == 0 and len(out.strip().splitlines()) == 1000, "cli query --all")
        rc, out, err = d.cli("audit", "proof", "inclusion", str(first), token=tok)
        check(rc == 0 and "proof verified" in out, "cli proof inclusion: %s %s" % (out, err))
        rc, out, err = d.cli("audit", "proof", "consistency", "--from", "3", token=tok)
        check(rc == 0 and "proof verified" in out, "cli proof consistency: %s %s" % (out, err))
        rc, out, err = d.cli("audit", "proof", "inclusion", "x", token=tok)
        check(rc == 2, "cli usage error -> 2")
        bundle = os.path.join(d.tmp, "api.jsonl")
        rc, out, err = d.cli("audit", "export", "--out", bundle, token=tok)
        check(rc == 0 and os.path.exists(bundle), "cli export via API: %s" % err)

        # An independent verifier of the bundle, from docs/audit.md only.
        with open(bundle) as f:
            lines = [json.loads(l) for l in f]
        head, events = lines[0], [l for l in lines[1:] if "seq" in l]
        check(head["format"] == "mamori-audit-bundle" and len(events) == size,
              "bundle header and %d events" % len(events))
        leaves = [leaf_hash(e) for e in events]
        check(all(l == b64(e["leaf"]) for l, e in zip(leaves, events)),
              "every leaf hash recomputed from the documented serialisation")
        check(mth(leaves[:size - 1]) == root, "recomputed root equals the proofs' root")

        rc, out, err = d.cli("audit", "verify", bundle)
        check(rc == 0 and "OK: %d events" % size in out, "verify bundle: %s %s" % (out, err))

        d.stop()
        rc, out, err = d.cli("audit", "verify", "--data", d.data,
                             env={"MAMORI_PROGRESS": "1"})
        check(rc == 0 and "OK" in out and "verify:" in err, "verify --data: %s %s" % (out, err))
        b2 = os.path.join(d.tmp, "offline.jsonl")
        rc, out, err = d.cli("audit", "export", "--data", d.data, "--out", b2, "--from", "10")
        check(rc == 0, "export --data: %s" % err)
        rc, out, err = d.cli("audit", "verify", b2)
        check(rc == 0 and "from seq 10" in out, "verify partial bundle: %s %s" % (out, err))

        # Tamper with the database directly.
        db = sqlite3.connect(os.path.join(d.data, "mamori.db"))
        db.execute("UPDATE audit_events SET target = 'invoice:999' WHERE seq = ?", (first + 7,))
        db.commit()
        db.close()
        rc, out, err = d.cli("audit", "verify", "--data", d.data)
        check(rc == 1 and ("at seq %d" % (first + 7)) in err and "modified" in err,
              "tampered data dir -> exit 1 naming the seq: %s" % err)
        # And the daemon refuses to start on a damaged tree? No: the tree is
        # intact; the damaged event is found by verify. It still starts.
        d.start()
        st, body, _ = d.http("GET", "/v1/sys/health")
        check(st == 200, "daemon restarts")
    finally:
        d.cleanup()
    finish()


if __name__ == "__main__":
    main()
