"""`xerobridge sandbox servicedesk`: one JSON line with what a source needs, then it serves."""

from __future__ import annotations

import json
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from xerobridge_servicedesk import commands


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("servicedesk")(commands.servicedesk)

    @app.callback()
    def _group() -> None:
        """Local sandboxes."""

    return app


def test_help_names_the_options() -> None:
    result = CliRunner().invoke(cli(), ["servicedesk", "--help"])
    assert result.exit_code == 0
    for option in ("--port", "--accounts", "--requests", "--seed"):
        assert option in result.output


def test_it_prints_one_json_line_and_serves_that_state(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[Any] = []

    def fake_serve(app: Any, sock: Any) -> None:
        served.append(app)
        sock.close()

    monkeypatch.setattr("xerobridge.web.serve.serve", fake_serve)  # what serve_sandbox calls
    args = ["servicedesk", "--port", "0", "--accounts", "3", "--requests", "7", "--seed", "5"]
    result = CliRunner().invoke(cli(), args)
    assert result.exit_code == 0, result.output
    line = json.loads(result.output.splitlines()[0])
    state = served[0].state.sandbox
    assert line["base_url"].startswith("http://127.0.0.1:") and not line["base_url"].endswith(":0")
    assert line["token"] == state.authtoken
    assert line["control_url"] == line["base_url"] + "/_sandbox"
    assert line["accounts_url"] == line["base_url"] and line["refresh_token"]
    assert line["counts"]["accounts"] == 3 and line["counts"]["requests"] == 7
    assert line["seed"] == 5 and state.public_url == line["base_url"]


def test_negative_counts_are_refused() -> None:
    assert CliRunner().invoke(cli(), ["servicedesk", "--accounts", "-1"]).exit_code == 2
