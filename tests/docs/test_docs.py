"""The docs check of the test command, on the repository as it is: the spec's deliverable tree, ADR format,
no placeholders, links and anchors, the design document's sections, the FIXSession examples and the Mermaid
diagrams (docs/README.md, "How the docs are checked")."""

import filecmp

import docscheck as dc


def report(problems):
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)


def test_every_file_of_the_spec_tree_exists_where_the_mapping_says(root):
    report(dc.check_tree(root, root / "docs" / "README.md"))


def test_the_charts_crd_is_the_repositorys_crd(root):
    assert filecmp.cmp(root / "crds/fixsession-crd.yaml", root / "deploy/helm/fix-gateway/crds/fixsession-crd.yaml",
                       shallow=False), "deploy/helm/fix-gateway/crds/fixsession-crd.yaml differs from crds/"


def test_every_adr_has_the_spec_format(root):
    adrs = sorted((root / "docs" / "decisions").glob("adr-*.md"))
    assert len(adrs) >= 5
    problems = []
    for a in adrs:
        problems += dc.check_adr(a)
    report(problems)


def test_adr_numbers_are_unique(root):
    nums = [a.name[4:7] for a in (root / "docs" / "decisions").glob("adr-*.md")]
    assert len(nums) == len(set(nums)), sorted(nums)


def test_no_placeholder_text(root):
    report(dc.check_placeholders(root, ["docs", "README.md", "deploy/helm"]))


def test_relative_links_and_anchors_resolve(root):
    report(dc.check_links(root))


def test_system_design_has_the_eleven_sections_with_enough_words(root):
    report(dc.check_design(root / "docs" / "architecture" / "system-design.md"))


def test_diagram_files_are_the_diagrams_of_the_design(root):
    report(dc.check_diagram_files(root / "docs" / "architecture" / "diagrams",
                                  root / "docs" / "architecture" / "system-design.md"))


def test_fixsession_yaml_in_the_docs_passes_routes_check(root, fixgw):
    blocks = dc.fixsession_blocks(root)
    assert blocks, "no FIXSession YAML block found in the Markdown files"
    report(dc.check_fixsessions(root, fixgw))


def test_every_mermaid_diagram_renders(root, mermaid, tmp_path):
    blocks = dc.mermaid_blocks(root)
    names = {b.text.split()[0] for _, b in blocks}
    # the spec's required kinds: a component (flowchart), sequence and deployment diagram
    assert {"sequenceDiagram", "flowchart"} <= names, names
    report(dc.render_mermaid(root, blocks, *mermaid, tmp_path))
