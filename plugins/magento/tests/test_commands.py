"""`xerobridge sandbox magento`: added by register_commands, served on a socket it binds."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

import xerobridge_magento
from xerobridge.contract.plugins import Plugins, register_module

PLUGINS = Plugins([register_module(xerobridge_magento, "magento")])


def groups() -> tuple[typer.Typer, typer.Typer]:
    """A root command line and a `sandbox` group, as the core passes them."""
    cli = typer.Typer()
    sandbox = typer.Typer()

    @sandbox.callback()
    def _sandbox() -> None:
        """Local sandboxes."""

    cli.add_typer(sandbox, name="sandbox")
    return cli, sandbox


def test_register_commands_adds_the_sandbox_command(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[Any] = []

    def fake_serve(app: Any, sock: Any) -> None:
        served.append(app)
        sock.close()

    monkeypatch.setattr("xerobridge.web.serve.serve", fake_serve)  # what serve_sandbox calls
    cli, sandbox = groups()
    PLUGINS.call("magento", "register_commands", cli=cli, sandbox=sandbox)
    args = ["sandbox", "magento", "--port", "0", "--customers", "3", "--products", "4"]
    result = CliRunner().invoke(cli, [*args, "--orders", "5", "--seed", "9"])

    assert result.exit_code == 0, result.output
    line = json.loads(result.output.splitlines()[0])
    state = served[0].state.sandbox
    assert line["token"] == state.integration_token
    assert line["base_url"].startswith("http://127.0.0.1:")
    assert not line["base_url"].endswith(":0")
    assert line["counts"]["customers"] == 3 and line["counts"]["orders"] == 5
    assert line["control_url"] == line["base_url"] + "/_sandbox"
    assert {s["code"] for s in line["stores"]} == {"default", "de"}
    assert state.public_url == line["base_url"]


def test_the_sandbox_command_refuses_negative_counts() -> None:
    cli, sandbox = groups()
    PLUGINS.call("magento", "register_commands", cli=cli, sandbox=sandbox)
    result = CliRunner().invoke(cli, ["sandbox", "magento", "--orders", "-1"])
    assert result.exit_code == 2


def first_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise AssertionError(f"no line from the sandbox within {timeout} s")
    return proc.stdout.readline()


@pytest.mark.slow
def test_xerobridge_sandbox_magento_serves_on_port_0() -> None:
    """The real command line: one JSON line, then a Magento REST API at base_url with token."""
    env = {k: v for k, v in os.environ.items() if k != "XEROBRIDGE_DISABLE_PLUGINS"}
    command = [sys.executable, "-m", "xerobridge", "sandbox", "magento", "--port", "0"]
    counts = ["--customers", "4", "--products", "6", "--orders", "8", "--seed", "3"]
    proc = subprocess.Popen(
        [*command, *counts],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = json.loads(first_line(proc, 10))
        response = httpx.get(
            f"{line['base_url']}/rest/default/V1/customers/search",
            params={"searchCriteria[pageSize]": "10"},
            headers={"Authorization": f"Bearer {line['token']}"},
            timeout=5,
        )
        assert response.status_code == 200
        assert response.json()["total_count"] == 4
        info = httpx.get(f"{line['control_url']}/info", timeout=5).json()
        assert info["counts"]["orders"] == 8
        assert info["base_url"] == line["base_url"]
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
