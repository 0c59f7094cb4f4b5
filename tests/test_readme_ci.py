"""The README opens with its two commands, and .ci/run runs exactly those."""
from __future__ import annotations

import re

from .conftest import REPO


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    cmds = []
    for block in blocks[:2]:
        lines = [l for l in block.splitlines() if l.strip() and not l.lstrip().startswith("#")]
        cmds.append(" ".join(lines))
    return cmds


def test_readme_opens_with_two_commands_and_ci_runs_them():
    setup, tests = readme_commands()
    assert "pip install -r requirements.txt" in setup and "run.py run" in setup
    assert "pytest" in tests
    ci_lines = [l.strip() for l in (REPO / ".ci" / "run").read_text().splitlines()]
    assert setup in ci_lines and tests in ci_lines


def test_torch_pinned_first():
    reqs = [l for l in (REPO / "requirements.txt").read_text().splitlines() if l and not l.startswith("#")]
    assert reqs[0] == "torch==2.13.0"
    assert all("==" in r for r in reqs), "exact pins"
