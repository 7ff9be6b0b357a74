"""Fixtures of the docs suite (scripts/test.sh docs): the repository root, the fixgw binary that checks the
FIXSession examples, and the pinned mermaid-cli (tools/mermaid/install.sh, cached outside the clone)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def fixgw():
    path = Path(os.environ.get("FIXGW_BIN", ROOT / "build" / "fixgw"))
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not an executable fixgw (build it, or set FIXGW_BIN)")
    return path


@pytest.fixture(scope="session")
def mermaid():
    """(install dir, tools/mermaid): what tests/docs/docscheck.render_mermaid needs."""
    tool_dir = ROOT / "tools" / "mermaid"
    r = subprocess.run([str(tool_dir / "install.sh")], capture_output=True, text=True, timeout=1200)
    if r.returncode != 0:
        pytest.fail(f"tools/mermaid/install.sh failed:\n{r.stderr[-3000:]}")
    return Path(r.stdout.strip().splitlines()[-1]), tool_dir
