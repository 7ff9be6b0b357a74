"""The alert rules (deploy/prometheus/fixgw-alerts.yaml, the chart's PrometheusRule) tested with promtool
against series the real gateway produced.

One gateway runs through the situations the rules are about: routing, a client that keeps sending Logons no
FIXSession matches, a target nobody listens on, a burst of connections to the reject engine, connections held
up to the hold cap and one beyond it, an orphaned session, a FIXSession conflict, a client that keeps failing
its TLS handshake, a listener certificate renewed with one that expires in 10 days, then in 2. Its /metrics page is scraped
after each step (waiting until the step shows). The scrapes become promtool input series, one sample a minute:
each scrape stands for the minutes the test says the gateway stayed in that state (a scrape repeated, never a
value made up). Then `promtool test rules` checks, at points of that history, which alerts fire and that every
other alert does not. The same history run against rules with one metric name changed must fail, so a rule
whose metric the gateway does not export cannot pass."""

import pathlib
import re
import shutil
import subprocess
import sys
import urllib.request

import pytest
import yaml

from conftest import ROOT, wait_for

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "e2e"))
from fixmsg import logon  # noqa: E402
from gwharness import (Engine, Gateway, RejectEngineProc, fixsession, free_port, recv_exactly,  # noqa: E402
                       recv_until_closed)

RULES = ROOT / "deploy" / "prometheus" / "fixgw-alerts.yaml"
INSTANCE = {"instance": "gw-0", "job": "fixgw"}  # what a scrape would add to every series
HOLD_CAP = 4


def promtool():
    p = shutil.which("promtool")
    if not p:
        pytest.fail("promtool is missing: ./scripts/setup.sh --test installs Debian's prometheus package")
    return p


def write_cert(crt, key, days):
    """A self-signed certificate for 127.0.0.1 valid for `days` days (openssl CLI), written over crt and key."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", str(days), "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(crt)], check=True, capture_output=True)


def parse_prom(text):
    """{(name, ((label, value), ...)): float} of a Prometheus text page."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$", line)
        assert m, f"not a sample line: {line!r}"
        labels = tuple(sorted(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or "")))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(sample, name, **labels):
    """The value of the series name{labels} (exactly those labels), or None."""
    return sample.get((name, tuple(sorted(labels.items()))))


class History:
    """The gateway's scrapes, each standing for some minutes, and the alerts expected at points of it."""

    def __init__(self, gw):
        self.gw = gw
        self.samples = []  # [(scrape, minutes)]
        self.minutes = 0
        self.checks = []  # [(minute, {alertname: [labels]}, why)]

    def scrape(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.gw.admin_port}/metrics", timeout=5) as r:
            return parse_prom(r.read().decode())

    def hold(self, minutes, until=None, what="the step to show on /metrics"):
        """Scrape (once `until(scrape)` holds) and let that state last `minutes`; returns the first minute."""
        s = wait_for(lambda: (lambda s: s if until is None or until(s) else None)(self.scrape()), 20, what)
        start = self.minutes
        self.samples.append((s, minutes))
        self.minutes += minutes
        return start

    def expect(self, minute, why, **firing):
        """At `minute`, exactly these alerts fire (alertname=[extra labels of each]); every other none."""
        self.checks.append((minute, firing, why))

    def input_series(self):
        keys = sorted({k for s, _ in self.samples for k in s})
        series = []
        for name, labels in keys:
            tokens, seen = [], False
            for s, minutes in self.samples:
                v = s.get((name, labels))
                if v is None:
                    # a series that went away is marked stale once, then has no samples
                    tokens += (["stale"] if seen else ["_"]) + ["_"] * (minutes - 1)
                    seen = False
                else:
                    tokens.append(f"{v:g}+0x{minutes - 1}" if minutes > 1 else f"{v:g}")
                    seen = True
            lab = ",".join(f'{k}="{v}"' for k, v in sorted(labels + tuple(INSTANCE.items())))
            series.append({"series": f"{name}{{{lab}}}", "values": " ".join(tokens)})
        return series

    def promtool_test(self, rules_path, rules):
        """The promtool unit test document for this history and the rules file at rules_path."""
        severities = {}  # alert -> its rules' severities (one alert may have a rule per severity)
        for g in rules["groups"]:
            for r in g["rules"]:
                if "alert" in r:
                    severities.setdefault(r["alert"], []).append(r["labels"]["severity"])
        tests = []
        for minute, firing, why in self.checks:
            unknown = set(firing) - set(severities)
            assert not unknown, f"{why}: no such alert {unknown}"
            for alert, sev in severities.items():
                exp = []
                for labels in firing.get(alert, []):
                    assert "severity" in labels or len(sev) == 1, f"{why}: say which {alert} fires"
                    exp.append({"exp_labels": dict(INSTANCE, **dict({"severity": sev[0]}, **labels))})
                tests.append({"eval_time": f"{minute}m", "alertname": alert, "exp_alerts": exp})
        return {"rule_files": [str(rules_path)], "evaluation_interval": "1m",
                "tests": [{"interval": "1m", "input_series": self.input_series(), "alert_rule_test": tests}]}


def connect_logon(gw, sender):
    s = gw.connect()
    s.sendall(logon(sender=sender))
    return s


def rejected(gw, sender):
    """One Logon no FIXSession claims: the reject engine answers with a Logout."""
    with connect_logon(gw, sender) as s:
        data, _ = recv_until_closed(s, timeout=15)
        assert b"35=5\x01" in data


# How unmatched Logons reach the reject engine: the gateway's own rejectEngine (no_match rejections forwarded),
# or the chart's way, a catch-all FIXSession named <release>-fix-gateway-reject-engine (ADR-015).
MODES = ("reject-engine", "catch-all")


def drive(tmp, mode):
    """Drive the real gateway through every alert's situation; yields the History of its scrapes."""
    a, h = Engine(), Engine()
    rej = RejectEngineProc()
    dead = free_port()  # nothing listens: connecting is refused
    catch_all = [fixsession("fixgw-fix-gateway-reject-engine", None, service="reject-engine", port=9881,
                            priority=-1000000)] if mode == "catch-all" else []
    routes = catch_all + [fixsession("a", {"SenderCompID49": "A"}, service="svc-a"),
                          fixsession("h", {"SenderCompID49": "H"}, service="svc-h", hold_timeout="300s",
                                     max_held=HOLD_CAP + 2),
                          fixsession("u", {"SenderCompID49": "U"}, service="svc-u"),
                          fixsession("o", {"SenderCompID49": "O"}, service="svc-a")]  # o last: deleted below
    eps = {"trading/svc-a:9880": [a.port], "trading/svc-h:9880": [(h.port, False)],
           "trading/svc-u:9880": [dead], "trading/reject-engine:9881": [rej.port]}
    crt, key = tmp / "listener.crt", tmp / "listener.key"
    write_cert(crt, key, 365)
    listeners = [{"name": "fix-plain", "port": free_port()},
                 {"name": "fix-tls", "port": free_port(),
                  "tls": {"enabled": True, "certFile": str(crt), "keyFile": str(key)}}]
    gw = Gateway(tmp, routes, eps, listeners=listeners, reject=rej.port if mode == "reject-engine" else None,
                 extra=f"maxHeldConnectionsPerPod: {HOLD_CAP}")
    # unmatched Logons so far: rejected and forwarded, or routed by the catch-all
    unmatched = ((lambda s: value(s, "fixgw_reject_engine_connections_total")) if mode == "reject-engine" else
                 (lambda s: value(s, "fixgw_connections_routed_total",
                                  fixgw_route="trading/fixgw-fix-gateway-reject-engine")))
    held, orphan = [], None
    try:
        gw.start()
        hist = History(gw)
        rejections = lambda s, reason: value(s, "fixgw_rejections_total", reason=reason) or 0  # noqa: E731

        # quiet: an hour and more of nothing (the reject engine spike rule compares with the hour before)
        t = hist.hold(70, lambda s: value(s, "fixgw_connections_held_limit") == HOLD_CAP)
        hist.expect(t + 69, "a quiet gateway")
        with connect_logon(gw, "A") as s:
            assert recv_exactly(s, len(logon(sender="A"))) == logon(sender="A")
        hist.hold(1, lambda s: value(s, "fixgw_connections_routed_total", fixgw_route="trading/a") == 1)

        # a client that keeps trying with a SenderCompID no FIXSession has, once a minute for 16 minutes
        for i in range(16):
            rejected(gw, "NOBODY")
            t = hist.hold(1, lambda s: unmatched(s) == i + 1)
        hist.expect(t, "sustained no_match rejections", FixgwSustainedRejections=[{"reason": "no_match"}])
        t = hist.hold(20)
        hist.expect(t + 19, "the client gave up")

        # a target nobody listens on
        with connect_logon(gw, "U") as s:
            recv_until_closed(s, timeout=15)
        t = hist.hold(11, lambda s: rejections(s, "target_unreachable") == 1)
        hist.expect(t + 1, "target unreachable", FixgwTargetUnreachable=[{"reason": "target_unreachable"}])
        hist.expect(t + 10, "target unreachable is 10 minutes old")

        # a burst: 20 unmatched Logons a minute for 5 minutes go to the reject engine
        for i in range(5):
            for _ in range(20):
                rejected(gw, "SCANNER")
            base = 16 + 20 * (i + 1)
            t = hist.hold(1, lambda s: unmatched(s) == base)
        hist.expect(t, "reject engine spike", FixgwRejectEngineSpike=[{}])
        t = hist.hold(15)
        hist.expect(t + 14, "the burst is over")

        # connections held for a target without a ready endpoint, up to the hold cap
        for i in range(HOLD_CAP):
            held.append(connect_logon(gw, "H"))
        t = hist.hold(5, lambda s: value(s, "fixgw_connections_held_process") == HOLD_CAP)
        hist.expect(t + 3, "held connections at the cap", FixgwHighHeldConnections=[{}])
        # one more: closed at once
        with connect_logon(gw, "H") as s:
            recv_until_closed(s, timeout=15)
        t = hist.hold(3, lambda s: rejections(s, "hold_cap_reached") == 1)
        hist.expect(t, "hold cap reached", FixgwHighHeldConnections=[{}],
                    FixgwHoldCapReached=[{"reason": "hold_cap_reached"}])
        # the endpoint becomes ready: every held connection is released to it
        gw.write_config(dict(eps, **{"trading/svc-h:9880": [h.port]}))
        gw.reload()
        t = hist.hold(10, lambda s: value(s, "fixgw_connections_held_process") == 0)
        hist.expect(t + 7, "the held connections were released")
        for s in held:
            assert recv_exactly(s, len(logon(sender="H"))) == logon(sender="H")

        # an orphaned session: its FIXSession is deleted while it relays
        orphan = connect_logon(gw, "O")
        assert recv_exactly(orphan, len(logon(sender="O"))) == logon(sender="O")
        gw.write_routes(routes[:-1])
        gw.reload()
        t = hist.hold(7, lambda s: value(s, "fixgw_connections_orphaned", fixgw_route="trading/o") == 1)
        hist.expect(t + 6, "orphaned session", FixgwOrphanedSessions=[{"fixgw_route": "trading/o"}])
        orphan.close()
        orphan = None
        t = hist.hold(7, lambda s: not value(s, "fixgw_connections_orphaned", fixgw_route="trading/o"))
        hist.expect(t + 1, "the orphaned session closed")

        # a FIXSession that conflicts with another (both claim SenderCompID A): the reload is refused
        gw.write_routes(routes[:-1] + [fixsession("c", {"SenderCompID49": "A"}, service="svc-a")])
        gw.reload()
        t = hist.hold(3, lambda s: (value(s, "fixgw_routing_conflicts") or 0) > 0)
        hist.expect(t + 2, "conflict", FixgwRoutingConflict=[{}])
        gw.write_routes(routes[:-1])
        gw.reload()
        t = hist.hold(5, lambda s: value(s, "fixgw_routing_conflicts") == 0)
        hist.expect(t + 1, "conflict resolved")

        # a plaintext client on the TLS listener, once a minute for 16 minutes
        tls_failed = lambda s, n: value(s, "fixgw_tls_handshake_failures_total",  # noqa: E731
                                        reason="protocol_version") == n
        for i in range(16):
            with gw.connect("fix-tls") as s:
                s.sendall(logon(sender="A"))
                recv_until_closed(s, timeout=15)
            t = hist.hold(1, lambda s: tls_failed(s, i + 1))
        hist.expect(t, "sustained TLS handshake failures", FixgwTLSHandshakeFailures=[{"reason": "protocol_version"}])
        t = hist.hold(20)
        hist.expect(t + 19, "the plaintext client gave up")

        # the listener's certificate is renewed with one that expires in 10 days, then in 2
        expiry = lambda s: value(s, "fixgw_tls_certificate_expiry", fixgw_listener="fix-tls") or 0  # noqa: E731
        assert expiry(hist.scrape()) > 300 * 86400
        write_cert(crt, key, 10)
        gw.reload()
        t = hist.hold(5, lambda s: 9 * 86400 < expiry(s) < 11 * 86400, "the 10-day certificate in use")
        soon = {"fixgw_listener": "fix-tls", "severity": "warning"}
        hist.expect(t + 1, "certificate expires in 10 days", FixgwTLSCertificateExpiry=[soon])
        write_cert(crt, key, 2)
        gw.reload()
        t = hist.hold(5, lambda s: 0 < expiry(s) < 3 * 86400, "the 2-day certificate in use")
        hist.expect(t + 1, "certificate expires in 2 days",
                    FixgwTLSCertificateExpiry=[soon, dict(soon, severity="critical")])
        yield hist
    finally:
        for s in held + ([orphan] if orphan else []):
            s.close()
        gw.stop()
        rej.stop()
        a.stop()
        h.stop()


@pytest.fixture(scope="module")
def histories(tmp_path_factory):
    """{mode: History}: the gateway driven once with each way of reaching the reject engine."""
    out, runs = {}, []
    try:
        for mode in MODES:
            run = drive(tmp_path_factory.mktemp(f"alerts-{mode}"), mode)
            runs.append(run)
            out[mode] = next(run)
        yield out
    finally:
        for run in runs:
            run.close()


def run_promtool(hist, rules_path, workdir):
    """promtool test rules over the history. The rules are tested without their annotations (promtool would
    compare the rendered text too): when an alert fires depends on expr, for and labels only."""
    rules = yaml.safe_load(pathlib.Path(rules_path).read_text())
    for g in rules["groups"]:
        for r in g["rules"]:
            r.pop("annotations", None)
    bare = pathlib.Path(workdir) / "rules-under-test.yaml"
    bare.write_text(yaml.safe_dump(rules, sort_keys=False))
    test = pathlib.Path(workdir) / "alerts-test.yaml"
    test.write_text(yaml.safe_dump(hist.promtool_test(bare, rules), sort_keys=False))
    return subprocess.run([promtool(), "test", "rules", str(test)], capture_output=True, text=True, timeout=300)


def rule_metrics(text):
    """The fixgw metric names the rules' expressions use."""
    exprs = [r["expr"] for g in yaml.safe_load(text)["groups"] for r in g["rules"]]
    # label names are not metrics: drop label matchers and by/without lists first
    exprs = [re.sub(r"\{[^}]*\}|\b(?:by|without)\s*\([^)]*\)", "", e) for e in exprs]
    return sorted({m for e in exprs for m in re.findall(r"\bfixgw_[a-z0-9_]+", e)})


def test_rules_are_valid():
    """promtool's own check (syntax, templates); every alert says what happened and where its runbook is
    (docs/operations.md, one section per alert, anchored #alert-<name in lower case>)."""
    r = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    for g in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in (r for r in g["rules"] if "alert" in r):
            a = rule["annotations"]
            assert a["summary"] and a["description"], rule["alert"]
            assert a["runbook_url"] == f"docs/operations.md#alert-{rule['alert'].lower()}"
            assert rule["labels"]["severity"] in ("warning", "critical")


@pytest.mark.parametrize("mode", MODES)
def test_every_rule_fires_on_the_real_gateways_series(histories, tmp_path, mode):
    history = histories[mode]
    exported = {name for s, _ in history.samples for name, _ in s}
    missing = [m for m in rule_metrics(RULES.read_text()) if m not in exported]
    assert not missing, f"the rules use metrics the gateway does not export: {missing}"
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r}
    tested = {a for _, firing, _ in history.checks for a in firing}
    assert tested == alerts, f"alerts never seen firing: {alerts - tested}"
    r = run_promtool(history, RULES, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("metric", rule_metrics(RULES.read_text()))
def test_a_wrong_metric_name_fails(histories, tmp_path, metric):
    """Each metric name, misspelt in the rules: promtool's test over the same histories must fail (for one
    way of reaching the reject engine at least: each reads the series of its own)."""
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(re.sub(rf"\b{metric}\b", metric + "_typo", RULES.read_text()))
    results = [run_promtool(histories[m], wrong, tmp_path) for m in MODES]
    assert any(r.returncode != 0 for r in results), f"promtool passed with {metric} misspelt"
