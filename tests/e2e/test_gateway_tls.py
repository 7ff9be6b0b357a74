"""The gateway's TLS listener end to end: a real QuickFIX initiator over TLS to a plaintext QuickFIX acceptor,
and the `openssl` command line (s_client, with controls against s_server where a refusal needs proving) for
versions, renegotiation, SNI, certificate hot reload and handshakes that never finish.

Certificates are made at run time with the `openssl` CLI: one test CA, server certificates signed by it.
"""
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import missing_peer
from fixmsg import logon
from gwharness import (Acceptor, Engine, Gateway, RejectEngineProc, fixsession, free_port, peer_binary,
                       recv_exactly, recv_until_closed, run_initiator, wait_until)

OPENSSL = shutil.which("openssl")


@pytest.fixture(autouse=True, scope="module")
def _openssl():
    """First of the module's fixtures (autouse, module scope): the certificates below need openssl."""
    if OPENSSL is None:
        missing_peer("the openssl command line is needed")


SNI_NAME = "fix.example.test"
N_TLS = 5


# ---------------------------------------------------------------- certificates


class PKI:
    """A throwaway CA in a directory, and server certificates (EC P-256) signed by it."""

    def __init__(self, d):
        self.dir = d
        self.ca = d / "ca.crt"
        self.ca_key = d / "ca.key"
        self._ssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                  "-subj", "/CN=fixgw e2e test CA", "-keyout", self.ca_key, "-out", self.ca,
                  "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def _ssl(self, *args):
        p = subprocess.run([OPENSSL, *map(str, args)], capture_output=True, timeout=30)
        assert p.returncode == 0, p.stderr.decode()

    def cert(self, name, cn, dns=("localhost",)):
        """name.crt / name.key for subject CN=cn, SANs: the DNS names and 127.0.0.1."""
        key, csr, crt, ext = (self.dir / f"{name}.{x}" for x in ("key", "csr", "crt", "ext"))
        ext.write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                       "extendedKeyUsage=serverAuth\n"
                       f"subjectAltName={','.join('DNS:' + n for n in dns)},IP:127.0.0.1\n")
        self._ssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                  "-subj", f"/CN={cn}/O=fixgw e2e", "-keyout", key, "-out", csr)
        self._ssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key, "-CAcreateserial",
                  "-days", "2", "-out", crt, "-extfile", ext)
        return crt, key


    def client_cert(self, name, cn):
        """A client certificate (clientAuth) with an RSA key: QuickFIX 1.15.1's initiator cannot load an EC
        client key ("Unable to configure client certificate")."""
        key, csr, crt, ext = (self.dir / f"{name}.{x}" for x in ("key", "csr", "crt", "ext"))
        ext.write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                       "extendedKeyUsage=clientAuth\n")
        self._ssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}/O=fixgw e2e",
                  "-keyout", key, "-out", csr)
        self._ssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key, "-CAcreateserial",
                  "-days", "2", "-out", crt, "-extfile", ext)
        return crt, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    p = PKI(tmp_path_factory.mktemp("pki"))
    p.default = p.cert("default", "fixgw-default.test")
    p.sni = p.cert("sni", SNI_NAME, dns=(SNI_NAME,))
    p.renewed = p.cert("renewed", "fixgw-renewed.test")
    return p


# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture
def procs():
    """Everything a test starts is stopped at its end: peers first (the raw echo engine never closes its side
    of a half-closed session, so the gateway would otherwise drain it for its whole grace period), then
    gateways."""
    made = []

    def keep(p):
        made.append(p)
        return p
    yield keep
    for p in [p for p in made if not isinstance(p, Gateway)] + [p for p in made if isinstance(p, Gateway)]:
        p.stop()


def tls_listener(crt, key, **more):
    tls = {"enabled": True, "certFile": str(crt), "keyFile": str(key)}
    tls.update(more)
    return {"name": "fix-tls", "port": free_port(), "tls": tls}


def echo_gateway(tmp_path, procs, pki, extra="logLevel: debug", **tls_more):
    """A gateway whose TLS listener routes SenderCompID A to a raw echo engine."""
    eng = procs(Engine())
    gw = Gateway(tmp_path, [fixsession("a", {"SenderCompID49": "A"}, service="svc-a")],
                 {"trading/svc-a:9880": [eng.port]}, listeners=[tls_listener(*pki.default, **tls_more)],
                 extra=extra)
    return procs(gw.start()), eng


def tls_client(port, ca, server_hostname=None):
    """A Python TLS connection that verifies the chain against the test CA (not the host name)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(ca))
    ctx.check_hostname = False
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname=server_hostname)


def common_name(tls_sock):
    return dict(x[0] for x in tls_sock.getpeercert()["subject"])["commonName"]


def s_client(port, *args, stdin=b"", timeout=10):
    """One `openssl s_client` run with stdin given (EOF after it): (returncode, stdout+stderr text)."""
    p = subprocess.run([OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", *args], input=stdin,
                       capture_output=True, timeout=timeout)
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


def negotiated(out):
    """The protocol version s_client negotiated ("New, TLSv1.3, Cipher is ..."), or None when the handshake
    failed ("New, (NONE), Cipher is (NONE)")."""
    m = re.search(r"^New, (TLSv[\d.]+|SSLv3), Cipher is (\S+)$", out, re.M)
    return m.group(1) if m and m.group(2) != "(NONE)" else None


def subject_cn(out):
    m = re.search(r"^subject=.*CN ?= ?([^,/\n]+)", out, re.M)
    return m and m.group(1).strip()


class SClient:
    """An interactive `openssl s_client`: stdin stays open until close(); output is collected by threads."""

    def __init__(self, port, *args):
        self.proc = subprocess.Popen([OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = []
        self.lock = threading.Lock()
        for stream in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        for line in stream:
            with self.lock:
                self.out.append(line.decode(errors="replace"))

    def text(self):
        with self.lock:
            return "".join(self.out)

    def send(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def try_renegotiation(port, procs, ca):
    """Connect with TLS 1.2, finish the handshake, then ask s_client to renegotiate ("R" on stdin), keeping
    stdin open. Returns (renegotiated, text): renegotiated is True when a second handshake completed (the
    client verified the server's certificate again after RENEGOTIATING) and the connection is still up."""
    c = procs(SClient(port, "-tls1_2", "-CAfile", str(ca)))
    wait_until(lambda: "Verify return code" in c.text() or c.proc.poll() is not None, 10,
               what="s_client handshake")
    assert "Verify return code: 0 (ok)" in c.text(), c.text()
    c.send(b"R\n")
    wait_until(lambda: "RENEGOTIATING" in c.text(), 5, what="s_client to start renegotiating")
    # either the second handshake completes (its certificate check prints depth=0 ... again) or it fails
    after = lambda: c.text().split("RENEGOTIATING", 1)[1]  # noqa: E731
    wait_until(lambda: "verify return:1" in after() or c.proc.poll() is not None, 5,
               what="renegotiation outcome")
    time.sleep(0.3)  # a window for the server to cut a refused renegotiation: a close may come late
    renegotiated = "verify return:1" in after() and c.proc.poll() is None
    c.stop()
    return renegotiated, c.text()


# ---------------------------------------------------------------- QuickFIX over TLS


def test_quickfix_initiator_over_tls_to_plaintext_acceptor(tmp_path, procs, pki):
    peer_binary("fix_initiator")
    acc = procs(Acceptor("equities"))
    gw = procs(Gateway(tmp_path, [fixsession("broker-a", {"SenderCompID49": "BROKER_A"}, service="eq-svc")],
                       {"trading/eq-svc:9880": [acc.port]}, listeners=[tls_listener(*pki.default)],
                       extra="logLevel: debug").start())
    r = run_initiator(gw.port(), "BROKER_A", messages=N_TLS, tls=True, ca=pki.ca)
    assert r.rc == 0, r.explain()
    assert [e["text"] for e in r.of("echo")] == [f"echo:equities:msg-{i}" for i in range(N_TLS)], r.explain()
    logon_ev = acc.wait_event("logon", sender="BROKER_A")[0]
    assert logon_ev["target"] == "VENUE"
    acc.wait_event("app", count=N_TLS, sender="BROKER_A")
    acc.wait_event("logout", sender="BROKER_A")
    est = gw.wait_log("tls_established")[0]
    assert est["tls_version"] in ("TLSv1.2", "TLSv1.3") and "tls_sni" not in est   # QuickFIX sends no SNI
    rec = gw.wait_log("routing_decision", fixsession="trading/broker-a")[0]
    assert rec["listener"] == "fix-tls" and rec["decision"] == "ROUTE"
    assert gw.admin()["counters"]["tls_failures"] == 0
    # the same initiator with a CA that did not sign the gateway's certificate refuses to go on
    (tmp_path / "other-ca").mkdir()
    other = PKI(tmp_path / "other-ca")
    r = run_initiator(gw.port(), "BROKER_A", messages=1, tls=True, ca=other.ca, timeout_ms=4000)
    assert r.rc != 0 and not r.of("logon"), r.explain()
    assert len(acc.events("logon")) == 1


def test_quickfix_over_tls_client_certificates_and_reject_engine(tmp_path, procs, pki):
    """requireClientCert: a QuickFIX initiator without a certificate is refused in the handshake; with one
    signed by the client CA it is routed by its Logon; an unknown counterparty with a good certificate gets
    the reject engine's Logout, through TLS."""
    peer_binary("fix_initiator")
    client = pki.client_cert("client", "BROKER_A client")
    acc = procs(Acceptor("equities"))
    rej = procs(RejectEngineProc(reason="No matching session configuration"))
    gw = procs(Gateway(tmp_path, [fixsession("broker-a", {"SenderCompID49": "BROKER_A"}, service="eq-svc")],
                       {"trading/eq-svc:9880": [acc.port]}, reject=rej.port,
                       listeners=[tls_listener(*pki.default, clientCAFile=str(pki.ca), requireClientCert=True)])
               .start())
    r = run_initiator(gw.port(), "BROKER_A", messages=2, tls=True, ca=pki.ca, timeout_ms=4000)
    assert r.rc == 5 and not r.of("logon"), r.explain()
    rec = gw.wait_log("tls_failure")[0]
    assert rec["reason"] == "peer did not return a certificate", rec
    cert_args = ["--cert", str(client[0]), "--key", str(client[1])]
    r = run_initiator(gw.port(), "BROKER_A", messages=N_TLS, tls=True, ca=pki.ca, args=cert_args)
    assert r.rc == 0 and r.of("done")[0]["received"] == N_TLS, r.explain()
    acc.wait_event("logon", sender="BROKER_A")
    r = run_initiator(gw.port(), "STRANGER", messages=2, tls=True, ca=pki.ca, args=cert_args, timeout_ms=6000)
    assert r.rc == 3 and r.of("logout")[0]["text"] == "No matching session configuration", r.explain()
    gw.wait_log("routing_decision", decision="REJECT_ENGINE")
    assert gw.admin()["counters"]["tls_failures"] == 1
    assert not acc.events("logon", sender="STRANGER")


def test_route_restricted_to_the_tls_listener(tmp_path, procs, pki):
    """A FIXSession with `listeners: [fix-tls]` matches only there: the same QuickFIX Logon over the
    plaintext listener gets the reject engine's Logout; another route serves both listeners."""
    peer_binary("fix_initiator")
    acc = procs(Acceptor("equities"))
    rej = procs(RejectEngineProc(reason="No matching session configuration"))
    routes = [fixsession("broker-a-tls", {"SenderCompID49": "BROKER_A"}, service="eq-svc", listeners=["fix-tls"]),
              fixsession("broker-b", {"SenderCompID49": "BROKER_B"}, service="eq-svc")]
    gw = procs(Gateway(tmp_path, routes, {"trading/eq-svc:9880": [acc.port]}, reject=rej.port,
                       listeners=[tls_listener(*pki.default), {"name": "fix-plain", "port": free_port()}]).start())
    r = run_initiator(gw.port("fix-tls"), "BROKER_A", messages=2, tls=True, ca=pki.ca)
    assert r.rc == 0 and r.of("done")[0]["received"] == 2, r.explain()
    r = run_initiator(gw.port("fix-plain"), "BROKER_A", messages=2, timeout_ms=6000)
    assert r.rc == 3 and r.of("logout")[0]["text"] == "No matching session configuration", r.explain()
    for port, tls in ((gw.port("fix-tls"), True), (gw.port("fix-plain"), False)):
        r = run_initiator(port, "BROKER_B", messages=2, tls=tls, ca=pki.ca if tls else None)
        assert r.rc == 0, r.explain()
    # the gateway's lines and the acceptor's events are read by other threads: wait for them, then compare
    gw.wait_log("routing_decision", count=4)
    acc.wait_event("logon", count=2, sender="BROKER_B")
    decisions = [(d["listener"], d["decision"]) for d in gw.logs("routing_decision")]
    assert decisions == [("fix-tls", "ROUTE"), ("fix-plain", "REJECT_ENGINE"), ("fix-tls", "ROUTE"),
                         ("fix-plain", "ROUTE")], decisions
    assert len(acc.events("logon", sender="BROKER_A")) == 1 and len(acc.events("logon", sender="BROKER_B")) == 2


# ---------------------------------------------------------------- versions


def test_tls_versions_below_1_2_refused(tmp_path, procs, pki):
    gw, _ = echo_gateway(tmp_path, procs, pki)
    # control: this s_client really offers TLS 1.0/1.1 (a permissive s_server accepts them)
    port = free_port()
    srv = procs(SServer(port, pki.default, "-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"))
    rc, out = s_client(port, "-tls1", "-cipher", "DEFAULT:@SECLEVEL=0")
    assert negotiated(out) == "TLSv1.0", out
    srv.stop()
    for flag in ("-tls1", "-tls1_1"):
        rc, out = s_client(gw.port(), flag, "-cipher", "DEFAULT:@SECLEVEL=0")
        assert rc != 0 and negotiated(out) is None, out
        assert "alert protocol version" in out, out
    recs = gw.wait_log("tls_failure", count=2)
    assert all(r["reason"] == "unsupported protocol" for r in recs), recs
    for flag, version in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
        rc, out = s_client(gw.port(), flag, "-CAfile", str(pki.ca))
        assert rc == 0 and negotiated(out) == version, out
        assert "Verify return code: 0 (ok)" in out
    wait_until(lambda: len(gw.logs("tls_established")) == 2, what="two handshakes")
    assert sorted(r["tls_version"] for r in gw.logs("tls_established")) == ["TLSv1.2", "TLSv1.3"]
    assert gw.admin()["counters"]["tls_failures"] == 2


def test_min_version_1_3_refuses_1_2(tmp_path, procs, pki):
    gw, eng = echo_gateway(tmp_path, procs, pki, minVersion="1.3")
    rc, out = s_client(gw.port(), "-tls1_2")
    assert rc != 0 and negotiated(out) is None, out
    assert "alert protocol version" in out, out
    gw.wait_log("tls_failure", reason="unsupported protocol")
    rc, out = s_client(gw.port(), "-tls1_3")
    assert rc == 0 and negotiated(out) == "TLSv1.3", out
    # and a FIX session over TLS 1.3 relays
    with tls_client(gw.port(), pki.ca) as c:
        assert c.version() == "TLSv1.3"
        msg = logon(sender="A")
        c.sendall(msg)
        assert recv_exactly(c, len(msg)) == msg


# ---------------------------------------------------------------- renegotiation


class SServer:
    """`openssl s_server` on a port, stdin kept open (it stops at EOF)."""

    def __init__(self, port, pair, *args):
        self.proc = subprocess.Popen([OPENSSL, "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(pair[0]),
                                      "-key", str(pair[1]), *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: _listening(port), 5, what="s_server listening")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def _listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def test_renegotiation_refused(tmp_path, procs, pki):
    # control: against a server that allows client renegotiation, the same probe reports a completed one
    port = free_port()
    srv = procs(SServer(port, pki.default, "-tls1_2", "-client_renegotiation"))
    ok, text = try_renegotiation(port, procs, pki.ca)
    assert ok, "the control server should have renegotiated:\n" + text
    srv.stop()
    gw, eng = echo_gateway(tmp_path, procs, pki)
    ok, text = try_renegotiation(gw.port(), procs, pki.ca)
    assert not ok, "the gateway accepted a TLS 1.2 renegotiation:\n" + text
    assert "no renegotiation" in text, text
    # the connection ended by itself (stdin was still open), and no second handshake was logged
    wait_until(lambda: gw.admin()["counters"]["active_connections"] == 0, what="connection closed")
    gw.wait_log("tls_established")
    assert len(gw.logs("tls_established")) == 1


# ---------------------------------------------------------------- SNI


def test_sni_selects_certificate(tmp_path, procs, pki):
    sni = [{"serverName": SNI_NAME, "certFile": str(pki.sni[0]), "keyFile": str(pki.sni[1])}]
    gw, eng = echo_gateway(tmp_path, procs, pki, sni=sni)
    rc, out = s_client(gw.port(), "-servername", SNI_NAME, "-CAfile", str(pki.ca))
    assert rc == 0 and subject_cn(out) == SNI_NAME, out
    assert "Verify return code: 0 (ok)" in out
    rc, out = s_client(gw.port(), "-servername", SNI_NAME.upper(), "-CAfile", str(pki.ca))
    assert rc == 0 and subject_cn(out) == SNI_NAME, out            # names match case-insensitively
    rc, out = s_client(gw.port(), "-noservername", "-CAfile", str(pki.ca))
    assert rc == 0 and subject_cn(out) == "fixgw-default.test", out
    rc, out = s_client(gw.port(), "-servername", "other.example.test", "-CAfile", str(pki.ca))
    assert rc == 0 and subject_cn(out) == "fixgw-default.test", out  # unknown name: default, no error
    est = gw.wait_log("tls_established", count=4)
    assert [r.get("tls_sni") for r in est] == [SNI_NAME, SNI_NAME.upper(), None, "other.example.test"]
    # routing still comes from the Logon, whatever the SNI name
    with tls_client(gw.port(), pki.ca, server_hostname=SNI_NAME) as c:
        assert common_name(c) == SNI_NAME
        msg = logon(sender="A")
        c.sendall(msg)
        assert recv_exactly(c, len(msg)) == msg
    assert gw.admin()["counters"]["tls_failures"] == 0


# ---------------------------------------------------------------- certificate hot reload


def replace_file(src, dst):
    tmp = dst.with_name(dst.name + ".new")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def test_certificate_hot_reload_keeps_live_sessions(tmp_path, procs, pki):
    live_dir = tmp_path / "tls"
    live_dir.mkdir()
    crt, key = live_dir / "tls.crt", live_dir / "tls.key"
    shutil.copyfile(pki.default[0], crt)
    shutil.copyfile(pki.default[1], key)
    eng = procs(Engine())
    gw = procs(Gateway(tmp_path, [fixsession("a", {"SenderCompID49": "A"}, service="svc-a")],
                       {"trading/svc-a:9880": [eng.port]}, listeners=[tls_listener(crt, key)]).start())
    live = tls_client(gw.port(), pki.ca)
    assert common_name(live) == "fixgw-default.test"
    msg = logon(sender="A")
    live.sendall(msg)
    assert recv_exactly(live, len(msg)) == msg
    n = len(gw.logs("reloaded"))
    # cert-manager style: both files replaced (key first, then certificate), each by a rename
    replace_file(pki.renewed[1], key)
    replace_file(pki.renewed[0], crt)
    gw.wait_log("reloaded", count=n + 1, timeout=10)           # the file watcher, no SIGHUP

    def new_cn():
        with tls_client(gw.port(), pki.ca) as c:
            return common_name(c)
    # (a poll between the two renames sees a key that does not match the certificate: that reload fails,
    # keeps the old pair, and the next change is tried again, so only the end state is checked)
    wait_until(lambda: new_cn() == "fixgw-renewed.test", 5, interval=0.2, what="the renewed certificate")
    # the session established before the reload still relays, both ways, on its old certificate
    assert common_name(live) == "fixgw-default.test"
    for i in range(3):
        payload = f"after-reload-{i}".encode()
        live.sendall(payload)
        assert recv_exactly(live, len(payload)) == payload
    assert eng.data(0) == msg + b"after-reload-0after-reload-1after-reload-2"
    live.close()
    # SIGHUP reloads too: back to the first certificate
    replace_file(pki.default[1], key)
    replace_file(pki.default[0], crt)
    gw.reload()
    wait_until(lambda: new_cn() == "fixgw-default.test", 5, interval=0.2, what="the first certificate again")


def test_bad_certificate_update_keeps_serving_and_sni_pair_reloads(tmp_path, procs, pki):
    """A half-written or broken update is refused and the listener keeps its current pair; the SNI pair is
    watched and reloaded like the default one."""
    d = tmp_path / "tls"
    d.mkdir()
    for name in ("default", "sni"):
        shutil.copyfile(pki.dir / f"{name}.crt", d / f"{name}.crt")
        shutil.copyfile(pki.dir / f"{name}.key", d / f"{name}.key")
    sni = [{"serverName": SNI_NAME, "certFile": str(d / "sni.crt"), "keyFile": str(d / "sni.key")}]
    eng = procs(Engine())
    gw = procs(Gateway(tmp_path, [fixsession("a", {"SenderCompID49": "A"}, service="svc-a")],
                       {"trading/svc-a:9880": [eng.port]},
                       listeners=[tls_listener(d / "default.crt", d / "default.key", sni=sni)]).start())

    def cn(server_name=None):
        with tls_client(gw.port(), pki.ca, server_hostname=server_name) as c:
            return common_name(c)
    assert (cn(), cn(SNI_NAME)) == ("fixgw-default.test", SNI_NAME)
    (d / "default.crt.new").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    os.replace(d / "default.crt.new", d / "default.crt")
    rec = gw.wait_log("tls_reload_failed", timeout=10)[0]
    assert "default.crt" in rec["_raw"] and "not base64" not in rec["_raw"], rec   # names the file, no contents
    assert (cn(), cn(SNI_NAME)) == ("fixgw-default.test", SNI_NAME)   # both pairs still served
    # the SNI pair is renewed (and the default one repaired): both reloaded by the file watcher
    replace_file(pki.default[0], d / "default.crt")
    replace_file(pki.renewed[1], d / "sni.key")
    replace_file(pki.renewed[0], d / "sni.crt")
    wait_until(lambda: cn(SNI_NAME) == "fixgw-renewed.test", 10, interval=0.2, what="the renewed SNI certificate")
    assert cn() == "fixgw-default.test"


# ---------------------------------------------------------------- handshakes that never finish


def test_unfinished_handshakes_closed_at_logon_deadline(tmp_path, procs, pki):
    gw, eng = echo_gateway(tmp_path, procs, pki, extra="logLevel: debug\nlogonTimeout: 1s")
    # 1. plain TCP, sending nothing; 2. the first bytes of a TLS record, then nothing
    hello_start = bytes.fromhex("160301020001")               # handshake record, 513 bytes announced
    socks = []
    t0 = time.monotonic()
    for first in (b"", hello_start):
        s = socket.create_connection(("127.0.0.1", gw.port()), timeout=10)
        if first:
            s.sendall(first)
        socks.append(s)
    for s in socks:
        data, how = recv_until_closed(s, timeout=5)
        assert data == b""
        elapsed = time.monotonic() - t0
        assert 0.8 <= elapsed < 3.0, f"closed after {elapsed:.2f}s, expected at the 1 s deadline"
        s.close()
    recs = gw.wait_log("tls_failure", count=2)
    assert all("deadline" in r.get("reason", "") + r["msg"] for r in recs), recs
    assert gw.admin()["counters"]["tls_failures"] == 2
    # 3. garbage: refused at once (not a TLS record), also a TLS failure
    with socket.create_connection(("127.0.0.1", gw.port()), timeout=10) as s:
        t1 = time.monotonic()
        s.sendall(b"8=FIX.4.4\x019=5\x0135=A\x0110=000\x01")
        data, how = recv_until_closed(s, timeout=5)
        assert time.monotonic() - t1 < 0.8
        assert not data.startswith(b"8=FIX")                    # at most a TLS alert, never FIX
    wait_until(lambda: gw.admin()["counters"]["tls_failures"] == 3, what="third TLS failure counted")
    assert not eng.conns and not gw.logs("routing_decision")
