"""README.md's examples work as written: its shell commands run, its JSON is what they print, and its
FIXSession is the shipped example and passes `fixgw routes check`."""
import json
import re
import subprocess

import yaml

from conftest import EXAMPLES, FIXGW, ROOT, run

README = (ROOT / "README.md").read_text()


def blocks(lang):
    return re.findall(r"```" + lang + r"\n(.*?)```", README, re.S)


def fixgw_commands():
    """Every line of the README's sh blocks that runs the binary. make and scripts need a full setup, and
    `gateway --check` the demo certificates `make run` creates and free listener ports: test_run.py and
    the gateway tests cover those."""
    cmds = []
    for block in blocks("sh"):
        for line in block.splitlines():
            cmd = line.split("  #")[0].strip()
            if "build/fixgw" in cmd and "build/fixgw gateway" not in cmd:
                cmds.append(cmd)
    return cmds


def sh(cmd):
    # README says build/fixgw; the test runs the binary under test (FIXGW_BIN), from the repository root
    return subprocess.run(["sh", "-c", cmd.replace("build/fixgw", str(FIXGW))], cwd=ROOT,
                          capture_output=True, timeout=30)


def test_readme_shell_examples_run(fixgw):
    cmds = fixgw_commands()
    assert any("logon parse" in c and c.startswith("printf") for c in cmds)
    for cmd in cmds:
        p = sh(cmd)
        assert p.returncode == 0, (cmd, p.stdout, p.stderr)
        if "logon parse --json" in cmd:
            out = json.loads(p.stdout)
            assert out["status"] == "ok" and not out["body_length_mismatch"], out
            assert out["fields"]["35"] == "A"


def test_readme_json_is_what_explain_prints(fixgw):
    explain = [c for c in fixgw_commands() if "routes explain" in c and "--json" in c]
    assert len(explain) == 1
    shown = [json.loads(b) for b in blocks("json")]
    assert json.loads(sh(explain[0]).stdout) in shown


def test_readme_fixsessions_are_the_shipped_examples(fixgw, tmp_path):
    shipped = {}
    for f in sorted(EXAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(f.read_text()):
            if doc and doc.get("kind") == "FIXSession":
                shipped[doc["metadata"]["name"]] = doc
    found = 0
    for i, block in enumerate(blocks("yaml")):
        docs = [d for d in yaml.safe_load_all(block) if d and d.get("kind") == "FIXSession"]
        for doc in docs:
            found += 1
            name = doc["metadata"]["name"]
            assert doc == shipped.get(name), f"README's FIXSession {name} differs from crds/examples"
        if docs:
            f = tmp_path / f"readme-{i}.yaml"
            f.write_text(block)
            p = run(["routes", "check", str(f)])
            assert p.returncode == 0, p.stderr
    assert found >= 1
