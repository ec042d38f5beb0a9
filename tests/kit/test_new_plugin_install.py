"""The plugin author guide, run as written: new-plugin, install, list, test, sync into Xero.

The steps are the guide's own (`<!-- guide-step -->` blocks of docs/plugin-guide.md), run in a
shell in a throwaway virtualenv. One thing differs from a reader's machine: `pip install` is
told to work offline (no dependencies, no build isolation), since everything the plugin needs
is already in the environment the throwaway one sees.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from guide_helpers import guide_steps, guide_tests_pass, make_throwaway

pytestmark = pytest.mark.slow

STEPS = [
    "xerobridge new-plugin tickets --from-xero",
    "pip install -e ./xerobridge-tickets",
    "xerobridge plugins",
    "python -m pytest xerobridge-tickets",
    "xerobridge demo --once",
]


def test_the_guide_walks_from_new_plugin_to_synced_records(tmp_path: Path) -> None:
    """Each step succeeds, the plugin is listed ok, its tests pass, its records reach Xero."""
    assert guide_steps("plugin-guide.md") == STEPS, "the guide's steps changed: update the test"
    venv = make_throwaway(tmp_path / "venv")
    work = tmp_path / "work"
    work.mkdir()
    # Only the new plugin's sandbox in the demo: the Magento one is tested on its own.
    env = venv.env(tmp_path / "home", XEROBRIDGE_DISABLE_PLUGINS="magento")
    outputs = {}
    for step in STEPS:
        command = step.replace("pip install", venv.pip_install(), 1)
        done = subprocess.run(command, shell=True, cwd=work, env=env, capture_output=True,
                              text=True, timeout=300, check=False)  # fmt: skip
        assert done.returncode == 0, f"{step}:\n{done.stdout}\n{done.stderr}"
        outputs[step] = done.stdout
    # As many as the guide says, all passing (it names the number in words as well).
    passing = guide_tests_pass("plugin-guide.md")
    summary = outputs["python -m pytest xerobridge-tickets"].strip().splitlines()[-1]
    assert re.search(rf"\b{passing} passed\b", summary) and "failed" not in summary, summary
    rows = {
        cells[0]: cells[1:]
        for line in outputs["xerobridge demo --once"].splitlines()
        if len(cells := [c.strip() for c in line.strip("│ ").split("│")]) == 7
    }
    # stream: read, created, updated, skipped, failed, held
    assert rows["demo-tickets.customers"] == ["3", "3", "0", "0", "0", "0"]
    assert rows["demo-tickets.invoices"] == ["4", "4", "0", "0", "0", "0"]
    listed = subprocess.run(
        [str(venv.bin / "xerobridge"), "plugins", "--json"],
        cwd=work, env=env, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    tickets = next(p for p in json.loads(listed.stdout) if p["name"] == "tickets")
    assert tickets["status"] == "ok", tickets
    assert tickets["distribution"] == "xerobridge-tickets"
    assert tickets["streams"] == ["customers", "invoices", "vendors"]
