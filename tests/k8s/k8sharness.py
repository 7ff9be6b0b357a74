"""A real Kubernetes control plane for tests: etcd, kube-apiserver and kube-controller-manager built from the
pinned modules in tools/ (`make tools`), on loopback ports chosen at run time, with a PKI made by openssl and
an admin token; plus network namespaces where test engines listen on private addresses that EndpointSlices
can point at (the API server refuses loopback endpoint addresses).

Everything a run creates is its own: temporary directories named fixgw-k8s-<pid>-*, network namespaces
named fk<pid>n<i>, and child processes that die with the test process (PR_SET_PDEATHSIG). A later run sweeps
what a killed run left behind. docs/internals/test-harness.md explains how it fits together."""
import ctypes
import fcntl
import json
import os
import pathlib
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = pathlib.Path(os.environ.get("FIXGW_ROOT", pathlib.Path(__file__).resolve().parents[2]))
CRD = ROOT / "crds" / "fixsession-crd.yaml"
CRD_NAME = "fixsessions.fixgw.io"
K8S_VERSION = "v1.37.2"
# A Node object for Pods: kube-controller-manager skips Pods whose node it cannot find.
NODE = "fixgw-test-node"
# kube-controller-manager runs only these: node lifecycle and pod GC would evict or delete the test's Pods,
# which no kubelet keeps alive.
CONTROLLERS = ("endpointslice-controller,namespace-controller,garbage-collector-controller,clusterrole-aggregation-controller,"
               "serviceaccount-controller,serviceaccount-token-controller,root-ca-certificate-publisher-controller")

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1
_CLONE_NEWNET = 0x40000000


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL when the thread that started it exits (start them from the main
    thread), so a killed pytest leaves no control plane running."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def wait_until(pred, timeout=10.0, interval=0.05, what="condition"):
    """Poll pred() until it returns a true value (returned) or raise AssertionError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def free_port():
    """A TCP port free on 127.0.0.1 right now and never handed out before in this process (gwharness keeps
    the record; a process started with it may still lose a race: the starters below retry on a bind
    failure)."""
    return _gwharness().free_port()


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale():
    """Remove what killed runs left: their network namespaces (which takes their veth pairs along) and their
    temporary directories. Only objects whose owning pid is gone are touched."""
    for name in netns_list():
        m = re.fullmatch(r"fk(\d+)n\d+", name)
        if m and not _pid_alive(int(m.group(1))):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
    for d in pathlib.Path(tempfile.gettempdir()).glob("fixgw-k8s-*"):
        m = re.match(r"fixgw-k8s-(\d+)-", d.name)
        if m and not _pid_alive(int(m.group(1))):
            shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------- the pinned binaries

_tools_dir = None


def tools_dir():
    """The directory holding etcd, kube-apiserver, kubectl, kube-controller-manager, otelcol and helm:
    $FIXGW_TOOLS_DIR when set (the test command sets it), else the last line `tools/build.sh` prints
    (building on first use: minutes cold, a hash when cached)."""
    global _tools_dir
    if _tools_dir is None:
        d = os.environ.get("FIXGW_TOOLS_DIR")
        if not d:
            r = subprocess.run([str(ROOT / "tools" / "build.sh")], stdout=subprocess.PIPE, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"tools/build.sh failed (exit {r.returncode}); see its output above")
            d = r.stdout.strip().splitlines()[-1]
        _tools_dir = pathlib.Path(d)
        for b in ("etcd", "kube-apiserver", "kubectl", "kube-controller-manager"):
            if not os.access(_tools_dir / b, os.X_OK):
                raise RuntimeError(f"{_tools_dir / b} is missing: run `make tools`")
    return _tools_dir


def tool(name):
    """Path of one pinned test program (etcd, kube-apiserver, kubectl, kube-controller-manager, otelcol,
    helm); promtool comes from Debian's prometheus package."""
    if name == "promtool":
        p = shutil.which("promtool")
        if not p:
            raise RuntimeError("promtool is missing: ./scripts/setup.sh --test installs Debian's prometheus")
        return pathlib.Path(p)
    return tools_dir() / name


def otelcol_components():
    """{"receivers": {...}, "processors": {...}, "exporters": {...}, ...}: the component names the test
    collector was built with (`otelcol components`)."""
    import yaml
    out = subprocess.run([str(tool("otelcol")), "components"], capture_output=True, text=True, check=True).stdout
    doc = yaml.safe_load(out)
    return {k: {c["name"] for c in v or []} for k, v in doc.items()
            if k in ("receivers", "processors", "exporters", "connectors", "extensions")}


def validate_collector_config(path):
    """`otelcol validate` on a collector configuration (a chart's, say). Processors the test collector lacks
    (k8sattributes: not buildable from served modules, see docs/internals/test-harness.md) are taken out of
    the configuration and of every pipeline first; everything else is validated as written. Returns
    (CompletedProcess, [the processors taken out])."""
    import yaml
    cfg = yaml.safe_load(pathlib.Path(path).read_text())
    have = otelcol_components().get("processors", set())
    dropped = sorted(n for n in (cfg.get("processors") or {}) if n.split("/")[0] not in have)
    for n in dropped:
        del cfg["processors"][n]
    for pipe in ((cfg.get("service") or {}).get("pipelines") or {}).values():
        if pipe.get("processors"):
            pipe["processors"] = [n for n in pipe["processors"] if n not in dropped]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(cfg, f)
    try:
        r = subprocess.run([str(tool("otelcol")), "validate", f"--config=file:{f.name}"], capture_output=True,
                           text=True, timeout=60)
    finally:
        os.unlink(f.name)
    return r, dropped


# ---------------------------------------------------------------- PKI

def _openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{r.stderr}")


class PKI:
    """A throw-away CA (ca.crt/ca.key), the API server's serving certificate, an admin client certificate
    (O=system:masters), the service-account key pair and an admin bearer token, in one directory."""

    def __init__(self, d):
        self.dir = pathlib.Path(d)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca = self.dir / "ca.crt"
        self.ca_key = self.dir / "ca.key"
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
                 "-days", "2", "-subj", "/CN=fixgw-test-ca", "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.dir)
        self.apiserver_cert, self.apiserver_key = self.issue(
            "apiserver", "kube-apiserver", ["IP:127.0.0.1", "IP:10.0.0.1", "DNS:localhost",
                                            "DNS:kubernetes", "DNS:kubernetes.default.svc"])
        self.admin_cert, self.admin_key = self.issue("admin", "admin", org="system:masters", client=True)
        _openssl("genrsa", "-out", "sa.key", "2048", cwd=self.dir)
        _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=self.dir)
        self.sa_key, self.sa_pub = self.dir / "sa.key", self.dir / "sa.pub"
        self.token = os.urandom(16).hex()
        self.tokens_csv = self.dir / "tokens.csv"
        self.tokens_csv.write_text(f'{self.token},admin,1,"system:masters"\n')

    def issue(self, name, cn, sans=(), org=None, client=False):
        """Sign a certificate for name.crt/name.key with the CA: a server certificate with the given SANs
        ("IP:10.1.2.3", "DNS:webhook.ns.svc") or, with client=True, a client certificate. Returns the two
        paths. Webhook and TLS tests use it too."""
        subj = (f"/O={org}" if org else "") + f"/CN={cn}"
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", subj, cwd=self.dir)
        ext = ["keyUsage=critical,digitalSignature,keyEncipherment",
               "extendedKeyUsage=" + ("clientAuth" if client else "serverAuth")]
        if sans:
            ext.append("subjectAltName=" + ",".join(sans))
        (self.dir / f"{name}.ext").write_text("\n".join(ext) + "\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext", cwd=self.dir)
        return self.dir / f"{name}.crt", self.dir / f"{name}.key"


# ---------------------------------------------------------------- processes

class Proc:
    """One control-plane process: its command, log file and stop (SIGTERM, then SIGKILL after a grace)."""

    def __init__(self, name, cmd, log):
        self.name, self.cmd, self.log_path = name, [str(c) for c in cmd], pathlib.Path(log)
        self.proc = None

    def start(self):
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                     preexec_fn=_die_with_parent)
        logf.close()
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self, tail=4000):
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def stop(self, grace=20.0):
        """SIGTERM and wait; SIGKILL if it does not exit within grace seconds. Returns the seconds it took."""
        if not self.running():
            return 0.0
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return time.monotonic() - t0

    def freeze(self):
        """SIGSTOP: the process keeps its sockets but answers nothing (a stalled API server)."""
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self):
        self.proc.send_signal(signal.SIGCONT)


class ApiError(Exception):
    """A non-2xx answer from the API server: status code and the Status object (or text) it sent."""

    def __init__(self, status, body):
        self.status, self.body = status, body
        msg = body.get("message") if isinstance(body, dict) else body
        super().__init__(f"HTTP {status}: {msg}")


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager on loopback, with the FIXSession CRD installed.

    Attributes once started: dir (its temporary directory), pki (PKI), kubeconfig (path), server (https URL),
    token (admin bearer token), ca (CA certificate path), apiserver_port, etcd_url, procs (name -> Proc)."""

    def __init__(self, tools=None, workdir=None, controller_manager=True, crd=CRD, apiserver_args=()):
        self.tools = pathlib.Path(tools) if tools else tools_dir()
        self.dir = pathlib.Path(workdir or tempfile.mkdtemp(prefix=f"fixgw-k8s-{os.getpid()}-"))
        self.with_kcm = controller_manager
        self.crd = crd
        self.apiserver_args = list(apiserver_args)
        # Every write (create, update, patch, delete) is audited: who wrote what, when (audit_events()).
        self.audit_log = self.dir / "audit.log"
        self.procs = {}
        self._ssl = None
        self.timings = {}

    # -- lifecycle --
    def start(self):
        t0 = time.monotonic()
        self.pki = PKI(self.dir / "pki")
        self.ca, self.token = self.pki.ca, self.pki.token
        self.timings["pki"] = time.monotonic() - t0
        self._start_etcd()
        self.apiserver_port = None
        self.start_apiserver()
        self._write_kubeconfig()
        if self.with_kcm:
            self.start_controller_manager()
        if self.crd:
            t = time.monotonic()
            self.install_crd(self.crd)
            self.timings["crd"] = time.monotonic() - t
        self.timings["total"] = time.monotonic() - t0
        return self

    def stop(self):
        """Stop in reverse order: controller manager, API server, then etcd (an API server without its etcd
        keeps retrying for a long time). Removes the temporary directory. Safe to call twice."""
        for name in ("kube-controller-manager", "kube-apiserver", "etcd"):
            p = self.procs.get(name)
            if p:
                self.timings[f"stop {name}"] = p.stop()
        if not os.environ.get("FIXGW_K8S_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def logs(self, tail=3000):
        """The tail of every process's log, for failure messages."""
        return "\n".join(f"--- {n} ({p.log_path})\n{p.log(tail)}" for n, p in self.procs.items())

    def _start_with_retry(self, name, make_cmd, ready, timeout):
        """Start a process on freshly chosen ports; on a lost port race (or any early exit) try again with
        new ports, up to three times."""
        last = ""
        for _ in range(3):
            p = Proc(name, make_cmd(), self.dir / f"{name}.log")
            self.procs[name] = p
            p.start()
            t0 = time.monotonic()
            try:
                wait_until(lambda: not p.running() or ready(), timeout, 0.05, f"{name} ready")
            except AssertionError:
                p.stop(5)
                raise AssertionError(f"{name} not ready after {timeout}s:\n{p.log()}")
            if p.running():
                self.timings[name] = time.monotonic() - t0
                return p
            last = p.log()
        raise AssertionError(f"{name} failed to start three times:\n{last}")

    def _start_etcd(self):
        data = self.dir / "etcd-data"

        def cmd():
            shutil.rmtree(data, ignore_errors=True)
            data.mkdir(mode=0o700)
            self.etcd_port, peer, metrics = free_port(), free_port(), free_port()
            self.etcd_url = f"http://127.0.0.1:{self.etcd_port}"
            return [self.tools / "etcd", "--name", "t", "--data-dir", data,
                    "--listen-client-urls", self.etcd_url, "--advertise-client-urls", self.etcd_url,
                    "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                    "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                    "--initial-cluster", f"t=http://127.0.0.1:{peer}",
                    "--listen-metrics-urls", f"http://127.0.0.1:{metrics}",
                    "--unsafe-no-fsync", "--log-level", "warn"]

        def ready():
            try:
                with urllib.request.urlopen(self.etcd_url + "/health", timeout=2) as r:
                    return r.status == 200
            except (OSError, urllib.error.URLError):
                return False

        self._start_with_retry("etcd", cmd, ready, 30)

    def start_apiserver(self, timeout=90):
        """Start kube-apiserver (again, after stop_apiserver: same port, same etcd, so watches can resume)
        and wait for /readyz."""
        keep_port = self.apiserver_port is not None
        P = self.pki

        def cmd():
            if not keep_port:
                self.apiserver_port = free_port()
            self.server = f"https://127.0.0.1:{self.apiserver_port}"
            return [self.tools / "kube-apiserver", f"--etcd-servers={self.etcd_url}", "--etcd-prefix=/registry",
                    f"--cert-dir={self.dir / 'apiserver-certs'}", f"--tls-cert-file={P.apiserver_cert}",
                    f"--tls-private-key-file={P.apiserver_key}", f"--client-ca-file={P.ca}",
                    f"--secure-port={self.apiserver_port}", "--bind-address=127.0.0.1",
                    "--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none",
                    "--service-cluster-ip-range=10.0.0.0/24", "--allow-privileged=true",
                    "--authorization-mode=RBAC", "--disable-admission-plugins=ServiceAccount",
                    f"--service-account-issuer=https://127.0.0.1:{self.apiserver_port}",
                    f"--service-account-key-file={P.sa_pub}", f"--service-account-signing-key-file={P.sa_key}",
                    f"--token-auth-file={P.tokens_csv}", "--profiling=false",
                    f"--audit-policy-file={self._audit_policy()}", f"--audit-log-path={self.audit_log}",
                    "--audit-log-format=json", "--audit-log-mode=blocking",
                    # without it SIGTERM waits for open watches (the controller manager's) and takes 20 s+
                    "--shutdown-watch-termination-grace-period=2s", *self.apiserver_args]

        def ready():
            try:
                return self.request("GET", "/readyz", timeout=2, raw=True)[0] == 200
            except (OSError, ApiError, urllib.error.URLError):
                return False

        if keep_port:  # the same port is needed: no retry with another one
            p = Proc("kube-apiserver", cmd(), self.dir / "kube-apiserver.log")
            self.procs["kube-apiserver"] = p
            p.start()
            t0 = time.monotonic()
            wait_until(lambda: not p.running() or ready(), timeout, 0.05, "kube-apiserver ready")
            if not p.running():
                raise AssertionError(f"kube-apiserver exited on restart:\n{p.log()}")
            self.timings["kube-apiserver restart"] = time.monotonic() - t0
        else:
            self._start_with_retry("kube-apiserver", cmd, ready, timeout)

    def _audit_policy(self):
        p = self.dir / "audit-policy.yaml"
        p.write_text(json.dumps({"apiVersion": "audit.k8s.io/v1", "kind": "Policy",
                                 "omitStages": ["RequestReceived"],
                                 "rules": [{"level": "Metadata",
                                            "verbs": ["create", "update", "patch", "delete", "deletecollection"]},
                                           {"level": "None"}]}))
        return p

    def audit_events(self, user=None, resource=None, verb=None):
        """The API server's audit events for writes so far (ResponseComplete stage), optionally only those
        of a user (username, such as system:serviceaccount:NS:NAME), a resource (plural) and a verb."""
        out = []
        try:
            lines = self.audit_log.read_text().splitlines()
        except FileNotFoundError:
            return out
        for line in lines:
            try:
                ev = json.loads(line)
            except ValueError:
                continue  # a line being written
            if ev.get("stage") != "ResponseComplete":
                continue
            if user and ev.get("user", {}).get("username") != user:
                continue
            if resource and ev.get("objectRef", {}).get("resource") != resource:
                continue
            if verb and ev.get("verb") != verb:
                continue
            out.append(ev)
        return out

    def compact_etcd(self):
        """Compact etcd up to its current revision (through etcd's JSON gateway). Returns the revision. The
        API server's watch cache still serves its recent window: expire_resource_versions() also restarts
        the API server, after which every older resourceVersion is 410 Gone."""
        def post(path, body):
            req = urllib.request.Request(self.etcd_url + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.loads(r.read())
        rev = int(post("/v3/kv/range", {"key": "AA=="})["header"]["revision"])
        post("/v3/kv/compaction", {"revision": str(rev), "physical": True})
        return rev

    def expire_resource_versions(self):
        """Make every resourceVersion issued so far too old: compact etcd, then restart the API server (its
        watch cache starts again from now). A watch or an exact list from an older resourceVersion then gets
        410 Gone (watch: an ERROR event with code 410, reason Expired). Open watches are cut by the restart."""
        rev = self.compact_etcd()
        self.stop_apiserver()
        self.start_apiserver()
        return rev

    def stop_apiserver(self):
        """Stop kube-apiserver only (SIGTERM; etcd and the controller manager stay): "API server down" tests.
        start_apiserver() brings it back on the same port. Returns the seconds the stop took."""
        return self.procs["kube-apiserver"].stop()

    def start_controller_manager(self, timeout=60):
        P = self.pki

        def cmd():
            self.kcm_port = free_port()
            return [self.tools / "kube-controller-manager", f"--kubeconfig={self.kubeconfig}",
                    "--leader-elect=false", f"--controllers={CONTROLLERS}",
                    f"--service-account-private-key-file={P.sa_key}", f"--root-ca-file={P.ca}",
                    "--bind-address=127.0.0.1", f"--secure-port={self.kcm_port}",
                    f"--cert-dir={self.dir / 'kcm-certs'}"]

        def ready():
            ctx = ssl.create_default_context()
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
            try:
                with urllib.request.urlopen(f"https://127.0.0.1:{self.kcm_port}/healthz", timeout=2,
                                            context=ctx) as r:
                    return r.status == 200
            except (OSError, urllib.error.URLError):
                return False

        self._start_with_retry("kube-controller-manager", cmd, ready, timeout)
        # Its controllers are running once the default namespace has its ServiceAccount.
        wait_until(lambda: self.get("/api/v1/namespaces/default/serviceaccounts/default", missing_ok=True),
                   timeout, 0.1, "the default ServiceAccount (kube-controller-manager's controllers running)")

    def stop_controller_manager(self):
        return self.procs["kube-controller-manager"].stop()

    def _write_kubeconfig(self):
        self.kubeconfig = self.dir / "kubeconfig"
        self.kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "test", "cluster": {"server": self.server,
                                                      "certificate-authority": str(self.ca)}}],
            "users": [{"name": "admin", "user": {"token": self.token}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "admin"}}],
            "current-context": "test"}, indent=1) + "\n")
        return self.kubeconfig

    def write_kubeconfig(self, path, user=None, namespace=None):
        """Another kubeconfig for this cluster: user={"token": ...} or {"client-certificate": ...,
        "client-key": ...} (default: the admin token), and a default namespace. Returns path."""
        ctx = {"cluster": "test", "user": "u"}
        if namespace:
            ctx["namespace"] = namespace
        pathlib.Path(path).write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "test", "cluster": {"server": self.server,
                                                      "certificate-authority": str(self.ca)}}],
            "users": [{"name": "u", "user": user or {"token": self.token}}],
            "contexts": [{"name": "test", "context": ctx}], "current-context": "test"}) + "\n")
        return pathlib.Path(path)

    # -- kubectl --
    def kubectl(self, *args, input=None, check=True, timeout=120):
        """Run the pinned kubectl against this cluster. Returns the CompletedProcess (text); check=True
        raises AssertionError with stderr when it fails."""
        r = subprocess.run([str(self.tools / "kubectl"), f"--kubeconfig={self.kubeconfig}", *map(str, args)],
                           input=input, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(map(str, args))} exited {r.returncode}:\n{r.stderr}")
        return r

    def apply(self, manifest, *args, check=True):
        """kubectl apply -f - with the YAML/JSON text (or a dict / list of dicts); extra args such as
        "--dry-run=server" or "-n", ns."""
        if not isinstance(manifest, str):
            items = manifest if isinstance(manifest, list) else [manifest]
            manifest = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
        return self.kubectl("apply", "-f", "-", *args, input=manifest, check=check)

    def install_crd(self, path=CRD, timeout=30):
        """Apply a CRD file and wait until every CRD in it is Established."""
        self.kubectl("apply", "-f", path)
        names = re.findall(r"^  name: (\S+)$", pathlib.Path(path).read_text(), re.M)
        for n in names or [CRD_NAME]:
            self.kubectl("wait", "--for=condition=Established", f"crd/{n}", f"--timeout={timeout}s")

    # -- the REST API --
    def _context(self):
        if self._ssl is None:
            self._ssl = ssl.create_default_context(cafile=str(self.ca))
        return self._ssl

    def request(self, method, path, body=None, content_type="application/json", timeout=30, raw=False,
                token=None):
        """One API request with the admin token (or another bearer token). Returns the decoded JSON
        (raw=True: (status, bytes)). A non-2xx answer raises ApiError (raw=True returns it)."""
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {token or self.token}",
                                              "Content-Type": content_type, "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self._context()) as r:
                status, payload = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, payload = e.code, e.read()
        if raw:
            return status, payload
        try:
            obj = json.loads(payload) if payload else None
        except ValueError:
            obj = payload.decode(errors="replace")
        if not 200 <= status < 300:
            raise ApiError(status, obj)
        return obj

    def get(self, path, missing_ok=False):
        """GET path; None for a 404 when missing_ok."""
        try:
            return self.request("GET", path)
        except ApiError as e:
            if missing_ok and e.status == 404:
                return None
            raise

    def create(self, path, obj):
        """POST obj to a collection path such as /api/v1/namespaces/NS/services."""
        return self.request("POST", path, obj)

    def patch(self, path, patch, kind="merge"):
        """PATCH with a merge ("merge"), strategic ("strategic") or JSON ("json") patch."""
        ct = {"merge": "application/merge-patch+json", "strategic": "application/strategic-merge-patch+json",
              "json": "application/json-patch+json"}[kind]
        return self.request("PATCH", path, patch, content_type=ct)

    def delete(self, path, missing_ok=True):
        try:
            return self.request("DELETE", path)
        except ApiError as e:
            if missing_ok and e.status == 404:
                return None
            raise

    # -- objects tests need --
    def namespace(self, prefix="t"):
        """Create a namespace with a unique name (prefix + random suffix) and return its name."""
        name = f"{prefix}-{os.urandom(3).hex()}"
        self.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        return name

    def delete_namespace(self, name):
        """Delete a namespace and everything in it (the namespace controller finishes it in the background)."""
        self.delete(f"/api/v1/namespaces/{name}")

    def service(self, ns, name, ports=(("fix", 9880, 9880),), selector=None):
        """Create a ClusterIP Service; ports: (name, port, targetPort) with targetPort an int or a port
        name. No selector: a selectorless Service whose EndpointSlices the test writes (endpoint_slice)."""
        spec = {"ports": [{"name": n, "port": p, "targetPort": t, "protocol": "TCP"} for n, p, t in ports]}
        if selector:
            spec["selector"] = selector
        return self.create(f"/api/v1/namespaces/{ns}/services",
                           {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec})

    @staticmethod
    def endpoint(address, ready=True, serving=None, terminating=False):
        """One EndpointSlice endpoint; serving defaults to ready (as for a Pod that is not terminating)."""
        return {"addresses": [address], "conditions": {
            "ready": ready, "serving": ready if serving is None else serving, "terminating": terminating}}

    def endpoint_slice(self, ns, service, name, endpoints, ports=(("fix", 9880),)):
        """Create a hand-made EndpointSlice for a (selectorless) Service. endpoints: addresses (ready) or
        dicts from endpoint(); ports: (name, port). Returns the created object."""
        eps = [self.endpoint(e) if isinstance(e, str) else e for e in endpoints]
        return self.create(f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices", {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4", "ports": [{"name": n, "port": p, "protocol": "TCP"} for n, p in ports],
            "endpoints": eps})

    def set_endpoints(self, ns, name, endpoints):
        """Replace the endpoints of a hand-made EndpointSlice (merge patch)."""
        eps = [self.endpoint(e) if isinstance(e, str) else e for e in endpoints]
        return self.patch(f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices/{name}",
                          {"endpoints": eps})

    def endpoint_slices(self, ns, service):
        """The EndpointSlices of a Service (items)."""
        sel = urllib.parse.quote(f"kubernetes.io/service-name={service}")
        return self.get(f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices?labelSelector={sel}")["items"]

    def ready_addresses(self, ns, service):
        """Sorted addresses the Service's EndpointSlices mark ready."""
        return sorted(a for s in self.endpoint_slices(ns, service) for e in s.get("endpoints") or []
                      if e.get("conditions", {}).get("ready") for a in e["addresses"])

    def node(self, name=NODE):
        """Make sure a Node object exists (no kubelet behind it: STATUS stays Unknown, which is enough for
        kube-controller-manager to publish the Pods bound to it)."""
        if not self.get(f"/api/v1/nodes/{name}", missing_ok=True):
            try:
                self.create("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
            except ApiError as e:
                if e.status != 409:
                    raise
        return name

    def pod(self, ns, name, ip, labels, ports=(("fix", 9880),), ready=True, node=NODE):
        """A Pod bound to the test Node, with its status set as a kubelet would (Running, podIP, Ready), so
        kube-controller-manager puts ip into the EndpointSlices of Services selecting labels."""
        self.node(node)
        self.create(f"/api/v1/namespaces/{ns}/pods", {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"nodeName": node, "containers": [{
                "name": "engine", "image": "fixgw-test/engine:none",
                "ports": [{"name": n, "containerPort": p, "protocol": "TCP"} for n, p in ports]}]}})
        return self.set_pod_ready(ns, name, ready, ip)

    def set_pod_ready(self, ns, name, ready, ip=None):
        """Patch a Pod's status: Running with the Ready and ContainersReady conditions True or False."""
        st = "True" if ready else "False"
        status = {"phase": "Running", "conditions": [{"type": "Ready", "status": st},
                                                     {"type": "ContainersReady", "status": st}]}
        if ip:
            status.update(podIP=ip, podIPs=[{"ip": ip}])
        return self.patch(f"/api/v1/namespaces/{ns}/pods/{name}/status", {"status": status})

    def service_account_token(self, ns, name, seconds=3600):
        """Create ServiceAccount ns/name (if missing) and return a token for it (TokenRequest API), for
        tests that run a component with the rights its RBAC gives and no more."""
        if not self.get(f"/api/v1/namespaces/{ns}/serviceaccounts/{name}", missing_ok=True):
            self.create(f"/api/v1/namespaces/{ns}/serviceaccounts",
                        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}})
        tr = self.create(f"/api/v1/namespaces/{ns}/serviceaccounts/{name}/token",
                         {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                          "spec": {"expirationSeconds": seconds}})
        return tr["status"]["token"]

    def in_cluster_files(self, d, token=None, namespace="default"):
        """What a Pod sees under /var/run/secrets/kubernetes.io/serviceaccount (token, ca.crt, namespace),
        written to directory d, plus the environment a Pod gets (KUBERNETES_SERVICE_HOST/PORT). Returns
        that environment as a dict."""
        d = pathlib.Path(d)
        d.mkdir(parents=True, exist_ok=True)
        (d / "token").write_text(token or self.token)
        (d / "ca.crt").write_bytes(self.ca.read_bytes())
        (d / "namespace").write_text(namespace)
        return {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(self.apiserver_port)}

    def watch(self, path, timeout=60):
        """Open a watch (path with ?watch=1...) and return an iterator of event dicts; the response is
        closed when the iterator is closed or garbage-collected."""
        req = urllib.request.Request(self.server + path, headers={"Authorization": f"Bearer {self.token}"})
        resp = urllib.request.urlopen(req, timeout=timeout, context=self._context())

        def events():
            with resp:
                for line in resp:
                    if line.strip():
                        yield json.loads(line)
        return events()


# ---------------------------------------------------------------- network namespaces

_NS_LOCK = "/run/lock/fixgw-netns.lock"
_ns_seq = 0


def netns_list():
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    return [l.split()[0] for l in r.stdout.splitlines() if l.strip()]


def _used_subnets():
    r = subprocess.run(["ip", "-4", "-o", "route", "show", "table", "all"], capture_output=True, text=True)
    used = set(re.findall(r"\b10\.(\d+)\.(\d+)\.\d+", r.stdout))
    r = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True)
    used |= set(re.findall(r"\b10\.(\d+)\.(\d+)\.\d+", r.stdout))
    return {(int(a), int(b)) for a, b in used}


def _run(*cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr.strip()}")
    return r.stdout


class NetNS:
    """A network namespace joined to the host by a veth pair, with a private /24 that exists only for this
    test: the host side is .1, the namespace has addresses .2, .3, ... (n of them) on its eth0, and its own
    loopback. Names are fk<pid>n<i> (namespace) and fk<pid>h<i> (host veth), at most 15 characters.

    Attributes: name, host_if, host_addr ("10.a.b.1"), addrs (["10.a.b.2", ...]), addr (addrs[0])."""

    def __init__(self, n=1):
        global _ns_seq
        if os.geteuid() != 0:
            raise RuntimeError("network namespaces need root (the test command runs as root)")
        _ns_seq += 1
        pid = os.getpid()
        self.name, self.host_if = f"fk{pid}n{_ns_seq}", f"fk{pid}h{_ns_seq}"
        self._created = False
        os.makedirs(os.path.dirname(_NS_LOCK), exist_ok=True)
        with open(_NS_LOCK, "w") as lk:  # address choice + creation are one step across test runs
            fcntl.flock(lk, fcntl.LOCK_EX)
            used = _used_subnets()
            free = [(a, b) for a in range(200, 255) for b in range(256) if (a, b) not in used]
            if not free:
                raise RuntimeError("no free 10.200-254.x.0/24 subnet for a test network namespace")
            a, b = random.choice(free)
            self.prefix = f"10.{a}.{b}"
            self.host_addr = f"{self.prefix}.1"
            self.addrs = [f"{self.prefix}.{i}" for i in range(2, 2 + n)]
            self.addr = self.addrs[0]
            try:
                _run("ip", "netns", "add", self.name)
                self._created = True
                _run("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", "eth0", "netns", self.name)
                _run("ip", "addr", "add", f"{self.host_addr}/24", "dev", self.host_if)
                _run("ip", "link", "set", self.host_if, "up")
                for ip in self.addrs:
                    self.run("ip", "addr", "add", f"{ip}/24", "dev", "eth0")
                self.run("ip", "link", "set", "eth0", "up")
                self.run("ip", "link", "set", "lo", "up")
                self.run("ip", "route", "add", "default", "via", self.host_addr)
            except Exception:
                self.delete()
                raise
        self.procs = []
        self.engines = []

    def run(self, *cmd):
        """Run a command inside the namespace to completion; returns stdout; raises on failure."""
        return _run("ip", "netns", "exec", self.name, *map(str, cmd))

    def popen(self, cmd, **kw):
        """Start a process inside the namespace (subprocess.Popen arguments); stopped by delete()."""
        p = subprocess.Popen(["ip", "netns", "exec", self.name, *map(str, cmd)], preexec_fn=_die_with_parent,
                             **kw)
        self.procs.append(p)
        return p

    def call(self, fn, *args, **kw):
        """Run fn(*args, **kw) in a thread that has joined the namespace and return its result: sockets
        it creates belong to the namespace and keep working from any thread."""
        out = {}

        def body():
            try:
                fd = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
                try:
                    if _libc.setns(fd, _CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns")
                finally:
                    os.close(fd)
                out["v"] = fn(*args, **kw)
            except BaseException as e:  # re-raised in the caller
                out["e"] = e

        t = threading.Thread(target=body)
        t.start()
        t.join()
        if "e" in out:
            raise out["e"]
        return out["v"]

    def engine(self, port=9880, addr=None, **kw):
        """The end-to-end tests' echo engine (tests/e2e/gwharness.Engine) listening on addr:port inside the
        namespace (default: its first address). Stopped by delete()."""
        gw = _gwharness()
        e = self.call(lambda: gw.Engine(port=port, host=addr or self.addr, **kw))
        self.engines.append(e)
        return e

    def acceptor(self, name, addr=None, **kw):
        """A QuickFIX acceptor (tests/e2e/gwharness.Acceptor: fix_acceptor, echoes application messages)
        listening on addr (default: the first address) inside the namespace, on the port it reports
        (.port). Stopped by delete()."""
        gw = _gwharness()
        kw["args"] = ("--bind", addr or self.addr, *kw.get("args", ()))
        a = gw.Acceptor(name, prefix=("ip", "netns", "exec", self.name), **kw)
        self.procs.append(a.proc)
        return a

    def delete(self):
        """Stop what runs inside and delete the namespace (its veth pair goes with it)."""
        for e in getattr(self, "engines", []):
            e.stop()
        for p in getattr(self, "procs", []):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if self._created:
            subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
            self._created = False
            # The kernel tears the namespace down once its last socket is gone, in the background (a
            # TIME_WAIT socket inside keeps it up to a minute). Give it a few seconds; if its veth is still
            # there, go on: the next NetNS skips every subnet still in use (_used_subnets) and names are
            # unique per process, so nothing can collide with it, and the kernel finishes on its own.
            try:
                wait_until(lambda: subprocess.run(["ip", "link", "show", self.host_if],
                                                  capture_output=True).returncode != 0,
                           10, 0.05, f"{self.host_if} to go with namespace {self.name}")
            except AssertionError:
                subprocess.run(["ip", "link", "del", self.host_if], capture_output=True)


def _gwharness():
    """tests/e2e/gwharness (Engine, Gateway, JsonLines, QuickFIX peers), importable from here."""
    e2e = str(ROOT / "tests" / "e2e")
    if e2e not in sys.path:
        sys.path.append(e2e)
    import gwharness
    return gwharness
