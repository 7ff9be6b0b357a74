"""The chart's processes started as the chart runs them, where there is no kubelet: the gateway with the args,
env and config file of its rendered (or installed) Deployment and ConfigMap, under a token of the chart's own
ServiceAccount. Only listen addresses (moved to free loopback ports) and mounted paths (config, TLS Secrets,
service account files) are changed to what a test process can have. Used by test_helm.py and the getting
started guide's test, so neither can drift from the chart. The operator (ChartOperator) runs with nothing
changed but its admin listener's port: its args, env and mounted files are the chart's (test_chart_operator.py).
probe() runs a container's rendered httpGet probes as the kubelet does, so a probe with the wrong port or path
fails a test."""
import base64
import os
import pathlib
import re
import subprocess

import yaml

import k8sharness
from gwharness import JsonLines, free_port, http_get

# What the kubelet fills the chart's env from (the downward API); an env var a test does not know fails.
DOWNWARD = ("metadata.name", "metadata.namespace", "spec.nodeName")


def container(obj):
    """The only container of a Deployment or DaemonSet."""
    (c,) = obj["spec"]["template"]["spec"]["containers"]
    return c


def self_signed(d):
    """tls.crt and tls.key in directory d (what a kubernetes.io/tls Secret holds)."""
    d.mkdir(parents=True, exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "2", "-subj", "/CN=localhost", "-keyout", d / "tls.key", "-out", d / "tls.crt"],
                   check=True, capture_output=True)


def stop(proc, log):
    """SIGTERM proc, wait for it and for the end of its log; its exit status."""
    if proc.poll() is None:
        proc.terminate()
        proc.wait(60)
    log.eof.wait(10)
    return proc.returncode


class ChartGateway:
    """fixgw gateway as the chart's Deployment dep and ConfigMap cm run it. tls_dirs: listener name -> a
    directory holding the Secret's tls.crt and tls.key (a self-signed pair when a listener has none).
    Attributes once started: ports (listener name -> loopback port), admin_port, proc, log (JsonLines of
    its stderr)."""

    def __init__(self, k8s, ns, dep, cm, workdir, tls_dirs=None, pod_name="gateway-0"):
        from conftest import FIXGW
        workdir = pathlib.Path(workdir)
        c = container(dep)
        mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
        cfg_name = c["args"][c["args"].index("--config") + 1]
        assert cfg_name.startswith(mounts["config"] + "/")
        cfg = yaml.safe_load(cm["data"][pathlib.Path(cfg_name).name])
        self.ports = {}
        for lst in cfg["listeners"]:
            self.ports[lst["name"]] = free_port()
            lst["address"] = f"127.0.0.1:{self.ports[lst['name']]}"
            if lst["tls"]["enabled"]:
                d = (tls_dirs or {}).get(lst["name"])
                if d is None:
                    d = workdir / "tls" / lst["name"]
                    self_signed(d)
                mount = mounts[f"tls-{lst['name']}"]
                for k in ("certFile", "keyFile"):
                    assert lst["tls"][k].startswith(mount + "/")
                    lst["tls"][k] = str(pathlib.Path(d) / pathlib.Path(lst["tls"][k]).name)
        self.admin_port = free_port()
        cfg["admin"]["address"] = f"127.0.0.1:{self.admin_port}"
        cfg["kubernetes"]["syncTimeout"] = "30s"  # a busy test machine; the chart leaves the default
        (workdir / "fixgw.yaml").write_text(yaml.safe_dump(cfg))
        args = list(c["args"])
        args[args.index("--config") + 1] = str(workdir / "fixgw.yaml")
        values = dict(zip(DOWNWARD, (pod_name, ns, k8sharness.NODE)))
        pod_env = {e["name"]: values[e["valueFrom"]["fieldRef"]["fieldPath"]] for e in c.get("env", [])}
        assert set(pod_env) == {"POD_NAME", "POD_NAMESPACE", "NODE_NAME"}

        sa_name = dep["spec"]["template"]["spec"]["serviceAccountName"]
        sa = workdir / "serviceaccount"
        env = {"PATH": os.environ["PATH"], **pod_env,
               **k8s.in_cluster_files(sa, k8s.service_account_token(ns, sa_name), ns)}
        # The service account files where a Pod has them (/var/run/secrets/...), in a mount namespace of the
        # gateway's own: a private tmpfs over /run, so the host's /run is untouched.
        script = ('mount -t tmpfs -o mode=755 fixgw-sa /run && d=/run/secrets/kubernetes.io/serviceaccount && '
                  'mkdir -p "$d" && cp "$SA"/token "$SA"/ca.crt "$SA"/namespace "$d"/ && exec "$@"')
        self.proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                                      str(FIXGW), *args], env=dict(env, SA=str(sa)), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, preexec_fn=k8sharness._die_with_parent)
        self.log = JsonLines(self.proc.stderr, "gateway")

    def stop(self):
        """SIGTERM, then the exit status (0 for a clean drain and stop)."""
        return stop(self.proc, self.log)


def start_reject_engine(k8s, ns, net, addr, dep, pod_name="reject-0"):
    """The chart's reject engine Deployment dep as a process in network namespace net at addr, with a Pod
    object of the Deployment's labels at that address (kube-controller-manager then puts it in the reject
    engine Service's EndpointSlice). Returns (proc, JsonLines of its stderr)."""
    from conftest import FIXGW
    c = container(dep)
    assert not c.get("volumeMounts"), "a mount the test does not make"
    labels = dep["spec"]["template"]["metadata"]["labels"]
    k8s.pod(ns, pod_name, addr, labels, ports=(("fix", c["ports"][0]["containerPort"]),))
    env = {"PATH": os.environ["PATH"], **container_env(c, pod_name, ns)}
    proc = net.popen([FIXGW, *c["args"]], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return proc, JsonLines(proc.stderr, "reject-engine")


def container_env(c, pod_name, ns):
    """Container c's env as the kubelet makes it: plain values, and the downward API fields from pod_name,
    ns and the harness's node; any other source fails here rather than silently."""
    values = dict(zip(DOWNWARD, (pod_name, ns, k8sharness.NODE)))
    return {e["name"]: e["value"] if "value" in e else values[e["valueFrom"]["fieldRef"]["fieldPath"]]
            for e in c.get("env", [])}


def probe(c, kind, host, ports=None):
    """Container c's rendered probe kind ("livenessProbe", "readinessProbe", "startupProbe") as the kubelet
    runs it: an httpGet to host (the pod's address) at the probe's port (a name resolved through c's ports,
    or a number) and path. ports maps a rendered port to the one the test process listens on instead.
    Returns (status, body); (0, b"") when nothing answers."""
    get = c[kind]["httpGet"]
    assert get.get("scheme", "HTTP") == "HTTP", get
    port = get["port"]
    if isinstance(port, str):
        (port,) = [p["containerPort"] for p in c["ports"] if p["name"] == port]
    port = (ports or {}).get(port, port)
    try:
        return http_get(port, get["path"], timeout=c[kind].get("timeoutSeconds", 1), host=host)
    except OSError:
        return 0, b""


def _expand(s, env):
    """What the kubelet does to a container's args: $(VAR) becomes VAR's value when the container has VAR in
    its env, $$ becomes $, anything else stays as written."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), s)


class ChartOperator:
    """fixgw operator as the chart's Deployment dep runs it, changed in nothing: the container's args exactly
    (with $(VAR) expanded from its env, as the kubelet does), its env (downward API values from pod_name and
    ns), and every volume mounted at its mountPath (Secrets and ConfigMaps read from the API server, where
    the test applied the rendered chart; emptyDirs empty), plus the service account files and the
    KUBERNETES_SERVICE_* variables of the in-cluster configuration, under a token of the chart's own
    ServiceAccount, as the chart's securityContext user. The mounts are made in a mount namespace of the
    process's own (a tmpfs over /run, an overlay over any other top-level directory), so nothing outside it
    changes. There is no kubeconfig: the binary finds the API server exactly as it does in a pod.
    The one change: the admin listener (--admin :PORT) moves to a free loopback port, since the test shares
    the host's network namespace; admin_ports maps the rendered port to it (for probe()).
    Attributes once started: args, env, admin_ports, proc, log (JsonLines of its stderr)."""

    def __init__(self, k8s, ns, dep, workdir, pod_name="operator-0"):
        from conftest import FIXGW
        workdir = pathlib.Path(workdir)
        pod = dep["spec"]["template"]["spec"]
        c = container(dep)
        env = container_env(c, pod_name, ns)
        self.env = env
        self.args = [_expand(a, env) for a in c["args"]]
        self.admin_ports = {}
        if "--admin" in self.args:
            i = self.args.index("--admin") + 1
            rendered = int(self.args[i].rpartition(":")[2])
            self.admin_ports[rendered] = free_port()
            self.args[i] = f"127.0.0.1:{self.admin_ports[rendered]}"
        assert not c.get("command"), "the chart overrides the image's entrypoint: run that instead"
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        binds = []
        for i, m in enumerate(c.get("volumeMounts", [])):
            src = workdir / "volumes" / str(i)
            src.mkdir(parents=True)
            v = volumes[m["name"]]
            if "secret" in v or "configMap" in v:
                kind, name = ("secrets", v["secret"]["secretName"]) if "secret" in v else \
                    ("configmaps", v["configMap"]["name"])
                obj = k8s.get(f"/api/v1/namespaces/{ns}/{kind}/{name}")
                files = {k: base64.b64decode(x) for k, x in obj.get("data", {}).items()} if kind == "secrets" \
                    else {k: x.encode() for k, x in obj.get("data", {}).items()}
                items = (v.get("secret") or v.get("configMap")).get("items")
                for k, data in files.items():
                    path = next((it["path"] for it in items if it["key"] == k), None) if items else k
                    if path:
                        (src / path).parent.mkdir(parents=True, exist_ok=True)
                        (src / path).write_bytes(data)
            else:
                assert "emptyDir" in v, f"volume {m['name']}: only Secrets, ConfigMaps and emptyDirs are known"
            sub = src / m["subPath"] if m.get("subPath") else src
            binds.append((str(sub), m["mountPath"]))
        for root, dirs, files in os.walk(workdir / "volumes"):
            for n in dirs + files:
                os.chmod(os.path.join(root, n), 0o755 if n in dirs else 0o644)
        sa = workdir / "serviceaccount"
        in_cluster = k8s.in_cluster_files(sa, k8s.service_account_token(ns, pod["serviceAccountName"]), ns)
        for f in sa.iterdir():
            os.chmod(f, 0o644)
        assert pod.get("automountServiceAccountToken", True)
        sc = pod.get("securityContext", {})
        uid, gid = sc.get("runAsUser", 0), sc.get("runAsGroup", 0)
        lines = ['set -e', 'mount -t tmpfs -o mode=755 fixgw-run /run',
                 'd=/run/secrets/kubernetes.io/serviceaccount', 'mkdir -p "$d"',
                 'cp "$SA"/token "$SA"/ca.crt "$SA"/namespace "$d"/']
        overlaid = {"/run"}
        for i, (src, dst) in enumerate(binds):
            top = "/" + dst.lstrip("/").split("/")[0]
            top = "/run" if top == "/var" and dst.startswith("/var/run/") else top
            if top not in overlaid:
                o = workdir / "overlay" / str(i)
                o.mkdir(parents=True)
                lines += [f'mount -t tmpfs fixgw-ovl {o}', f'mkdir {o}/u {o}/w',
                          f'mount -t overlay overlay -o lowerdir={top},upperdir={o}/u,workdir={o}/w {top}']
                overlaid.add(top)
            lines += [f'mkdir -p {dst}', f'mount --bind {src} {dst}']
        lines += ['unset SA', f'exec setpriv --reuid={uid} --regid={gid} --clear-groups "$@"']
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(lines), "sh", str(FIXGW),
             *self.args], env={"PATH": os.environ["PATH"], **env, **in_cluster, "SA": str(sa)},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=k8sharness._die_with_parent)
        self.log = JsonLines(self.proc.stderr, "operator")

    def stop(self):
        """SIGTERM, then the exit status (0 after a clean stop)."""
        return stop(self.proc, self.log)
