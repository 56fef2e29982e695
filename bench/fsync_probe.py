#!/usr/bin/env python3
"""fsync_probe.py: the latency of the disk's durable writes, seen by a process
independent of mamori: rewrites one 4 KiB block of a file in DIR and
fdatasyncs it, again and again for SECONDS, and prints the distribution.

Every durable answer of mamori (an audited access check, key operation or
audit append) waits for one such fdatasync of the store's write-ahead log,
shared by its group commit, so a stall of the disk's flush is a stall of
every waiting request. Run it alone (idle disk) and beside a benchmark (the
same disk under mamori's write load) to tell the daemon's tail latency from
the machine's.

Usage: fsync_probe.py SECONDS [DIR] [PAUSE_MS]  (PAUSE_MS between writes, default 0;
a pause of 2 ms keeps the probe's own load small beside a benchmark)"""
import os
import sys
import tempfile
import time


def main():
    secs = float(sys.argv[1]) if len(sys.argv) > 1 else 8.0
    d = sys.argv[2] if len(sys.argv) > 2 else tempfile.gettempdir()
    pause = float(sys.argv[3]) / 1e3 if len(sys.argv) > 3 else 0.0
    fd, path = tempfile.mkstemp(prefix="mm-fsync-probe-", dir=d)
    buf = b"\x5a" * 4096
    lat = []
    try:
        end = time.monotonic() + secs
        i = 0
        while time.monotonic() < end:
            os.pwrite(fd, buf, (i % 256) * 4096)
            i += 1
            t = time.perf_counter()
            os.fdatasync(fd)
            lat.append(time.perf_counter() - t)
            if pause:
                time.sleep(pause)
    finally:
        os.close(fd)
        os.unlink(path)
    lat.sort()
    n = len(lat)
    q = lambda p: lat[min(n - 1, int(n * p))] * 1e3
    print("fsync_probe n=%d p50=%.2fms p99=%.2fms p99.9=%.2fms max=%.1fms over=10ms:%d over=100ms:%d"
          % (n, q(0.5), q(0.99), q(0.999), lat[-1] * 1e3,
             sum(1 for x in lat if x > 0.01), sum(1 for x in lat if x > 0.1)))


if __name__ == "__main__":
    main()
