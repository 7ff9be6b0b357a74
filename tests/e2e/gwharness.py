"""Test harness for the real gateway binary: loopback engines, a gateway process with its JSON log lines,
and helpers to wait for what it says. Everything listens on 127.0.0.1 and stops by itself."""
import json
import os
import re
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.request

from conftest import FIXGW


_handed_out = set()


def free_port():
    """A TCP port free on 127.0.0.1 right now, never one this process was given before: the kernel may hand
    the same free port to two calls in a row, and a test that asks for a listener and an admin port would
    then give both the same."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def http_get(port, path, timeout=5, host="127.0.0.1"):
    """(status, body) of a GET to host:port; an error status is an answer, not an exception."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def prom_value(text, name, **labels):
    """The value of one series (labels in the order given) in Prometheus text, or None."""
    want = "" if not labels else "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
    for line in text.decode().splitlines():
        if line.startswith(name + want + " "):
            return float(line.split()[-1])
    return None


def wait_until(pred, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class JsonLines:
    """The JSON lines a process writes to one stream, collected by a thread. A line that is not JSON is
    kept as {"event": "_text", "msg": line}; every record keeps its text in "_raw"."""

    def __init__(self, stream, what):
        self.what = what
        self.records = []
        self.lock = threading.Lock()
        self.eof = threading.Event()  # set once the stream has ended and every line is in records
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        try:
            self._collect(stream)
        finally:
            self.eof.set()

    def _collect(self, stream):
        for raw in stream:
            line = raw.decode(errors="replace").rstrip("\n")
            try:
                rec = json.loads(line)
            except ValueError:
                rec = {"event": "_text", "msg": line}
            if not isinstance(rec, dict):
                rec = {"event": "_text", "msg": line}
            rec["_raw"] = line
            with self.lock:
                self.records.append(rec)

    def select(self, event=None, **match):
        with self.lock:
            out = list(self.records)
        return [r for r in out if (event is None or r.get("event") == event)
                and all(r.get(k) == v for k, v in match.items())]

    def wait(self, event, timeout=10, count=1, **match):
        return wait_until(lambda: len(self.select(event, **match)) >= count and self.select(event, **match),
                          timeout, what=f"{self.what}: {event} {match}")

    def text(self):
        with self.lock:
            return "\n".join(r["_raw"] for r in self.records)


class Engine:
    """A TCP engine stand-in: records every connection's bytes; echoes them unless told otherwise."""

    def __init__(self, port=None, echo=True, prefix=b"", close_on_eof=True, host="127.0.0.1"):
        self.host = host  # the Kubernetes tests bind it to a network namespace's address
        self.port = port or free_port()
        self.echo = echo
        self.close_on_eof = close_on_eof  # like a real engine: a counterparty's FIN ends the session
        self.prefix = prefix
        self.conns = []  # list of dicts: {"sock", "data": bytearray, "closed": bool}
        self.lock = threading.Lock()
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind((host, self.port))
        self.srv.listen(512)
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            rec = {"sock": c, "data": bytearray(), "closed": False, "eof": False}
            with self.lock:
                self.conns.append(rec)
            threading.Thread(target=self._serve, args=(rec,), daemon=True).start()

    def _serve(self, rec):
        c = rec["sock"]
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    rec["eof"] = True
                    break
                with self.lock:
                    rec["data"] += d
                if self.echo:
                    c.sendall(self.prefix + d)
        except OSError:
            pass
        finally:
            if self.close_on_eof:
                try:
                    c.close()
                except OSError:
                    pass
            rec["closed"] = True

    def wait_conns(self, n, timeout=10):
        return wait_until(lambda: len(self.conns) >= n, timeout, what=f"{n} engine connection(s)")

    def data(self, i=0):
        with self.lock:
            return bytes(self.conns[i]["data"])

    def reset_all(self):
        """Abort every connection with a RST. The serving thread is woken first (SHUT_RD makes its recv
        return): closing a socket another thread is blocked on would not release it, and no RST would go."""
        for rec in list(self.conns):
            s = rec["sock"]
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.shutdown(socket.SHUT_RD)
                wait_until(lambda: rec["closed"], 5, what="engine thread to let go of the socket")
                s.close()
            except OSError:
                pass

    def stop(self):
        self.stopped = True
        try:
            self.srv.close()
        except OSError:
            pass
        for rec in list(self.conns):
            try:
                rec["sock"].close()
            except OSError:
                pass


def fixsession(name, fields=None, service="svc", port=9880, namespace="trading", priority=None,
               listeners=None, max_held=None, hold_timeout=None):
    """A FIXSession manifest as YAML text. fields: {"SenderCompID49": "X"} or {"X49": {"value":..,"log":..}}."""
    lines = ["apiVersion: fixgw.io/v1alpha1", "kind: FIXSession",
             f"metadata: {{name: {name}, namespace: {namespace}}}", "spec:"]
    if fields:
        lines.append("  matchFields:")
        for k, v in fields.items():
            if isinstance(v, dict):
                inner = ", ".join(f"{kk}: {json.dumps(vv)}" for kk, vv in v.items())
                lines.append(f"    {k}: {{{inner}}}")
            else:
                lines.append(f"    {k}: {{value: {json.dumps(v)}}}")
    if priority is not None:
        lines.append(f"  priority: {priority}")
    lines.append(f"  target: {{service: {{name: {service}, port: {{number: {port}}}}}}}")
    if listeners:
        lines.append(f"  listeners: [{', '.join(listeners)}]")
    if max_held is not None:
        lines.append(f"  maxHeldConnections: {max_held}")
    if hold_timeout is not None:
        lines.append(f"  holdTimeout: {hold_timeout}")
    return "\n".join(lines) + "\n"


class Gateway:
    """A running `fixgw gateway` with a generated standalone config in a temp dir."""

    def __init__(self, tmp_path, routes, endpoints, listeners=None, reject=None, extra="", binary=None,
                 workers=2):
        self.dir = tmp_path
        self.routes_dir = tmp_path / "routes"
        self.routes_dir.mkdir(exist_ok=True)
        self.listeners = listeners or [{"name": "fix-plain", "port": free_port()}]
        self.admin_port = free_port()
        self.reject = reject
        self.extra = extra
        self.workers = workers
        self.binary = str(binary or FIXGW)
        self.log = None
        self.write_routes(routes)
        self.write_config(endpoints)
        self.proc = None

    # -- files --
    def write_routes(self, routes):
        for f in self.routes_dir.glob("*.yaml"):
            f.unlink()
        for i, text in enumerate(routes):
            (self.routes_dir / f"r{i:03d}.yaml").write_text(text)

    def write_config(self, endpoints):
        out = [f"workers: {self.workers}", "listeners:"]
        for l in self.listeners:
            out.append(f"  - name: {l['name']}")
            out.append(f"    address: 127.0.0.1:{l['port']}")
            if l.get("tls"):
                out.append("    tls:")
                for k, v in l["tls"].items():
                    out.append(f"      {k}: {json.dumps(v)}")
        out.append(f"admin: {{address: 127.0.0.1:{self.admin_port}}}")
        if self.reject:
            out.append(f"rejectEngine: {{enabled: true, address: 127.0.0.1:{self.reject}}}")
        else:
            out.append("rejectEngine: {enabled: false}")
        out.append(f"routes: [{self.routes_dir}]")
        out.append("endpoints:")
        for key, addrs in endpoints.items():
            out.append(f"  {key}:" + ("" if addrs else " []"))
            for a in addrs:
                if isinstance(a, tuple):
                    out.append(f"    - {{address: 127.0.0.1:{a[0]}, ready: {'true' if a[1] else 'false'}}}")
                else:
                    out.append(f"    - {{address: 127.0.0.1:{a}, ready: true}}")
        if not endpoints:
            out[-1] = "endpoints: {}"
        out.append(self.extra)
        (self.dir / "gateway.yaml").write_text("\n".join(out) + "\n")

    # -- process --
    def start(self, env=None, expect_start=True, preexec_fn=None):
        self.attach(subprocess.Popen([self.binary, "gateway", "--config", str(self.dir / "gateway.yaml")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                                     preexec_fn=preexec_fn))
        if expect_start:
            self.wait_log("started", timeout=10)
        return self

    def attach(self, proc):
        self.proc = proc
        self.log = JsonLines(proc.stderr, "gateway")

    def logs(self, event=None, **match):
        return self.log.select(event, **match)

    def wait_log(self, event, timeout=10, count=1, **match):
        return self.log.wait(event, timeout, count, **match)

    def raw_log(self):
        return self.log.text()

    def port(self, name=None):
        if name is None:
            return self.listeners[0]["port"]
        return next(l["port"] for l in self.listeners if l["name"] == name)

    def connect(self, name=None, timeout=10):
        s = socket.create_connection(("127.0.0.1", self.port(name)), timeout=timeout)
        return s

    def admin(self, path="/routes"):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}{path}", timeout=5) as r:
            body = r.read()
            return json.loads(body) if path == "/routes" else body

    def route(self, name):
        return next(r for r in self.admin()["routes"] if r["name"] == name)

    def reload(self):
        n = len(self.logs("reloaded")) + len(self.logs("reload_blocked"))
        self.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: len(self.logs("reloaded")) + len(self.logs("reload_blocked")) > n, 10,
                   what="reload")

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Stop the gateway and insist it went cleanly: exit 0 after SIGTERM, and no sanitizer report (the
        suite can run against the asan-ubsan build with FIXGW_BIN)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"gateway did not stop within {timeout}s of {sig!r}")
        if self.proc:
            self.log.eof.wait(timeout)  # every last line read
            text = self.raw_log()
            for marker in ("AddressSanitizer", "LeakSanitizer", "ThreadSanitizer", "runtime error:"):
                assert marker not in text, f"sanitizer report from the gateway:\n{text[-4000:]}"
            assert self.proc.returncode == 0, f"gateway exited {self.proc.returncode}:\n{text[-2000:]}"
        return self.proc.returncode if self.proc else None


def recv_exactly(sock, n, timeout=10):
    sock.settimeout(timeout)
    buf = b""
    while len(buf) < n:
        d = sock.recv(n - len(buf))
        if not d:
            break
        buf += d
    return buf


def tcp_queues(local, remote):
    """(receive queue, unacknowledged send queue) in bytes of the IPv4 TCP socket local -> remote on this
    host, or None when there is none: one exact sock_diag query (what `ss` asks the kernel), cheap however
    many sockets the host has."""
    def sockid(src, dst):
        return (struct.pack("!HH", src[1], dst[1]) + socket.inet_aton(src[0]) + bytes(12) +
                socket.inet_aton(dst[0]) + bytes(12) + struct.pack("=III", 0, 0xFFFFFFFF, 0xFFFFFFFF))

    req = struct.pack("=BBBBI", socket.AF_INET, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF) + sockid(local, remote)
    msg = struct.pack("=IHHII", 16 + len(req), 20, 1, 1, 0) + req  # SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 4) as nl:  # NETLINK_SOCK_DIAG
        nl.sendall(msg)
        reply = nl.recv(65536)
    mtype = struct.unpack_from("=H", reply, 4)[0]
    if mtype != 20:  # NLMSG_ERROR: no such socket
        return None
    rqueue, wqueue = struct.unpack_from("=II", reply, 16 + 4 + 48 + 4)  # after family..retrans, id, expires
    return rqueue, wqueue


def wait_read_by_peer(sock, timeout=10):
    """Waits until the process at the other end of sock (an IPv4 TCP socket to a process on this host) has
    read everything sent so far: every byte is acknowledged and its socket's receive queue is empty. For
    tests that must deliver a message in separate reads, instead of sleeping between the writes."""
    try:
        ours, theirs = sock.getsockname(), sock.getpeername()
    except OSError:  # reset already: the peer has read all it ever will
        return

    def drained():
        mine, peer = tcp_queues(ours, theirs), tcp_queues(theirs, ours)
        # a side that is gone has nothing left to read
        return mine is None or peer is None or (mine[1] == 0 and peer[0] == 0)

    wait_until(drained, timeout, interval=0.001, what="the peer to read what was sent")


def recv_until_closed(sock, timeout=10):
    sock.settimeout(timeout)
    buf = b""
    while True:
        try:
            d = sock.recv(65536)
        except ConnectionResetError:
            return buf, "reset"
        if not d:
            return buf, "closed"
        buf += d


# ---------------------------------------------------------------- real peers: QuickFIX and the reject engine
# Added for the QuickFIX/TLS end-to-end tests; nothing above depends on them.

import pathlib  # noqa: E402

from conftest import ROOT, missing_peer  # noqa: E402

PEERS = pathlib.Path(os.environ.get("FIXGW_PEERS_DIR", ROOT / "build-peers"))


def peer_binary(name):
    """Path of a QuickFIX test peer (fix_acceptor, fix_initiator); skips the test when it is not built (fails
    it under scripts/test.sh)."""
    p = PEERS / name
    if not p.exists():
        missing_peer(f"{p} not built (cmake -S tests/peers -B build-peers -G Ninja && cmake --build build-peers)")
    return str(p)


class Acceptor:
    """A running QuickFIX `fix_acceptor` (echoes every application message); its stdout JSON events are
    collected by a thread. Listens on a free port it picks itself (`--port 0`)."""

    def __init__(self, name, comp_id="VENUE", begin="FIX.4.4", args=(), prefix=()):
        self.name = name
        # prefix: a command to run it under, such as `ip netns exec NS` (the Kubernetes tests)
        self.proc = subprocess.Popen([*prefix, peer_binary("fix_acceptor"), "--port", "0", "--begin-string", begin,
                                      "--sender-comp-id", comp_id, "--name", name, *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.out = JsonLines(self.proc.stdout, f"acceptor {name}")
        self.port = self.wait_event("listening", timeout=10)[0]["port"]

    def events(self, event=None, **match):
        return [e for e in self.out.select(event, **match) if e.get("event") != "_text"]

    def wait_event(self, event, timeout=10, count=1, **match):
        return self.out.wait(event, timeout, count, **match)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class InitiatorRun:
    """One `fix_initiator` run (one connection attempt): start() it, then result() waits for its exit."""

    def __init__(self, port, sender, target="VENUE", begin="FIX.4.4", messages=0, interval_ms=0,
                 timeout_ms=8000, sub_id=None, deliver_to=None, tags=(), password=None, username=None,
                 tls=False, ca=None, args=()):
        cmd = [peer_binary("fix_initiator"), "--port", str(port), "--begin-string", begin,
               "--sender-comp-id", sender, "--target-comp-id", target, "--messages", str(messages),
               "--interval-ms", str(interval_ms), "--timeout-ms", str(timeout_ms)]
        if sub_id:
            cmd += ["--sender-sub-id", sub_id]
        if deliver_to:
            cmd += ["--deliver-to-comp-id", deliver_to]
        for t in tags:
            cmd += ["--logon-tag", t]
        if username:
            cmd += ["--username", username]
        if password:
            cmd += ["--password", password]
        if tls:
            cmd += ["--tls"]
            if ca:
                cmd += ["--ca", str(ca)]
        cmd += list(args)
        self.cmd = cmd
        self.wall = timeout_ms / 1000 + 10
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.rc = None

    def result(self):
        try:
            out, err = self.proc.communicate(timeout=self.wall)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        self.rc = self.proc.returncode
        self.stdout, self.stderr = out, err
        self.events = [json.loads(l) for l in out.splitlines() if l.startswith(b"{")]
        return self

    def of(self, event):
        return [e for e in self.events if e.get("event") == event]

    def explain(self):
        return f"rc={self.rc} cmd={' '.join(self.cmd)}\nstdout={self.stdout!r}\nstderr={self.stderr[-2000:]!r}"


def run_initiator(port, sender, **kw):
    """Run one `fix_initiator` to its end; returns the InitiatorRun (rc, events, stdout, stderr)."""
    return InitiatorRun(port, sender, **kw).result()


class RejectEngineProc:
    """A running `fixgw reject-engine` on a free loopback port; stderr lines are collected."""

    def __init__(self, reason=None, args=(), binary=None):
        for _ in range(5):  # the probed port may be taken before the engine binds it: retry
            self.port = free_port()
            cmd = [str(binary or FIXGW), "reject-engine", "--listen", f"127.0.0.1:{self.port}"]
            if reason:
                cmd += ["--reason", reason]
            self.proc = subprocess.Popen(cmd + list(args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            self.err = JsonLines(self.proc.stderr, "reject engine")
            try:
                wait_until(lambda: '"listening"' in self.text() or self.proc.poll() is not None, 10,
                           what="reject engine listening")
            except AssertionError:
                pass
            if '"listening"' in self.text():
                return
            self.stop()
        raise AssertionError("reject engine did not start:\n" + self.text())

    def text(self):
        return self.err.text()

    def lines(self, event=None):
        return [r for r in self.err.select(event) if r.get("event") != "_text"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------- the README's scripts (make run, make demo)



def session_members(sid):
    """PIDs of the live processes of session sid: everything a script started inherits its session."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = open(f"/proc/{d}/stat").read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[3]) == sid and fields[0] != "Z":  # fields: state, ppid, pgrp, session
            out.append(int(d))
    return out


class Script:
    """A script of scripts/ run from the repository root in a session of its own, as a terminal would run it;
    its output (stdout and stderr) is collected line by line by a thread. Every wait is on a condition (an
    output line, the process's exit, its session emptying), bounded by a generous timeout: a busy machine
    only makes them slower. kill() ends whatever is left (call it from a fixture's teardown)."""

    def __init__(self, args, env=None):
        self.proc = subprocess.Popen([str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=ROOT, env=dict(os.environ, **(env or {})),
                                     start_new_session=True)
        self.lines = []
        self.lock = threading.Lock()
        self.eof = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.proc.stdout:
            with self.lock:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
        self.eof.set()

    def text(self):
        with self.lock:
            return "\n".join(self.lines)

    def wait_line(self, pattern, timeout=120):
        """The re.Match of the first output line that matches pattern; fails when the script's output ends
        first, or after timeout seconds."""
        rx = re.compile(pattern)

        def found():
            with self.lock:
                for line in self.lines:
                    m = rx.search(line)
                    if m:
                        return m
            if self.eof.is_set():
                raise AssertionError(f"the script's output ended (status {self.proc.wait()}) without "
                                     f"/{pattern}/:\n{self.text()}")
            return None

        try:
            return wait_until(found, timeout, what=f"/{pattern}/")
        except AssertionError as e:
            raise AssertionError(f"{e}; output so far:\n{self.text()}") from None

    def finish(self, timeout=120):
        """Waits for the script to exit, for its output to end and for every process it started to be gone:
        (exit status, output)."""
        try:
            self.proc.wait(timeout)
            if not self.eof.wait(timeout):
                raise AssertionError("output still open: a process the script started outlived it")
            wait_until(lambda: not session_members(self.proc.pid), timeout,
                       what="every process the script started gone")
        except (subprocess.TimeoutExpired, AssertionError) as e:
            left = session_members(self.proc.pid)
            self.kill()
            raise AssertionError(f"{e} (left: {left}); output:\n{self.text()}") from None
        return self.proc.returncode, self.text()

    def signal(self, sig, group=False):
        """Sends sig to the script (group=True: to its whole process group, as Ctrl-C in a terminal does)."""
        (os.killpg if group else os.kill)(self.proc.pid, sig)

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        for pid in session_members(self.proc.pid):  # a process that left the group, if any
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
