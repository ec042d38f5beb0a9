"""Helpers of the dashboard tests: logging in, and reading a page's CSRF token."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

PASSWORD = "correct horse battery"


def csrf_of(html: str) -> str:
    """The CSRF token in a page's forms."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def log_in(client: TestClient, password: str = PASSWORD, next_path: str = "/") -> None:
    """Log in through the form, as a person would."""
    page = client.get("/login")
    assert page.status_code == 200
    response = client.post(
        "/login",
        data={
            "username": "admin",
            "password": password,
            "next": next_path,
            "csrf_token": csrf_of(page.text),
        },
    )
    assert response.status_code == 303, response.text
