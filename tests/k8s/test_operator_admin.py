"""`fixgw operator --admin ADDR` against the real API server: /readyz once the caches synced (and not
before: an API server that cannot be reached), /healthz while the main loop makes progress and 503 when it
stalls (fault injection: FIXGW_TEST_FAULTS=stall_operator_ms), /metrics with the operator's own
instruments (leadership, reconcile rounds, status writes) in Prometheus text, and the flags' usage errors."""
import re
import subprocess
import urllib.error

import test_operator as top  # its helpers (a module object is not collected again)
from test_operator import _unique_senders, operator  # noqa: F401  (its fixtures)
from k8sharness import _gwharness, free_port, wait_until


def http_get(port, path):
    """(status, body) of a GET (gwharness.http_get); (0, b"") while nothing listens yet."""
    try:
        return _gwharness().http_get(port, path)
    except urllib.error.URLError:
        return 0, b""


def metric(text, name, **labels):
    return _gwharness().prom_value(text, name, **labels)


def scrape(port):
    status, text = http_get(port, "/metrics")
    assert status == 200
    return text


def test_probes_and_metrics_of_a_leading_operator(k8s, k8s_ns, operator):
    port = free_port()
    k8s.service(k8s_ns, "engine")
    op = operator("a", *top.FAST, "--admin", f"127.0.0.1:{port}")
    wait_until(lambda: http_get(port, "/readyz") == (200, b"ready\n"), 60, what="/readyz once synced")
    assert op.log.select("synced")  # ready means the caches synced
    assert http_get(port, "/healthz") == (200, b"ok\n")
    op.wait_log("leader_started")
    k8s.create(top.fs_path(k8s_ns), top.fixsession("first", "BROKER_ADM"))
    top.wait_condition(k8s, k8s_ns, "first", "Accepted", "True")
    wait_until(lambda: metric(scrape(port), "fixgw_operator_leader") == 1, 30, what="the leader gauge")
    wait_until(lambda: (metric(scrape(port), "fixgw_operator_status_writes_total", result="ok") or 0) >= 1, 30,
               what="a status write counted")
    text = scrape(port)
    assert metric(text, "fixgw_operator_reconciles_total", result="ok") >= 1
    assert b"# TYPE fixgw_operator_reconcile_duration histogram" in text or \
        b"fixgw_operator_reconcile_duration" in text
    assert http_get(port, "/nope")[0] == 404


def test_readyz_fails_while_the_api_server_cannot_be_reached(k8s, tmp_path):
    from conftest import FIXGW
    port, dead = free_port(), free_port()  # nothing listens on dead
    kc = k8s.write_kubeconfig(tmp_path / "kubeconfig", user={"token": "not-a-secret"}, namespace="default")
    kc.write_text(kc.read_text().replace(k8s.server, f"https://127.0.0.1:{dead}"))
    p = subprocess.Popen([str(FIXGW), "operator", "--kubeconfig", str(kc), "--id", "lonely",
                          "--admin", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: http_get(port, "/healthz") == (200, b"ok\n"), 30, interval=0.2,
                   what="/healthz: the main loop turns while the caches cannot sync")
        assert http_get(port, "/readyz") == (503, b"starting: the caches have not synced yet\n")
        text = scrape(port)
        assert metric(text, "fixgw_operator_leader") == 0
        assert b"not-a-secret" not in text
    finally:
        p.terminate()
        _, err = p.communicate(timeout=30)
    assert p.returncode == 0, err.decode()[-3000:]
    assert b"not-a-secret" not in err


def test_healthz_fails_while_the_main_loop_stalls_and_recovers(k8s, k8s_ns, operator, monkeypatch):
    monkeypatch.setenv("FIXGW_TEST_FAULTS", "stall_operator_ms=8000")  # once, when the caches have synced
    port = free_port()
    operator("a", *top.FAST, "--admin", f"127.0.0.1:{port}", "--admin-stall-ms", "1000")
    status, body = wait_until(lambda: (lambda r: r if r[0] == 503 else None)(http_get(port, "/healthz")), 60,
                              interval=0.2, what="/healthz to report the stalled main loop")
    assert re.match(rb"the operator's main loop has made no progress for \d+ ms\n$", body), body
    wait_until(lambda: http_get(port, "/healthz") == (200, b"ok\n"), 30, interval=0.2, what="recovery")


def test_admin_usage_errors():
    from conftest import FIXGW

    def run(*args):
        return subprocess.run([str(FIXGW), "operator", *args], capture_output=True, timeout=10)

    assert b"--admin ADDR" in run("--help").stdout
    for bad in (["--admin", "bogus"], ["--admin", "localhost:1"], ["--admin", "127.0.0.1:1", "--admin-stall-ms", "5"],
                ["--admin-stall-ms", "5000"], ["--admin"]):
        p = run(*bad)
        assert p.returncode == 2 and b"--admin" in p.stderr, (bad, p.stderr)
