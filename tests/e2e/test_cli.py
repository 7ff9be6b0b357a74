"""The fixgw CLI as scripts use it: exit codes, JSON shapes, redaction, diagnostics."""
import json

from conftest import EXAMPLES, run
from fixmsg import fix_message, logon


def parse(data, *extra):
    p = run(["logon", "parse", "--json", *extra], data)
    return p.returncode, json.loads(p.stdout)


def test_help_everywhere(fixgw):
    for args in (["--help"], ["logon", "--help"], ["logon", "parse", "--help"], ["routes", "--help"],
                 ["routes", "check", "--help"], ["routes", "explain", "--help"]):
        p = run(args)
        assert p.returncode == 0, args
        assert b"usage:" in p.stdout, args
    assert run(["version"]).stdout.startswith(b"fixgw ")
    assert run(["nope"]).returncode == 2


def test_logon_parse_ok_every_version(fixgw):
    for begin in ("FIX.4.0", "FIX.4.1", "FIX.4.2", "FIX.4.3", "FIX.4.4", "FIXT.1.1", "FIX.9.9"):
        msg = logon(begin=begin)
        rc, out = parse(msg + b"8=FIX.4.4\x019=5\x0135=0\x01")
        assert rc == 0, begin
        assert out["status"] == "ok"
        assert out["length"] == len(msg)
        assert out["begin_string"] == begin
        assert out["fields"]["49"] == "BROKER_A"
        assert out["fields"]["56"] == "FIXGW"
        assert out["trailing_bytes"] > 0


def test_logon_parse_secrets_redacted(fixgw):
    msg = logon(extra=[(553, "user"), (554, "hunter2"), (925, "newpass"), (95, "6"), (96, b"ab\x01cd\x01")])
    rc, out = parse(msg)
    assert rc == 0
    assert out["fields"]["554"] == "[REDACTED]"
    assert out["fields"]["925"] == "[REDACTED]"
    assert out["fields"]["96"] == "[REDACTED]"
    p = run(["logon", "parse"], msg)
    for secret in (b"hunter2", b"newpass", b"ab"):
        assert secret not in p.stdout + p.stderr


def test_logon_parse_invalid_and_incomplete(fixgw):
    rc, out = parse(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert rc == 1 and out["status"] == "invalid" and out["reason"]
    rc, out = parse(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    assert rc == 1
    rc, out = parse(fix_message("FIX.4.4", "D", [(49, "A"), (56, "B")]))
    assert rc == 1 and out["status"] == "invalid"
    msg = logon()
    rc, out = parse(msg[:-5])
    assert rc == 3 and out["status"] == "incomplete"
    rc, out = parse(b"8=FIX.4.4\x019=5\x0135=A\x01" + b"58=" + b"x" * 70000 + b"\x01")
    assert rc == 1 and out["status"] == "invalid"


def test_logon_parse_ambiguous_tags_reported(fixgw):
    rc, out = parse(logon(extra=[(49, "OTHER")]))
    assert rc == 0
    assert out["ambiguous_tags"] == [49]


def test_routes_check_examples(fixgw):
    p = run(["routes", "check", str(EXAMPLES)])
    assert p.returncode == 0, p.stderr.decode()
    assert b"valid, no conflicts" in p.stdout


def test_routes_check_conflict_exit_1(fixgw, tmp_path):
    (tmp_path / "a.yaml").write_text(
        "apiVersion: fixgw.io/v1alpha1\nkind: FIXSession\nmetadata: {name: by-sub, namespace: t}\n"
        "spec:\n  matchFields:\n    SenderCompID49: {value: X}\n    SenderSubID50: {value: \"Y\"}\n"
        "  target: {service: {name: a, port: {number: 1}}}\n"
        "---\n"
        "apiVersion: fixgw.io/v1alpha1\nkind: FIXSession\nmetadata: {name: by-deliver, namespace: t}\n"
        "spec:\n  matchFields:\n    SenderCompID49: {value: X}\n    DeliverToCompID128: {value: Z}\n"
        "  target: {service: {name: b, port: {number: 1}}}\n")
    p = run(["routes", "check", str(tmp_path)])
    assert p.returncode == 1
    err = p.stderr.decode()
    assert "t/by-sub" in err and "t/by-deliver" in err
    assert "SenderSubID50" in err and "DeliverToCompID128" in err


def test_routes_check_invalid_exit_2_with_line(fixgw, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: fixgw.io/v1alpha1\nkind: FIXSession\nmetadata: {name: bad}\nspec:\n"
                   "  matchFields:\n    SenderCompID49: {value: X}\n    Password554: {value: pw}\n"
                   "  target: {service: {name: BAD_NAME, port: {number: 70000}}}\n")
    p = run(["routes", "check", str(bad)])
    assert p.returncode == 2
    err = p.stderr.decode()
    assert f"{bad}:7:" in err                         # the secret tag, with its line
    assert f"{bad}:8:" in err                         # target problems reported too, not just the first
    assert "pw" not in err.replace("Password554", "")


def explain(logon_bytes, *extra):
    p = run(["routes", "explain", str(EXAMPLES), "--json", *extra], logon_bytes)
    assert p.returncode == 0, p.stderr.decode()
    return json.loads(p.stdout)


def test_routes_explain_decisions(fixgw):
    out = explain(logon(sender="UNKNOWN_CP_THAT_MATCHES_NOTHING"))
    assert out["decision"] in ("DEFAULT_ROUTE", "NO_MATCH")
    out = explain(b"GET / HTTP/1.1\r\n\r\n")
    assert out["decision"] == "PARSE_FAILURE" and out["route"] is None and out["target"] is None
    out = explain(logon(extra=[(49, "SOMEONE_ELSE")]))
    assert out["decision"] == "PARSE_FAILURE"


def test_routes_explain_examples(fixgw):
    out = explain(logon(sender="BROKER_A"))
    assert out["decision"] == "ROUTE" and out["route"] == "trading/broker-a-equities"
    assert out["target"] == {"namespace": "trading", "service": "equities-engine-svc", "port": 9880}
    fi = logon(sender="BANK_C", extra=[(50, "RATES_TRADER_01"), (128, "FI_DESK")])
    out = explain(fi, "--listener", "fix-tls")
    assert out["route"] == "trading/bank-c-rates" and out["target"]["port"] == "fix"
    assert out["fields"] == {"49": "BANK_C", "50": "RATES_TRADER_01", "128": "FI_DESK"}
    # the same Logon on the plaintext listener: that route is TLS-only
    assert explain(fi, "--listener", "fix-plain")["route"] != "trading/bank-c-rates"


def test_routes_explain_applies_redaction(fixgw):
    hf = logon(sender="HEDGEFUND_D", extra=[(115, "FAMILY_OFFICE_7"), (9001, "RESTRICTED"), (554, "pw")])
    p = run(["routes", "explain", str(EXAMPLES), "--json", "--listener", "fix-tls"], hf)
    out = json.loads(p.stdout)
    assert out["route"] == "trading/hedgefund-d-restricted"
    assert out["fields"]["115"] == "[REDACTED]"
    assert "9001" not in out["fields"]
    for leaked in (b"FAMILY_OFFICE_7", b"RESTRICTED", b"pw\x01"):
        assert leaked not in p.stdout + p.stderr


# Every subcommand, as a script would call it: --help works everywhere, and a bad command line gets
# one clear line on stderr and exit status 2, never a start with half the arguments.
COMMANDS = (["gateway"], ["logon", "parse"], ["routes", "check"], ["routes", "explain"], ["reject-engine"],
            ["version"])


def test_help_on_every_command(fixgw):
    for cmd in COMMANDS + (["logon"], ["routes"]):
        for flag in ("--help", "-h"):
            p = run(cmd + [flag])
            assert p.returncode == 0, (cmd, flag)
            assert b"usage: fixgw" in p.stdout, (cmd, flag)
            assert p.stderr == b"", (cmd, flag)


def test_unknown_options_are_refused(fixgw):
    for cmd in COMMANDS:
        for bogus in ("--bogus", "--json=1" if cmd[0] != "reject-engine" else "--json", "-z"):
            if cmd == ["logon", "parse"] and bogus.startswith("--json"):
                bogus = "--max-bytes=x"
            p = run(cmd + [bogus], timeout=10)
            assert p.returncode == 2, (cmd, bogus, p.stderr)
            err = p.stderr.decode()
            assert err.startswith(f"fixgw {' '.join(cmd)}: "), (cmd, err)
            assert "--help" in err, (cmd, err)
    p = run(["reject-engine", "--json"])
    assert p.returncode == 2
    assert p.stderr.decode().splitlines()[0] == "fixgw reject-engine: unknown option '--json'"
    p = run(["routes", "check", "--json", EXAMPLES])
    assert p.returncode == 2 and b"unknown option '--json'" in p.stderr
    assert run(["--bogus"]).returncode == 2


def test_missing_values_are_named(fixgw):
    cases = {
        ("gateway", "--config"): "option '--config' needs a value (FILE)",
        ("gateway", "-c"): "option '--config' needs a value (FILE)",
        ("gateway", "--config="): "option '--config' needs a value (FILE)",
        ("gateway", "--config", "--bogus"): "option '--config' needs a value (FILE)",
        ("logon", "parse", "--max-bytes"): "option '--max-bytes' needs a value",
        ("routes", "explain", EXAMPLES, "--listener"): "option '--listener' needs a value (NAME)",
        ("reject-engine", "--listen"): "option '--listen' needs a value (ADDR)",
        ("reject-engine", "--listen", "127.0.0.1:1", "--reason"): "option '--reason' needs a value (TEXT)",
    }
    for args, want in cases.items():
        p = run(list(args), timeout=10)
        assert p.returncode == 2, args
        assert want in p.stderr.decode(), (args, p.stderr)
    # required options and stray operands
    for args, want in ((["gateway"], "--config FILE is required"),
                       (["reject-engine"], "--listen ADDR is required"),
                       (["routes", "check"], "at least one PATH is needed"),
                       (["gateway", "--config", "x.yaml", "extra"], "unexpected argument 'extra'"),
                       (["logon", "parse", "file.bin"], "unexpected argument 'file.bin'"),
                       (["logon", "--json"], "unknown subcommand '--json'"),
                       (["version", "x"], "unexpected argument 'x'")):
        p = run(args, timeout=10)
        assert p.returncode == 2, args
        assert want in p.stderr.decode(), (args, p.stderr)


def test_option_value_forms(fixgw):
    # "--name=value" and "--name value" mean the same; a value may be given with = when it starts with --
    msg = logon()
    assert run(["logon", "parse", "--max-bytes=4096", "--json"], msg).returncode == 0
    assert run(["logon", "parse", "--max-bytes", "4096"], msg).returncode == 0
    p = run(["routes", "explain", EXAMPLES, "--listener=public", "--json"], msg)
    assert p.returncode == 0 and json.loads(p.stdout)["listener"] == "public"


def test_routes_check_wrong_kind_is_an_error(fixgw, tmp_path):
    text = (EXAMPLES / "equities-single-field.yaml").read_text().replace("kind: FIXSession", "kind: FixSession")
    f = tmp_path / "wrong-kind.yaml"
    f.write_text(text)
    line = text.splitlines().index("kind: FixSession") + 1
    p = run(["routes", "check", str(f)])
    assert p.returncode == 2, p.stdout
    err = p.stderr.decode()
    assert f"{f}:{line}:7: error: kind: unknown kind \"FixSession\"" in err, err
    assert 'expected "FIXSession"' in err
    assert b"valid" not in p.stdout


def test_logon_parse_renders_values_faithfully(fixgw):
    # valid UTF-8 as UTF-8, control characters as JSON escapes, a byte that is not UTF-8 as \xNN and a
    # literal backslash as \\ (docs/reference/escaping.md)
    msg = logon(extra=[(58, "Zürich\nline\x1b[31m".encode() + b"\xff\xc0\xaf" + b"C:\\x")])
    p = run(["logon", "parse", "--json"], msg)
    assert p.returncode == 0
    line = p.stdout.decode("utf-8")  # the output itself is valid UTF-8
    assert "Zürich" in line and "\\n" in line and "\\u001b" in line.lower()
    assert "\x1b" not in line and "\n" not in line.rstrip("\n")
    out = json.loads(line)
    assert out["fields"]["58"] == "Zürich\nline\x1b[31m\\xff\\xc0\\xafC:\\\\x"
    # the text form escapes controls for the terminal
    p = run(["logon", "parse"], msg)
    text = p.stdout.decode("utf-8")
    assert "Zürich\\x0aline\\x1b[31m\\xff\\xc0\\xafC:\\\\x" in text
    assert "\x1b" not in text
