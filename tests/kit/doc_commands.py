"""A document's command blocks run as a reader types them: in order, each in a shell, on a
fresh XEROBRIDGE_HOME, with what the reader fills in for themselves (their credentials, free
ports) filled in by the test. A line's exit code is 0 unless its comment says `exits N`;
`export NAME=VALUE` holds for the lines after it; a line ending in `&`, and `xerobridge run`
(which a reader leaves running in a terminal of its own), runs in the background: a sandbox
until it prints its JSON line, the daemon until it answers its health check."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx


def commands(markdown: str) -> list[str]:
    """The commands of the text's ``` blocks, in order, continuation lines joined."""
    lines: list[str] = []
    for block in re.findall(r"```\n(.*?)```", markdown, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip():
                lines.append(" ".join(line.split()))
    return lines


def free_port() -> str:
    """A port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def expected_exit(line: str) -> int:
    """The exit code a line's comment announces (`# exits N`), else 0."""
    found = re.search(r"#.*\bexits (\d+)", line)
    return int(found.group(1)) if found else 0


class Reader:
    """Runs a document's lines in `folder`, with `xerobridge` on the PATH (also as
    `.venv/bin/xerobridge`) and a data directory of its own."""

    def __init__(
        self,
        folder: Path,
        servers: list[subprocess.Popen[str]],
        *,
        skipped: dict[str, str],
        fill: Callable[[Reader, str], str] = lambda _reader, line: line,
        exits: dict[str, int] | None = None,
    ) -> None:
        self.folder = folder
        self.servers = servers
        self.skipped = skipped  # a line containing the key is not run, for the reason given
        self.fill = fill
        #: Exit codes of lines containing the key, where the document cannot say (the exit a
        #: test's data brings about, not the reader's).
        self.exits = exits or {}
        bin_dir = folder / ".venv" / "bin"
        bin_dir.mkdir(parents=True)
        shim = bin_dir / "xerobridge"
        shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m xerobridge "$@"\n')
        shim.chmod(0o755)
        self.xerobridge = str(shim)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("XEROBRIDGE_")}
        self.env.update(XEROBRIDGE_HOME=str(folder / "home"), PYTHONUNBUFFERED="1",
                        COLUMNS="100", PATH=f"{bin_dir}:{os.environ.get('PATH', '')}")  # fmt: skip
        #: What each sandbox a line served printed, by the sandbox's name.
        self.printed: dict[str, dict[str, Any]] = {}
        self.ran = 0

    def run_all(self, lines: list[str]) -> None:
        """Every line in order."""
        for line in lines:
            self.run(line)

    def run(self, line: str) -> None:
        """One line, as the module's docstring says."""
        if any(marker in line for marker in self.skipped):
            return
        command = self.fill(self, line.split("  #", 1)[0].split(" # ", 1)[0].strip())
        if command.startswith("export "):
            name, _, value = command.removeprefix("export ").partition("=")
            self.env[name] = value
            return
        words = shlex.split(command.removesuffix("&"))
        if command.endswith("&") or words[1:2] == ["run"]:
            self._background(line, words)
        else:
            done = subprocess.run(command, shell=True, cwd=self.folder, env=self.env,
                                  capture_output=True, text=True, timeout=300,
                                  check=False)  # fmt: skip
            expected = next((code for key, code in self.exits.items() if key in line), None)
            if done.returncode != (expected_exit(line) if expected is None else expected):
                raise AssertionError(
                    f"{line}\nexited {done.returncode}:\n{done.stdout}{done.stderr}\n"
                    f"the sync log's last errors:\n{self._errors()}"
                )
            assert "Traceback" not in done.stderr, f"{line}:\n{done.stderr}"
        self.ran += 1

    def _background(self, line: str, words: list[str]) -> None:
        proc = subprocess.Popen(words, cwd=self.folder, env=self.env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        self.servers.append(proc)
        if words[1] == "sandbox":
            first = proc.stdout.readline()  # type: ignore[union-attr]
            assert first, f"{line}:\n{proc.stderr.read()}"  # type: ignore[union-attr]
            self.printed[words[2]] = json.loads(first)
            return
        listen = words[words.index("--listen") + 1] if "--listen" in words else "127.0.0.1:8765"
        port = listen.rsplit(":", 1)[1]
        _wait_healthy(proc, f"http://127.0.0.1:{port}/healthz", line)

    def _errors(self) -> str:
        done = subprocess.run([self.xerobridge, "log", "--status", "error", "--json", "--limit",
                               "5"], cwd=self.folder, env=self.env, capture_output=True,
                              text=True, timeout=60, check=False)  # fmt: skip
        return done.stdout or done.stderr

    def xb(self, *args: str) -> str:
        """`xerobridge ARGS` in the reader's environment; its output (exit 0)."""
        done = subprocess.run([self.xerobridge, *args], cwd=self.folder, env=self.env,
                              capture_output=True, text=True, timeout=300, check=True)  # fmt: skip
        return done.stdout


def _wait_healthy(proc: subprocess.Popen[str], url: str, line: str) -> None:
    """Until the daemon answers its health check (it is started in the background)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{line}:\n{proc.stderr.read()}"  # type: ignore[union-attr]
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)  # a real daemon starting in a process of its own
    raise AssertionError(f"{line}: the daemon did not answer {url} in 60 s")
