"""The docs suite's checks, as functions of a repository root (so tests/docs/test_docscheck.py can run them on
small broken trees and show that each one fails when it should).

Every check returns a list of problems, one string each ("path:line: what"); an empty list means it passed.
What the checks enforce is described in docs/README.md ("How the docs are checked").
"""

import os
import re
import subprocess
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

# The spec's deliverable tree (/work/shared/spec: "Deliverable Tree"), as the spec writes the paths. Where the
# repository puts each one is the mapping table in docs/README.md.
SPEC_TREE = [
    "README.md",
    "architecture/system-design.md",
    "architecture/diagrams/",
    "crds/fixsession-crd.yaml",
    "crds/examples/equities-single-field.yaml",
    "crds/examples/fi-multi-field.yaml",
    "crds/examples/algo-custom-tag.yaml",
    "crds/examples/redacted-tags.yaml",
    "crds/examples/wildcard-default.yaml",
    "crds/examples/multi-default-cascade.yaml",
    "decisions/adr-001-tcp-proxy-technology.md",
    "decisions/adr-002-routing-and-conflicts.md",
    "decisions/adr-003-tcp-proxy-vs-fix-termination.md",
    "decisions/adr-004-tls-termination.md",
    "decisions/adr-005-acceleration-roadmap.md",
    "helm/fix-gateway/Chart.yaml",
    "helm/fix-gateway/values.yaml",
    "helm/fix-gateway/templates/gateway-deployment.yaml",
    "helm/fix-gateway/templates/gateway-daemonset.yaml",
    "helm/fix-gateway/templates/default-reject-engine.yaml",
    "helm/fix-gateway/templates/operator-deployment.yaml",
    "helm/fix-gateway/templates/service.yaml",
    "helm/fix-gateway/templates/serviceaccount.yaml",
    "helm/fix-gateway/templates/clusterrole.yaml",
    "helm/fix-gateway/templates/clusterrolebinding.yaml",
    "helm/fix-gateway/templates/otel-collector-config.yaml",
    "helm/fix-gateway/templates/crds/fixsession-crd.yaml",
    "reference/tag-field-reference.md",
    "reference/otel-collector-setup.md",
]

# The spec's sections of system-design.md, in order; each needs at least MIN_SECTION_WORDS words of prose.
DESIGN_SECTIONS = [
    "Technology Selection",
    "Component Architecture",
    "Connection Flow",
    "TLS Termination",
    "CRD Design — FIXSession",
    "Routing Evaluation Engine",
    "Deployment Topology",
    "Helm Chart",
    "TLS Offload and TCP Forwarding Acceleration",
    "Observability — OpenTelemetry",
    "OpenTelemetry Collector Configuration",
]
MIN_SECTION_WORDS = 150

# The headings of an ADR (the spec's "ADR Format"), in this order; "## Status: Accepted" counts as Status.
ADR_HEADINGS = ["Status", "Context", "Options Considered", "Decision", "Consequences"]
MIN_ADR_OPTIONS = 3

PLACEHOLDER = re.compile(r"\b(TBD|TODO)\b", re.IGNORECASE)
# Marker on the line before a FIXSession YAML block that shows a refused set on purpose:
# <!-- fixsession: expect-conflict --> (exit 1 of `fixgw routes check`) or expect-invalid (exit 2).
EXPECT_MARK = re.compile(r"<!--\s*fixsession:\s*expect-(conflict|invalid)\s*-->")


@dataclass
class Block:
    """A fenced code block: its info string's first word, the line of its opening fence, its text."""

    lang: str
    line: int
    text: str
    before: str  # the last non-blank line before the fence (for markers)


def rel(root, path):
    return os.path.relpath(path, root)


def markdown_files(root):
    """Every Markdown file of the repository as git sees it (tracked, or new and not ignored)."""
    root = Path(root)
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", "*.md"],
            cwd=root,
            check=True,
            capture_output=True,
        ).stdout
        names = sorted({n for n in out.decode().split("\0") if n})
        return [root / n for n in names if (root / n).is_file()]
    except (subprocess.CalledProcessError, FileNotFoundError):
        skip = {".git", "node_modules"}
        found = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in skip and not d.startswith("build")]
            found += [Path(dirpath) / f for f in filenames if f.endswith(".md")]
        return sorted(found)


FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")


def split_fences(text):
    """(blocks, prose_lines): the fenced blocks, and every line with fenced lines replaced by ''."""
    lines = text.split("\n")
    blocks, prose = [], []
    i = 0
    last_prose = ""
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m and not (m[2][0] == "`" and "`" in m[3]):
            fence, info = m[2], m[3].strip()
            start = i
            body = []
            i += 1
            while i < len(lines):
                c = FENCE.match(lines[i])
                if c and c[2][0] == fence[0] and len(c[2]) >= len(fence) and not c[3].strip():
                    break
                body.append(lines[i])
                i += 1
            blocks.append(Block(info.split()[0].lower() if info else "", start + 1, "\n".join(body), last_prose))
            prose += [""] * (i - start + 1)
            i += 1
            continue
        prose.append(lines[i])
        if lines[i].strip():
            last_prose = lines[i].strip()
        i += 1
    return blocks, prose[: len(lines)]


def strip_code_spans(line):
    return re.sub(r"(`+)(.+?)\1", lambda m: " " * len(m[0]), line)


def heading_text(raw):
    """The text GitHub renders for a heading's Markdown (links to their text, code spans to their content)."""
    t = re.sub(r"\s+#+\s*$", "", raw.strip())
    t = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", t)
    t = re.sub(r"(`+)(.+?)\1", r"\2", t)
    t = re.sub(r"<[^>]+>", "", t)
    return t


def github_slug(text):
    """GitHub's heading anchor: lower case, punctuation dropped (letters, digits, '-', '_' and spaces kept),
    each space a '-'. Markdown emphasis markers are punctuation and vanish with it."""
    out = []
    for ch in text.strip().lower():
        cat = unicodedata.category(ch)
        if ch in "-_" or cat[0] in ("L", "N") or cat == "Mn":
            out.append(ch)
        elif ch == " ":
            out.append("-")
    return "".join(out)


def headings(prose_lines):
    """(line number, level, text) of every ATX and setext heading outside fenced blocks."""
    found = []
    for i, line in enumerate(prose_lines):
        m = re.match(r"^ {0,3}(#{1,6})(?:\s+(.*?))?\s*$", line)
        if m:
            found.append((i + 1, len(m[1]), heading_text(m[2] or "")))
            continue
        if i > 0 and prose_lines[i - 1].strip() and re.match(r"^ {0,3}(=+|-+)\s*$", line):
            prev = prose_lines[i - 1]
            if not re.match(r"^ {0,3}(#|>|[-*+] |\d+\. |\|)", prev) and not re.match(r"^ {0,3}-+\s*$", prev):
                found.append((i, 1 if line.strip()[0] == "=" else 2, heading_text(prev)))
    return found


def anchors_of(text):
    """Every anchor a Markdown file defines: heading slugs (GitHub numbers repeats -1, -2, ...) and explicit
    name=/id= attributes of HTML tags."""
    _, prose = split_fences(text)
    seen = {}
    out = set()
    for _, _, t in headings(prose):
        slug = github_slug(t)
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    for line in prose:
        for m in re.finditer(r"<[a-zA-Z][^>]*\s(?:name|id)=\"([^\"]+)\"", line):
            out.add(m[1])
    return out


LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^\s)]+)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
HTML_REF = re.compile(r"<(?:a|img)\s[^>]*?\b(?:href|src)=\"([^\"]+)\"")
REF_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")


def links_of(text):
    """(line, target) of every inline link, image, reference definition and HTML a/img reference outside
    code."""
    _, prose = split_fences(text)
    found = []
    for i, line in enumerate(prose):
        line = strip_code_spans(line)
        for m in LINK.finditer(line):
            found.append((i + 1, m[1].strip("<>")))
        for m in HTML_REF.finditer(line):
            found.append((i + 1, m[1]))
        m = REF_DEF.match(line)
        if m:
            found.append((i + 1, m[1].strip("<>")))
    return found


def check_links(root, files=None):
    """Every relative link of every Markdown file names a file or directory that exists, and every #anchor
    names a heading (or an explicit anchor) of the Markdown file it points into. Anchors into other files
    must be GitHub's line anchors (#L10, #L10-L20)."""
    root = Path(root).resolve()
    files = markdown_files(root) if files is None else files
    cache = {}
    problems = []
    for f in files:
        text = f.read_text(encoding="utf-8", errors="replace")
        for line, target in links_of(text):
            if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("//"):
                continue  # http:, https:, mailto: ...: not checked (no network)
            path_part, _, anchor = target.partition("#")
            path_part = unquote(path_part.split("?")[0])
            if path_part.startswith("/"):
                dest = root / path_part.lstrip("/")
            elif path_part:
                dest = (f.parent / path_part).resolve()
            else:
                dest = f
            where = f"{rel(root, f)}:{line}: link {target}"
            if not dest.exists():
                problems.append(f"{where}: {rel(root, dest)} does not exist")
                continue
            if not anchor:
                continue
            anchor = unquote(anchor)
            if dest.is_file() and dest.suffix.lower() in (".md", ".markdown"):
                if dest not in cache:
                    cache[dest] = anchors_of(dest.read_text(encoding="utf-8", errors="replace"))
                if anchor not in cache[dest]:
                    problems.append(f"{where}: no heading or anchor #{anchor} in {rel(root, dest)}")
            elif not re.fullmatch(r"L\d+(-L\d+)?", anchor):
                problems.append(f"{where}: #{anchor} is not a line anchor (#L10) of {rel(root, dest)}")
    return problems


def check_placeholders(root, paths):
    """No "TBD" or "TODO" (any case, as a word) in any text file under `paths` (files or directories)."""
    root = Path(root)
    problems = []
    for p in paths:
        p = root / p
        files = [p] if p.is_file() else sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else []
        for f in files:
            try:
                text = f.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            for i, line in enumerate(text.split("\n")):
                m = PLACEHOLDER.search(line)
                if m:
                    problems.append(f"{rel(root, f)}:{i + 1}: placeholder {m[1]!r}")
    return problems


def h2_sections(text):
    """[(line, heading text, body prose lines)] for each level-2 heading, code blocks blanked out."""
    _, prose = split_fences(text)
    hs = [(ln, t) for ln, lvl, t in headings(prose) if lvl == 2]
    out = []
    for k, (ln, t) in enumerate(hs):
        end = hs[k + 1][0] - 1 if k + 1 < len(hs) else len(prose)
        body = prose[ln:end]
        # a section's own deeper headings count as its text; stop only at the next level-2 heading
        out.append((ln, t, body))
    return out


def count_words(lines):
    text = " ".join(strip_code_spans(x) for x in lines)
    text = re.sub(r"<!--.*?-->", " ", text)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return len(re.findall(r"[\w][\w'’.\-/]*", text))


def check_design(path):
    """system-design.md has the spec's eleven sections as "## N. Title", in order, each with at least
    MIN_SECTION_WORDS words outside code blocks."""
    path = Path(path)
    if not path.is_file():
        return [f"{path}: missing"]
    problems = []
    numbered = {}
    for ln, t, body in h2_sections(path.read_text(encoding="utf-8")):
        m = re.match(r"^(\d+)\.\s+(.*)$", t)
        if m:
            numbered[int(m[1])] = (ln, m[2], body)
    for n, title in enumerate(DESIGN_SECTIONS, 1):
        if n not in numbered:
            problems.append(f"{path.name}: no section '## {n}. {title}'")
            continue
        ln, got, body = numbered[n]
        if not got.lower().startswith(title.lower().split(" — ")[0]):
            problems.append(f"{path.name}:{ln}: section {n} is '{got}', the spec's is '{title}'")
        words = count_words(body)
        if words < MIN_SECTION_WORDS:
            problems.append(f"{path.name}:{ln}: section {n} has {words} words, at least {MIN_SECTION_WORDS} needed")
    return problems


def adr_options(body):
    """The options of an "Options Considered" section: its top-level numbered items, or its ### subheadings.
    Each is (title line, its text)."""
    items, cur = [], None
    for line in body:
        if re.match(r"^(\d+)[.)]\s+\S", line) or re.match(r"^###\s+\S", line):
            cur = [line]
            items.append(cur)
        elif cur is not None:
            cur.append(line)
    return items


def check_adr(path):
    """An ADR: '# ADR-NNN: Title' (NNN as in the file name), the five headings of the spec's format in order,
    at least MIN_ADR_OPTIONS options, each with its pros and its cons."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    problems = []
    m = re.match(r"adr-(\d{3})-", path.name)
    first = text.split("\n", 1)[0]
    if not m or not re.match(rf"^# ADR-{m[1] if m else 'NNN'}: \S", first):
        problems.append(f"{path.name}:1: the title must be '# ADR-NNN: Title' with the number of the file name")
    sections = h2_sections(text)
    names = [re.split(r":", t, 1)[0].strip() for _, t, _ in sections]
    at = -1
    for h in ADR_HEADINGS:
        try:
            k = names.index(h, at + 1)
        except ValueError:
            problems.append(f"{path.name}: no '## {h}' heading after the previous one (order: {', '.join(ADR_HEADINGS)})")
            continue
        at = k
    status = [t for _, t, _ in sections if t.startswith("Status")]
    if status:
        body = next(b for _, t, b in sections if t.startswith("Status"))
        value = status[0].partition(":")[2].strip() or " ".join(x.strip() for x in body if x.strip())
        if not value:
            problems.append(f"{path.name}: the Status is empty")
    for ln, t, body in sections:
        if t.strip() != "Options Considered":
            continue
        opts = adr_options(body)
        if len(opts) < MIN_ADR_OPTIONS:
            problems.append(f"{path.name}:{ln}: {len(opts)} options, at least {MIN_ADR_OPTIONS} needed")
        for o in opts:
            body_text = " ".join(o)
            missing = [w for w in ("Pros", "Cons") if not re.search(rf"\b{w}\b", body_text)]
            if missing:
                title = o[0].strip()[:70]
                problems.append(f"{path.name}: option '{title}' has no {' and no '.join(missing)}")
    return problems


def blocks_where(root, files, keep):
    """(file, block) for every fenced block of the Markdown files (default: all of the repository) that
    keep(block) accepts."""
    files = markdown_files(root) if files is None else files
    out = []
    for f in files:
        blocks, _ = split_fences(f.read_text(encoding="utf-8", errors="replace"))
        out += [(f, b) for b in blocks if keep(b)]
    return out


def fixsession_blocks(root, files=None):
    """Every fenced YAML block that holds a FIXSession (or a FIXSessionList)."""
    return blocks_where(
        root,
        files,
        lambda b: b.lang in ("yaml", "yml") and re.search(r"^\s*kind:\s*FIXSession(List)?\s*$", b.text, re.M),
    )


def check_fixsessions(root, fixgw, files=None):
    """Every FIXSession YAML block passes `fixgw routes check` (exit 0), or fails it the way a marker on the
    line before it says (expect-conflict: exit 1, expect-invalid: exit 2)."""
    root = Path(root)
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, (f, b) in enumerate(fixsession_blocks(root, files)):
            doc = Path(tmp) / f"block{k}.yaml"
            doc.write_text(b.text + "\n", encoding="utf-8")
            r = subprocess.run([str(fixgw), "routes", "check", str(doc)], capture_output=True, text=True, timeout=60)
            m = EXPECT_MARK.search(b.before)
            want = {"conflict": 1, "invalid": 2}[m[1]] if m else 0
            if r.returncode != want:
                out = (r.stdout + r.stderr).replace(str(doc), f"{rel(root, f)}:{b.line}").strip()
                problems.append(
                    f"{rel(root, f)}:{b.line}: `fixgw routes check` exited {r.returncode}, expected {want}: {out}"
                )
    return problems


def mermaid_blocks(root, files=None):
    """Every fenced block whose language is mermaid."""
    return blocks_where(root, files, lambda b: b.lang == "mermaid")


def render_mermaid(root, blocks, install_dir, tool_dir, out_dir):
    """Renders each (file, block) with tools/mermaid/render.mjs; returns the problems (a diagram that does not
    render, or a renderer that cannot run)."""
    root = Path(root)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = {}
    for k, (f, b) in enumerate(blocks):
        name = out_dir / f"{k:03d}-{f.stem}-L{b.line}.mmd"
        name.write_text(b.text + "\n", encoding="utf-8")
        names[str(name)] = f"{rel(root, f)}:{b.line}"
    if not names:
        return []
    r = subprocess.run(
        ["node", str(Path(tool_dir) / "render.mjs"), str(install_dir), str(Path(tool_dir) / "puppeteer-config.json"),
         str(out_dir), *names],
        capture_output=True,
        text=True,
        timeout=60 + 30 * len(names),
    )
    problems = []
    for line in r.stdout.splitlines():
        if line.startswith("FAIL "):
            name, _, why = line[5:].partition(": ")
            problems.append(f"{names.get(name, name)}: Mermaid diagram does not render: {why}")
    if r.returncode != 0 and not problems:
        problems.append(f"the renderer failed (exit {r.returncode}): {(r.stdout + r.stderr).strip()[-2000:]}")
    return problems


def parse_mapping(readme):
    """The deliverable-tree table of docs/README.md: {spec path: repository path}. Rows are
    | `spec path` | `repository path` | ... ."""
    mapping = {}
    for line in Path(readme).read_text(encoding="utf-8").split("\n"):
        m = re.match(r"^\|\s*`([^`]+)`\s*\|\s*`([^`]+)`\s*\|", line)
        if m:
            mapping[m[1]] = m[2]
    return mapping


def check_tree(root, readme):
    """Every path of the spec's deliverable tree has a row in the mapping table, and the repository path of
    that row exists (a directory for a path ending in '/')."""
    root = Path(root)
    readme = Path(readme)
    if not readme.is_file():
        return [f"{rel(root, readme)}: missing (it holds the deliverable-tree mapping)"]
    mapping = parse_mapping(readme)
    problems = []
    for spec in SPEC_TREE:
        if spec not in mapping:
            problems.append(f"{rel(root, readme)}: no row for the spec's `{spec}`")
            continue
        dest = root / mapping[spec]
        if spec.endswith("/"):
            if not dest.is_dir():
                problems.append(f"{rel(root, readme)}: `{spec}` -> `{mapping[spec]}`: no such directory")
        elif not dest.is_file():
            problems.append(f"{rel(root, readme)}: `{spec}` -> `{mapping[spec]}`: no such file")
    return problems


def check_diagram_files(diagrams_dir, design):
    """Each docs/architecture/diagrams/*.md holds Mermaid blocks, and each of them is in system-design.md as it
    is (the design document embeds the diagrams, the folder keeps them one per file as the spec's tree asks)."""
    diagrams_dir, design = Path(diagrams_dir), Path(design)
    problems = []
    files = sorted(diagrams_dir.glob("*.md")) if diagrams_dir.is_dir() else []
    if not files:
        return [f"{diagrams_dir}: no diagram files"]
    embedded = {b.text.strip() for b in split_fences(design.read_text(encoding="utf-8"))[0] if b.lang == "mermaid"}
    for f in files:
        blocks = [b for b in split_fences(f.read_text(encoding="utf-8"))[0] if b.lang == "mermaid"]
        if not blocks:
            problems.append(f"{f.name}: no Mermaid block")
        for b in blocks:
            if b.text.strip() not in embedded:
                problems.append(f"{f.name}:{b.line}: this diagram differs from every diagram in {design.name}")
    return problems
