"""`fixgw operator` exporting OpenTelemetry to the real collector (tests/otel's Collector fixture, the
pinned otelcol): its metrics (leadership, reconcile rounds and their duration, status writes, Events,
FIXSessions in conflict) and its log lines as log records, a conflict as CRITICAL (severity number 21),
configured by --otlp flags and the OTEL_* environment."""
import importlib.util
import os
import pathlib

import pytest

import k8sharness
import test_operator as top  # its helpers (a module object is not collected again)
from test_operator import _unique_senders, operator  # noqa: F401  (its fixtures: per-test SenderCompIDs, replicas)
from k8sharness import wait_until

_OTEL = pathlib.Path(__file__).resolve().parents[1] / "otel" / "conftest.py"
_spec = importlib.util.spec_from_file_location("_otel_conftest", _OTEL)
otel = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(otel)


@pytest.fixture
def collector(tmp_path):
    d = tmp_path / "collector"
    d.mkdir()
    c = otel.Collector(str(k8sharness.tool("otelcol")), d).start()
    yield c
    c.stop()


def latest(c, name):
    """The last exported point of a metric (the operator's only: the collector is this test's)."""
    m = c.metrics().get(name)
    if not m:
        return None
    res, metric = m[-1]
    data = metric.get("sum") or metric.get("gauge") or metric.get("histogram")
    return res, data["dataPoints"]


def value(c, name, **match):
    got = latest(c, name)
    for p in (got[1] if got else []):
        if all(otel.attrs(p).get(k) == v for k, v in match.items()):
            return int(p.get("asInt", p.get("count", 0)))
    return None


def test_operator_metrics_and_log_records(k8s, k8s_ns, operator, collector, monkeypatch):
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=k8s-test")
    k8s.service(k8s_ns, "engine")
    k8s.create(top.fs_path(k8s_ns), top.fixsession("first", "BROKER_O"))
    op = operator("a", *top.FAST, "--otlp-endpoint", f"http://127.0.0.1:{collector.http_port}",
                  "--otlp", "metrics.interval=300ms", "--otlp", "logs.interval=100ms")
    op.wait_log("leader_started")
    top.wait_condition(k8s, k8s_ns, "first", "Accepted", "True")
    k8s.create(top.fs_path(k8s_ns), top.fixsession("second", "BROKER_O"))
    top.wait_condition(k8s, k8s_ns, "second", "Conflict", "True", "RouteConflict")
    crit = wait_until(
        lambda: [r for r in op.log.select("route_conflict") if f"{k8s_ns}/second" in r.get("msg", "")], 30,
        what="the route_conflict line about this test's FIXSessions")[0]

    # metrics: this replica leads, the two FIXSessions in conflict (other tests' objects may add more)
    wait_until(lambda: value(collector, "fixgw.operator.leader") == 1, 30, what="the leader gauge")
    wait_until(lambda: (value(collector, "fixgw.operator.conflicts") or 0) >= 2, 30, what="the conflicts gauge")
    wait_until(lambda: (value(collector, "fixgw.operator.events") or 0) >= 1, 30, what="the RouteConflict Event")
    assert value(collector, "fixgw.operator.fixsessions") >= 2
    assert value(collector, "fixgw.operator.reconciles", result="ok") >= 2
    assert value(collector, "fixgw.operator.status.writes", result="ok") >= 2
    assert value(collector, "fixgw.operator.reconcile.duration") >= 2  # the histogram's count
    res, _ = latest(collector, "fixgw.operator.leader")
    ra = otel.attrs(res)
    assert ra["service.name"] == "fixgw-operator" and ra["deployment.environment"] == "k8s-test"

    # log records: the conflict as CRITICAL (FATAL range), leadership as INFO, the line's message as body
    def records(event):
        return [lr for _, lr in collector.logs() if lr.get("eventName") == event]
    lr = wait_until(lambda: [r for r in records("route_conflict") if r["body"]["stringValue"] == crit["msg"]], 30,
                    what="the route_conflict record")[0]
    assert (lr["severityText"], lr["severityNumber"]) == ("CRITICAL", 21)
    assert otel.attrs(lr)["component"] == "operator"
    started = wait_until(lambda: records("leader_started"), 30, what="the leader_started record")[0]
    assert (started["severityText"], started["severityNumber"]) == ("INFO", 9)

    # a clean stop gives up the Lease and says so in the last export
    op.stop()
    assert op.proc.returncode == 0
    assert os.path.getsize(collector.out) > 0
