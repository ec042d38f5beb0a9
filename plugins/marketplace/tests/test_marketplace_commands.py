"""`xerobridge sandbox marketplace`: one JSON line with the source's settings, then serving."""

from __future__ import annotations

import json
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from xerobridge_marketplace import commands


def cli() -> typer.Typer:
    root = typer.Typer()
    sandbox = typer.Typer()

    @sandbox.callback()
    def _sandbox() -> None:
        """Local sandboxes."""

    sandbox.command("marketplace")(commands.marketplace)
    root.add_typer(sandbox, name="sandbox")
    return root


def test_help_names_the_options() -> None:
    result = CliRunner().invoke(cli(), ["sandbox", "marketplace", "--help"])
    assert result.exit_code == 0
    for option in ("--port", "--customers", "--subscriptions", "--seed"):
        assert option in result.output


def test_prints_one_json_line_with_the_source_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[Any] = []

    def fake_serve(app: Any, sock: Any) -> None:
        served.append(app)
        sock.close()

    monkeypatch.setattr("xerobridge.web.serve.serve", fake_serve)  # what serve_sandbox calls
    args = ["sandbox", "marketplace", "--port", "0", "--customers", "4", "--subscriptions", "6"]
    result = CliRunner().invoke(cli(), [*args, "--seed", "5"])
    assert result.exit_code == 0, result.output
    line = json.loads(result.output.splitlines()[0])
    state = served[0].state.sandbox
    assert line["base_url"].startswith("http://127.0.0.1:")
    assert line["base_url"].endswith("/marketplace") and ":0/" not in line["base_url"]
    assert (line["username"], line["password"]) == (state.username, state.password)
    assert line["marketplace"] == state.marketplace
    assert line["subscription_key"] == state.subscription_key
    assert line["control_url"].endswith("/_sandbox")
    assert line["counts"]["customers"] == 4 and line["counts"]["subscriptions"] == 6
    assert line["seed"] == 5
