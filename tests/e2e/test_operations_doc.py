"""docs/operations.md against the alert rules: every alert of deploy/prometheus/fixgw-alerts.yaml has its
runbook there, at the anchor its runbook_url names (a heading "Alert: <name>", whose GitHub anchor is
#alert-<name in lower case>), and every runbook heading belongs to an alert that exists."""
import re

import yaml

from conftest import ROOT

DOC = ROOT / "docs" / "operations.md"
RULES = ROOT / "deploy" / "prometheus" / "fixgw-alerts.yaml"


def slug(heading):
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as '-'."""
    return "".join(c for c in heading.strip().lower().replace(" ", "-") if c.isalnum() or c in "-_")


def doc_anchors():
    text = re.sub(r"^```.*?^```", "", DOC.read_text(), flags=re.M | re.S)
    return {slug(h): h for h in re.findall(r"^#{1,6} (.+)$", text, re.M)}


def test_every_alert_has_its_runbook_section():
    anchors = doc_anchors()
    alerts = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r]
    assert alerts
    for rule in alerts:
        url = rule["annotations"]["runbook_url"]
        path, _, anchor = url.partition("#")
        assert path == "docs/operations.md", url
        assert anchor in anchors, f"{rule['alert']}: no heading with anchor #{anchor} in {DOC.name}"
    runbooks = {a for a, h in anchors.items() if h.startswith("Alert: ")}
    assert runbooks == {f"alert-{r['alert'].lower()}" for r in alerts}, "a runbook for an alert that does not exist"
