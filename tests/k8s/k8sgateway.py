"""The gateway in Kubernetes mode as tests and benchmarks drive it: `fixgw gateway --config F --kubeconfig K`
against a k8sharness.ControlPlane, FIXSession objects, selectorless Services with hand-made EndpointSlices,
and Logons that an echo engine answers."""
import json
import socket
import subprocess

from fixmsg import logon
from gwharness import JsonLines, free_port, recv_exactly, wait_until

GROUP = "/apis/fixgw.io/v1alpha1"


def fixsession(name, sender, service, port=9880, **spec):
    s = {"matchFields": {"SenderCompID49": {"value": sender}},
         "target": {"service": {"name": service, "port": {"number": port}}}}
    s.update(spec)
    return {"apiVersion": "fixgw.io/v1alpha1", "kind": "FIXSession", "metadata": {"name": name}, "spec": s}


class K8sGateway:
    """`fixgw gateway --config F --kubeconfig K`: listeners and limits from the file, routes from the API."""

    def __init__(self, tmp_path, k8s, binary=None, namespace=None, extra="", routes="direct", table_namespace=None,
                 sync_timeout="30s", name="gateway", gateway_service=None):
        """routes "direct": the gateway compiles FIXSessions itself; "published": it follows the operator's
        routing table (index ConfigMap fixgw-routing-table in table_namespace). gateway_service
        "NAMESPACE/NAME": the Service whose EndpointSlice addresses are gateway pods (ADR-019)."""
        self.port = free_port()
        self.admin_port = free_port()
        self.name = name
        kube = {"syncTimeout": sync_timeout, "routes": routes}
        if namespace:
            kube["namespace"] = namespace
        if table_namespace:
            kube["routingTable"] = {"namespace": table_namespace}
        if gateway_service:
            kube["gatewayService"] = gateway_service
        self.config = tmp_path / f"{name}.yaml"
        self.config.write_text(
            "workers: 2\n"
            f"listeners: [{{name: fix-plain, address: 127.0.0.1:{self.port}}}]\n"
            f"admin: {{address: 127.0.0.1:{self.admin_port}}}\n"
            "rejectEngine: {enabled: false}\n"
            "connectTimeout: 2s\n"
            "shutdownGracePeriod: 5s\n"
            f"kubernetes: {json.dumps(kube)}\n" + extra)
        self.kubeconfig = k8s.write_kubeconfig(tmp_path / f"{name}-kubeconfig")
        if binary is None:
            from conftest import FIXGW as binary
        self.binary = str(binary)
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([self.binary, "gateway", "--config", str(self.config), "--kubeconfig",
                                      str(self.kubeconfig)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.log = JsonLines(self.proc.stderr, self.name)
        self.log.wait("started", 60)
        return self

    def logs(self, event=None, **match):
        return self.log.select(event, **match)

    def wait_log(self, event, timeout=20, count=1, **match):
        return self.log.wait(event, timeout, count, **match)

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def routes(self):
        """The gateway's admin /routes document."""
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/routes", timeout=10) as r:
            return json.loads(r.read())

    def route(self, name):
        """The gateway's view of one route (admin /routes): target, ready_endpoints, counters."""
        return next((x for x in self.routes()["routes"] if x["name"] == name), None)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("gateway did not stop within 30 s of SIGTERM")
        self.log.eof.wait(10)
        text = self.log.text()
        for marker in ("AddressSanitizer", "LeakSanitizer", "ThreadSanitizer", "runtime error:"):
            assert marker not in text, f"sanitizer report from the gateway:\n{text[-4000:]}"
        assert self.proc.returncode == 0, f"gateway exited {self.proc.returncode}:\n{text[-3000:]}"


def selectorless_service(k8s, ns, name, addrs, ready=True, port=9880):
    k8s.service(ns, name, ports=(("fix", 9880, port),))
    k8s.endpoint_slice(ns, name, f"{name}-1", [k8s.endpoint(a, ready=ready) for a in addrs],
                       ports=(("fix", port),))


def try_logon(gw, sender, timeout=5):
    """Send a Logon; the engine echoes. Returns the bytes that came back (b"" when the gateway closed)."""
    msg = logon(sender=sender)
    with gw.connect() as s:
        s.sendall(msg)
        try:
            return recv_exactly(s, len(msg), timeout)
        except OSError:
            return b""


def wait_routed(gw, sender, timeout=20):
    msg = logon(sender=sender)
    wait_until(lambda: try_logon(gw, sender, 2) == msg, timeout, 0.02, f"a Logon from {sender} to be routed")
