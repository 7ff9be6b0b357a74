"""The real gateway exporting to the real OpenTelemetry Collector: one span tree per connection (route, no
match, hold then release, parse failure), the gateway's metrics over OTLP and on the admin /metrics page,
the redaction canary, and a collector that is down or blackholed (routing goes on, drops are counted, memory
stays bounded)."""

import pathlib
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from conftest import Collector, attrs, free_port, make_cert, wait_for

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "e2e"))
from fixmsg import logon  # noqa: E402
from gwharness import Engine, Gateway, fixsession, recv_exactly, recv_until_closed  # noqa: E402

# Unique values that must never leave the process except as [REDACTED] (the redact: true field).
CANARY_REDACT = "CanaryRedact7f3a"
CANARY_HIDDEN = "CanaryHidden91bc"
CANARY_PW = "CanaryPw55d2"
CANARY_NEWPW = "CanaryNewPw0e4f"
CANARY_RAW = "CanaryRaw8a61"
CANARY_ENCPW = "CanaryEncPw3c17"  # EncryptedPassword (1402)
CANARY_ENCNEWPW = "CanaryEncNewPw6d29"  # EncryptedNewPassword (1404)
CANARIES = (CANARY_REDACT, CANARY_HIDDEN, CANARY_PW, CANARY_NEWPW, CANARY_RAW, CANARY_ENCPW, CANARY_ENCNEWPW)

CHILDREN_ROUTE = {"fixgw.logon.parse", "fixgw.route.eval", "fixgw.upstream.connect"}


def telemetry(endpoint, extra="", logs=False):
    return ("telemetry:\n"
            f"  endpoint: {endpoint}\n"
            "  serviceName: fixgw-e2e\n"
            "  traces: {interval: 100ms, batchSize: 8}\n"
            "  metrics: {interval: 300ms}\n"
            + ("  logs: {interval: 100ms, batchSize: 8}\n" if logs else "  logs: {enabled: false}\n") + extra)


def gateway(tmp_path, engines, extra, listeners=None, hold_timeout="30s"):
    a = Engine()
    h = Engine()
    engines.extend([a, h])
    routes = [
        fixsession("a", {"SenderCompID49": "A",
                         "TargetSubID57": {"value": CANARY_REDACT, "redact": True},
                         "SenderSubID50": {"value": CANARY_HIDDEN, "log": False}}, service="svc-a"),
        fixsession("h", {"SenderCompID49": "H"}, service="svc-h", hold_timeout=hold_timeout),
    ]
    eps = {"trading/svc-a:9880": [a.port], "trading/svc-h:9880": [(h.port, False)]}
    gw = Gateway(tmp_path, routes, eps, extra=extra, listeners=listeners)
    return gw, a, h, eps


def admin_metrics(gw):
    with urllib.request.urlopen(f"http://127.0.0.1:{gw.admin_port}/metrics", timeout=5) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return r.read().decode()


def prom_value(text, name, **labels):
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    return None


def canary_logon(sender="A"):
    return logon(sender=sender, extra=[(57, CANARY_REDACT), (50, CANARY_HIDDEN), (554, CANARY_PW),
                                       (925, CANARY_NEWPW), (95, str(len(CANARY_RAW))), (96, CANARY_RAW),
                                       (1401, str(len(CANARY_ENCPW))), (1402, CANARY_ENCPW),
                                       (1403, str(len(CANARY_ENCNEWPW))), (1404, CANARY_ENCNEWPW)])


def route_once(gw):
    """One Logon routed to trading/a and echoed back by its engine; returns the Logon's bytes."""
    msg = canary_logon()
    with gw.connect() as s:
        s.sendall(msg)
        assert recv_exactly(s, len(msg)) == msg
    return msg


def tree(c, trace):
    spans = [sp for _, _, sp in c.spans(trace)]
    roots = [sp for sp in spans if not sp.get("parentSpanId")]
    return (roots[0] if len(roots) == 1 else None), {sp["name"]: sp for sp in spans if sp.get("parentSpanId")}


def test_gateway_spans_metrics_and_redaction(otelcol_bin, tmp_path):
    (tmp_path / "col").mkdir()
    c = Collector(otelcol_bin, tmp_path / "col").start()
    engines = []
    gw, a, h, eps = gateway(tmp_path, engines, telemetry(f"http://127.0.0.1:{c.http_port}", logs=True))
    stdout = tmp_path / "gateway.stdout"
    try:
        with open(stdout, "wb") as out:  # the harness discards stdout: this test reads it too
            gw.attach(subprocess.Popen([gw.binary, "gateway", "--config", str(gw.dir / "gateway.yaml")],
                                       stdout=out, stderr=subprocess.PIPE))
        gw.wait_log("started")
        msg = route_once(gw)  # with every canary in the Logon
        routed = gw.wait_log("routing_decision", decision="ROUTE")[0]
        # no match
        with gw.connect() as s:
            s.sendall(logon(sender="NOBODY", extra=[(554, CANARY_PW)]))
            recv_until_closed(s)
        nomatch = gw.wait_log("routing_decision", decision="NO_MATCH")[0]
        # parse failure: a Logon cut short (no trailer) by the client closing its side; waiting for the
        # gateway's logon timeout instead would race recv_until_closed's own timeout
        with gw.connect() as s:
            s.sendall(b"8=FIX.4.4\x019=abc\x0135=A\x01554=" + CANARY_PW.encode() + b"\x01")
            s.shutdown(socket.SHUT_WR)
            recv_until_closed(s)
        parse = gw.wait_log("routing_decision", decision="PARSE_FAILURE")[0]
        # hold, then release when the endpoint becomes ready
        hmsg = logon(sender="H")
        hs = gw.connect()
        hs.sendall(hmsg)
        held = gw.wait_log("hold_start")[0]
        gw.write_config(dict(eps, **{"trading/svc-h:9880": [h.port]}))
        gw.reload()
        gw.wait_log("hold_released")
        assert recv_exactly(hs, len(hmsg)) == hmsg
        hs.close()

        # the routed connection: root SERVER span with the ids of its log lines, and its children
        root, kids = wait_for(lambda: (lambda t: t if t[0] and CHILDREN_ROUTE <= set(t[1]) else None)(
            tree(c, routed["trace_id"])), 30, "the routed connection's spans")
        assert root["spanId"] == routed["span_id"] and root["name"] == "fixgw.connection"
        assert root["kind"] == 2
        ra = attrs(root)
        assert ra["fixgw.decision"] == "ROUTE" and ra["fixgw.route"] == "trading/a"
        assert ra["fixgw.listener"] == "fix-plain" and ra["network.peer.address"] == "127.0.0.1"
        assert ra["server.port"] == gw.port() and ra["network.peer.port"] > 0
        assert ra["fixgw.field.SenderCompID49"] == "A"
        assert ra["fixgw.field.TargetSubID57"] == "[REDACTED]"
        assert not any("SenderSubID50" in k for k in ra)  # log: false -> absent
        assert ra["fixgw.bytes.from_client"] == len(msg)
        for sp in kids.values():
            assert sp["parentSpanId"] == root["spanId"] and sp["traceId"] == routed["trace_id"]
            assert int(root["startTimeUnixNano"]) <= int(sp["startTimeUnixNano"])
            assert int(sp["endTimeUnixNano"]) <= int(root["endTimeUnixNano"])
        assert kids["fixgw.upstream.connect"]["kind"] == 3
        assert attrs(kids["fixgw.upstream.connect"])["server.port"] == a.port
        assert "fixgw.tls.handshake" not in kids  # a plaintext listener
        # no match and parse failure: error spans with their decision
        for rec, decision in ((nomatch, "NO_MATCH"), (parse, "PARSE_FAILURE")):
            r, k = wait_for(lambda: (lambda t: t if t[0] else None)(tree(c, rec["trace_id"])), 30, decision)
            assert attrs(r)["fixgw.decision"] == decision and r["status"]["code"] == 2
            assert "fixgw.logon.parse" in k and "fixgw.upstream.connect" not in k
        # hold then release: the hold span, then the connect
        r, k = wait_for(lambda: (lambda t: t if t[0] else None)(tree(c, held["trace_id"])), 30, "held spans")
        assert attrs(k["fixgw.endpoint.hold"])["fixgw.hold.released"] is True
        assert int(k["fixgw.endpoint.hold"]["endTimeUnixNano"]) <= int(k["fixgw.upstream.connect"]["startTimeUnixNano"])

        # metrics through the collector
        def metric_points(name):
            m = c.metrics().get(name)
            return m[-1][1] if m else None
        routed_m = wait_for(lambda: metric_points("fixgw.connections.routed"), 30, "routed metric")
        pts = {attrs(p)["fixgw.route"]: int(p["asInt"]) for p in routed_m["sum"]["dataPoints"]}
        wait_for(lambda: {attrs(p)["fixgw.route"]: int(p["asInt"]) for p in
                          metric_points("fixgw.connections.routed")["sum"]["dataPoints"]} ==
                 {"trading/a": 1, "trading/h": 1}, 30, "routed counts in the collector")
        assert pts  # first export seen
        rej = wait_for(lambda: (lambda m: m if {attrs(p)["reason"]: int(p["asInt"]) for p in m["sum"]["dataPoints"]}
                                .get("parse_failure") == 1 else None)(metric_points("fixgw.rejections")), 30,
                       "rejections")
        by_reason = {attrs(p)["reason"]: int(p["asInt"]) for p in rej["sum"]["dataPoints"]}
        assert by_reason["no_match"] == 1 and by_reason["parse_failure"] == 1
        hist = metric_points("fixgw.routing.eval.duration")["histogram"]["dataPoints"][0]
        assert int(hist["count"]) == 3  # the route, the no match and the held one were evaluated
        byts = metric_points("fixgw.proxied.bytes")["sum"]["dataPoints"]
        assert {(attrs(p)["fixgw.route"], attrs(p)["direction"]): int(p["asInt"]) for p in byts}[
            ("trading/a", "from_client")] == len(msg)
        assert metric_points("fixgw.log.lines.dropped") is not None
        assert metric_points("fixgw.otlp.records") is not None

        # /metrics: the same counters in Prometheus text
        text = admin_metrics(gw)
        assert prom_value(text, "fixgw_connections_routed_total", fixgw_route="trading/a") == 1
        assert prom_value(text, "fixgw_rejections_total", reason="no_match") == 1
        assert prom_value(text, "fixgw_routing_eval_duration_count") == 3
        assert prom_value(text, "fixgw_otlp_records_total", signal="traces", outcome="sent") is not None
        assert prom_value(text, "fixgw_connections_held", fixgw_route="trading/h") == 0
    finally:
        gw.stop()
        for e in engines:
            e.stop()
        c.stop()

    # the canary: nowhere in what the collector received, the gateway wrote, or /metrics served
    out = c.out.read_text()
    assert "[REDACTED]" in out
    assert c.logs(), "log records were exported (the canary covers them)"
    for where, blob in (("collector", out), ("gateway stderr", gw.raw_log()), ("gateway stdout", stdout.read_text()),
                        ("/metrics", text)):
        for canary in CANARIES:
            assert canary not in blob, f"{canary} leaked into {where}"


def test_metrics_page_without_export(tmp_path):
    engines = []
    gw, a, _, _ = gateway(tmp_path, engines, "")
    try:
        gw.start()
        route_once(gw)
        text = wait_for(lambda: (lambda t: t if prom_value(t, "fixgw_connections_routed_total",
                                                           fixgw_route="trading/a") == 1 else None)(
            admin_metrics(gw)), 10, "routed on /metrics")
        assert prom_value(text, "fixgw_connections_accepted_total") == 1
        assert "fixgw_otlp_records" not in text  # export is off: no exporter
        assert "# TYPE fixgw_routing_eval_duration histogram" in text
    finally:
        gw.stop()
        for e in engines:
            e.stop()


def test_collector_down_routing_goes_on(tmp_path):
    dead = free_port()  # nothing listens here
    engines = []
    gw, a, _, _ = gateway(tmp_path, engines,
                          telemetry(f"http://127.0.0.1:{dead}",
                                    "  traces.queueSize: 4\n  retryInitial: 5s\n  retryMaxAttempts: 2\n"))
    try:
        gw.start()
        for _ in range(20):
            route_once(gw)
        text = wait_for(lambda: (lambda t: t if (prom_value(t, "fixgw_otlp_records_total", signal="traces",
                                                            outcome="dropped") or 0) > 0 else None)(
            admin_metrics(gw)), 20, "dropped spans counted")
        assert prom_value(text, "fixgw_connections_routed_total", fixgw_route="trading/a") == 20
        assert (prom_value(text, "fixgw_otlp_records_total", signal="traces", outcome="sent") or 0) == 0
    finally:
        gw.stop()
        for e in engines:
            e.stop()


def test_tls_spans_and_sampling(otelcol_bin, tmp_path):
    """traceRatio 0: a routed connection sends no span, a no match and a failed TLS handshake do; a TLS
    connection's span carries the protocol version and cipher and a handshake child."""
    (tmp_path / "col").mkdir()
    c = Collector(otelcol_bin, tmp_path / "col").start()
    crt, key = make_cert(tmp_path)
    listeners = [{"name": "fix-tls", "port": free_port(), "tls": {"enabled": True, "certFile": crt, "keyFile": key}}]
    engines = []
    gw, a, _, _ = gateway(tmp_path, engines, telemetry(f"http://127.0.0.1:{c.http_port}", "  traceRatio: 0\n"),
                          listeners=listeners)
    ctx = ssl.create_default_context(cafile=crt)
    try:
        gw.start()
        msg = canary_logon()
        with ctx.wrap_socket(gw.connect(), server_hostname="127.0.0.1") as s:
            s.sendall(msg)
            assert recv_exactly(s, len(msg)) == msg
        routed = gw.wait_log("routing_decision", decision="ROUTE")[0]
        wait_for(lambda: gw.admin()["counters"]["active_connections"] == 0, 10, "the routed connection closed")
        with ctx.wrap_socket(gw.connect(), server_hostname="127.0.0.1") as s:
            s.sendall(logon(sender="NOBODY"))
            recv_until_closed(s)
        nomatch = gw.wait_log("routing_decision", decision="NO_MATCH")[0]
        with gw.connect() as s:  # plaintext to a TLS listener
            s.sendall(logon(sender="A"))
            recv_until_closed(s)
        tls_fail = gw.wait_log("tls_failure")[0]

        root, kids = wait_for(lambda: (lambda t: t if t[0] else None)(tree(c, nomatch["trace_id"])), 30, "no match")
        ra = attrs(root)
        assert ra["fixgw.listener"] == "fix-tls" and ra["fixgw.decision"] == "NO_MATCH"
        assert ra["tls.protocol.version"] in ("1.2", "1.3") and ra["tls.cipher"]
        assert kids["fixgw.tls.handshake"]["status"].get("code", 0) == 0
        froot, fkids = wait_for(lambda: (lambda t: t if t[0] else None)(tree(c, tls_fail["trace_id"])), 30,
                                "TLS failure")
        assert froot["status"]["code"] == 2 and attrs(froot)["fixgw.decision"] == "NONE"
        assert fkids["fixgw.tls.handshake"]["status"]["code"] == 2 and "fixgw.logon.parse" not in fkids
        assert "tls.cipher" not in attrs(froot)
        assert c.spans(routed["trace_id"]) == []  # sampled out, though queued before the no match
    finally:
        gw.stop()
        for e in engines:
            e.stop()
        c.stop()


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_hold_timeout_span(otelcol_bin, tmp_path, protocol):
    """A connection held until its hold timeout: an error span whose hold child was never released, and
    the route's hold timeout counted; over both OTLP protocols (gRPC as h2c)."""
    (tmp_path / "col").mkdir()
    c = Collector(otelcol_bin, tmp_path / "col").start()
    engines = []
    port = c.grpc_port if protocol == "grpc" else c.http_port
    gw, _, _, _ = gateway(tmp_path, engines,
                          telemetry(f"http://127.0.0.1:{port}", f"  traceRatio: 0\n  protocol: {protocol}\n"),
                          hold_timeout="1s")
    try:
        gw.start()
        with gw.connect() as s:
            s.sendall(logon(sender="H"))
            assert recv_until_closed(s, timeout=30)[0] == b""
        held = gw.wait_log("hold_timeout")[0]
        root, kids = wait_for(lambda: (lambda t: t if t[0] else None)(tree(c, held["trace_id"])), 30, "held spans")
        assert root["status"]["code"] == 2 and attrs(root)["fixgw.route"] == "trading/h"
        hold = kids["fixgw.endpoint.hold"]
        assert hold["status"]["code"] == 2 and attrs(hold)["fixgw.hold.released"] is False
        assert int(hold["endTimeUnixNano"]) - int(hold["startTimeUnixNano"]) >= 900_000_000
        assert "fixgw.upstream.connect" not in kids
        text = admin_metrics(gw)
        assert prom_value(text, "fixgw_hold_timeouts_total", fixgw_route="trading/h") == 1
        assert prom_value(text, "fixgw_rejections_total", reason="hold_timeout") == 1
    finally:
        gw.stop()
        for e in engines:
            e.stop()
        c.stop()


class Blackhole:
    """A collector address that accepts every connection and never reads or answers: each export request
    waits for its timeout."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self):
        self.sock.close()
        for c in self.held:
            c.close()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_blackholed_collector_routing_goes_on_memory_bounded(tmp_path):
    """Export to a collector that accepts and never answers (request timeout 60 s: the exporter stays stuck
    for the whole test): every Logon is still routed and echoed at once, the spans and log records that do
    not fit the bounded queues are dropped and counted, the gateway's memory stays flat once the queues are
    full, and it still stops promptly (the hung request is cut at the shutdown deadline)."""
    hole = Blackhole()
    engines = []
    gw, _, _, _ = gateway(tmp_path, engines, telemetry(
        f"http://127.0.0.1:{hole.port}",
        "  timeout: 60s\n  traces.queueSize: 256\n  logs.enabled: true\n  logs.queueSize: 256\n"))

    def routed(n):
        slowest = 0.0
        for _ in range(n):
            t0 = time.monotonic()
            route_once(gw)
            slowest = max(slowest, time.monotonic() - t0)
        return slowest

    try:
        gw.start()
        # fill the queues: one span (and log records) per connection; the exporter is stuck in its first request
        routed(400)
        text = wait_for(lambda: (lambda t: t if (prom_value(t, "fixgw_otlp_records_total", signal="traces",
                                                            outcome="dropped") or 0) > 0 else None)(
            admin_metrics(gw)), 20, "dropped spans counted")
        assert hole.held, "the exporter never connected to the blackhole"
        dropped_before = prom_value(text, "fixgw_otlp_records_total", signal="traces", outcome="dropped")
        rss_before = rss_kib(gw.proc.pid)
        # three times as many connections again: routing goes on, only the drop count grows
        slowest = routed(1200)
        text = admin_metrics(gw)
        rss_after = rss_kib(gw.proc.pid)
        assert prom_value(text, "fixgw_connections_routed_total", fixgw_route="trading/a") == 1600
        assert prom_value(text, "fixgw_otlp_records_total", signal="traces", outcome="dropped") >= dropped_before + 1000
        assert (prom_value(text, "fixgw_otlp_records_total", signal="traces", outcome="sent") or 0) == 0
        # far below the 60 s request the exporter is waiting on: the data path never waits for it
        assert slowest < 5, slowest
        if not any(b in str(gw.binary) for b in ("asan", "tsan")):  # sanitizers' quarantine and shadow memory
            assert rss_after - rss_before < 4 * 1024, (rss_before, rss_after)
        t0 = time.monotonic()
        gw.stop(timeout=30)
        assert time.monotonic() - t0 < 20  # the shutdown deadline, not the 60 s request timeout
    finally:
        gw.stop()
        hole.close()
        for e in engines:
            e.stop()
