"""Integration-test harness: starts the real mamorid on a free loopback port
with a temporary data directory and drives it with the mamori CLI and raw
HTTP. Python 3 standard library only.

Environment (set by meson): MAMORI_BUILD (build dir), MAMORI_SRC (source dir).
"""
import http.client
import json
import os
import re
import secrets as _secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time

BUILD = os.environ.get("MAMORI_BUILD", os.path.join(os.path.dirname(__file__), "../../build"))
MAMORID = os.path.join(BUILD, "src/daemon/mamorid")
MAMORI = os.path.join(BUILD, "src/cli/mamori")

_failures = []


def check(cond, what):
    """Records a failed expectation (the test continues, then exits 1)."""
    if not cond:
        _failures.append(what)
        print("FAIL:", what, flush=True)
    return cond


def finish():
    if _failures:
        print("%d check(s) failed" % len(_failures))
        raise SystemExit(1)
    print("all checks passed")


def totp(secret, t=None):
    """The RFC 6238 code of a base32 secret at time t, from oathtool (an
    implementation independent of the daemon's liboath)."""
    t = time.time() if t is None else t
    return subprocess.check_output(["oathtool", "--totp", "-b", secret, "--now",
                                    "@%d" % int(t)], text=True).strip()


def strong_password():
    """A password that passes the policy (no user name, not on a list)."""
    return "Cobalt lantern %s drifts" % _secrets.token_hex(6)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Daemon:
    """A mamorid process with its own data dir and config dir for the CLI."""

    def __init__(self, config_text="", data=None, port=None, extra_args=(), env=None):
        self.tmp = tempfile.mkdtemp(prefix="mamori-it-")
        self.data = data or os.path.join(self.tmp, "var")
        self.cfgdir = os.path.join(self.tmp, "cli")
        self.config_text = config_text
        self.extra_args = list(extra_args)
        self.env = env
        self.port = port
        self.proc = None
        self.bootstrap = None
        self.scheme = "http"
        self.admin_token = None
        self.secrets = {}      # user -> TOTP secret (base32)
        self.passwords = {}    # user -> password
        self.last_step = {}    # user -> last TOTP time step used
        self.shares = []       # unseal shares (init_admin with mfa=True)

    def start(self, wait_init=True):
        self.port = self.port or free_port()
        args = [MAMORID, "--data", self.data, "--listen", "127.0.0.1:%d" % self.port]
        if self.config_text:
            path = os.path.join(self.tmp, "mamori.conf")
            with open(path, "w") as f:
                f.write(self.config_text)
            args += ["--config", path]
        args += self.extra_args
        self.out_path = os.path.join(self.tmp, "stdout")
        self.err_path = os.path.join(self.tmp, "stderr")
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        self.proc = subprocess.Popen(args, stdout=open(self.out_path, "w"),
                                     stderr=open(self.err_path, "w"), env=env)
        deadline = time.time() + 20
        while time.time() < deadline:
            out = open(self.out_path).read()
            m = re.search(r"listening on (https?)://", out)
            if m and ("First run" in out or "mmb_" not in out):
                self.scheme = m.group(1)
                b = re.search(r"(mmb_[A-Za-z0-9_-]+)", out)
                self.bootstrap = b.group(1) if b else None
                if self.bootstrap or "First run" not in out:
                    return self
            if self.proc.poll() is not None:
                raise RuntimeError("mamorid exited: %s" % open(self.err_path).read())
            time.sleep(0.05)
        raise RuntimeError("mamorid did not start: %s" % open(self.err_path).read())

    @property
    def addr(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.port)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        return rc

    def restart(self):
        self.stop()
        return self.start()

    def cleanup(self):
        self.stop(signal.SIGKILL)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # -- HTTP ---------------------------------------------------------------
    def http(self, method, path, body=None, token=None, headers=None, raw=None, timeout=30):
        """Returns (status, parsed JSON or text, headers)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        text = resp.read()
        conn.close()
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text.decode(errors="replace")
        return resp.status, parsed, dict(resp.getheaders())

    # -- CLI ----------------------------------------------------------------
    def cli(self, *args, token=None, stdin=None, env=None, use_session=True):
        """Runs mamori; returns (exit code, stdout, stderr)."""
        e = dict(os.environ)
        e["MAMORI_ADDR"] = self.addr
        e["MAMORI_CONFIG_DIR"] = self.cfgdir
        e.pop("MAMORI_TOKEN", None)
        if token:
            e["MAMORI_TOKEN"] = token
        if env:
            e.update(env)
        p = subprocess.run([MAMORI] + [str(a) for a in args], input=stdin, capture_output=True,
                           text=True, env=e, timeout=120)
        return p.returncode, p.stdout, p.stderr

    def cli_json(self, *args, token=None, stdin=None):
        rc, out, err = self.cli("--json", *args, token=token, stdin=stdin)
        try:
            return rc, json.loads(out) if out.strip() else None, err
        except ValueError:
            return rc, out, err

    # -- identity -------------------------------------------------------
    def code(self, user):
        """A TOTP code for user that the server has not seen yet: the current
        time step if unused, else the next one (within the one-step drift the
        server allows); waits when both were used."""
        while True:
            step = int(time.time() // 30)
            last = self.last_step.get(user, 0)
            for s in (step, step + 1):
                if s > last and s >= step:
                    self.last_step[user] = s
                    return totp(self.secrets[user], s * 30)
            time.sleep(1)

    def enrol(self, user, token):
        """Enrols TOTP for the session's user over HTTP; returns the
        recovery codes."""
        st, body, _ = self.http("POST", "/v1/auth/mfa/enroll", token=token)
        if st != 200:
            raise RuntimeError("enroll failed: %s %s" % (st, body))
        self.secrets[user] = body["secret"]
        st, body, _ = self.http("POST", "/v1/auth/mfa/confirm", body={"code": self.code(user)},
                                token=token)
        if st != 200:
            raise RuntimeError("confirm failed: %s %s" % (st, body))
        return body["recovery_codes"]

    def login(self, user, password=None, code=None, expect=200):
        """Signs in over HTTP; returns (status, body)."""
        body = {"user": user, "password": password or self.passwords[user]}
        if code is None and user in self.secrets:
            code = self.code(user)
        if code:
            body["totp"] = code
        st, out, _ = self.http("POST", "/v1/auth/login", body=body)
        return st, out

    def init_admin(self, name="admin", password=None, mfa=False):
        """Creates the first administrator through the CLI (password on
        stdin); returns its session token, which is also in the CLI's
        session file. With mfa=True it also initialises the seal (one share,
        kept in self.shares), unseals and enrols the administrator's TOTP
        with oathtool codes: TOTP is enforced from seal initialisation on."""
        password = password or strong_password()
        rc, out, err = self.cli("--json", "init", "--admin", name, "--bootstrap-token",
                                self.bootstrap, "--password-stdin", stdin=password + "\n")
        if rc != 0:
            raise RuntimeError("init failed: %s %s" % (out, err))
        out = json.loads(out)
        self.passwords[name] = password
        self.admin_token = out["token"]
        if not mfa:
            return self.admin_token
        rc, out, err = self.cli_json("seal", "init", "--shares", "1", "--threshold", "1")
        if rc != 0:
            raise RuntimeError("seal init failed: %s %s" % (out, err))
        self.shares = out["shares"]
        self.unseal()
        self.enrol_admin(name)
        return self.admin_token

    def enrol_admin(self, name=None):
        """Enrols TOTP for the administrator of the CLI session (after the
        seal was initialised and unsealed, when TOTP becomes mandatory)."""
        name = name or next(iter(self.passwords))
        rc, enr, err = self.cli_json("user", "mfa", "enroll")
        if rc != 0:
            raise RuntimeError("enroll failed: %s %s" % (enr, err))
        self.secrets[name] = enr["secret"]
        rc, out, err = self.cli("user", "mfa", "confirm", self.code(name))
        if rc != 0:
            raise RuntimeError("confirm failed: %s %s" % (out, err))

    def unseal(self):
        """Unseals with the shares from init_admin(mfa=True)."""
        rc, out, err = self.cli("unseal", stdin="\n".join(self.shares) + "\n")
        if rc != 0:
            raise RuntimeError("unseal failed: %s %s" % (out, err))

    def add_user(self, name, roles, password=None, cidrs=None, enrol=True):
        """Creates a user with the admin token, signs it in and enrols TOTP
        when its roles require it (or enrol is set). Returns a full session
        token (or None when the user cannot sign in from here)."""
        password = password or strong_password()
        body = {"name": name, "roles": roles, "password": password}
        if cidrs is not None:
            body["allow_cidrs"] = cidrs
        st, out, _ = self.http("POST", "/v1/users", body=body, token=self.admin_token)
        if st != 201:
            raise RuntimeError("user add failed: %s %s" % (st, out))
        self.passwords[name] = password
        st, out = self.login(name)
        if st != 200:
            return None
        token = out["token"]
        if enrol and (out.get("restricted") or not out.get("mfa")):
            self.enrol(name, token)
        return token
