"""The chart's processes started as the chart runs them, where there is no kubelet: the gateway with the args,
env and config file of its rendered (or installed) Deployment and ConfigMap, under a token of the chart's own
ServiceAccount. Only listen addresses (moved to free loopback ports) and mounted paths (config, TLS Secrets,
service account files) are changed to what a test process can have. Used by test_helm.py and the getting
started guide's test, so neither can drift from the chart."""
import os
import pathlib
import subprocess

import yaml

import k8sharness
from gwharness import JsonLines, free_port

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
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(60)
        self.log.eof.wait(10)
        return self.proc.returncode


def start_reject_engine(k8s, ns, net, addr, dep, pod_name="reject-0"):
    """The chart's reject engine Deployment dep as a process in network namespace net at addr, with a Pod
    object of the Deployment's labels at that address (kube-controller-manager then puts it in the reject
    engine Service's EndpointSlice). Returns (proc, JsonLines of its stderr)."""
    from conftest import FIXGW
    c = container(dep)
    assert not c.get("env")
    labels = dep["spec"]["template"]["metadata"]["labels"]
    k8s.pod(ns, pod_name, addr, labels, ports=(("fix", c["ports"][0]["containerPort"]),))
    proc = net.popen([FIXGW, *c["args"]], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return proc, JsonLines(proc.stderr, "reject-engine")
