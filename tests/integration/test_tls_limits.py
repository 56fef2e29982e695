"""TLS when a certificate and key are configured, and the connection limit."""
import os
import socket
import ssl
import subprocess
import time
import http.client
import json

from harness import Daemon, check, finish


def tls_test():
    d = Daemon()
    cert = os.path.join(d.tmp, "cert.pem")
    key = os.path.join(d.tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    d.config_text = '[tls]\ncert = "%s"\nkey = "%s"\n[log]\nlevel = "warn"\n' % (cert, key)
    try:
        d.start()
        check(d.scheme == "https", "daemon announces https")
        ctx = ssl.create_default_context(cafile=cert)
        conn = http.client.HTTPSConnection("127.0.0.1", d.port, context=ctx, timeout=10)
        conn.request("GET", "/v1/sys/health")
        r = conn.getresponse()
        body = json.loads(r.read())
        check(r.status == 200 and body["tls"] is True, "health over TLS says tls=true")
        check(conn.sock.version() in ("TLSv1.2", "TLSv1.3"), "TLS 1.2+ negotiated")
        conn.close()
        # An old protocol is refused.
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.load_verify_locations(cert)
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        try:
            old.minimum_version = ssl.TLSVersion.TLSv1
        except ValueError:
            pass
        try:
            s = old.wrap_socket(socket.create_connection(("127.0.0.1", d.port), timeout=5),
                                server_hostname="127.0.0.1")
            s.close()
            check(False, "TLS 1.1 must be refused")
        except (ssl.SSLError, OSError):
            pass
        # Plain HTTP to the TLS port gets no HTTP answer.
        s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        s.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = s.recv(100)
        except OSError:
            data = b""
        check(not data.startswith(b"HTTP/1.1 200"), "plain HTTP is not served on the TLS port")
        s.close()
        # The CLI verifies the certificate with --cacert.
        tok_rc, out, err = d.cli("--cacert", cert, "init", "--admin", "alice",
                                 "--bootstrap-token", d.bootstrap)
        check(tok_rc == 0, "CLI init over TLS with --cacert: %s" % err)
        rc, out, err = d.cli("whoami")
        check(rc == 1 and "reach" in err, "CLI refuses an unknown certificate without --cacert")
    finally:
        d.cleanup()


def limits_test():
    d = Daemon(config_text='threads = 1\n[limits]\nmax_connections = 4\n[log]\nlevel = "warn"\n')
    try:
        d.start()
        socks = []
        for _ in range(10):
            socks.append(socket.create_connection(("127.0.0.1", d.port), timeout=5))
        time.sleep(0.5)
        closed = 0
        for s in socks:
            s.settimeout(0.2)
            try:
                if s.recv(1) == b"":
                    closed += 1
            except socket.timeout:
                pass
            except OSError:
                closed += 1
        check(closed == 6, "connections over the limit are closed (%d of 10 closed)" % closed)
        for s in socks:
            s.close()
        time.sleep(0.3)
        st, body, _ = d.http("GET", "/v1/sys/health")
        check(st == 200, "served again once connections closed")
        tok = d.init_admin("alice")
        st, text, _ = d.http("GET", "/metrics", token=tok)
        check("mamori_http_connections_rejected_total 6" in text, "rejections counted in metrics")
    finally:
        d.cleanup()


if __name__ == "__main__":
    tls_test()
    limits_test()
    finish()
