"""fixgw's OTLP exporter against the real OpenTelemetry Collector, over OTLP/HTTP and OTLP/gRPC: the span tree,
log records and metrics `fixgw otlp selftest` sends arrive as sent (names, ids, parent/child, attributes,
severities, metric values and temporality, the Resource)."""

import json

import pytest

from conftest import Collector, attrs, fixgw_otlp, make_cert, wait_for

CHILDREN = ["fixgw.tls.handshake", "fixgw.logon.parse", "fixgw.route.eval", "fixgw.endpoint.hold",
            "fixgw.upstream.connect"]

ENV = {
    "OTEL_SERVICE_NAME": "fixgw-selftest",
    "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test,k8s.cluster.name=kind%2Done",
    "K8S_POD_NAME": "fixgw-abc12",
    "POD_NAMESPACE": "fix-gateway",
    "K8S_NODE_NAME": "node-7",
}


def selftest(args, env=ENV):
    r = fixgw_otlp(["selftest", "--wait", "20s"] + args, env=env)
    assert r.returncode == 0, f"stdout={r.stdout}\nstderr={r.stderr}"
    return json.loads(r.stdout.strip().splitlines()[-1])


def check_everything(c, out):
    trace = out["trace_id"]
    ids = out["spans"]
    assert out["ok"] is True
    for sig in ("traces", "metrics", "logs"):
        assert out["stats"][sig]["dropped"] == 0 and out["stats"][sig]["failed"] == 0
    assert out["stats"]["traces"]["sent"] == 6
    assert out["stats"]["logs"]["sent"] == 3

    spans = wait_for(lambda: len(c.spans(trace)) >= 6 and c.spans(trace), 20, "six spans in the collector's file")
    assert len(spans) == 6
    by_name = {sp["name"]: (res, scope, sp) for res, scope, sp in spans}
    assert set(by_name) == {"fixgw.connection"} | set(CHILDREN)
    res, scope, root = by_name["fixgw.connection"]
    # the Resource: service, process, Kubernetes downward API, OTEL_RESOURCE_ATTRIBUTES
    ra = attrs(res)
    assert ra["service.name"] == "fixgw-selftest"
    assert ra["k8s.pod.name"] == "fixgw-abc12"
    assert ra["k8s.namespace.name"] == "fix-gateway"
    assert ra["k8s.node.name"] == "node-7"
    assert ra["k8s.cluster.name"] == "kind-one"
    assert ra["deployment.environment"] == "test"
    assert ra["service.version"] and ra["host.name"] and len(ra["service.instance.id"]) == 36
    assert scope["name"] == "fixgw"
    # the root span: ids, kind, status, attributes with their types
    assert root["spanId"] == ids["fixgw.connection"]
    assert root.get("parentSpanId", "") == ""
    assert root["kind"] == 2  # SERVER
    assert root["status"]["code"] == 1  # OK
    a = attrs(root)
    assert a["network.peer.address"] == "192.0.2.7"
    assert a["network.peer.port"] == 40212
    assert a["server.port"] == 9876
    assert a["fixgw.decision"] == "ROUTE"
    assert a["fix.sender_comp_id"] == "[REDACTED]"
    assert int(root["endTimeUnixNano"]) > int(root["startTimeUnixNano"]) > 0
    for name in CHILDREN:
        sp = by_name[name][2]
        assert sp["spanId"] == ids[name]
        assert sp["parentSpanId"] == ids["fixgw.connection"]
        assert sp["traceId"] == trace
    assert by_name["fixgw.upstream.connect"][2]["kind"] == 3  # CLIENT
    hold = by_name["fixgw.endpoint.hold"][2]
    assert hold["status"]["code"] == 2 and "held" in hold["status"]["message"]

    logs = wait_for(lambda: len(c.logs(trace)) >= 3 and c.logs(trace), 20, "three log records")
    sev = {lr["eventName"]: lr for _, lr in logs}
    assert (sev["route_decision"]["severityNumber"], sev["route_decision"]["severityText"]) == (9, "INFO")
    assert (sev["hold_start"]["severityNumber"], sev["hold_start"]["severityText"]) == (17, "ERROR")
    # CRITICAL keeps its name; its number is in the FATAL range (21-24)
    assert (sev["hold_timeout"]["severityNumber"], sev["hold_timeout"]["severityText"]) == (21, "CRITICAL")
    for lr in sev.values():
        assert lr["spanId"] == ids["fixgw.connection"]
        assert attrs(lr)["fixgw.route"] == "trading/acme"
    assert sev["hold_timeout"]["body"]["stringValue"].startswith("no ready endpoint")

    m = wait_for(lambda: "fixgw.selftest.eval.duration" in c.metrics() and c.metrics(), 20, "the metrics")
    routed = m["fixgw.selftest.connections.routed"][-1][1]
    assert routed["unit"] == "{connection}"
    assert routed["sum"]["isMonotonic"] is True
    assert routed["sum"]["aggregationTemporality"] == 2  # cumulative
    dp = routed["sum"]["dataPoints"][0]
    assert int(dp["asInt"]) == 3 and attrs(dp)["fixgw.route"] == "trading/acme"
    assert int(dp["startTimeUnixNano"]) <= int(dp["timeUnixNano"])
    active = m["fixgw.selftest.connections.active"][-1][1]
    assert active["sum"].get("isMonotonic", False) is False and int(active["sum"]["dataPoints"][0]["asInt"]) == 2
    expiry = m["fixgw.selftest.certificate.expiry"][-1][1]
    assert expiry["gauge"]["dataPoints"][0]["asDouble"] == 86400.5
    h = m["fixgw.selftest.eval.duration"][-1][1]["histogram"]
    hp = h["dataPoints"][0]
    assert h["aggregationTemporality"] == 2
    assert int(hp["count"]) == 9 and [int(x) for x in hp["bucketCounts"]] == [5, 3, 1, 0]
    assert hp["explicitBounds"] == [0.0001, 0.001, 0.01] and hp["sum"] == pytest.approx(0.0123)
    # the exporter's own counters travel with the metrics
    own = m["fixgw.otlp.records"][-1][1]["sum"]["dataPoints"]
    outcomes = {(attrs(p)["signal"], attrs(p)["outcome"]) for p in own}
    assert ("traces", "sent") in outcomes and ("logs", "dropped") in outcomes


def test_http_protobuf(collector):
    out = selftest(["--endpoint", f"http://127.0.0.1:{collector.http_port}"])
    check_everything(collector, out)
    assert out["stats"]["traces"]["retries"] == 0


def test_grpc_h2c(collector):
    # the Helm chart's form: host:port with protocol grpc; --insecure makes it h2c
    out = selftest(["--endpoint", f"127.0.0.1:{collector.grpc_port}", "--protocol", "grpc", "--insecure"])
    check_everything(collector, out)
    assert out["stats"]["traces"]["retries"] == 0


def test_grpc_from_environment(collector):
    env = dict(ENV, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{collector.grpc_port}",
               OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
    check_everything(collector, selftest([], env=env))


def test_delta_temporality(collector):
    out = selftest(["--endpoint", f"http://127.0.0.1:{collector.http_port}", "--set", "temporality=delta"])
    assert out["ok"]
    m = wait_for(lambda: "fixgw.selftest.connections.active" in collector.metrics() and collector.metrics(), 20,
                 "metrics")
    routed = m["fixgw.selftest.connections.routed"][-1][1]
    assert routed["sum"]["aggregationTemporality"] == 1  # delta
    # up-down counters stay cumulative (a delta of a gauge-like sum means nothing)
    assert m["fixgw.selftest.connections.active"][-1][1]["sum"]["aggregationTemporality"] == 2


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_tls_with_ca_bundle(otelcol_bin, tmp_path, protocol):
    """The collector behind TLS: verified with --ca-file; without it the certificate is refused (and
    nothing is sent)."""
    cert, key = make_cert(tmp_path)
    c = Collector(otelcol_bin, tmp_path, tls=(cert, key)).start()
    try:
        if protocol == "grpc":  # no scheme, not insecure: TLS, HTTP/2 by ALPN
            args = ["--endpoint", f"127.0.0.1:{c.grpc_port}", "--protocol", "grpc"]
        else:
            args = ["--endpoint", f"https://127.0.0.1:{c.http_port}"]
        check_everything(c, selftest(args + ["--ca-file", cert]))
        r = fixgw_otlp(["selftest", "--wait", "3s", "--set", "retryMaxAttempts=1"] + args, env=ENV)
        assert r.returncode == 1
        out = json.loads(r.stdout.strip().splitlines()[-1])
        assert out["stats"]["traces"]["sent"] == 0 and out["stats"]["traces"]["failed"] == 6
    finally:
        c.stop()


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_unconfigured_signal_is_not_retried(otelcol_bin, tmp_path, protocol):
    """A collector without a metrics or logs pipeline refuses those (HTTP 404 / gRPC UNIMPLEMENTED, the
    latter read from the response trailers): failed at once, never retried; traces still go through."""
    c = Collector(otelcol_bin, tmp_path, pipelines=("traces",)).start()
    try:
        if protocol == "grpc":
            args = ["--endpoint", f"127.0.0.1:{c.grpc_port}", "--protocol", "grpc", "--insecure"]
        else:
            args = ["--endpoint", f"http://127.0.0.1:{c.http_port}"]
        r = fixgw_otlp(["selftest", "--wait", "20s"] + args, env=ENV)
        assert r.returncode == 1, r.stderr
        out = json.loads(r.stdout.strip().splitlines()[-1])
        st = out["stats"]
        assert st["traces"]["sent"] == 6 and st["traces"]["failed"] == 0
        assert st["logs"]["failed"] == 3 and st["metrics"]["failed"] > 0
        if protocol == "http":
            assert st["logs"]["requests"] == 1 and st["logs"]["retries"] == 0 and st["metrics"]["retries"] == 0
        else:
            # The collector answers an unknown gRPC service before the request body is read and then resets
            # the stream; libcurl 7.88 sometimes reports only the reset (CURLE_HTTP2_STREAM, a transport
            # error, retryable) and the answer is read on a later attempt (twice in a row seen on a loaded
            # machine). What must hold: UNIMPLEMENTED ends the retries, so they stop before the attempts run
            # out (retryMaxAttempts 5 = 4 retries).
            for sig in ("logs", "metrics"):
                assert st[sig]["retries"] < 4, st
        assert "otlp_export_failed" in r.stderr
        if protocol == "grpc":
            assert '"grpc_status":12' in r.stderr  # UNIMPLEMENTED
        else:
            assert '"http_status":404' in r.stderr
        wait_for(lambda: len(c.spans(out["trace_id"])) == 6, 20, "the spans")
    finally:
        c.stop()
