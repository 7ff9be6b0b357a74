"""docs/getting-started.md, part 1 (one machine, files), run as written: every ```sh block in order in one bash
(tests/e2e/docrun.py), each checked against the output its `expect` says. What differs from a reader's run:
- the first block (`make && make peers`, then PATH and REPO) is not run: the test command has built fixgw (this
  suite's build, which may be a sanitizer build) and the QuickFIX engine, and the test puts them on PATH and
  sets REPO to this repository;
- HOME is a directory of the test, so `~/fixgw-start` is too;
- the guide's fixed ports (9877, 9090, 9881, 19880) become free ports below the ephemeral range, so runs in
  parallel and a `make run` on the same machine never collide."""
import os
import pathlib
import random
import socket

import docrun
from conftest import FIXGW, ROOT
from gwharness import peer_binary

GUIDE = ROOT / "docs" / "getting-started.md"


def listen_port(taken):
    """A port below the kernel's ephemeral range that can be bound now. The guide's processes bind it a moment
    later: a port from the ephemeral range (free_port) can meanwhile become the source port of any outgoing
    connection on this busy machine, one below it only another listener's."""
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    while True:
        port = random.randrange(20000, min(low, 32768))
        if port in taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        taken.add(port)
        return port


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
    taken = set()
    ports = {p: listen_port(taken) for p in (9877, 9090, 9881, 19880)}
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
