"""The FIXSession CRD (crds/fixsession-crd.yaml) against the real kube-apiserver: every example is accepted,
every invalid spec below is refused by the CRD's OpenAPI or CEL rules with the message the CRD gives, and
`kubectl get` shows the printer columns."""
import copy
import json
import pathlib

import pytest

from conftest import EXAMPLES
from k8sharness import ApiError

BASE = {"apiVersion": "fixgw.io/v1alpha1", "kind": "FIXSession", "metadata": {"name": "s"},
        "spec": {"matchFields": {"SenderCompID49": {"value": "BROKER_A"}},
                 "target": {"service": {"name": "engine-svc", "port": {"number": 9880}}}}}


def fixsessions(ns):
    return f"/apis/fixgw.io/v1alpha1/namespaces/{ns}/fixsessions"


def parse_json_stream(text):
    """The objects of kubectl's JSON output: one per document of the file, one after the other."""
    dec, out, i = json.JSONDecoder(), [], 0
    while i < len(text.rstrip()):
        obj, i = dec.raw_decode(text, i)
        out.extend(obj["items"] if obj.get("kind") == "List" else [obj])
        while i < len(text) and text[i].isspace():
            i += 1
    return out


def example_files():
    return sorted(pathlib.Path(EXAMPLES).glob("*.yaml"))


@pytest.fixture(scope="module")
def trading(k8s):
    """The examples' own namespace."""
    if not k8s.get("/api/v1/namespaces/trading", missing_ok=True):
        k8s.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                          "metadata": {"name": "trading"}})
    return "trading"


def test_crd_established_with_status_subresource(k8s):
    crd = k8s.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/fixsessions.fixgw.io")
    conds = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conds.get("Established") == "True" and conds.get("NamesAccepted") == "True", conds
    assert crd["spec"]["versions"][0]["subresources"] == {"status": {}}


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_example_accepted(k8s, trading, path):
    """Server-side dry run, then a real apply; the schema's defaults are filled in; then deleted."""
    docs = parse_json_stream(k8s.kubectl("create", "--dry-run=client", "-o", "json", "-f", path).stdout)
    assert docs, f"{path} has no object"
    dry = k8s.kubectl("apply", "--dry-run=server", "-f", path)
    for d in docs:
        assert f"fixsession.fixgw.io/{d['metadata']['name']} created (server dry run)" in dry.stdout, dry.stdout
        assert not k8s.get(f"{fixsessions(trading)}/{d['metadata']['name']}", missing_ok=True)
    k8s.kubectl("apply", "-f", path)
    try:
        for d in docs:
            got = k8s.get(f"{fixsessions(trading)}/{d['metadata']['name']}")
            assert got["spec"]["target"] == d["spec"]["target"]
            assert got["spec"].get("matchFields", {}).keys() == (d["spec"].get("matchFields") or {}).keys()
            assert "maxHeldConnections" in got["spec"] and "holdTimeout" in got["spec"], got["spec"]
            for f in got["spec"].get("matchFields", {}).values():
                assert set(f) >= {"value", "log", "redact"}, f
    finally:
        k8s.kubectl("delete", "-f", path, "--wait=false")


def test_defaults(k8s, k8s_ns):
    got = k8s.create(fixsessions(k8s_ns), BASE)
    assert got["spec"]["maxHeldConnections"] == 1
    assert got["spec"]["holdTimeout"] == "30s"
    assert got["spec"]["matchFields"]["SenderCompID49"] == {"value": "BROKER_A", "log": True, "redact": False}


def _with(path, value):
    """BASE with the spec field at path (dotted, below spec) set to value (None deletes it)."""
    obj = copy.deepcopy(BASE)
    node = obj["spec"]
    keys = path.split(".")
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    if value is None:
        node.pop(keys[-1], None)
    else:
        node[keys[-1]] = value
    return obj


def _fields(**kw):
    return _with("matchFields", {k: {"value": v} for k, v in kw.items()})


def _wildcard(priority):
    obj = _fields(SenderCompID49="B*")
    obj["spec"]["priority"] = priority
    return obj


MANY = {f"Custom{20000 + i}": {"value": "x"} for i in range(17)}

# (id, object, text the API server's answer must contain)
INVALID = [
    ("no-spec", {k: v for k, v in BASE.items() if k != "spec"}, "spec: Required value"),
    ("no-target", _with("target", None), "spec.target: Required value"),
    ("no-service-name", _with("target.service.name", None), "spec.target.service.name: Required value"),
    ("no-service-port", _with("target.service.port", None), "spec.target.service.port: Required value"),
    ("service-name-uppercase", _with("target.service.name", "Engine_Svc"),
     "spec.target.service.name: Invalid value: \"Engine_Svc\""),
    ("service-name-too-long", _with("target.service.name", "a" * 64),
     "spec.target.service.name: Too long: may not be more than 63"),
    ("port-number-and-name", _with("target.service.port", {"number": 9880, "name": "fix"}),
     "give the Service port as number or name, not both"),
    ("port-neither", _with("target.service.port", {}), "give the Service port as number or name, not both"),
    ("port-number-0", _with("target.service.port", {"number": 0}),
     "spec.target.service.port.number: Invalid value: 0: spec.target.service.port.number in body should be "
     "greater than or equal to 1"),
    ("port-number-65536", _with("target.service.port", {"number": 65536}),
     "should be less than or equal to 65535"),
    ("port-name-digits-only", _with("target.service.port", {"name": "9880"}),
     "a port name has at least one letter and no '--'"),
    ("port-name-double-dash", _with("target.service.port", {"name": "fix--a"}),
     "a port name has at least one letter and no '--'"),
    ("port-name-too-long", _with("target.service.port", {"name": "a" * 16}),
     "spec.target.service.port.name: Too long: may not be more than 15"),
    ("key-not-pascalcase", _fields(senderCompID49="X"),
     "each matchFields key is a PascalCase field name followed by the tag number"),
    ("key-without-tag", _fields(SenderCompID="X"),
     "each matchFields key is a PascalCase field name followed by the tag number"),
    ("key-tag-leading-zero", _fields(SenderCompID049="X"),
     "each matchFields key is a PascalCase field name followed by the tag number"),
    ("key-password-554", _fields(Password554="X"), "none of them can be a routing key"),
    ("key-msgtype-35", _fields(MsgType35="A"), "none of them can be a routing key"),
    ("key-secure-data-91", _fields(SecureData91="X"), "none of them can be a routing key"),
    ("key-1402", _fields(EncryptedPassword1402="X"), "none of them can be a routing key"),
    ("key-same-tag-twice", _fields(SenderCompID49="A", Sender49="B"),
     "two matchFields keys name the same tag number"),
    ("too-many-fields", _with("matchFields", MANY), "spec.matchFields: Too many: 17: must have at most 16"),
    ("field-without-value", _with("matchFields", {"SenderCompID49": {"log": False}}),
     "spec.matchFields.SenderCompID49.value: Required value"),
    ("value-empty", _fields(SenderCompID49=""),
     "spec.matchFields.SenderCompID49.value: Invalid value: \"\": spec.matchFields.SenderCompID49.value in "
     "body should be at least 1 chars long"),
    ("value-control-character", _fields(SenderCompID49="A\u0001B"),
     "spec.matchFields.SenderCompID49.value in body should match"),
    ("value-trailing-backslash", _fields(SenderCompID49="AB\\"),
     "spec.matchFields.SenderCompID49.value in body should match"),
    ("value-over-256-chars", _fields(SenderCompID49="x" * 257),
     "spec.matchFields.SenderCompID49.value: Too long: may not be more than 256"),
    ("value-over-256-bytes", _fields(SenderCompID49="\u00e9" * 129), "value must be at most 256 bytes (UTF-8)"),
    ("priority-on-exact-route", _with("priority", 5),
     "priority applies only to wildcard and default routes; exact routes are ordered by specificity"),
    ("priority-too-high", _wildcard(1000001), "spec.priority in body should be less than or equal to 1000000"),
    ("priority-too-low", _wildcard(-1000001), "spec.priority in body should be greater than or equal to -1000000"),
    ("max-held-negative", _with("maxHeldConnections", -1),
     "spec.maxHeldConnections in body should be greater than or equal to 0"),
    ("max-held-too-many", _with("maxHeldConnections", 10001),
     "spec.maxHeldConnections in body should be less than or equal to 10000"),
    ("hold-timeout-zero", _with("holdTimeout", "0s"), "holdTimeout must be more than 0s and at most 1h"),
    ("hold-timeout-over-1h", _with("holdTimeout", "61m"), "holdTimeout must be more than 0s and at most 1h"),
    ("hold-timeout-no-unit", _with("holdTimeout", "30"), "spec.holdTimeout in body should match"),
    ("listeners-empty", _with("listeners", []), "spec.listeners: Invalid value: 0: spec.listeners in body "
     "should have at least 1 items"),
    ("listeners-duplicate", _with("listeners", ["fix-plain", "fix-plain"]),
     "spec.listeners[1]: Duplicate value: \"fix-plain\""),
    ("listener-bad-name", _with("listeners", ["Fix_Plain"]), "spec.listeners[0] in body should match"),
    ("unknown-type-string-port", _with("target.service.port", {"number": "9880"}),
     "spec.target.service.port.number: Invalid value: \"string\": spec.target.service.port.number in body "
     "must be of type integer"),
]


@pytest.mark.parametrize("obj,message", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_refused(k8s, k8s_ns, obj, message):
    """A real create is refused with 422 and the rule's message, and nothing is stored."""
    with pytest.raises(ApiError) as e:
        k8s.create(fixsessions(k8s_ns), obj)
    assert e.value.status == 422, e.value.body
    text = e.value.body["message"]
    assert message in text, f"expected {message!r} in:\n{text}"
    assert not k8s.get(f"{fixsessions(k8s_ns)}/s", missing_ok=True)


def test_invalid_refused_by_kubectl_dry_run(k8s, k8s_ns):
    """The same refusal through `kubectl apply --dry-run=server`: exit status 1, the CEL message on stderr."""
    r = k8s.apply(_fields(Password554="X"), "--dry-run=server", "-n", k8s_ns, check=False)
    assert r.returncode != 0
    assert "none of them can be a routing key" in r.stderr, r.stderr


def test_valid_variants_accepted(k8s, k8s_ns):
    """The boundaries the invalid cases sit next to are accepted: a named port, a wildcard and a default route
    with priorities at the limits, 16 fields, a 256-byte value, escaped glob characters, holdTimeout 1h."""
    cases = [
        _with("target.service.port", {"name": "fix-1"}),
        _wildcard(1000000),
        _wildcard(-1000000),
        _with("matchFields", None),
        _with("matchFields", {f"Custom{20000 + i}": {"value": "x"} for i in range(16)}),
        _fields(SenderCompID49="\u00e9" * 128),
        _fields(SenderCompID49="A\\*B"),
        _with("holdTimeout", "1h"),
        _with("holdTimeout", "250ms"),
        _with("maxHeldConnections", 0),
        _with("listeners", ["fix-plain", "fix-tls"]),
    ]
    cases[3]["spec"]["priority"] = -1000000  # a default route may have a priority
    for i, obj in enumerate(cases):
        obj = copy.deepcopy(obj)
        obj["metadata"] = {"name": f"ok-{i}"}
        try:
            k8s.create(fixsessions(k8s_ns), obj)
        except ApiError as e:
            pytest.fail(f"case {i} refused: {json.dumps(obj['spec'])}\n{e}")


def test_status_only_through_subresource(k8s, k8s_ns):
    k8s.create(fixsessions(k8s_ns), BASE)
    k8s.patch(f"{fixsessions(k8s_ns)}/s", {"status": {"activeConnections": 3}})
    assert "status" not in k8s.get(f"{fixsessions(k8s_ns)}/s") or \
        "activeConnections" not in k8s.get(f"{fixsessions(k8s_ns)}/s")["status"]
    k8s.patch(f"{fixsessions(k8s_ns)}/s/status", {"status": {"activeConnections": 3}})
    assert k8s.get(f"{fixsessions(k8s_ns)}/s")["status"]["activeConnections"] == 3
    with pytest.raises(ApiError) as e:
        k8s.patch(f"{fixsessions(k8s_ns)}/s/status", {"status": {"heldConnections": -1}})
    assert e.value.status == 422 and "status.heldConnections" in e.value.body["message"]


def test_printer_columns(k8s, k8s_ns):
    """`kubectl get fixsessions` shows the CRD's columns (the priority-1 ones with -o wide), with values."""
    crd = k8s.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/fixsessions.fixgw.io")
    cols = crd["spec"]["versions"][0]["additionalPrinterColumns"]
    normal = [c["name"].upper() for c in cols if not c.get("priority")]
    wide = [c["name"].upper() for c in cols]
    assert {"TARGET", "ACTIVE", "HELD", "AGE"} <= set(normal), normal
    k8s.create(fixsessions(k8s_ns), BASE)
    k8s.patch(f"{fixsessions(k8s_ns)}/s/status", {"status": {"activeConnections": 7, "heldConnections": 2}})
    out = k8s.kubectl("get", "fixsessions", "-n", k8s_ns).stdout.splitlines()
    assert out[0].split()[0] == "NAME"
    header = out[0]
    for name in normal:
        assert name in header, (name, header)
    for name in set(wide) - set(normal):
        assert name not in header, (name, header)
    row = out[1].split()
    assert row[0] == "s" and "engine-svc" in row and "7" in row and "2" in row, out
    wide_header = k8s.kubectl("get", "fixs", "-n", k8s_ns, "-o", "wide").stdout.splitlines()[0]
    for name in wide:
        assert name in wide_header, (name, wide_header)
