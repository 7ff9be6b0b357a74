"""The operator's validating admission webhook against the real kube-apiserver: a ValidatingWebhookConfiguration
whose clientConfig.url is the operator on the host loopback (https://127.0.0.1:PORT/validate-fixsessions), with
a serving certificate from the harness CA as its caBundle.

`kubectl apply` of a conflicting FIXSession is refused with the operator's CRITICAL route_conflict text; a
non-conflicting one is admitted; with the webhook down, failurePolicy Ignore (ADR-013) admits it and the
operator's validation marks the conflict (and logs the same text the refusal gave); a rotated certificate is
served without a restart; malformed, oversized and silent requests get 400, 413 and a closed connection.

Each webhook configuration selects only its test's namespace, so other tests' FIXSessions are never reviewed;
every SenderCompID carries a per-test suffix (the webhook validates against every namespace's FIXSessions)."""
import base64
import http.client
import os
import pathlib
import socket
import ssl

import pytest

import k8sharness
from k8sharness import wait_until
from test_operator import FAST, Operator, fs_path, operator, wait_condition  # noqa: F401 (operator: a fixture)

HOOK = "fixsessions.fixgw.io"
PATH = "/validate-fixsessions"


@pytest.fixture
def suffix():
    return "_" + os.urandom(3).hex().upper()


def fixsession(name, sender, ns):
    return {"apiVersion": "fixgw.io/v1alpha1", "kind": "FIXSession", "metadata": {"name": name, "namespace": ns},
            "spec": {"matchFields": {"SenderCompID49": {"value": sender}},
                     "target": {"service": {"name": "engine", "port": {"number": 9880}}}}}


class SecretVolume:
    """Files laid out as the kubelet lays out a Secret volume: tls.crt -> ..data/tls.crt, ..data -> ..v1; an
    update writes ..v2 and swaps the ..data symlink atomically."""

    def __init__(self, d, crt, key):
        self.dir = pathlib.Path(d)
        self.dir.mkdir()
        self.version = 0
        self.update(crt, key)
        for f in ("tls.crt", "tls.key"):
            (self.dir / f).symlink_to(f"..data/{f}")
        self.crt, self.key = self.dir / "tls.crt", self.dir / "tls.key"

    def update(self, crt, key):
        self.version += 1
        v = self.dir / f"..v{self.version}"
        v.mkdir()
        (v / "tls.crt").write_bytes(pathlib.Path(crt).read_bytes())
        (v / "tls.key").write_bytes(pathlib.Path(key).read_bytes())
        tmp = self.dir / "..data_tmp"
        tmp.symlink_to(v.name)
        os.replace(tmp, self.dir / "..data")


def der_of(pem_path):
    return ssl.PEM_cert_to_DER_cert(pathlib.Path(pem_path).read_text())


def served_cert(port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        with ctx.wrap_socket(s) as t:
            return t.getpeercert(binary_form=True)


class Webhook:
    """An operator replica serving the webhook (its own ServiceAccount and the chart's RBAC), its serving
    certificate from the harness CA, and a ValidatingWebhookConfiguration for this test's namespace."""

    def __init__(self, k8s, tmp_path, ns, ident="a", policy="Ignore"):
        self.k8s, self.ns = k8s, ns
        self.port = k8sharness.free_port()
        crt, key = k8s.pki.issue(f"webhook-{ns}", "fixgw-operator-webhook", ["IP:127.0.0.1"])
        self.volume = SecretVolume(tmp_path / "webhook-tls", crt, key)
        self.args = ("--webhook-port", str(self.port), "--webhook-cert", str(self.volume.crt),
                     "--webhook-key", str(self.volume.key))
        self.tmp_path, self.ident = tmp_path, ident
        self.name = f"fixgw-{ns}"
        self.ops = []
        self.start()
        ca = base64.b64encode(pathlib.Path(k8s.pki.ca).read_bytes()).decode()
        k8s.create("/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations", {
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": self.name},
            "webhooks": [{
                "name": HOOK, "admissionReviewVersions": ["v1"], "sideEffects": "None",
                "failurePolicy": policy, "timeoutSeconds": 5,
                "clientConfig": {"url": f"https://127.0.0.1:{self.port}{PATH}", "caBundle": ca},
                "rules": [{"apiGroups": ["fixgw.io"], "apiVersions": ["v1alpha1"],
                           "operations": ["CREATE", "UPDATE"], "resources": ["fixsessions"],
                           "scope": "Namespaced"}],
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}]})

    def start(self):
        op = Operator(self.k8s, self.tmp_path, self.ns, f"{self.ident}{len(self.ops) or ''}", *FAST, *self.args,
                      "--log-level", "debug")
        self.ops.append(op)
        op.wait_log("webhook_started")
        op.wait_log("synced")
        return op

    @property
    def op(self):
        return self.ops[-1]

    def wait_active(self, probe):
        """Until the API server calls the webhook: a server-side dry run of probe (a FIXSession the
        webhook refuses) is refused."""
        last = {}

        def refused():
            r = self.k8s.apply(probe, "--dry-run=server", check=False)
            last["stderr"] = r.stderr
            return r.returncode != 0 and "denied the request" in r.stderr
        try:
            wait_until(refused, 60, what="the API server calling the webhook")
        except AssertionError as e:
            raise AssertionError(f"{e}: kubectl said {last.get('stderr')!r}; operator log:\n"
                                 f"{self.op.log.text()[-3000:]}\napiserver:\n" +
                                 "\n".join(l for l in self.k8s.procs["kube-apiserver"].log(200000).splitlines()
                                           if "ebhook" in l)[-3000:]) from None

    def close(self):
        for op in self.ops:
            op.stop()
        self.k8s.delete(f"/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/{self.name}")
        for op in self.ops:
            for kind in ("clusterrolebindings", "clusterroles"):
                self.k8s.delete(f"/apis/rbac.authorization.k8s.io/v1/{kind}/{self.ns}-op-{op.ident}")


@pytest.fixture
def webhook(k8s, k8s_ns, tmp_path):
    made = []

    def make(**kw):
        w = Webhook(k8s, tmp_path, k8s_ns, **kw)
        made.append(w)
        return w
    yield make
    for w in made:
        w.close()


def denial(stderr):
    """The webhook's message in kubectl's error ("... denied the request: MESSAGE")."""
    assert "denied the request: " in stderr, stderr
    return stderr.split("denied the request: ", 1)[1].strip()


def test_conflict_refused_with_the_critical_text_and_ignore_when_down(k8s, k8s_ns, webhook, suffix):
    s, other = "BROKER_W" + suffix, "BROKER_V" + suffix
    k8s.service(k8s_ns, "engine")
    k8s.apply(fixsession("first", s, k8s_ns))
    w = webhook()
    w.wait_active(fixsession("second", s, k8s_ns))

    # a conflicting FIXSession is refused at apply time, naming both and the field
    r = k8s.apply(fixsession("second", s, k8s_ns), check=False)
    assert r.returncode != 0
    refused = denial(r.stderr)
    assert refused.startswith(f"conflict: FIXSession {k8s_ns}/first"), refused
    assert f"{k8s_ns}/second" in refused and f'SenderCompID49="{s}"' in refused
    assert k8s.get(fs_path(k8s_ns, "second"), missing_ok=True) is None
    denied = w.op.wait_log("admission_denied", name="second")[0]
    assert denied["level"] == "WARN" and denied["msg"] == f"refused: {refused}"
    # an update into a conflict is refused too; a non-conflicting create and update are admitted
    k8s.apply(fixsession("third", other, k8s_ns))
    r = k8s.apply(fixsession("third", s, k8s_ns), check=False)
    assert r.returncode != 0 and f"{k8s_ns}/third" in denial(r.stderr)
    k8s.patch(fs_path(k8s_ns, "third"), {"metadata": {"labels": {"touched": "yes"}}})
    wait_condition(k8s, k8s_ns, "third", "Accepted", "True")

    # the webhook down: failurePolicy Ignore admits it, and the operator's validation is the authority
    for op in w.ops:
        op.stop()
    k8s.apply(fixsession("second", s, k8s_ns))
    op = w.start()
    held = wait_condition(k8s, k8s_ns, "second", "Accepted", "False", "Conflict")
    wait_condition(k8s, k8s_ns, "first", "Conflict", "True")
    crit = wait_until(lambda: [x for x in op.log.select("route_conflict") if f"{k8s_ns}/second" in x["msg"]],
                      30, what="the route_conflict line about this test's FIXSessions")[0]
    assert crit["level"] == "CRITICAL"
    assert crit["msg"] == refused  # the refusal said word for word what the operator logs
    assert refused in held["message"]
    # a relabelling of the conflicting object is admitted (it changes nothing routing reads)
    k8s.patch(fs_path(k8s_ns, "second"), {"metadata": {"labels": {"owner": "ops"}}})


def test_a_standby_replica_serves_the_webhook(k8s, k8s_ns, operator, webhook, suffix):
    """The webhook reads the cache and writes nothing: a replica that does not hold the Lease refuses too."""
    s = "BROKER_S" + suffix
    k8s.service(k8s_ns, "engine")
    k8s.apply(fixsession("first", s, k8s_ns))
    lead = operator("lead", *FAST)
    lead.wait_log("leader_started")
    w = webhook()  # its replica is the standby; the configuration points at it alone
    w.op.wait_log("new_leader", holder="lead")
    w.wait_active(fixsession("second", s, k8s_ns))
    r = k8s.apply(fixsession("second", s, k8s_ns), check=False)
    assert r.returncode != 0 and f"conflict: FIXSession {k8s_ns}/first" in denial(r.stderr)
    assert not w.op.log.select("leader_started")


def test_rotated_certificate_is_served_without_restart(k8s, k8s_ns, webhook, suffix):
    s = "BROKER_R" + suffix
    k8s.service(k8s_ns, "engine")
    k8s.apply(fixsession("first", s, k8s_ns))
    w = webhook()
    assert served_cert(w.port) == der_of(w.volume.crt)
    crt, key = k8s.pki.issue(f"webhook-{k8s_ns}-2", "fixgw-operator-webhook-rotated", ["IP:127.0.0.1"])
    w.volume.update(crt, key)
    w.op.wait_log("webhook_cert_reloaded")
    wait_until(lambda: served_cert(w.port) == der_of(crt), 30, what="the new certificate served")
    # the API server still trusts it (same CA) and the webhook still refuses
    w.wait_active(fixsession("second", s, k8s_ns))
    # a pair that does not load keeps the previous certificate
    bad = w.tmp_path / "bad.key"
    bad.write_text("not a key\n")
    w.volume.update(crt, bad)
    w.op.wait_log("webhook_cert_reload_failed")
    assert served_cert(w.port) == der_of(crt)


def tls_conn(port):
    ctx = ssl.create_default_context(cafile=None)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=60)


def test_bad_requests_are_answered_and_bounded(k8s, k8s_ns, webhook):
    w = webhook()
    c = tls_conn(w.port)
    c.request("POST", PATH, body=b'{"apiVersion": "admission.k8s.io/v1", "kind": ',
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    assert r.status == 400 and b"not valid JSON" in r.read()
    c = tls_conn(w.port)
    c.request("POST", PATH, body=b'{"apiVersion":"v1","kind":"Status"}')
    r = c.getresponse()
    assert r.status == 400 and b"not an AdmissionReview" in r.read()
    c = tls_conn(w.port)
    c.putrequest("POST", PATH)
    c.putheader("Content-Length", str(2 << 20))
    c.endheaders()
    r = c.getresponse()
    assert r.status == 413, r.status
    c = tls_conn(w.port)
    c.request("GET", "/healthz")
    r = c.getresponse()
    assert r.status == 200 and r.read() == b"ok\n"
    # a client that says nothing after the handshake is closed (the 10 s slow-client bound)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", w.port), timeout=60) as s, ctx.wrap_socket(s) as t:
        t.sendall(b"POST " + PATH.encode() + b" HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
        try:
            assert t.recv(1) == b""  # the webhook's close (close_notify or EOF)
        except (ConnectionResetError, ssl.SSLError):
            pass
    w.op.wait_log("webhook_client_timeout")
    assert w.op.proc.poll() is None
