"""docs/getting-started.md, part 1 (one machine, files), run as written: every ```sh block in order in one bash
(tests/e2e/docrun.py), each checked against the output its `expect` says. What differs from a reader's run:
- the first block (`make && make peers`, then PATH and REPO) is not run: the test command has built fixgw (this
  suite's build, which may be a sanitizer build) and the QuickFIX engine, and the test puts them on PATH and
  sets REPO to this repository;
- HOME is a directory of the test, so `~/fixgw-start` is too;
- the guide's fixed ports (9877, 9090, 9881, 19880) become free ports, so runs in parallel and a `make run` on
  the same machine never collide."""
import os
import pathlib

import docrun
from conftest import FIXGW, ROOT
from gwharness import free_port, peer_binary

GUIDE = ROOT / "docs" / "getting-started.md"


def test_blocks_are_found_with_their_options():
    """The extractor sees the guide as the test relies on: sh blocks only, options attached, parts split."""
    main = docrun.blocks(GUIDE.read_text(), "main")
    cluster = docrun.blocks(GUIDE.read_text(), "cluster")
    assert main and cluster
    assert main[0].skip and "make && make peers" in main[0].code
    assert all(b.part == "main" for b in main) and all(b.part == "cluster" for b in cluster)
    assert any(b.expect for b in main) and any(b.instead for b in cluster)
    assert not any("```" in b.code for b in main + cluster)


def test_extractor_conventions(tmp_path):
    """A guide written in the convention: options before a block, ports mapped, state kept between blocks,
    a failing command or an unmatched expect fails the run."""
    guide = tmp_path / "guide.md"
    guide.write_text("Intro\n\n```console\n$ not run\n```\n\n<!-- run: skip=shown only -->\n\n```sh\nexit 7\n```\n\n"
                     "```sh\nX=1; cd /\n```\n\n<!-- run: expect=^x=1 / 5555$ -->\n\n"
                     "```sh\necho x=$X $PWD 1234\n```\n\n<!-- run-part: two -->\n\n```sh\nfalse\n```\n")
    shell = docrun.Shell(tmp_path, dict(os.environ), tmp_path)
    try:
        done = docrun.run_part(guide, "main", shell, ports={1234: 5555})
        assert [b.code for b, _ in done] == ["X=1; cd /\n", "echo x=$X $PWD 1234\n"]
        try:
            docrun.run_part(guide, "two", shell)
        except AssertionError as e:
            assert "guide.md:" in str(e) and "failed" in str(e)
        else:
            raise AssertionError("a failing block passed")
    finally:
        shell.stop()
    guide.write_text("<!-- run: expect=^nope$ -->\n\n```sh\necho yes\n```\n")
    shell = docrun.Shell(tmp_path, dict(os.environ), tmp_path)
    try:
        docrun.run_part(guide, "main", shell)
    except AssertionError as e:
        assert "does not match" in str(e)
    else:
        raise AssertionError("an unmatched expect passed")
    finally:
        shell.stop()


def test_getting_started_standalone(tmp_path):
    peers = pathlib.Path(peer_binary("fix_acceptor")).parent
    home = tmp_path / "home"
    home.mkdir()
    logs = tmp_path / "blocks"
    logs.mkdir()
    env = dict(os.environ, HOME=str(home), REPO=str(ROOT),
               PATH=f"{FIXGW.parent}:{peers}:{os.environ['PATH']}")
    ports = {p: free_port() for p in (9877, 9090, 9881, 19880)}
    shell = docrun.Shell(home, env, logs)
    try:
        done = docrun.run_part(GUIDE, "main", shell, ports=ports)
    finally:
        shell.stop()
    assert len(done) >= 10
    # what the guide's last blocks left behind: the engine saw BROKER_A's Logon, the reject engine STRANGER's
    start = home / "fixgw-start"
    assert '"event":"logon","acceptor":"equities-engine","sender":"BROKER_A"' in (start / "engine.log").read_text()
    assert '"sender_comp_id":"STRANGER"' in (start / "reject.log").read_text()
