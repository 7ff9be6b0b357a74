"""Run a Markdown guide's shell blocks, in order, in one shell, so the guide cannot rot.

The convention a guide follows (docs/getting-started.md does):

- Every fenced block opened with ```sh is run; other blocks (```console, ```yaml, ```json ...) are shown only.
- An HTML comment right before a ```sh block (invisible when the Markdown is rendered) says more about it:
    <!-- run: expect=REGEX -->    the block's output (stdout and stderr) must match REGEX (re.search, MULTILINE)
    <!-- run: skip=WHY -->        not run; WHY says what the test command does in its place
    <!-- run: instead=NAME -->    not run by the shell: the test calls its own step NAME (a Python function the
                                  test passes in), for a step that needs what this machine lacks (a kubelet)
    <!-- run: before=NAME -->     the test calls its step NAME, then the block runs as written
  Several may share one comment, separated by " ; " (expect last, since its regex may hold anything else).
- <!-- run-part: NAME --> starts a part: blocks after it belong to part NAME (the blocks before the first
  marker to part "main"). A test runs one part.
- Long-running commands end with `&` and send their output to a file (`... 2> gateway.log &`): the shell
  keeps them as jobs, and the runner stops them all (their process group) at the end.
- Port numbers of the guide can be mapped to others (ports={9877: 41234}): every occurrence of the number,
  not part of a longer number, in a block run later is replaced, so parallel runs on one machine never
  collide with each other or with a `make run`.

Blocks run in one bash (so `cd`, variables and jobs carry over from one block to the next) with errexit,
nounset and pipefail; a failing command ends the run and the test, with the block and its output."""
import dataclasses
import os
import re
import select
import signal
import subprocess
import time

FENCE = re.compile(r"^```(\S*)[^\n]*\n(.*?)^```\s*$", re.M | re.S)
OPTIONS = re.compile(r"<!--\s*run:\s*(.*?)\s*-->\s*$", re.S)
PART = re.compile(r"<!--\s*run-part:\s*(\S+)\s*-->")


@dataclasses.dataclass
class Block:
    line: int  # 1-based line of the opening fence
    part: str
    code: str
    expect: str = None
    skip: str = None
    instead: str = None
    before: str = None


def blocks(text, part=None):
    """The ```sh blocks of text (of one part, when given), with their options."""
    out = []
    for m in FENCE.finditer(text):
        if m.group(1) != "sh":
            continue
        before = text[:m.start()]
        parts = PART.findall(before)
        b = Block(line=before.count("\n") + 1, part=parts[-1] if parts else "main", code=m.group(2))
        tail = before.rstrip("\n").rsplit("\n\n", 1)[-1]  # the paragraph right before the fence
        o = OPTIONS.search(tail)
        if o:
            for item in re.split(r"\s+;\s+(?=\w+=)", o.group(1)):
                key, _, value = item.partition("=")
                if key not in ("expect", "skip", "instead", "before"):
                    raise ValueError(f"line {b.line}: unknown run option {key!r}")
                setattr(b, key, value)
        if part is None or b.part == part:
            out.append(b)
    return out


def map_ports(code, ports):
    for old, new in ports.items():
        code = re.sub(rf"(?<![0-9]){old}(?![0-9])", str(new), code)
    return code


class Shell:
    """One bash for a guide's blocks, in its own process group; stop() ends it and every job it started."""

    def __init__(self, cwd, env, logdir):
        self.logdir = logdir
        self.n = 0
        self.proc = subprocess.Popen(["bash", "--noprofile", "--norc", "-s"], cwd=cwd, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self._send("set -euo pipefail\n")

    def _send(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def run(self, code, timeout, what):
        """Run code; return its output. AssertionError (with the output) when it fails or outlasts timeout."""
        self.n += 1
        script = self.logdir / f"block-{self.n}.sh"
        out = self.logdir / f"block-{self.n}.out"
        script.write_text(code)
        marker = f"__docrun_done_{self.n}__"
        self._send(f"source {script} >{out} 2>&1 </dev/null\necho {marker}\n")
        deadline = time.monotonic() + timeout
        line = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{what} did not finish within {timeout} s:\n{code}\n--- output:\n"
                                     f"{out.read_text(errors='replace')[-4000:]}")
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                self.proc.wait(10)
                raise AssertionError(f"{what} failed (exit status {self.proc.returncode}):\n{code}\n--- output:\n"
                                     f"{out.read_text(errors='replace')[-4000:]}")
            line += chunk
            if marker.encode() in line:
                return out.read_text(errors="replace")

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        # jobs of the shell that outlive it (they share its process group)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def run_part(path, part, shell, steps=None, ports=None, timeout=180):
    """Run the blocks of one part of the guide at path in shell, in order. steps: NAME -> function(block)
    for the `instead=NAME` blocks; it may return a dict of ports to map from then on. Returns
    [(block, output)] of the blocks run."""
    steps = steps or {}
    ports = dict(ports or {})
    done = []
    todo = blocks(path.read_text(), part)
    assert todo, f"{path}: no ```sh blocks in part {part}"
    for b in todo:
        what = f"{path.name}:{b.line}"
        if b.skip:
            continue
        step = b.instead or b.before
        if step:
            assert step in steps, f"{what}: no step {step!r} in the test"
            ports.update(steps[step](b) or {})
            if b.instead:
                continue
        out = shell.run(map_ports(b.code, ports), timeout, what)
        if b.expect:
            assert re.search(b.expect, out, re.M), f"{what}: output does not match {b.expect!r}:\n{out[-4000:]}"
        done.append((b, out))
    return done
