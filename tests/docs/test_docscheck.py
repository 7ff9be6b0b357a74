"""The docs checks themselves, on small trees made here: each check passes on a good tree and fails on a
broken one, so a green docs suite means something (tests/docs/docscheck.py)."""

import shutil
import subprocess

import docscheck as dc


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- Mermaid


def test_a_diagram_that_does_not_render_fails_and_one_that_does_passes(tmp_path, mermaid):
    md = write(
        tmp_path / "d.md",
        "# D\n\n```mermaid\nflowchart LR\n    a[\"ok\"] --> b\n```\n\ntext\n\n"
        "```mermaid\nsequenceDiagram\n    A->>B: hi\n```\n\n"
        "```mermaid\nflowchart LR\n    a --> \n    ((( broken\n```\n",
    )
    blocks = dc.mermaid_blocks(tmp_path, [md])
    assert [b.line for _, b in blocks] == [3, 10, 15]
    problems = dc.render_mermaid(tmp_path, blocks, *mermaid, tmp_path / "out")
    assert len(problems) == 1, problems
    assert problems[0].startswith("d.md:15: Mermaid diagram does not render: ")
    assert "Parse error" in problems[0]
    assert len(list((tmp_path / "out").glob("*.svg"))) == 2


def test_an_unknown_diagram_type_fails(tmp_path, mermaid):
    md = write(tmp_path / "d.md", "```mermaid\nnotADiagram\n  x\n```\n")
    problems = dc.render_mermaid(tmp_path, dc.mermaid_blocks(tmp_path, [md]), *mermaid, tmp_path / "out")
    assert len(problems) == 1 and "d.md:1:" in problems[0], problems


# ---------------------------------------------------------------- links and anchors


def test_github_slugs():
    assert dc.github_slug("5. CRD Design — FIXSession") == "5-crd-design--fixsession"
    assert dc.github_slug(dc.heading_text("Hold and release (`hold_queue.c`)")) == "hold-and-release-hold_queuec"
    assert dc.github_slug(dc.heading_text("[Link](x.md) and **bold**!")) == "link-and-bold"
    assert dc.github_slug("Ünïcode Äpfel") == "ünïcode-äpfel"


def test_links_and_anchors(tmp_path):
    write(tmp_path / "a.md", "# A\n\n## Same\n\n## Same\n\n<a name=\"custom\"></a>\n\n```\n## not a heading\n```\n")
    write(tmp_path / "dir" / "c.txt", "x\n")
    good = write(
        tmp_path / "b.md",
        "[a](a.md) [s](a.md#same) [s1](a.md#same-1) [c](a.md#custom) [self](#b) [d](dir/) [f](dir/c.txt#L3)\n"
        "[web](https://example.com/x#y) [root](/a.md) <a href=\"a.md#same\">x</a>\n\n# B\n\n`[code](missing.md)`\n\n```\n[fenced](missing.md)\n```\n"
        "[ref]: a.md#same\n",
    )
    assert dc.check_links(tmp_path, [good]) == []

    bad = write(
        tmp_path / "bad.md",
        "[1](missing.md)\n[2](a.md#nope)\n[3](a.md#not-a-heading)\n[4](dir/c.txt#section)\n[5](#same-2)\n"
        "[ref]: gone.md\n<img src=\"pic.svg\"> <a href=\"a.md#zzz\">x</a>\n",
    )
    problems = dc.check_links(tmp_path, [bad])
    assert [p.split(": link ")[0] for p in problems] == [f"bad.md:{n}" for n in (1, 2, 3, 4, 5, 6, 7, 7)], problems
    assert "missing.md does not exist" in problems[0]
    assert "no heading or anchor #nope in a.md" in problems[1]


# ---------------------------------------------------------------- placeholders


def test_placeholders(tmp_path):
    write(tmp_path / "docs" / "ok.md", "Tobedone: todos, TODOs and tbds are other words.\n")
    assert dc.check_placeholders(tmp_path, ["docs"]) == []
    write(tmp_path / "docs" / "sub" / "x.md", "one\nsay TBD here\n")
    write(tmp_path / "chart" / "values.yaml", "a: 1 # todo: later\n")
    problems = dc.check_placeholders(tmp_path, ["docs", "chart", "README.md"])
    assert sorted(problems) == ["chart/values.yaml:1: placeholder 'todo'", "docs/sub/x.md:2: placeholder 'TBD'"]


# ---------------------------------------------------------------- ADR format

GOOD_ADR = """# ADR-042: A title

## Status: Accepted

## Context

Why.

## Options Considered

1. **One.**
   - Pros: a.
   - Cons: b.
2. **Two.**
   - Pros: a.
   - Cons: b.

### Three

Pros: a. Cons: b.

## Measurement

Numbers.

## Decision

Two.

## Consequences

Some.
"""


def test_a_good_adr_passes(tmp_path):
    assert dc.check_adr(write(tmp_path / "adr-042-a-title.md", GOOD_ADR)) == []


def test_adr_problems_are_found(tmp_path):
    no_heading = GOOD_ADR.replace("## Context\n", "## Background\n")
    p = dc.check_adr(write(tmp_path / "adr-042-x.md", no_heading))
    assert any("no '## Context'" in x for x in p), p

    out_of_order = GOOD_ADR.replace("## Decision\n\nTwo.\n\n## Consequences\n\nSome.\n",
                                    "## Consequences\n\nSome.\n\n## Decision\n\nTwo.\n")
    p = dc.check_adr(write(tmp_path / "adr-042-y.md", out_of_order))
    assert any("no '## Consequences'" in x for x in p), p

    two_options = GOOD_ADR.replace("### Three\n\nPros: a. Cons: b.\n", "")
    p = dc.check_adr(write(tmp_path / "adr-042-z.md", two_options))
    assert any("2 options, at least 3" in x for x in p), p

    no_cons = GOOD_ADR.replace("   - Cons: b.\n2.", "2.")
    p = dc.check_adr(write(tmp_path / "adr-042-w.md", no_cons))
    assert p == ["adr-042-w.md: option '1. **One.**' has no Cons"], p

    wrong_number = dc.check_adr(write(tmp_path / "adr-043-v.md", GOOD_ADR))
    assert any("the title must be" in x for x in wrong_number), wrong_number

    empty_status = GOOD_ADR.replace("## Status: Accepted\n", "## Status\n")
    p = dc.check_adr(write(tmp_path / "adr-042-u.md", empty_status))
    assert any("Status is empty" in x for x in p), p


# ---------------------------------------------------------------- system-design.md


def design(words_in_section_3):
    out = ["# Design\n"]
    for n, title in enumerate(dc.DESIGN_SECTIONS, 1):
        count = words_in_section_3 if n == 3 else 160
        out.append(f"## {n}. {title}\n\n" + " ".join(["word"] * count) + "\n\n```mermaid\n" + "x " * 500 + "\n```\n")
    return "\n".join(out)


def test_design_word_minimum(tmp_path):
    assert dc.check_design(write(tmp_path / "ok.md", design(150))) == []
    p = dc.check_design(write(tmp_path / "short.md", design(149)))
    assert len(p) == 1 and "section 3 has 149 words, at least 150" in p[0], p
    missing = design(150).replace("## 7. Deployment Topology", "## Deployment Topology")
    p = dc.check_design(write(tmp_path / "missing.md", missing))
    assert any("no section '## 7. Deployment Topology'" in x for x in p), p


def test_diagram_files_must_match_the_design(tmp_path):
    d = write(tmp_path / "design.md", "# D\n\n```mermaid\nflowchart LR\n  a --> b\n```\n")
    write(tmp_path / "diagrams" / "one.md", "# One\n\n```mermaid\nflowchart LR\n  a --> b\n```\n")
    assert dc.check_diagram_files(tmp_path / "diagrams", d) == []
    write(tmp_path / "diagrams" / "two.md", "# Two\n\n```mermaid\nflowchart LR\n  a --> c\n```\n")
    p = dc.check_diagram_files(tmp_path / "diagrams", d)
    assert p == ["two.md:3: this diagram differs from every diagram in design.md"], p


# ---------------------------------------------------------------- the deliverable tree


def test_tree_mapping(tmp_path):
    rows = "\n".join(f"| `{s}` | `x/{s}` | |" for s in dc.SPEC_TREE)
    readme = write(tmp_path / "docs" / "README.md", "| spec | repo | note |\n| --- | --- | --- |\n" + rows + "\n")
    for s in dc.SPEC_TREE:
        if s.endswith("/"):
            (tmp_path / "x" / s).mkdir(parents=True, exist_ok=True)
        else:
            write(tmp_path / "x" / s, "x\n")
    assert dc.check_tree(tmp_path, readme) == []
    (tmp_path / "x" / "reference" / "otel-collector-setup.md").unlink()
    shutil.rmtree(tmp_path / "x" / "architecture" / "diagrams")
    readme.write_text(readme.read_text().replace("| `crds/fixsession-crd.yaml` |", "| `crds/other.yaml` |"))
    p = dc.check_tree(tmp_path, readme)
    assert len(p) == 3, p
    assert any("no row for the spec's `crds/fixsession-crd.yaml`" in x for x in p)
    assert any("otel-collector-setup.md`: no such file" in x for x in p)
    assert any("diagrams/`: no such directory" in x for x in p)


# ---------------------------------------------------------------- FIXSession examples

FS = """apiVersion: fixgw.io/v1alpha1
kind: FIXSession
metadata: {name: %s, namespace: trading}
spec:
  matchFields:
    SenderCompID49: {value: "BROKER_A"}
  target:
    service: {name: equities-engine-svc, port: {number: 9880}}
"""


def test_fixsession_blocks_must_pass_routes_check(tmp_path, fixgw):
    good = write(tmp_path / "good.md", "```yaml\n" + FS % "a" + "```\n\n```yaml\nkind: Service\n```\n")
    assert len(dc.fixsession_blocks(tmp_path, [good])) == 1
    assert dc.check_fixsessions(tmp_path, fixgw, [good]) == []

    invalid = write(tmp_path / "invalid.md", "text\n\n```yaml\n" + (FS % "a").replace("9880", "99999") + "```\n")
    p = dc.check_fixsessions(tmp_path, fixgw, [invalid])
    assert len(p) == 1 and p[0].startswith("invalid.md:3: `fixgw routes check` exited 2, expected 0"), p

    conflict = write(tmp_path / "conflict.md", "```yaml\n" + FS % "a" + "---\n" + FS % "b" + "```\n")
    p = dc.check_fixsessions(tmp_path, fixgw, [conflict])
    assert len(p) == 1 and "exited 1, expected 0" in p[0], p

    marked = write(
        tmp_path / "marked.md",
        "<!-- fixsession: expect-conflict -->\n```yaml\n" + FS % "a" + "---\n" + FS % "b" + "```\n\n"
        "<!-- fixsession: expect-invalid -->\n\n```yaml\n" + (FS % "a").replace("9880", "0") + "```\n",
    )
    assert dc.check_fixsessions(tmp_path, fixgw, [marked]) == []


def test_markdown_files_follow_git(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    write(tmp_path / ".gitignore", "build/\n")
    write(tmp_path / "a.md", "x\n")
    write(tmp_path / "build" / "b.md", "x\n")
    write(tmp_path / "docs" / "c.md", "x\n")
    assert [p.relative_to(tmp_path).as_posix() for p in dc.markdown_files(tmp_path)] == ["a.md", "docs/c.md"]
