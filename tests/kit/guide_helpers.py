"""Helpers for the tests of the guides: their marked steps, and a throwaway environment.

A guide marks each command a reader runs in order with `<!-- guide-step -->` before its code
block; the tests run exactly those blocks. The throwaway environment is a virtualenv in a
temporary directory that sees this project's environment (a `.pth` file adds its
site-packages), so that installing a generated plugin there leaves the shared one untouched.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
_STEP = re.compile(r"<!-- guide-step -->\s*```[a-z]*\n(.*?)```", re.S)
_PASSING = re.compile(r"<!-- tests-pass: (\d+) -->")


def guide_steps(name: str) -> list[str]:
    """The commands a guide marks as steps, in order (one command per block)."""
    text = (DOCS / name).read_text()
    return [block.strip() for block in _STEP.findall(text)]


def guide_tests_pass(name: str) -> int:
    """How many tests the guide says the generated plugin's own tests are."""
    found = _PASSING.findall((DOCS / name).read_text())
    assert len(found) == 1, f"{name}: expected one <!-- tests-pass: N --> mark, found {found}"
    return int(found[0])


@dataclass
class Throwaway:
    """A virtualenv of its own on top of the project's environment."""

    root: Path
    python: Path
    bin: Path

    def env(self, home: Path, **extra: str) -> dict[str, str]:
        """The environment of a shell in which `python`, `pip` and `xerobridge` are this venv's."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("XEROBRIDGE_")}
        env.update(PATH=f"{self.bin}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(self.root),
                   XEROBRIDGE_HOME=str(home), **extra)  # fmt: skip
        env.pop("PYTHONPATH", None)
        return env

    def pip_install(self) -> str:
        """`pip install` into this venv, offline: no dependencies, no build isolation."""
        return (
            f"{sys.executable} -m pip --python {self.python} install -q --no-deps "
            "--no-build-isolation --no-index"
        )


def make_throwaway(root: Path) -> Throwaway:
    """A venv without pip that sees this environment's packages; `xerobridge` runs in it."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    parent = sysconfig.get_paths()["purelib"]
    # addsitedir, unlike a plain path line, also runs the parent's own .pth files, which is
    # how its editable installs (xerobridge, the Magento plugin) are found.
    Path(purelib, "xerobridge-parent.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    launcher = root / "bin" / "xerobridge"
    launcher.write_text(f"#!{python}\nfrom xerobridge.cli.main import main\n\nmain()\n")
    launcher.chmod(0o755)
    return Throwaway(root=root, python=python, bin=root / "bin")
