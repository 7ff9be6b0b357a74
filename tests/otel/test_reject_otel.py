"""`fixgw reject-engine` exporting to the real collector, configured by the OTEL_* environment and its
--otlp flags: one span per connection with the Logout reason, its metrics (connections, rejections by
outcome), its log lines as log records with the span's ids, and no secret anywhere."""

import pathlib
import socket
import sys

from conftest import Collector, attrs, wait_for

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "e2e"))
from fixmsg import logon  # noqa: E402
from gwharness import RejectEngineProc, free_port, http_get, prom_value, recv_until_closed  # noqa: E402

REASON = "No session for you (otel test)"
CANARY_PW = "RejectCanaryPw41e7"
CANARY_HIDDEN = "RejectCanaryHidden90aa"


def test_reject_engine_spans_metrics_and_logs(otelcol_bin, tmp_path, monkeypatch):
    c = Collector(otelcol_bin, tmp_path).start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{c.http_port}")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "reject-e2e")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
    rj = RejectEngineProc(reason=REASON, args=["--hide-tag", "50",
                                               "--otlp", "traces.interval=100ms", "--otlp", "logs.interval=100ms",
                                               "--otlp", "metrics.interval=300ms"])
    try:
        with socket.create_connection(("127.0.0.1", rj.port), timeout=10) as s:
            s.sendall(logon(sender="NOBODY", extra=[(50, CANARY_HIDDEN), (554, CANARY_PW)]))
            data, _ = recv_until_closed(s)
        assert b"35=5" in data and REASON.encode() in data
        with socket.create_connection(("127.0.0.1", rj.port), timeout=10) as s:
            s.sendall(b"8=FIX.4.4\x019=abc\x0135=A\x01554=" + CANARY_PW.encode() + b"\x01")  # not a Logon
            s.shutdown(socket.SHUT_WR)
            recv_until_closed(s)
        rejected = wait_for(lambda: rj.lines("reject"), 10, "the reject line")[0]
        unanswered = wait_for(lambda: rj.lines("reject_unanswered"), 10, "the unanswered line")[0]

        spans = wait_for(lambda: (lambda s: s if len(s) >= 2 else None)(
            [(r, sp) for r, _, sp in c.spans() if sp["name"] == "fixgw.reject_engine.connection"]), 30, "two spans")
        by_trace = {sp["traceId"]: (r, sp) for r, sp in spans}
        res, sp = by_trace[rejected["trace_id"]]
        assert sp["spanId"] == rejected["span_id"] and sp["kind"] == 2 and not sp.get("parentSpanId")
        a = attrs(sp)
        assert a["fixgw.logout.reason"] == REASON and a["fixgw.reject.outcome"] == "logout_sent"
        assert a["fixgw.field.SenderCompID49"] == "NOBODY" and a["fixgw.decision"] == "REJECT_ENGINE"
        assert a["network.peer.address"] == "127.0.0.1" and a["server.port"] == rj.port
        assert sp.get("status", {}).get("code", 0) == 0
        ra = attrs(res)
        assert ra["service.name"] == "reject-e2e" and ra["deployment.environment"] == "test"
        _, bad = by_trace[unanswered["trace_id"]]
        assert bad["status"]["code"] == 2 and attrs(bad)["fixgw.reject.outcome"] == unanswered["outcome"] != "logout_sent"

        def latest(name):
            m = c.metrics().get(name)
            return m[-1][1] if m else None
        conns = wait_for(lambda: (lambda m: m if m and int(m["sum"]["dataPoints"][0]["asInt"]) == 2 else None)(
            latest("fixgw.reject_engine.connections")), 30, "two connections counted")
        assert conns["sum"]["isMonotonic"]
        rej = wait_for(lambda: (lambda m: m if m and {attrs(p)["reason"]: int(p["asInt"]) for p in
                                                      m["sum"]["dataPoints"]}.get(unanswered["outcome"]) == 1 else None)(
            latest("fixgw.reject_engine.rejections")), 30, "rejections by outcome")
        by = {attrs(p)["reason"]: int(p["asInt"]) for p in rej["sum"]["dataPoints"]}
        assert by["logout_sent"] == 1 and by["timeout"] == 0

        def record(event, trace):
            return [lr for _, lr in c.logs(trace) if lr.get("eventName") == event]
        lr = wait_for(lambda: record("reject", rejected["trace_id"]), 30, "the reject record")[0]
        assert (lr["severityText"], lr["severityNumber"]) == ("INFO", 9) and lr["spanId"] == rejected["span_id"]
        assert attrs(lr)["reason"] == REASON and attrs(lr)["sender_comp_id"] == "NOBODY"
        lr = wait_for(lambda: record("reject_unanswered", unanswered["trace_id"]), 30, "the unanswered record")[0]
        assert (lr["severityText"], lr["severityNumber"]) == ("WARN", 13)
        assert attrs(lr)["outcome"] == unanswered["outcome"]
    finally:
        rj.stop()
        c.stop()
    for blob in (c.out.read_text(), rj.text()):
        assert CANARY_PW not in blob and CANARY_HIDDEN not in blob


def test_metrics_endpoint_serves_what_otlp_exports(otelcol_bin, tmp_path, monkeypatch):
    """--admin's /metrics is the same instruments as the OTLP export, in Prometheus text: every metric the
    collector received from the engine has its series there, with the same values once both have seen the
    rejected Logon, plus the exporter's own counters; no secret in either."""
    c = Collector(otelcol_bin, tmp_path).start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{c.http_port}")
    admin = free_port()
    rj = RejectEngineProc(args=["--admin", f"127.0.0.1:{admin}", "--otlp", "metrics.interval=300ms"])
    try:
        with socket.create_connection(("127.0.0.1", rj.port), timeout=10) as s:
            s.sendall(logon(sender="NOBODY", extra=[(554, CANARY_PW)]))
            recv_until_closed(s)

        def exported(name, **match):
            m = c.metrics().get(name)
            points = (m[-1][1].get("sum") or m[-1][1].get("gauge"))["dataPoints"] if m else []
            return next((int(p["asInt"]) for p in points if all(attrs(p).get(k) == v for k, v in match.items())),
                        None)
        wait_for(lambda: exported("fixgw.reject_engine.rejections", reason="logout_sent") == 1, 30,
                 "the rejection exported")
        text = wait_for(lambda: (lambda t: t if prom_value(t, "fixgw_reject_engine_rejections_total",
                                                           reason="logout_sent") == 1 else None)(
            http_get(admin, "/metrics")[1]), 10, "the rejection on /metrics")
        names = [n for n in c.metrics() if n.startswith("fixgw.reject_engine.")]
        assert sorted(names) == ["fixgw.reject_engine.connections", "fixgw.reject_engine.connections.active",
                                 "fixgw.reject_engine.rejections"]
        assert prom_value(text, "fixgw_reject_engine_connections_total") == exported("fixgw.reject_engine.connections")
        assert prom_value(text, "fixgw_reject_engine_connections_active") == 0
        for reason in ("logout_sent", "invalid", "timeout", "over_capacity"):
            assert prom_value(text, "fixgw_reject_engine_rejections_total", reason=reason) == \
                exported("fixgw.reject_engine.rejections", reason=reason), reason
        assert b"# TYPE fixgw_otlp_records_total counter" in text  # the exporter's own, as on the gateway
    finally:
        rj.stop()
        c.stop()
    assert CANARY_PW not in c.out.read_text() and CANARY_PW.encode() not in text
