"""Audit checkpoints signed by the key manager's Ed25519 key: the daemon
installs the signer once unsealed and removes it when sealed; the signature
is checked here with the openssl command (an independent Ed25519), and the
offline verifier accepts the data directory with its signed checkpoints."""
import base64
import os
import subprocess
import time

from harness import Daemon, check, finish

SPKI_ED25519 = bytes.fromhex("302a300506032b6570032100")


def openssl_verify(pub32, msg, sig, tmp):
    pub = os.path.join(tmp, "pub.der")
    m = os.path.join(tmp, "msg")
    s = os.path.join(tmp, "sig")
    open(pub, "wb").write(SPKI_ED25519 + pub32)
    open(m, "wb").write(msg)
    open(s, "wb").write(sig)
    p = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-keyform",
                        "DER", "-rawin", "-in", m, "-sigfile", s], capture_output=True)
    return p.returncode == 0


def wait_checkpoint(d, tok, want_ok=True):
    """POSTs a checkpoint until the signer state matches (ticker: 200 ms)."""
    deadline = time.time() + 5
    while True:
        st, body, _ = d.http("POST", "/v1/audit/checkpoint", token=tok)
        if (st in (200, 201)) == want_ok or time.time() > deadline:
            return st, body
        time.sleep(0.1)


def main():
    d = Daemon(config_text='[log]\nlevel = "warn"\n[audit]\ncheckpoint_interval = "1s"\n'
                           'origin = "test.mamori/audit"\n')
    try:
        d.start()
        tok = d.init_admin("admin")
        st, body, _ = d.http("POST", "/v1/audit/checkpoint", token=tok)
        check(st == 503, "no seal yet: no checkpoint key (%d)" % st)
        rc, out, err = d.cli_json("seal", "init", "--shares", "3", "--threshold", "2", token=tok)
        check(rc == 0, "seal init: %s" % err)
        shares = out["shares"]
        st, ss, _ = d.http("GET", "/v1/sys/seal-status")
        if ss.get("sealed"):
            rc, out, err = d.cli("unseal", stdin=shares[1] + "\n" + shares[2] + "\n")
            check(rc == 0, "first unseal: %s" % err)
        # Unsealed: TOTP is now mandatory for the administrator (issue 4).
        d.enrol_admin("admin")

        st, cp = wait_checkpoint(d, tok)
        check(st in (200, 201), "checkpoint signed once unsealed (%d %r)" % (st, cp))
        st, pk, _ = d.http("GET", "/v1/audit/public-key", token=tok)
        check(st == 200, "public key published: %r" % pk)
        note = cp["note"]
        body, _, sigs = note.partition("\n\n")
        lines = body.split("\n")
        check(lines[0] == "test.mamori/audit" and int(lines[1]) == cp["size"],
              "checkpoint note: origin and size")
        sig_line = sigs.strip().split("\n")[0]
        check(sig_line.startswith("\u2014 "), "signature line starts with an em dash")
        raw = base64.b64decode(sig_line.split(" ")[2])
        pub32 = None
        for v in pk.values() if isinstance(pk, dict) else []:
            if isinstance(v, str):
                try:
                    b = base64.b64decode(v)
                except ValueError:
                    continue
                if len(b) == 32:
                    pub32 = b
                elif len(b) == 33 and b[0] == 1:
                    pub32 = b[1:]
        check(pub32 is not None, "public key has 32 Ed25519 bytes: %r" % pk)
        if pub32:
            check(openssl_verify(pub32, (body + "\n").encode(), raw[4:], d.tmp),
                  "openssl verifies the checkpoint signature")

        # Sealed: no new checkpoint can be signed (503 through the sealed gate).
        st, _, _ = d.http("POST", "/v1/sys/seal", token=tok)
        check(st == 200, "seal (%d)" % st)
        st, body2, _ = d.http("POST", "/v1/audit/checkpoint", token=tok)
        check(st == 503, "sealed -> no checkpoint (%d)" % st)
        rc, out, err = d.cli("unseal", stdin=shares[0] + "\n" + shares[2] + "\n")
        check(rc == 0, "unseal: %s" % err)
        for i in range(3):
            d.http("POST", "/v1/audit/events", token=tok,
                   body={"action": "app.test", "result": "success", "target": "t%d" % i})
        st, cp2 = wait_checkpoint(d, tok)
        check(st in (200, 201) and cp2["size"] > cp["size"], "signed again after unseal")
        st, pk2, _ = d.http("GET", "/v1/audit/public-key", token=tok)
        check(pk2 == pk, "same audit key after unseal")

        # Offline verification of the whole data directory, signatures included.
        d.stop()
        rc, out, err = d.cli("audit", "verify", "--data", d.data)
        check(rc == 0, "offline verify of the data dir: %s %s" % (out, err))
    finally:
        d.cleanup()
    finish()


if __name__ == "__main__":
    main()
