"""Rotating the secret key (`xerobridge db rotate-key`), on both stores: every secret opens
with the new key alone and reads as before, the old key opens nothing, and a rotation cut
short leaves every secret readable and finishes when run again."""

from __future__ import annotations

import contextlib
import os
import stat

import pytest
from cryptography.fernet import Fernet, InvalidToken
from rich.console import Console
from sqlmodel import select
from typer.testing import CliRunner

from xerobridge.cli import main as cli
from xerobridge.cli import root
from xerobridge.contract.errors import UserError
from xerobridge.store import encryption, rekey
from xerobridge.store.db import Store
from xerobridge.store.models import Connection, Setting, Source, TokenGrant

PLAIN = {"client_secret": "cs-1", "token": '{"refresh_token": "r-1"}', "webhook_key": "wk-1",
         "setting": "magento-token-1"}  # fmt: skip


def plant(store: Store) -> None:
    """One secret of each kind the store keeps, and a setting that is not secret."""
    with store.transaction() as s:
        grant = TokenGrant(client_secret=encryption.encrypt(PLAIN["client_secret"]),
                           token=encryption.encrypt(PLAIN["token"]))  # fmt: skip
        s.add(grant)
        s.flush()
        s.add(Connection(name="org", grant_id=grant.id,
                         webhook_key=encryption.encrypt(PLAIN["webhook_key"])))  # fmt: skip
        source = Source(name="shop", plugin="magento", key_prefix="shop")
        s.add(source)
        s.flush()
        assert source.id is not None
        s.add(Setting(source_id=source.id, name="token", secret=True,
                      value=encryption.encrypt(PLAIN["setting"])))  # fmt: skip
        s.add(Setting(source_id=source.id, name="base_url", value="https://shop.example"))


def stored(store: Store) -> dict[str, str]:
    """The stored (encrypted) secrets, and the plain setting as it is stored."""
    with store.transaction() as s:
        grant = s.exec(select(TokenGrant)).one()
        conn = s.exec(select(Connection)).one()
        settings = {row.name: row.value for row in s.exec(select(Setting)).all()}
    return {"client_secret": grant.client_secret, "token": grant.token,
            "webhook_key": conn.webhook_key, "setting": settings["token"],
            "base_url": settings["base_url"]}  # fmt: skip


def opens(key: bytes, values: dict[str, str]) -> dict[str, str]:
    """What the key alone decrypts, by name."""
    out = {}
    for name, value in values.items():
        if name == "base_url":
            continue
        with contextlib.suppress(InvalidToken):
            out[name] = Fernet(key).decrypt(value.encode()).decode()
    return out


def key_file() -> bytes:
    return encryption.key_file_path().read_bytes().strip()


def test_a_rotation_puts_every_secret_under_a_new_key_file(store: Store) -> None:
    plant(store)
    old = key_file()
    done = rekey.rotate(store)
    new = key_file()
    assert new != old and done.secrets == 4
    assert done.key_file == str(encryption.key_file_path())
    values = stored(store)
    assert opens(new, values) == PLAIN
    assert opens(old, values) == {}
    assert values["base_url"] == "https://shop.example"
    assert not encryption.next_key_path().exists()
    assert stat.S_IMODE(encryption.key_file_path().stat().st_mode) == 0o600
    assert encryption.decrypt(values["setting"]) == PLAIN["setting"]


def test_a_rotation_cut_short_leaves_every_secret_readable_and_finishes_when_run_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    plant(store)
    old = key_file()

    def crash(*args: object) -> None:
        raise KeyboardInterrupt  # the machine stops between the store's commit and the rename

    with monkeypatch.context() as patched, pytest.raises(KeyboardInterrupt):
        patched.setattr(os, "replace", crash)
        rekey.rotate(store)
    successor = encryption.next_key_path().read_bytes().strip()
    # Everything reads, and what is written meanwhile is written with the successor.
    assert {name: encryption.decrypt(v) for name, v in stored(store).items()
            if name != "base_url"} == PLAIN  # fmt: skip
    assert Fernet(successor).decrypt(encryption.encrypt("new").encode()) == b"new"
    assert key_file() == old

    rekey.rotate(store)
    assert key_file() == successor
    assert opens(successor, stored(store)) == PLAIN
    assert not encryption.next_key_path().exists()


def test_a_key_kept_in_the_environment_is_rotated_with_the_old_one_beside_it(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    monkeypatch.setenv(encryption.KEY_ENV, old.decode())
    plant(store)
    monkeypatch.setenv(encryption.KEY_ENV, new.decode())
    with pytest.raises(UserError, match="set XEROBRIDGE_OLD_SECRET_KEY to the key in use"):
        rekey.rotate(store)
    monkeypatch.setenv(encryption.OLD_KEY_ENV, old.decode())
    done = rekey.rotate(store)
    assert (done.secrets, done.key_file) == (4, "")
    assert opens(new, stored(store)) == PLAIN
    assert not encryption.key_file_path().exists()


def test_the_command_says_what_it_did(
    store: Store, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plant(store)
    old = key_file()
    monkeypatch.setenv("XEROBRIDGE_DATABASE_URL", store_url)
    monkeypatch.setattr(root, "out", Console(width=200))
    result = CliRunner().invoke(cli.app, ["db", "rotate-key"])
    assert result.exit_code == 0, result.output
    assert "4 secrets re-encrypted; the secret key is now the one in" in result.output
    assert key_file() != old
    assert opens(key_file(), stored(store)) == PLAIN
