"""The gateway's control plane end to end: snapshots and reloads that never hold up probes, per-worker
statistics summed in /routes, probes under an admin-port flood, worker liveness in /healthz, routing loops
refused at load and at run time, error paths at boot (fault injection through FIXGW_TEST_FAULTS), the
`--check` mode and the boot lines."""
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request

import pytest

from fixmsg import logon
from gwharness import fixsession, free_port, http_get, recv_exactly, recv_until_closed, wait_until




def one_route(tmp_path, engines, gateways, **kw):
    a = engines()
    gw = gateways(tmp_path, [fixsession("broker-a", {"SenderCompID49": "BROKER_A"}, service="svc-a")],
                  {"trading/svc-a:9880": [a.port]}, **kw)
    return gw, a


def probe(gw, path, timeout=5):
    """(status, body) of an admin GET; 503 is an answer, not an exception."""
    return http_get(gw.admin_port, path, timeout)


def env_with(faults):
    env = dict(os.environ)
    env["FIXGW_TEST_FAULTS"] = faults
    return env


def assert_clean_exit(proc_stderr, what):
    for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "ThreadSanitizer"):
        assert marker not in proc_stderr, f"{what}: sanitizer report:\n{proc_stderr[-4000:]}"


# ---------------------------------------------------------------- admin port and probes

def test_probes_answer_under_an_admin_connection_flood(tmp_path, engines, gateways):
    gw, _ = one_route(tmp_path, engines, gateways)
    gw.start()
    idle = []
    try:
        for _ in range(200):  # far more than the admin client cap, none of them ever asking anything
            idle.append(socket.create_connection(("127.0.0.1", gw.admin_port), timeout=5))
        for _ in range(5):
            assert probe(gw, "/healthz") == (200, b"ok\n")
            assert probe(gw, "/readyz") == (200, b"ready\n")
        gw.wait_log("admin_flood")
        assert gw.admin()["counters"]["admin_refused"] >= 1
    finally:
        for s in idle:
            s.close()


def test_a_slow_reload_does_not_hold_up_probes(tmp_path, engines, gateways):
    gw, _ = one_route(tmp_path, engines, gateways)
    gw.start(env=env_with("source_build_ms=4000"))
    gw.proc.send_signal(signal.SIGHUP)
    # The build takes 4 s on the source's thread; probes answer meanwhile, before it is done.
    wait_until(lambda: probe(gw, "/readyz", timeout=2)[0] == 200 and not gw.logs("reloaded"), 3,
               what="a probe answered while the reload is still building")
    assert probe(gw, "/healthz", timeout=2) == (200, b"ok\n")
    assert not gw.logs("reloaded")
    gw.wait_log("reloaded", timeout=15)


# ---------------------------------------------------------------- worker liveness

def test_healthz_fails_while_a_worker_is_stuck_and_recovers(tmp_path, engines, gateways):
    gw, _ = one_route(tmp_path, engines, gateways, workers=1)
    gw.start(env=env_with("stall_worker_ms=8000"))
    assert probe(gw, "/healthz") == (200, b"ok\n")
    c = gw.connect()  # the worker accepts it and then hangs for 8 s (test-only)
    try:
        status, body = wait_until(lambda: (lambda r: r if r[0] == 503 else None)(probe(gw, "/healthz")), 12,
                                  interval=0.2, what="/healthz to report the stuck worker")
        assert b"worker 0 has not turned its event loop" in body
        gw.wait_log("worker_stuck")
        wait_until(lambda: probe(gw, "/healthz") == (200, b"ok\n"), 15, interval=0.2, what="recovery")
        gw.wait_log("worker_recovered")
    finally:
        c.close()


# ---------------------------------------------------------------- routing loops

def write_loop_config(tmp_path, listen, endpoint, routes_dir):
    cfg = tmp_path / "gateway.yaml"
    cfg.write_text(textwrap.dedent(f"""\
        workers: 1
        listeners:
          - name: fix-plain
            address: "{listen}"
        rejectEngine: {{enabled: false}}
        routes: [{routes_dir}]
        endpoints:
          trading/svc-a:9880:
            - {{address: "{endpoint}", ready: true}}
        """))
    return cfg


@pytest.mark.parametrize("listen_ip,endpoint_ip", [("127.0.0.1", "127.0.0.1"), ("0.0.0.0", "127.0.0.1"),
                                                   ("0.0.0.0", "127.0.0.7"), ("[::]", "127.0.0.1"),
                                                   ("127.0.0.1", "0.0.0.0")])
def test_endpoint_at_the_gateways_own_listener_is_refused_at_load(tmp_path, fixgw, listen_ip, endpoint_ip):
    routes = tmp_path / "routes"
    routes.mkdir()
    (routes / "a.yaml").write_text(fixsession("broker-a", {"SenderCompID49": "BROKER_A"}, service="svc-a"))
    port = free_port()
    cfg = write_loop_config(tmp_path, f"{listen_ip}:{port}", f"{endpoint_ip}:{port}", routes)
    p = subprocess.run([fixgw, "gateway", "--config", str(cfg)], capture_output=True, timeout=10)
    assert p.returncode == 2
    err = p.stderr.decode()
    assert "gateway.yaml:9" in err and "loop back into the gateway" in err, err
    # the same endpoint on another host's address, or another port, is fine
    c = subprocess.run([fixgw, "gateway", "--config", str(cfg), "--check"], capture_output=True, timeout=10)
    assert c.returncode == 2 and b"loop back" in c.stdout


LOOP_SCRIPT = r"""
import json, socket, subprocess, sys, time, urllib.request
fixgw, cfg, port, admin, logon_hex, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), \
    sys.argv[5], sys.argv[6]
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
gw = subprocess.Popen([fixgw, "gateway", "--config", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
def routes():
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/routes", timeout=5) as r:
        return json.loads(r.read())
deadline = time.monotonic() + 10
while True:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/readyz", timeout=2) as r:
            break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.05)
# The endpoint's address appears only now (as a Service address or a new pod IP might): the load-time
# check could not see it, and it leads straight back into the gateway's wildcard listener.
subprocess.run(["ip", "addr", "add", "10.211.0.1/32", "dev", "lo"], check=True)
if mode == "nat":
    # The endpoint is a Service-like address that a local DNAT rule sends to the gateway's own listener.
    subprocess.run(["ip", "route", "add", "10.211.0.9/32", "dev", "lo"], check=True)
    for rule in (["add", "table", "ip", "t"],
                 ["add", "chain", "ip", "t", "out", "{ type nat hook output priority -100; }"],
                 ["add", "rule", "ip", "t", "out", "ip", "daddr", "10.211.0.9", "tcp", "dport", str(port), "dnat",
                  "to", f"10.211.0.1:{port}"]):
        subprocess.run(["nft"] + rule, check=True)
c = socket.create_connection(("127.0.0.1", port), timeout=10)
c.sendall(bytes.fromhex(logon_hex))
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    cnt = routes()["counters"]
    if cnt.get("loops_refused", 0) >= 1 or cnt["accepted"] >= 40:
        break
    time.sleep(0.05)
time.sleep(0.5)  # would a storm continue? (the assertion below is on a bound, not on timing)
print(json.dumps(routes()["counters"]))
gw.send_signal(2)
gw.wait(15)
print(json.dumps({"rc": gw.returncode}))
"""


SHARED_PORT_SCRIPT = r"""
import json, socket, subprocess, sys, threading, time, urllib.request
fixgw, cfg, port, admin, engine_port, logon_hex = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), \
    int(sys.argv[5]), sys.argv[6]
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
engine = socket.socket()
engine.bind(("127.0.0.1", engine_port))
engine.listen(64)
def echo(c):
    with c:
        while (b := c.recv(65536)):
            c.sendall(b)
def serve():
    while True:
        threading.Thread(target=echo, args=(engine.accept()[0],), daemon=True).start()
threading.Thread(target=serve, daemon=True).start()
gw = subprocess.Popen([fixgw, "gateway", "--config", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
def get(path):
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}{path}", timeout=5) as r:
        return r.read()
deadline = time.monotonic() + 10
while True:
    try:
        get("/readyz")
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.05)
logon = bytes.fromhex(logon_hex)
def session(c):
    c.sendall(logon)
    got = b""
    try:
        while len(got) < len(logon) and (b := c.recv(65536)):
            got += b
    except OSError:
        pass
    return got == logon
first = socket.create_connection(("127.0.0.1", port), timeout=10)
assert session(first)
# The local port of the gateway's upstream socket (127.0.0.1:P -> the engine).
ss = subprocess.run(["ss", "-Htn", "state", "established", f"( dport = :{engine_port} )"], capture_output=True,
                    text=True).stdout.split()
upstream_port = int(ss[2].rsplit(":", 1)[1])
# A second client on this host with that same local port, on another loopback address (so the bind does not
# clash with the upstream socket's 127.0.0.1:P), dialling the gateway's wildcard listener there.
second = socket.socket()
second.settimeout(10)
second.bind(("127.0.0.2", upstream_port))
second.connect(("127.0.0.2", port))
answered = session(second)
print(json.dumps({"answered": answered, "upstream_port": upstream_port,
                  "counters": json.loads(get("/routes"))["counters"]}))
gw.send_signal(2)
gw.wait(15)
"""


def test_a_client_sharing_a_local_port_with_an_upstream_socket_is_not_a_loop(tmp_path, fixgw):
    """The kernel gives one local port to several sockets with different destinations: a client on this host
    may use the port of one of the gateway's upstream sockets. That is not a loop (it was refused as one);
    only a connection that arrives where one of our upstream sockets dialled is."""
    if os.geteuid() != 0 or subprocess.run(["unshare", "-n", "true"]).returncode != 0:
        pytest.skip("needs root for a network namespace")
    routes = tmp_path / "routes"
    routes.mkdir()
    (routes / "a.yaml").write_text(fixsession("broker-a", {"SenderCompID49": "BROKER_A"}, service="svc-a"))
    port, admin, engine_port = 7100, 7101, 7102  # a fresh network namespace: every port is free
    cfg = write_loop_config(tmp_path, f"0.0.0.0:{port}", f"127.0.0.1:{engine_port}", routes)
    with open(cfg, "a") as f:
        f.write(f"admin: {{address: 127.0.0.1:{admin}}}\nshutdownGracePeriod: 1s\n")
    (tmp_path / "shared.py").write_text(SHARED_PORT_SCRIPT)
    p = subprocess.run(["unshare", "-n", sys.executable, str(tmp_path / "shared.py"), fixgw, str(cfg), str(port),
                        str(admin), str(engine_port), logon(sender="BROKER_A").hex()], capture_output=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr.decode()[-3000:]
    out = json.loads(p.stdout.decode().splitlines()[-1])
    assert out["counters"]["loops_refused"] == 0, out
    assert out["answered"], out


@pytest.mark.parametrize("mode", ["direct", "nat"])
def test_a_loop_that_appears_at_run_time_is_bounded(tmp_path, fixgw, mode):
    """direct: the endpoint's address becomes one of this host's; nat: the endpoint is an address that a local
    DNAT rule (as kube-proxy writes for a Service) leads back to the gateway's listener."""
    if os.geteuid() != 0 or subprocess.run(["unshare", "-n", "true"]).returncode != 0:
        pytest.skip("needs root for a network namespace")
    routes = tmp_path / "routes"
    routes.mkdir()
    (routes / "a.yaml").write_text(fixsession("broker-a", {"SenderCompID49": "BROKER_A"}, service="svc-a"))
    port, admin = 7100, 7101  # in a fresh network namespace every port is free
    endpoint = "10.211.0.9" if mode == "nat" else "10.211.0.1"
    cfg = write_loop_config(tmp_path, f"0.0.0.0:{port}", f"{endpoint}:{port}", routes)
    with open(cfg, "a") as f:
        f.write(f"admin: {{address: 127.0.0.1:{admin}}}\nmaxConnections: 50\nshutdownGracePeriod: 1s\n")
    (tmp_path / "loop.py").write_text(LOOP_SCRIPT)
    p = subprocess.run(["unshare", "-n", sys.executable, str(tmp_path / "loop.py"), fixgw, str(cfg), str(port),
                        str(admin), logon(sender="BROKER_A").hex(), mode], capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr.decode()[-3000:]
    lines = p.stdout.decode().splitlines()
    counters, rc = json.loads(lines[-2]), json.loads(lines[-1])["rc"]
    assert counters["loops_refused"] >= 1
    assert counters["accepted"] <= 3, counters  # the client and the one looped connection, not a storm
    assert rc == 0


# ---------------------------------------------------------------- statistics

def test_route_counters_are_summed_over_workers_and_survive_reloads(tmp_path, engines, gateways):
    gw, a = one_route(tmp_path, engines, gateways, workers=2)
    gw.start()
    msg = logon(sender="BROKER_A")
    conns = []
    for _ in range(8):  # spread over both workers by the kernel
        c = gw.connect()
        c.sendall(msg)
        assert recv_exactly(c, len(msg)) == msg
        conns.append(c)
    # a worker counts bytes after its write returns, which can be after the client has read them
    r = wait_until(lambda: (lambda r: r if r["bytes_to_client"] == 8 * len(msg) else None)(
        gw.route("trading/broker-a")), 10, what="bytes to clients counted")
    assert r["active"] == 8 and r["routed_total"] == 8
    assert r["bytes_from_client"] == 8 * len(msg) and r["bytes_to_client"] == 8 * len(msg)
    assert r["last_routing_unix_ms"] > 0 and r["last_connection_unix_ms"] > 0
    doc = gw.admin()
    assert doc["counters"]["accepted"] == 8 and doc["counters"]["active_connections"] == 8
    gen = doc["snapshot"]["generation"]
    gw.reload()
    doc = gw.admin()
    assert doc["snapshot"]["generation"] == gen + 1 and doc["snapshot"]["origin"] == "file"
    r = gw.route("trading/broker-a")
    assert r["active"] == 8 and r["routed_total"] == 8 and r["bytes_from_client"] == 8 * len(msg)
    # delete the FIXSession (another one stays): its live connections become orphans, still counted
    gw.write_routes([fixsession("other", {"SenderCompID49": "OTHER"}, service="svc-a")])
    gw.reload()
    doc = gw.admin()
    assert [r["name"] for r in doc["routes"]] == ["trading/other"]
    assert doc["orphans"] == [{"name": "trading/broker-a", "orphaned": 8}]
    for c in conns[:3]:
        c.close()
    wait_until(lambda: gw.admin()["orphans"] == [{"name": "trading/broker-a", "orphaned": 5}], 10,
               what="orphans to go down as connections close")
    gw.write_routes([fixsession("broker-a", {"SenderCompID49": "BROKER_A"}, service="svc-a")])
    gw.reload()
    r = gw.route("trading/broker-a")
    assert r["active"] == 5 and r["orphaned"] == 0 and r["routed_total"] == 8
    for c in conns[3:]:
        c.close()
    wait_until(lambda: gw.route("trading/broker-a")["active"] == 0, 10, what="all closed")


# ---------------------------------------------------------------- error paths at boot

@pytest.mark.parametrize("fault,message", [("worker_init=1", "cannot start: worker 1"),
                                           ("thread_start=1", "cannot start worker thread 1"),
                                           ("thread_start=0", "cannot start worker thread 0")])
def test_boot_failures_leave_nothing_running(tmp_path, engines, gateways, fault, message):
    gw, _ = one_route(tmp_path, engines, gateways, workers=3)
    p = subprocess.run([gw.binary, "gateway", "--config", str(gw.dir / "gateway.yaml")], capture_output=True,
                       timeout=20, env=env_with(fault))
    err = p.stderr.decode()
    assert p.returncode == 1, err
    assert message in err and '"event":"started"' not in err
    assert_clean_exit(err, fault)
    # nothing half-started keeps the port: a normal start works at once
    gw.start()


def test_a_timer_heap_that_cannot_grow_closes_connections_instead_of_leaving_them_without_deadline(
        tmp_path, engines, gateways):
    gw, _ = one_route(tmp_path, engines, gateways, workers=1, extra="logonTimeout: 1s")
    gw.start(env=env_with("timer_grow=64"))
    conns = [gw.connect() for _ in range(100)]  # none sends a Logon: each needs its deadline
    try:
        for c in conns:  # every one is closed: by its deadline, or at once when it could not get one
            data, how = recv_until_closed(c, timeout=10)
            assert data == b""
        # the ones past the heap's room are closed at accept, saying why
        gw.wait_log("internal_error")
        assert all("deadline" in r.get("reason", r.get("msg", "")) for r in gw.logs("internal_error"))
        wait_until(lambda: gw.admin()["counters"]["active_connections"] == 0, 10, what="no session left")
    finally:
        for c in conns:
            c.close()


# ---------------------------------------------------------------- boot lines and --check

def test_started_line_lists_listeners_as_an_array(tmp_path, engines, gateways):
    gw, _ = one_route(tmp_path, engines, gateways)
    gw.start()
    rec = gw.logs("started")[0]
    assert rec["listeners"] == [{"name": "fix-plain", "address": f"127.0.0.1:{gw.port()}", "tls": False}]
    assert "fix-plain" not in rec


def test_a_failed_first_boot_does_not_speak_of_a_last_known_good_table(tmp_path, engines, gateways):
    gw, _ = one_route(tmp_path, engines, gateways)
    gw.write_routes([fixsession("a", {"SenderCompID49": "X"}), fixsession("b", {"SenderCompID49": "X"})])
    p = subprocess.run([gw.binary, "gateway", "--config", str(gw.dir / "gateway.yaml")], capture_output=True,
                       timeout=20)
    err = p.stderr.decode()
    assert p.returncode == 2
    assert "boot_failed" in err and "cannot start: FIXSession conflicts" in err
    assert "last-known-good" not in err


def test_check_mode_validates_without_serving(tmp_path, engines, gateways):
    gw, _ = one_route(tmp_path, engines, gateways)
    cfg = str(gw.dir / "gateway.yaml")
    p = subprocess.run([gw.binary, "gateway", "--config", cfg, "--check"], capture_output=True, timeout=20)
    out = p.stdout.decode()
    assert p.returncode == 0, out + p.stderr.decode()
    assert "configuration OK" in out
    assert f"listener fix-plain 127.0.0.1:{gw.port()} can be bound" in out
    assert "FIXSessions   1 compiled" in out
    # it served nothing: the listener is free again
    with socket.socket() as s:
        s.bind(("127.0.0.1", gw.port()))

    # a broken FIXSession is reported with its file, and the check fails
    gw.write_routes([fixsession("a", {"SenderCompID49": "X"}), fixsession("b", {"SenderCompID49": "X"})])
    p = subprocess.run([gw.binary, "gateway", "--config", cfg, "--check"], capture_output=True, timeout=20)
    out = p.stdout.decode()
    assert p.returncode == 2 and "configuration INVALID" in out and "r001.yaml" in out

    # a listener that cannot be bound fails the check
    gw.write_routes([fixsession("broker-a", {"SenderCompID49": "BROKER_A"}, service="svc-a")])
    with socket.socket() as s:
        s.bind(("127.0.0.1", gw.port()))
        s.listen()
        p = subprocess.run([gw.binary, "gateway", "--config", cfg, "--check"], capture_output=True, timeout=20)
    out = p.stdout.decode()
    assert p.returncode == 2 and "cannot bind: Address already in use" in out

    # an invalid config: every problem with its line
    (gw.dir / "bad.yaml").write_text("listeners:\n  - name: x\n    address: nope\nbogus: 1\n")
    p = subprocess.run([gw.binary, "gateway", "--config", str(gw.dir / "bad.yaml"), "--check"],
                       capture_output=True, timeout=20)
    out = p.stdout.decode()
    assert p.returncode == 2 and "bad.yaml:3" in out and "bad.yaml:4" in out
