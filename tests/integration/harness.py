"""Integration-test harness: starts the real mamorid on a free loopback port
with a temporary data directory and drives it with the mamori CLI and raw
HTTP. Python 3 standard library only.

Environment (set by meson): MAMORI_BUILD (build dir), MAMORI_SRC (source dir).
"""
import http.client
import json
import os
import re
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

    def init_admin(self, name="admin"):
        """Creates the first administrator through the CLI; returns its token."""
        rc, out, err = self.cli_json("init", "--admin", name, "--bootstrap-token", self.bootstrap)
        if rc != 0:
            raise RuntimeError("init failed: %s %s" % (out, err))
        self.admin_token = out["token"]
        return self.admin_token
