"""The gateway's log lines as OTLP log records in the real collector: routing decisions (route, no match,
parse failure), hold start / release / timeout, TLS failures, with the spec's severities (CRITICAL keeps
its name, severity number 21) and the trace and span ids of the connection's spans; and the TLS metrics:
handshake failures by reason from openssl s_client (wrong protocol version, untrusted client certificate)
and the certificate expiry gauge."""

import datetime
import pathlib
import socket
import ssl
import subprocess
import sys
import time

from conftest import Collector, attrs, free_port, wait_for

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "e2e"))
from fixmsg import logon  # noqa: E402
from gwharness import Engine, Gateway, fixsession, recv_exactly, recv_until_closed  # noqa: E402

import test_gateway_otel as g  # noqa: E402  (its helpers; a module object is not collected again)

SEVERITY = {"DEBUG": 5, "INFO": 9, "WARN": 13, "ERROR": 17, "CRITICAL": 21}


def records(c, event, **match):
    """The collector's log records with this event name whose attributes include match."""
    out = []
    for _, lr in c.logs():
        a = attrs(lr)
        if lr.get("eventName") == event and all(a.get(k) == v for k, v in match.items()):
            out.append(lr)
    return out


def one_record(c, event, trace_id, what):
    return wait_for(lambda: [lr for lr in records(c, event) if lr.get("traceId") == trace_id], 30, what)[0]


def check(lr, level, line):
    """The record has the level and the ids of its JSON line."""
    assert (lr["severityText"], lr["severityNumber"]) == (level, SEVERITY[level]), lr
    assert lr["traceId"] == line["trace_id"] and lr["spanId"] == line["span_id"]
    assert lr["body"]["stringValue"] == line["msg"]


def root_span(c, trace_id, what):
    return wait_for(lambda: (lambda t: t[0])(g.tree(c, trace_id)), 30, what)


def test_log_records_for_decisions_and_holds(otelcol_bin, tmp_path):
    (tmp_path / "col").mkdir()
    c = Collector(otelcol_bin, tmp_path / "col").start()
    a, h = Engine(), Engine()
    routes = [
        fixsession("a", {"SenderCompID49": "A",
                         "TargetSubID57": {"value": g.CANARY_REDACT, "redact": True},
                         "SenderSubID50": {"value": g.CANARY_HIDDEN, "log": False}}, service="svc-a"),
        fixsession("h", {"SenderCompID49": "H"}, service="svc-h"),
        fixsession("t", {"SenderCompID49": "T"}, service="svc-t", hold_timeout="1s"),
    ]
    eps = {"trading/svc-a:9880": [a.port], "trading/svc-h:9880": [(h.port, False)],
           "trading/svc-t:9880": [(h.port, False)]}
    gw = Gateway(tmp_path, routes, eps, extra=g.telemetry(f"http://127.0.0.1:{c.http_port}", logs=True))
    try:
        gw.start()
        g.route_once(gw)
        routed = gw.wait_log("routing_decision", decision="ROUTE")[0]
        with gw.connect() as s:
            s.sendall(logon(sender="NOBODY"))
            recv_until_closed(s)
        nomatch = gw.wait_log("routing_decision", decision="NO_MATCH")[0]
        with gw.connect() as s:  # a Logon cut short by the client closing its side: refused at once
            s.sendall(b"8=FIX.4.4\x019=abc\x0135=A\x01554=" + g.CANARY_PW.encode() + b"\x01")
            s.shutdown(socket.SHUT_WR)  # without it the gateway waits its 10 s logon timeout, racing recv's own
            recv_until_closed(s)
        parse = gw.wait_log("routing_decision", decision="PARSE_FAILURE")[0]
        with gw.connect() as s:  # held until the hold timeout closes it
            s.sendall(logon(sender="T"))
            assert recv_until_closed(s, timeout=30)[0] == b""
        timeout = gw.wait_log("hold_timeout")[0]
        hmsg = logon(sender="H")
        hs = gw.connect()
        hs.sendall(hmsg)
        held = gw.wait_log("hold_start", route="trading/h")[0]
        gw.write_config(dict(eps, **{"trading/svc-h:9880": [h.port]}))
        gw.reload()
        released = gw.wait_log("hold_released")[0]
        assert recv_exactly(hs, len(hmsg)) == hmsg
        hs.close()

        # the routed connection: INFO, the ids of the root span, the routing fields as the line has them
        lr = one_record(c, "routing_decision", routed["trace_id"], "the ROUTE record")
        check(lr, "INFO", routed)
        la = attrs(lr)
        assert la["decision"] == "ROUTE" and la["route"] == "trading/a" and la["component"] == "gateway"
        assert la["listener"] == "fix-plain" and la["conn_id"] == routed["conn_id"]
        assert "[REDACTED]" in la["fields"] and g.CANARY_HIDDEN not in la["fields"]
        root = root_span(c, routed["trace_id"], "the routed connection's span")
        assert root["spanId"] == lr["spanId"]
        closed = one_record(c, "connection_closed", routed["trace_id"], "the close record")
        assert closed["severityText"] == "INFO" and attrs(closed)["bytes_from_client"] > 0

        for line, level in ((nomatch, "WARN"), (parse, "WARN")):
            lr = one_record(c, "routing_decision", line["trace_id"], line["decision"])
            check(lr, level, line)
            assert attrs(lr)["decision"] == line["decision"]
            assert root_span(c, line["trace_id"], line["decision"])["spanId"] == lr["spanId"]

        check(one_record(c, "hold_start", held["trace_id"], "hold start"), "ERROR", held)
        check(one_record(c, "hold_released", released["trace_id"], "hold released"), "INFO", released)
        lr = one_record(c, "hold_timeout", timeout["trace_id"], "hold timeout")
        check(lr, "CRITICAL", timeout)
        assert attrs(lr)["route"] == "trading/t"
        assert root_span(c, timeout["trace_id"], "the timed-out connection's span")["spanId"] == lr["spanId"]
    finally:
        gw.stop()
        a.stop()
        h.stop()
        c.stop()
    out = c.out.read_text()
    for canary in g.CANARIES:
        assert canary not in out


def make_ca(d, name):
    """A CA certificate and key: (crt, key)."""
    crt, key = d / f"{name}.crt", d / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "30", "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(crt)],
                   check=True, capture_output=True)
    return crt, key


def make_leaf(d, name, ca, days, san=None):
    """A certificate signed by ca valid for days: (crt, key)."""
    crt, key, csr = d / f"{name}.crt", d / f"{name}.key", d / f"{name}.csr"
    subprocess.run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(csr)], check=True, capture_output=True)
    ext = d / f"{name}.ext"
    ext.write_text(f"subjectAltName={san}\n" if san else "basicConstraints=CA:FALSE\n")
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
                    "-CAcreateserial", "-days", str(days), "-extfile", str(ext), "-out", str(crt)],
                   check=True, capture_output=True)
    return crt, key


def not_after(crt):
    out = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-in", str(crt)], check=True,
                         capture_output=True, text=True).stdout.strip()
    when = datetime.datetime.strptime(out.split("=", 1)[1], "%b %d %H:%M:%S %Y %Z")
    return when.replace(tzinfo=datetime.timezone.utc).timestamp()


def s_client(port, *args):
    """openssl s_client against the listener; returns when the handshake is over either way."""
    return subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
                           *args], input=b"", capture_output=True, timeout=30)


def test_tls_failure_reasons_records_and_certificate_expiry(otelcol_bin, tmp_path):
    (tmp_path / "col").mkdir()
    c = Collector(otelcol_bin, tmp_path / "col").start()
    ca = make_ca(tmp_path, "ca")
    rogue_ca = make_ca(tmp_path, "rogue-ca")
    srv = make_leaf(tmp_path, "server", ca, 20, san="DNS:localhost,IP:127.0.0.1")
    srv13 = make_leaf(tmp_path, "server13", ca, 10, san="DNS:localhost,IP:127.0.0.1")
    client = make_leaf(tmp_path, "client", ca, 5)
    rogue = make_leaf(tmp_path, "rogue", rogue_ca, 5)
    listeners = [
        {"name": "fix-mtls", "port": free_port(),
         "tls": {"enabled": True, "certFile": str(srv[0]), "keyFile": str(srv[1]),
                 "clientCAFile": str(ca[0]), "requireClientCert": True}},
        {"name": "fix-tls13", "port": free_port(),
         "tls": {"enabled": True, "certFile": str(srv13[0]), "keyFile": str(srv13[1]), "minVersion": "1.3"}},
    ]
    a = Engine()
    routes = [fixsession("a", {"SenderCompID49": "A"}, service="svc-a")]
    gw = Gateway(tmp_path, routes, {"trading/svc-a:9880": [a.port]}, listeners=listeners,
                 extra=g.telemetry(f"http://127.0.0.1:{c.http_port}", logs=True))
    try:
        gw.start()
        # a TLS 1.2 client on a TLS 1.3 listener, an untrusted client certificate, then a good one
        s_client(gw.port("fix-tls13"), "-tls1_2")
        proto = gw.wait_log("tls_failure", listener="fix-tls13")[0]
        s_client(gw.port("fix-mtls"), "-CAfile", str(ca[0]), "-cert", str(rogue[0]), "-key", str(rogue[1]))
        untrusted = gw.wait_log("tls_failure", listener="fix-mtls")[0]
        ctx = ssl.create_default_context(cafile=str(ca[0]))
        ctx.load_cert_chain(str(client[0]), str(client[1]))
        msg = logon(sender="A")
        with ctx.wrap_socket(gw.connect("fix-mtls"), server_hostname="localhost") as s:
            s.sendall(msg)
            assert recv_exactly(s, len(msg)) == msg
        assert proto["failure"] == "protocol_version" and untrusted["failure"] == "unknown_ca"

        text = wait_for(lambda: (lambda t: t if g.prom_value(t, "fixgw_tls_handshake_failures_total",
                                                             reason="unknown_ca") == 1 else None)(
            g.admin_metrics(gw)), 10, "the failures on /metrics")
        assert g.prom_value(text, "fixgw_tls_handshake_failures_total", reason="protocol_version") == 1
        assert g.prom_value(text, "fixgw_tls_handshake_failures_total", reason="no_shared_cipher") == 0
        now = time.time()
        for name, crt in (("fix-mtls", srv[0]), ("fix-tls13", srv13[0])):
            v = g.prom_value(text, "fixgw_tls_certificate_expiry", fixgw_listener=name)
            assert v is not None and abs((now + v) - not_after(crt)) < 1.5, (name, v)

        # over OTLP: the same failure counts, and the expiry within a second of notAfter at its timestamp
        def latest(name):
            m = c.metrics().get(name)
            return m[-1][1] if m else None
        fails = wait_for(lambda: (lambda m: m if m and {attrs(p)["reason"]: int(p["asInt"]) for p in
                                                        m["sum"]["dataPoints"]}.get("unknown_ca") == 1 else None)(
            latest("fixgw.tls.handshake.failures")), 30, "failures over OTLP")
        by = {attrs(p)["reason"]: int(p["asInt"]) for p in fails["sum"]["dataPoints"]}
        assert by["protocol_version"] == 1 and by["timeout"] == 0
        exp = wait_for(lambda: latest("fixgw.tls.certificate.expiry"), 30, "the expiry gauge")
        assert exp["unit"] == "s"
        for p in exp["gauge"]["dataPoints"]:
            crt = srv[0] if attrs(p)["fixgw.listener"] == "fix-mtls" else srv13[0]
            at = int(p["timeUnixNano"]) / 1e9
            assert abs(at + float(p["asDouble"]) - not_after(crt)) < 1.0, p

        # the failures as WARN records with the connection's ids and the failure class
        for line, cls in ((proto, "protocol_version"), (untrusted, "unknown_ca")):
            lr = one_record(c, "tls_failure", line["trace_id"], cls)
            check(lr, "WARN", line)
            assert attrs(lr)["failure"] == cls
            assert root_span(c, line["trace_id"], "the failed handshake's span")["spanId"] == lr["spanId"]
    finally:
        gw.stop()
        a.stop()
        c.stop()
