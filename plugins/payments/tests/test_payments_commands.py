"""`xerobridge sandbox payments`: one JSON line with the source's settings, then it serves."""

from __future__ import annotations

import json
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from xerobridge_payments.commands import payments


def cli() -> typer.Typer:
    app = typer.Typer()
    group = typer.Typer()

    @group.callback()
    def _sandbox() -> None:
        """Local sandboxes."""

    group.command("payments")(payments)
    app.add_typer(group, name="sandbox")
    return app


def test_help_names_every_option() -> None:
    result = CliRunner().invoke(cli(), ["sandbox", "payments", "--help"])
    assert result.exit_code == 0
    for option in ("--port", "--customers", "--invoices", "--seed", "--webhook-url"):
        assert option in result.output


def test_it_prints_the_settings_line_then_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[Any] = []

    def fake_serve(app: Any, sock: Any) -> None:
        served.append(app)
        sock.close()

    monkeypatch.setattr("xerobridge.web.serve.serve", fake_serve)  # what serve_sandbox calls
    args = ["sandbox", "payments", "--port", "0", "--customers", "3", "--invoices", "7"]
    hook = "http://127.0.0.1:9/sources/pay/notify"
    result = CliRunner().invoke(cli(), [*args, "--seed", "5", "--webhook-url", hook])

    assert result.exit_code == 0, result.output
    line = json.loads(result.output.splitlines()[0])
    state = served[0].state.sandbox
    assert line["base_url"].startswith("http://127.0.0.1:") and not line["base_url"].endswith(":0")
    assert (line["client_id"], line["client_secret"]) == (state.client_id, state.client_secret)
    assert line["webhook_secret"] == state.webhook_secret and len(line["webhook_secret"]) >= 16
    assert line["control_url"] == line["base_url"] + "/_sandbox"
    assert line["counts"]["customers"] == 3 and line["counts"]["invoices"] == 7
    assert line["webhooks"] == [hook] and line["seed"] == 5
    assert state.public_url == line["base_url"]


def test_a_webhook_url_that_is_not_http_is_refused() -> None:
    result = CliRunner().invoke(cli(), ["sandbox", "payments", "--webhook-url", "ftp://x"])
    assert result.exit_code == 2
