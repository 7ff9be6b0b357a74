"""What a broken collector costs: nothing but counted records. Retries only where the OTLP specification
allows them, Retry-After honoured, 413 splits the batch, headers sent (and never printed); with the collector
down, blackholed or answering 503, emit calls return at once, drops are counted, memory stays bounded, and
export recovers when the (real) collector comes back."""

import json
import socket
import time

from conftest import FIXGW, Collector, fixgw_otlp, free_port, start_fixgw_otlp, wait_for

# Far below any request timeout used here: an emit that waited on the network would take seconds.
EMIT_BOUND_US = 1_000_000


def selftest(endpoint, *extra, wait="15s"):
    r = fixgw_otlp(["selftest", "--endpoint", endpoint, "--wait", wait, "--set", "retryInitial=50ms"] + list(extra))
    lines = r.stdout.strip().splitlines()
    assert lines, r.stderr
    return r, json.loads(lines[-1])


def test_retry_after_is_honoured(mock_otlp):
    mock_otlp.plan = lambda path, i: (429, {"Retry-After": "1"}) if path == "/v1/traces" and i == 0 else (200, {})
    r, out = selftest(mock_otlp.endpoint)
    assert r.returncode == 0, r.stderr
    t = mock_otlp.on("/v1/traces")
    assert len(t) == 2
    # backoff alone would be 25-50 ms; the server asked for 1 s
    assert t[1][0] - t[0][0] >= 0.9
    assert out["stats"]["traces"]["retries"] == 1 and out["stats"]["traces"]["sent"] == 6


def test_503_is_retried_with_backoff(mock_otlp):
    mock_otlp.plan = lambda path, i: (503, {}) if i < 2 else (200, {})
    r, out = selftest(mock_otlp.endpoint)
    assert r.returncode == 0, r.stderr
    for path in ("/v1/traces", "/v1/logs"):
        assert len(mock_otlp.on(path)) == 3
    assert len(mock_otlp.on("/v1/metrics")) >= 3  # and once more at shutdown
    assert out["stats"]["logs"]["retries"] == 2


def test_400_is_not_retried(mock_otlp):
    mock_otlp.plan = lambda path, i: (400, {})
    r, out = selftest(mock_otlp.endpoint)
    assert r.returncode == 1
    assert len(mock_otlp.on("/v1/traces")) == 1
    assert len(mock_otlp.on("/v1/logs")) == 1
    assert out["stats"]["traces"]["failed"] == 6 and out["stats"]["traces"]["retries"] == 0
    assert '"http_status":400' in r.stderr


def test_413_splits_the_batch(mock_otlp):
    mock_otlp.plan = lambda path, i: (413, {}) if path == "/v1/traces" and i == 0 else (200, {})
    r, out = selftest(mock_otlp.endpoint)
    assert r.returncode == 0, r.stderr
    t = mock_otlp.on("/v1/traces")
    assert len(t) == 3  # 6 spans refused whole, then 3 + 3
    assert t[1][3] < t[0][3] and t[2][3] < t[0][3]
    assert out["stats"]["traces"]["sent"] == 6 and out["stats"]["traces"]["retries"] == 0


def test_headers_are_sent_and_never_printed(mock_otlp):
    r, out = selftest(mock_otlp.endpoint, "--header", "authorization=Bearer%20s3cr3t-t0ken",
                      "--set", "traces.headers=x-scope-orgid=tenant-7")
    assert r.returncode == 0, r.stderr
    t = mock_otlp.on("/v1/traces")[0][2]
    assert t["authorization"] == "Bearer s3cr3t-t0ken"
    assert t["x-scope-orgid"] == "tenant-7"
    assert t["content-type"] == "application/x-protobuf"
    assert "x-scope-orgid" not in mock_otlp.on("/v1/logs")[0][2]
    assert "s3cr3t" not in r.stdout + r.stderr
    # a header value with a line break is refused, and not echoed either
    r = fixgw_otlp(["selftest", "--endpoint", mock_otlp.endpoint, "--header", "authorization=s3cr3t%0d%0aX: y"])
    assert r.returncode == 2 and "headers" in r.stderr and "s3cr3t" not in r.stdout + r.stderr


def soak(endpoint, duration, *extra):
    return start_fixgw_otlp(["soak", "--endpoint", endpoint, "--duration", duration, "--rate", "20000",
                             "--set", "traces.queueSize=512", "--set", "logs.queueSize=512",
                             "--set", "traces.interval=100ms", "--set", "logs.interval=100ms",
                             "--set", "retryInitial=100ms", "--set", "retryMax=500ms"] + list(extra))


def soak_lines(p, timeout=60):
    out, err = p.communicate(timeout=timeout)
    assert p.returncode == 0, err
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")], err


def check_data_path_unhurt(lines):
    assert lines[-1]["emitted"] > 1000
    assert max(line["max_emit_us"] for line in lines) < EMIT_BOUND_US
    if "asan" in str(FIXGW):
        return  # ASan's quarantine keeps freed memory on purpose: RSS says nothing there
    # bounded memory: after the first second (queues touched, connections made), RSS stays flat
    later = [line["rss_kib"] for line in lines if line["t_ms"] >= 1000]
    assert later and max(later) - min(later) < 16 * 1024, later
    assert max(later) < 256 * 1024


def test_collector_down_then_back(otelcol_bin, tmp_path):
    """Nothing listens: connection refused, drops counted. Then the real collector starts on that port and
    the same process's export recovers."""
    port = free_port()
    p = soak(f"http://127.0.0.1:{port}", "8s")
    c = Collector(otelcol_bin, tmp_path, http_port=port)
    try:
        # run against the closed port until the exporter has tried and retried
        early = []
        while not early or early[-1]["stats"]["traces"]["retries"] < 1:
            line = p.stdout.readline()
            assert line, p.stderr.read()
            early.append(json.loads(line))
        assert early[-1]["stats"]["traces"]["sent"] == 0
        c.start()
        lines, err = soak_lines(p)
        lines = early + lines
    finally:
        c.stop()
    check_data_path_unhurt(lines)
    last = lines[-1]["stats"]["traces"]
    assert last["dropped"] > 0
    assert last["sent"] > 0  # recovered
    assert "otlp_export_recovered" in err or last["failed"] == 0
    assert len(c.spans()) > 0


def test_blackholed_collector(tmp_path):
    """The collector accepts the connection and never answers: each request waits for its timeout, the
    queues fill, emits still return at once, and shutdown does not wait for the hung request."""
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(64)  # never accept(): the kernel completes handshakes, nobody reads
    try:
        port = hole.getsockname()[1]
        t0 = time.monotonic()
        p = soak(f"http://127.0.0.1:{port}", "3s", "--set", "timeout=20s")
        lines, _ = soak_lines(p, timeout=60)
        elapsed = time.monotonic() - t0
    finally:
        hole.close()
    check_data_path_unhurt(lines)
    last = lines[-1]["stats"]
    assert last["traces"]["dropped"] > 0 and last["traces"]["sent"] == 0
    # 3 s of soak + 2 s shutdown deadline; the 20 s request timeout is cut short
    assert elapsed < 15, elapsed


def test_503_storm_then_recovery(mock_otlp):
    state = {"ok": False}
    mock_otlp.plan = lambda path, i: (200, {}) if state["ok"] else (503, {})
    p = soak(mock_otlp.endpoint, "6s")
    try:
        wait_for(lambda: len(mock_otlp.on("/v1/traces")) >= 3, 20, "retried requests")
        state["ok"] = True
        lines, err = soak_lines(p)
    finally:
        if p.poll() is None:
            p.kill()
    check_data_path_unhurt(lines)
    st = lines[-1]["stats"]["traces"]
    assert st["dropped"] > 0 and st["sent"] > 0 and st["retries"] > 0
    assert "otlp_export_recovered" in err or st["failed"] == 0
