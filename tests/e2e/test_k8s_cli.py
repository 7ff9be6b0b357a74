"""`fixgw k8s` without an API server: help, every option parsed (each numeric one at its bounds), clear
usage errors, and kubeconfig problems reported with file and key and never a token. The verbs against a real
API server are in tests/k8s/test_k8s_client.py."""
import pathlib

from conftest import run

KUBECONFIG = """apiVersion: v1
kind: Config
current-context: t
clusters: [{name: t, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: s3cr3t-t0ken}}]
contexts: [{name: t, context: {cluster: t, user: u}}]
"""

NUMERIC = {"--page-size": ("1", "100000"), "--watch-timeout": ("1", "3600"), "--stall-slack-ms": ("1", "3600000"),
           "--max-event-bytes": ("64", "1073741824"), "--qps": ("-1", "100000"), "--burst": ("1", "100000"),
           "--lease-ms": ("1000", "3600000"), "--renew-deadline-ms": ("1", "3600000"), "--retry-ms": ("1", "3600000")}


def test_help(fixgw):
    for args in (["k8s", "--help"], ["k8s", "watch", "--help"], ["--help"]):
        p = run(args)
        assert p.returncode == 0 and b"usage:" in p.stdout, args
    assert b"k8s" in run(["--help"]).stdout
    assert run(["k8s"]).returncode == 2


def test_every_option_parses_and_bounds_are_checked(fixgw):
    # a valid value of every option reaches the kubeconfig step (a missing file: exit 2 with its name)
    for opt, (lo, hi) in NUMERIC.items():
        for v in (lo, hi):
            p = run(["k8s", "watch", "--resource", "fixsessions", "--kubeconfig", "/nonexistent/kc", opt, v])
            assert p.returncode == 2 and b"/nonexistent/kc" in p.stderr, (opt, v, p.stderr)
        p = run(["k8s", "watch", "--resource", "fixsessions", opt, "x"])
        assert p.returncode == 2 and b"want a number" in p.stderr, (opt, p.stderr)
        p = run(["k8s", "watch", "--resource", "fixsessions", opt, str(float(hi) * 10 + 1)])
        assert p.returncode == 2 and b"want a number" in p.stderr, (opt, p.stderr)
    strings = ["--namespace", "n", "--name", "x", "--label-selector", "a=b", "--merge", "{}", "--resource-version",
               "1", "--type", "Warning", "--reason", "R", "--action", "A", "--note", "t", "--id", "me",
               "--write-configmap", "cm", "--log-level", "debug"]
    for verb in ("watch", "get", "update", "patch", "event", "elect"):
        p = run(["k8s", verb, "--resource", "fixsessions", *strings, "--status", "--objects",
                 "--kubeconfig", "/nonexistent/kc"])
        assert p.returncode == 2 and b"/nonexistent/kc" in p.stderr, (verb, p.stderr)


def test_usage_errors(fixgw):
    cases = [(["k8s", "watch"], b"--resource is required"),
             (["k8s", "watch", "--resource", "pods"], b"unknown resource 'pods'"),
             (["k8s", "get", "--resource", "fixsessions", "-n", "x"], b"--namespace and --name are required"),
             (["k8s", "elect", "-n", "x", "--name", "l"], b"--namespace, --name and --id are required"),
             (["k8s", "watch", "--resource", "fixsessions", "--bogus"], b"--bogus"),
             (["k8s", "watch", "--resource", "fixsessions", "--log-level", "loud"], b"--log-level"),
             (["k8s", "watch", "--resource", "fixsessions", "extra"], b"unexpected argument")]
    for args, want in cases:
        p = run(args)
        assert p.returncode == 2, args
        assert want in p.stderr, (args, p.stderr)


def test_elect_timings_must_be_ordered(fixgw, tmp_path):
    kc = tmp_path / "kc"
    kc.write_text(KUBECONFIG.replace(", insecure-skip-tls-verify: true", ""))
    p = run(["k8s", "elect", "-n", "x", "--name", "l", "--id", "me", "--lease-ms", "3000", "--renew-deadline-ms",
             "3000", "--kubeconfig", str(kc)])
    assert p.returncode == 2 and b"lease > renew deadline > retry period" in p.stderr, p.stderr


def test_kubeconfig_errors_name_the_key_not_the_token(fixgw, tmp_path):
    kc = tmp_path / "kc"
    kc.write_text(KUBECONFIG)
    p = run(["k8s", "get", "--resource", "fixsessions", "-n", "x", "--name", "y", "--kubeconfig", str(kc)])
    assert p.returncode == 2
    assert f"{kc}:4:".encode() in p.stderr and b"clusters[t].cluster.insecure-skip-tls-verify" in p.stderr
    assert b"s3cr3t" not in p.stderr + p.stdout


def test_unreachable_server_is_a_clear_failure(fixgw, tmp_path):
    kc = tmp_path / "kc"
    kc.write_text(KUBECONFIG.replace(", insecure-skip-tls-verify: true", ""))
    p = run(["k8s", "get", "--resource", "fixsessions", "-n", "x", "--name", "y", "--kubeconfig", str(kc)])
    assert p.returncode == 1
    assert b"k8s_request_failed" in p.stderr and b"127.0.0.1" in p.stderr
    assert b"s3cr3t" not in p.stderr + p.stdout
    assert pathlib.Path(kc).exists()
