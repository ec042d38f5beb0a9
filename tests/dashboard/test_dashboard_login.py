"""The dashboard's door: logins, sessions, CSRF tokens and the routes exempt from them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from httpx import Response
from sqlmodel import col, select
from starlette.testclient import TestClient

from xerobridge.clock import FakeClock
from xerobridge.contract.errors import UserError
from xerobridge.store.db import Store
from xerobridge.store.models import ActionLog, Connection
from xerobridge.web.dashboard import lockout, logins
from xerobridge.web.dashboard.passwords import hash_password, verify_password

from dashboard_helpers import PASSWORD, csrf_of, log_in


def test_pages_need_a_login_and_come_back_after_it(anonymous: TestClient) -> None:
    response = anonymous.get("/queue?state=held")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/queue%3Fstate%3Dheld"
    page = anonymous.get("/login?next=/")
    log_in(anonymous, next_path="/")
    assert anonymous.get("/").status_code == 200
    assert "Log out" in anonymous.get("/").text
    assert page.status_code == 200


def test_a_wrong_password_is_refused_with_the_form_again(anonymous: TestClient) -> None:
    page = anonymous.get("/login")
    response = anonymous.post(
        "/login",
        data={"username": "admin", "password": "wrong one!", "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 401
    assert "Wrong username or password." in response.text
    assert anonymous.get("/").status_code == 303


def test_unknown_users_are_refused_alike(anonymous: TestClient) -> None:
    page = anonymous.get("/login")
    response = anonymous.post(
        "/login",
        data={"username": "mallory", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 401
    assert "Wrong username or password." in response.text


def test_the_next_address_never_leaves_the_site(anonymous: TestClient) -> None:
    log_in(anonymous, next_path="//evil.example/")
    page = anonymous.get("/login?next=https://evil.example/")
    assert page.status_code == 303
    assert page.headers["location"] == "/"


def test_logging_out_ends_the_session(browser: TestClient) -> None:
    token = csrf_of(browser.get("/").text)
    response = browser.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303
    assert browser.get("/").status_code == 303
    assert "You are logged out." in browser.get("/login").text


def test_a_post_without_the_csrf_token_is_refused(browser: TestClient) -> None:
    response = browser.post("/logout", data={})
    assert response.status_code == 403
    assert "security token" in response.text
    assert browser.get("/").status_code == 200  # still logged in


def test_a_post_with_another_sessions_token_is_refused(browser: TestClient, web: object) -> None:
    with TestClient(web, base_url="http://127.0.0.1:8765", follow_redirects=False) as other:  # type: ignore[arg-type]
        log_in(other)
        stolen = csrf_of(other.get("/").text)
    assert browser.post("/logout", data={"csrf_token": stolen}).status_code == 403


def test_a_form_posted_from_another_site_is_refused(browser: TestClient) -> None:
    token = csrf_of(browser.get("/").text)
    response = browser.post(
        "/logout", data={"csrf_token": token}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert "another site" in response.text


def test_the_login_form_itself_needs_its_token(anonymous: TestClient) -> None:
    anonymous.get("/login")
    response = anonymous.post("/login", data={"username": "admin", "password": PASSWORD})
    assert response.status_code == 403
    assert anonymous.get("/").status_code == 303


def test_a_forged_cookie_is_an_anonymous_session(anonymous: TestClient) -> None:
    anonymous.cookies.set("xerobridge_session", "gAAAAAforged")
    assert anonymous.get("/").status_code == 303


def test_sessions_expire(browser: TestClient, store: Store, clock: FakeClock) -> None:
    """In use, a session lasts 12 hours from its login."""
    for _ in range(11 * 3):
        clock.advance(timedelta(minutes=20).total_seconds())
        assert browser.get("/").status_code == 200
    clock.advance(timedelta(minutes=80).total_seconds())
    assert browser.get("/").status_code == 303
    assert "Your session expired" in browser.get("/login").text


def test_an_idle_session_ends(browser: TestClient, clock: FakeClock) -> None:
    clock.advance(timedelta(minutes=29).total_seconds())
    assert browser.get("/").status_code == 200  # and the session was seen again
    clock.advance(timedelta(minutes=29).total_seconds())
    assert browser.get("/").status_code == 200
    clock.advance(timedelta(minutes=31).total_seconds())
    assert browser.get("/").status_code == 303
    assert "Your session ended after 30 minutes without use" in browser.get("/login").text


def test_logging_out_ends_every_copy_of_the_session(browser: TestClient) -> None:
    """A cookie saved before the log out opens nothing afterwards, pages or API."""
    saved = dict(browser.cookies)
    token = csrf_of(browser.get("/").text)
    assert browser.post("/logout", data={"csrf_token": token}).status_code == 303
    browser.cookies.clear()
    for name, value in saved.items():
        browser.cookies.set(name, value)
    assert browser.get("/").status_code == 303
    assert browser.get("/api/sources").status_code == 401
    assert "This session was ended (a log out or a new password)" in browser.get("/login").text


def test_a_new_password_ends_every_session(browser: TestClient, store: Store) -> None:
    logins.set_password(store, "another long password")
    assert browser.get("/").status_code == 303
    assert "This session was ended (a log out or a new password)" in browser.get("/login").text


def test_the_cookie_is_http_only_and_same_site(anonymous: TestClient) -> None:
    header = anonymous.get("/login").headers["set-cookie"]
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header


def test_inbound_endpoints_need_no_login(anonymous: TestClient) -> None:
    assert anonymous.get("/healthz").status_code == 200
    # Refused by their own mechanism, not redirected to the login page.
    assert anonymous.post("/xero/webhooks", content=b"{}").status_code == 401
    # An unknown source is answered as a wrong secret is, so names cannot be probed.
    assert anonymous.post("/sources/shop/notify", content=b"{}").status_code == 401
    assert anonymous.get("/xero/callback?state=x&code=y").status_code == 400


def test_the_api_needs_a_login_or_a_bearer_token(
    anonymous: TestClient, browser: TestClient, store: Store
) -> None:
    with TestClient(browser.app, base_url="http://127.0.0.1:8765") as script:
        assert script.get("/api/nothing").status_code == 401
        assert script.get("/api/nothing", headers={"Authorization": "Bearer xbt_no"}).json() == {
            "error": "the bearer token is not known; create one with "
            "`xerobridge admin create-token NAME`"
        }
        token = logins.create_token(store, "nightly report")
        seen = script.get("/api/nothing", headers={"Authorization": f"Bearer {token}"})
        assert seen.status_code == 404  # past the door; the route does not exist
        assert logins.list_tokens(store)[0].last_used_at is not None
        logins.revoke_token(store, "nightly report")
        again = script.get("/api/nothing", headers={"Authorization": f"Bearer {token}"})
        assert again.status_code == 401
    with pytest.raises(UserError, match="a token's name is at most 100 characters"):
        logins.create_token(store, "x" * 8000)


def test_stored_values_are_escaped(browser: TestClient, store: Store) -> None:
    with store.transaction() as s:
        s.add(
            Connection(
                name="acme",
                tenant_name="<script>alert(1)</script>",
                status="error",
                status_reason="<b>bold</b>",
            )
        )
    html = browser.get("/").text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html


def test_passwords_are_stored_as_slow_salted_hashes(store: Store) -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first != second  # salted
    assert first.startswith("scrypt$16384$8$1$")
    assert verify_password(PASSWORD, first)
    assert not verify_password(PASSWORD + "x", first)
    assert not verify_password(PASSWORD, "not a hash")


@pytest.mark.parametrize(
    ("password", "problem"),
    [("short", "at least 10 characters"), (" padded password ", "start or end with a space")],
)
def test_weak_passwords_are_refused(store: Store, password: str, problem: str) -> None:
    with pytest.raises(UserError, match=problem):
        logins.set_password(store, password)


def test_failed_logins_lock_the_user_and_the_address_for_minutes(
    anonymous: TestClient, store: Store, clock: FakeClock
) -> None:
    """Five wrong passwords in a row lock the username (even with the right one) for five
    minutes, noted in the action log; the page says when to try again; then it works."""

    def attempt(password: str, username: str = "admin") -> Response:
        page = anonymous.get("/login")
        return anonymous.post("/login", data={"username": username, "password": password,
                                              "csrf_token": csrf_of(page.text)})  # fmt: skip

    for _ in range(lockout.MAX_FAILURES - 1):
        assert attempt("wrong one!").status_code == 401
    locked = attempt("wrong one!")
    assert locked.status_code == 429
    until = clock.now() + lockout.LOCK
    assert f"try again at {until:%H:%M} UTC (in 5 minutes)" in locked.text
    assert attempt(PASSWORD).status_code == 429  # the right password waits too
    with store.transaction() as s:
        (noted,) = s.exec(select(ActionLog).where(col(ActionLog.message).contains("admin"))).all()
    assert noted.message.startswith("dashboard logins for user admin locked until")
    # The address is locked too: another username from it waits as well.
    assert attempt(PASSWORD, username="someone").status_code == 429

    clock.advance(lockout.LOCK.total_seconds() + 1)
    assert attempt(PASSWORD).status_code == 303
    assert anonymous.get("/").status_code == 200


def test_a_person_lists_their_sessions_and_ends_one_or_all_others(
    browser: TestClient, web: object, store: Store
) -> None:
    """Logging out ends this session only, in the store: a copy of its cookie opens nothing.
    The sessions page lists the login's sessions; ending one logs that browser out."""
    before = browser.get("/sessions").text.count('/end" style')
    assert before >= 1
    with TestClient(web, base_url="http://127.0.0.1:8765", follow_redirects=False) as other:  # type: ignore[arg-type]
        log_in(other)
        copied = dict(other.cookies)
        page = browser.get("/sessions")
        assert page.status_code == 200
        assert page.text.count('/end" style') == before + 1  # the new one is listed
        assert page.text.count("this session") == 1

        # A cookie saved before logging out opens nothing afterwards.
        other.post("/logout", data={"csrf_token": csrf_of(other.get("/").text)})
        with TestClient(web, base_url="http://127.0.0.1:8765", follow_redirects=False,  # type: ignore[arg-type]
                        cookies=copied) as replay:  # fmt: skip
            assert replay.get("/").status_code == 303
            assert replay.get("/api/sources").status_code == 401
        assert browser.get("/").status_code == 200  # the other session is untouched

        log_in(other)
        assert other.get("/").status_code == 200
        token = csrf_of(browser.get("/sessions").text)
        ended = browser.post("/sessions/end-others", data={"csrf_token": token})
        assert ended.status_code == 303
        assert f"Ended {before} other session" in browser.get("/sessions").text
        assert other.get("/").status_code == 303
        assert browser.get("/").status_code == 200
