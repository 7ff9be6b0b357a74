#!/usr/bin/env python3
"""Syscalls the gateway makes per relayed round trip, plaintext vs TLS (issue 6, TLS data path).

Starts fixecho (the engine) and one `fixgw gateway` with a plaintext and a TLS listener (one worker, a
self-signed certificate made with the openssl CLI), opens one session on each listener, then counts the
gateway's syscalls with `strace -c` (attached to every gateway thread) over --rounds ping-pongs of one FIX
message. Prints one JSON line per listener and a Markdown table.

usage: bench/gateway/syscalls.py --fixgw build/fixgw --fixecho build/bench/gateway/fixecho [--rounds 2000]
                                 [--engine-delay-us N]

With --engine-delay-us N the engine is a Python echo server that answers each message N microseconds late,
as a real engine does (it has work to do): then a read the gateway attempts on the engine's side before the
answer is there shows up as a wasted call. fixecho on loopback answers within the gateway's own processing
time, which hides such reads.
"""
import argparse
import json
import os
import pathlib
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from fixmsg import fix_message, logon  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def recv_exactly(sock, n):
    buf = b""
    while len(buf) < n:
        d = sock.recv(n - len(buf))
        if not d:
            raise SystemExit("connection closed during the run")
        buf += d
    return buf


def slow_echo(port, delay_us):
    """An engine that echoes each read after delay_us microseconds (one thread per connection)."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(16)

    def serve(c):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with c:
            while True:
                d = c.recv(65536)
                if not d:
                    return
                time.sleep(delay_us / 1e6)
                c.sendall(d)

    def accept():
        while True:
            c, _ = srv.accept()
            threading.Thread(target=serve, args=(c,), daemon=True).start()
    threading.Thread(target=accept, daemon=True).start()


def malloc_probe():
    """A perf uprobe on libc's malloc (root only); None when perf or uprobes are not available."""
    libc = next((str(p) for p in map(pathlib.Path, ("/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib64/libc.so.6",
                                                    "/lib/aarch64-linux-gnu/libc.so.6")) if p.exists()), None)
    if not libc:
        return None
    try:
        subprocess.run(["perf", "probe", "-q", "-x", libc, "malloc"], capture_output=True)
        listed = subprocess.run(["perf", "probe", "-l"], capture_output=True, text=True)
    except OSError:
        return None
    return next((l.split()[0] for l in listed.stdout.splitlines() if "malloc" in l), None)


def perf_count(pid, event, fn):
    """Run fn() while perf counts `event` in every thread of pid."""
    out = tempfile.NamedTemporaryFile(suffix=".perf", delete=False).name
    st = subprocess.Popen(["perf", "stat", "-x,", "-e", event, "-p", str(pid), "-o", out],
                          stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # perf attaches
    fn()
    st.send_signal(signal.SIGINT)
    st.wait(10)
    for line in pathlib.Path(out).read_text().splitlines():
        cols = line.split(",")
        if len(cols) > 2 and cols[0].strip().isdigit():
            os.unlink(out)
            return int(cols[0])
    os.unlink(out)
    return None


def strace_counts(pid, fn):
    """Run fn() while strace -c counts the syscalls of every thread of pid; returns {syscall: calls}."""
    out = tempfile.NamedTemporaryFile(suffix=".strace", delete=False).name
    tids = sorted(os.listdir(f"/proc/{pid}/task"))
    cmd = ["strace", "-c", "-o", out]
    for t in tids:
        cmd += ["-p", t]
    st = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    attached = 0
    while attached < len(tids):  # strace says "Process N attached" once per thread
        line = st.stderr.readline()
        if not line:
            raise SystemExit("strace failed to attach")
        attached += b"attached" in line
    fn()
    st.send_signal(signal.SIGINT)
    st.wait(10)
    counts = {}
    for line in pathlib.Path(out).read_text().splitlines():
        cols = line.split()
        if len(cols) >= 5 and cols[0][0].isdigit() and cols[-1] != "total":
            counts[cols[-1]] = int(cols[3])
    os.unlink(out)
    return counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixgw", default=str(ROOT / "build" / "fixgw"))
    ap.add_argument("--fixecho", default=str(ROOT / "build" / "bench" / "gateway" / "fixecho"))
    ap.add_argument("--rounds", type=int, default=2000)
    ap.add_argument("--label", default="")
    ap.add_argument("--engine-delay-us", type=int, default=0)
    ap.add_argument("--tls-version", choices=("1.2", "1.3"), default="1.3")
    args = ap.parse_args()

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="fixgw-syscalls-"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-subj", "/CN=localhost", "-days", "2", "-keyout", tmp / "key.pem",
                    "-out", tmp / "cert.pem"], check=True, capture_output=True)
    echo_port, plain_port, tls_port, admin_port = free_port(), free_port(), free_port(), free_port()
    (tmp / "routes").mkdir()
    (tmp / "routes" / "a.yaml").write_text(
        "apiVersion: fixgw.io/v1alpha1\nkind: FIXSession\nmetadata: {name: a, namespace: bench}\n"
        "spec:\n  matchFields:\n    SenderCompID49: {value: BROKER_A}\n"
        "  target: {service: {name: echo, port: {number: 9880}}}\n")
    (tmp / "gw.yaml").write_text(
        f"workers: 1\nlisteners:\n  - name: plain\n    address: 127.0.0.1:{plain_port}\n"
        f"  - name: tls\n    address: 127.0.0.1:{tls_port}\n"
        f"    tls: {{enabled: true, certFile: {tmp / 'cert.pem'}, keyFile: {tmp / 'key.pem'}}}\n"
        f"admin: {{address: 127.0.0.1:{admin_port}}}\nroutes: [{tmp / 'routes'}]\n"
        f"endpoints:\n  bench/echo:9880:\n    - {{address: 127.0.0.1:{echo_port}}}\n")
    if args.engine_delay_us:
        slow_echo(echo_port, args.engine_delay_us)
        echo = subprocess.Popen(["sleep", "infinity"])
    else:
        echo = subprocess.Popen([args.fixecho, "--listen", f"127.0.0.1:{echo_port}"], stderr=subprocess.DEVNULL)
    gw = subprocess.Popen([args.fixgw, "gateway", "--config", str(tmp / "gw.yaml")],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = []
    probe = malloc_probe()
    try:
        wait_port(echo_port)
        wait_port(plain_port)
        wait_port(tls_port)
        msg = fix_message("FIX.4.4", "D", [(49, "BROKER_A"), (56, "VENUE"), (34, "2"), (11, "x" * 180)])
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ctx.maximum_version = (ssl.TLSVersion.TLSv1_2 if args.tls_version == "1.2"
                                                     else ssl.TLSVersion.TLSv1_3)
        for name, port, wrap in (("plaintext", plain_port, None), ("tls", tls_port, ctx)):
            s = socket.create_connection(("127.0.0.1", port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if wrap:
                s = wrap.wrap_socket(s, server_hostname="localhost")
            lg = logon(sender="BROKER_A")
            s.sendall(lg)
            recv_exactly(s, len(lg))
            for _ in range(50):  # warm up: buffers allocated, connection settled
                s.sendall(msg)
                recv_exactly(s, len(msg))

            def run():
                for _ in range(args.rounds):
                    s.sendall(msg)
                    recv_exactly(s, len(msg))

            counts = strace_counts(gw.pid, run)
            mallocs = perf_count(gw.pid, probe, run) if probe else None
            s.close()
            per = {k: round(v / args.rounds, 2) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])
                   if v / args.rounds >= 0.01}
            total = round(sum(counts.values()) / args.rounds, 2)
            rec = {"label": args.label, "listener": name, "rounds": args.rounds, "message_bytes": len(msg),
                   "engine_delay_us": args.engine_delay_us, "tls_version": args.tls_version,
                   "syscalls_per_round_trip": total, "by_syscall": per,
                   "mallocs_per_round_trip": None if mallocs is None else round(mallocs / args.rounds, 2)}
            print(json.dumps(rec))
            results.append(rec)
    finally:
        if probe:
            subprocess.run(["perf", "probe", "-q", "-d", probe], capture_output=True)
        gw.send_signal(signal.SIGTERM)
        echo.send_signal(signal.SIGTERM)
        gw.wait(10)
        echo.wait(10)
    print()
    print("| listener | syscalls per round trip | by syscall | mallocs per round trip |")
    print("|---|---|---|---|")
    for r in results:
        detail = ", ".join(f"{k} {v}" for k, v in r["by_syscall"].items())
        print(f"| {r['listener']} | {r['syscalls_per_round_trip']} | {detail} | {r['mallocs_per_round_trip']} |")


if __name__ == "__main__":
    main()
