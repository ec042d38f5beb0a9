"""The `xerobridge` command line: user errors in the real command, the commands in process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from rich.console import Console
from sqlmodel import select
from typer.testing import CliRunner

from xerobridge.cli import main as cli
from xerobridge.cli import root
from xerobridge.clock import FakeClock
from xerobridge.config import sources as source_config
from xerobridge.contract.errors import UserError
from xerobridge.contract.plugins import load_plugins
from xerobridge.runtime.queue import NewJob, Queue
from xerobridge.store import synclog, usage
from xerobridge.store.db import Store
from xerobridge.store.models import Connection, Job, Source, SyncLog

SHOP_URL = "https://shop.example.com"

# -- user errors, in the real command -------------------------------------------------------------

#: (case, arguments, extra environment, text the one error line must contain)
ERROR_CASES: list[tuple[str, list[str], dict[str, str], str]] = [
    (
        "unknown plugin",
        ["sources", "add", "nosuch", "--name", "x"],
        {},
        "no plugin named 'nosuch'",
    ),
    (
        "bad setting",
        [
            "sources",
            "add",
            "magento",
            "--name",
            "shop",
            "--set",
            f"base_url={SHOP_URL}",
            "--set",
            "page_size=abc",
        ],
        {},
        "page_size='abc'",
    ),
    (
        "unreachable database",
        ["sources", "list"],
        {"XEROBRIDGE_DATABASE_URL": "postgresql://x@127.0.0.1:1/x"},
        "cannot open the database",
    ),
    (
        "database path under a file",
        ["sources", "list"],
        {"XEROBRIDGE_DATABASE_URL": "sqlite:///{home}/not-a-dir/db.sqlite3"},
        "cannot open the database",
    ),
    (
        "unknown source",
        ["settings", "show", "nope"],
        {},
        "no source named 'nope'",
    ),
    (
        "malformed --set",
        ["sources", "add", "magento", "--name", "shop", "--set", "page_size"],
        {},
        "--set 'page_size' must look like name=value",
    ),
]

#: (case, arguments, what the usage error says): mistakes click itself catches.
USAGE_CASES: list[tuple[str, list[str], str]] = [
    ("missing argument", ["sources", "add"], "Missing argument 'plugin'"),
    ("job id not a number", ["queue", "cancel", "abc"], "Invalid value for 'job_ids'"),
]


@pytest.fixture(scope="module")
def error_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every error case run through the real command, all at once (each costs half a second)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("XEROBRIDGE_")}
    procs: dict[str, tuple[subprocess.Popen[str], list[str]]] = {}
    cases = [(case, args, extra) for case, args, extra, _ in ERROR_CASES]
    cases += [(case, args, {}) for case, args, _ in USAGE_CASES]
    for case, args, extra in cases:
        home = tmp_path_factory.mktemp("home")
        (home / "not-a-dir").write_text("a file where a directory should be")
        env = {**base, "XEROBRIDGE_HOME": str(home)}
        env.update({k: v.format(home=home) for k, v in extra.items()})
        argv = [sys.executable, "-m", "xerobridge", *args]
        procs[case] = (
            subprocess.Popen(
                argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            ),
            argv,
        )
    results = {}
    for case, (proc, argv) in procs.items():
        stdout, stderr = proc.communicate(timeout=60)
        results[case] = subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)
    return results


@pytest.mark.parametrize(
    ("case", "expected"), [(case, expected) for case, _, _, expected in ERROR_CASES]
)
def test_user_error_prints_one_line_and_exits_2(
    error_runs: dict[str, subprocess.CompletedProcess[str]], case: str, expected: str
) -> None:
    """A person's mistake prints one `error:` line on stderr, no traceback, and exits with 2."""
    result = error_runs[case]
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert expected in lines[0]
    assert result.returncode == 2


@pytest.mark.parametrize(
    ("case", "expected"), [(case, expected) for case, _, expected in USAGE_CASES]
)
def test_usage_error_shows_usage_and_exits_2(
    error_runs: dict[str, subprocess.CompletedProcess[str]], case: str, expected: str
) -> None:
    """A mistyped command line shows the usage and what is wrong, no traceback, and exits 2."""
    result = error_runs[case]
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("Usage: ")
    assert result.stderr.splitlines()[-1].startswith(f"Error: {expected}")
    assert result.returncode == 2


# -- the commands, in process ---------------------------------------------------------------------


@pytest.fixture
def run(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Invoke the CLI in process against the test's store; returns its output (exit 0)."""
    monkeypatch.setenv("XEROBRIDGE_DATABASE_URL", store_url)
    monkeypatch.setattr(root, "out", Console(width=200))
    monkeypatch.setattr(root, "err", Console(width=200, stderr=True))

    def invoke(*args: str, input: str | None = None, code: int = 0) -> str:
        result = CliRunner().invoke(cli.app, list(args), input=input)
        assert result.exit_code == code, (result.output, result.exception)
        return result.output

    return invoke


def fails(*args: str) -> str:
    """Invoke the CLI in process expecting a UserError; returns its message."""
    result = CliRunner().invoke(cli.app, list(args))
    assert isinstance(result.exception, UserError), (result.output, result.exception)
    return str(result.exception)


def add_shop(store: Store, name: str = "shop-eu") -> int:
    """Configure a magento source directly and return its id."""
    source = source_config.add(
        store, load_plugins(), "magento", name, values={"base_url": SHOP_URL}
    )
    assert source.id is not None
    return source.id


def test_sources_add_list_remove(run: Any, store: Store) -> None:
    """Sources are added with settings, listed, and removed (with confirmation) with their jobs."""
    assert "no Xero connection yet: connect one first" in fails(
        "sources", "add", "magento", "--name", "shop-eu", "--set", f"base_url={SHOP_URL}"
    )
    with store.transaction() as s:
        s.add(Connection(name="books", daily_limit=5000))
    # No shop answers here: --no-check saves the source without trying it (tested on its own).
    out = run("sources", "add", "magento", "--name", "shop-eu", "--set", f"base_url={SHOP_URL}",
              "--set", "page_size=20", "--prefix", "eu1", "--no-check")  # fmt: skip
    assert "added source shop-eu (magento), key prefix EU1, syncing with Xero connection books" in (
        " ".join(out.split())
    )
    refused = fails("sources", "add", "magento", "--name", "shop-nz", "--prefix", "nz1",
                    "--set", f"base_url={SHOP_URL}")  # fmt: skip
    assert "source shop-nz: no Magento credentials are set: set `token`" in (
        " ".join(refused.split())
    )
    rows = json.loads(run("sources", "list", "--json"))
    assert rows == [
        {
            "name": "shop-eu",
            "plugin": "magento",
            "key_prefix": "EU1",
            "connection_id": rows[0]["connection_id"],
            "connection": "books",
            "enabled": True,
            "status": "pending",  # nothing read yet
            "reason": "",
        }
    ]
    assert "shop-eu" in run("sources", "list")
    assert "exists already" in fails("sources", "add", "magento", "--name", "shop-eu",
                                     "--set", f"base_url={SHOP_URL}")  # fmt: skip
    assert "key prefix 'EU1' is used" in fails(
        "sources", "add", "magento", "--name", "shop-us", "--prefix", "EU1",
        "--set", f"base_url={SHOP_URL}",
    )  # fmt: skip
    with store.transaction() as s:
        s.add(Connection(name="spare", daily_limit=5000))
    assert "there are 2 Xero connections (books, spare): say which" in fails(
        "sources", "add", "magento", "--name", "shop-us", "--set", f"base_url={SHOP_URL}"
    )
    assert "no Xero connection named 'acme'" in fails(
        "sources", "add", "magento", "--name", "shop-us", "--connection", "acme",
        "--set", f"base_url={SHOP_URL}",
    )  # fmt: skip

    assert "source shop-eu now syncs with Xero connection spare" in run(
        "sources", "connect", "shop-eu", "spare"
    )
    assert json.loads(run("sources", "list", "--json"))[0]["connection"] == "spare"
    assert "no Xero connection named 'acme'" in fails("sources", "connect", "shop-eu", "acme")

    with store.transaction() as s:
        source_id = source_config.get(s, "shop-eu").id
    assert source_id is not None
    Queue(store).enqueue([NewJob(source_id=source_id, stream="customers", record_key="1")])
    run("sources", "remove", "shop-eu", input="n\n", code=1)
    assert len(json.loads(run("sources", "list", "--json"))) == 1
    assert "removed source shop-eu" in run("sources", "remove", "shop-eu", "--yes")
    assert json.loads(run("sources", "list", "--json")) == []
    assert "No sources yet" in run("sources", "list")
    with store.transaction() as s:
        assert s.exec(select(Job)).all() == []
    assert "no source named 'shop-eu'" in fails("sources", "remove", "shop-eu", "--yes")


def test_settings_show_and_set(run: Any, store: Store) -> None:
    """`settings set` validates and saves; `settings show` shows the effective values."""
    add_shop(store)
    assert "saved page_size, schedule for shop-eu" in run(
        "settings", "set", "shop-eu", "page_size=20", "schedule=15m"
    )
    shown = json.loads(run("settings", "show", "shop-eu", "--json"))
    assert shown["page_size"] == "20"
    assert shown["schedule"] == "every 15 minutes"
    assert shown["invoice_status"] == "DRAFT"
    table = run("settings", "show", "shop-eu")
    assert "every 15 minutes" in table
    assert "Records per API page." in table
    assert "invoice_status='PAID'" in fails("settings", "set", "shop-eu", "page_size=30",
                                            "invoice_status=PAID")  # fmt: skip
    assert json.loads(run("settings", "show", "shop-eu", "--json"))["page_size"] == "20"
    assert "cannot be set per record" in fails(
        "settings", "set", "shop-eu", "page_size=5", "--record", "orders:1"
    )
    assert "must look like stream:key" in fails("settings", "show", "shop-eu", "--record", "x")


def _jobs_by_key(run: Any, *args: str) -> dict[str, dict[str, Any]]:
    return {r["record"]: r for r in json.loads(run("queue", "list", "--json", *args))}


def test_queue_list_cancel_run_now_approve(run: Any, store: Store, clock: FakeClock) -> None:
    """The queue commands list, cancel, retry at once and approve jobs."""
    source_id = add_shop(store)
    queue = Queue(store, clock=clock)
    queue.enqueue(
        [
            NewJob(source_id=source_id, stream="customers", record_key="c2"),
            NewJob(source_id=source_id, stream="orders", record_key="o2"),
        ]
    )
    claimed = {j.record_key: j for j in queue.claim("w1", limit=10)}
    assert queue.fail("w1", claimed["c2"].id or 0, "Xero said no", permanent=True) == "dead"
    running_id = claimed["o2"].id
    queue.enqueue(
        [
            NewJob(source_id=source_id, stream="customers", record_key="c1"),
            NewJob(source_id=source_id, stream="orders", record_key="o1", held=True),
        ]
    )

    jobs = _jobs_by_key(run)
    assert {k: j["state"] for k, j in jobs.items()} == {
        "c1": "queued",
        "c2": "dead",
        "o1": "held (approval)",
        "o2": "running",
    }
    assert jobs["c2"]["last_error"] == "Xero said no"
    assert jobs["c1"]["source"] == "shop-eu"
    assert set(_jobs_by_key(run, "--state", "dead")) == {"c2"}
    assert set(_jobs_by_key(run, "--source", "shop-eu", "--stream", "orders")) == {"o1", "o2"}
    assert "Xero said no" in run("queue", "list")

    out = run("queue", "cancel", str(jobs["c1"]["id"]), str(running_id))
    assert "removed 1 job(s) from the queue" in out
    assert "1 job(s) were running or not found" in out
    assert set(_jobs_by_key(run)) == {"c2", "o1", "o2"}
    with store.transaction() as s:
        cancelled = s.exec(select(SyncLog).where(SyncLog.action == "cancelled")).one()
    assert cancelled.record_key == "c1"

    assert "1 job(s) will run at once" in run("queue", "run-now", str(jobs["c2"]["id"]))
    retried = _jobs_by_key(run)["c2"]
    assert (retried["state"], retried["attempts"], retried["last_error"]) == ("queued", 0, "")

    assert "name the jobs to approve" in fails("queue", "approve")
    assert "approved 1 job(s)" in run("queue", "approve", "--source", "shop-eu")
    assert _jobs_by_key(run)["o1"]["state"] == "queued"
    assert "approved 0 job(s)" in run("queue", "approve", str(jobs["o1"]["id"]))
    assert "The queue is empty" not in run("queue", "list")


def test_queue_enqueue_all(run: Any, store: Store) -> None:
    """`queue enqueue-all` queues one full read of a stream; an unknown stream is refused."""
    add_shop(store)
    assert "queued a full read of shop-eu customers" in run(
        "queue", "enqueue-all", "shop-eu", "customers"
    )
    jobs = json.loads(run("queue", "list", "--json"))
    assert [(j["kind"], j["stream"], j["record"]) for j in jobs] == [("fetch", "customers", "*")]
    assert "has no stream 'refunds'" in fails("queue", "enqueue-all", "shop-eu", "refunds")
    assert "no source named 'nope'" in fails("queue", "enqueue-all", "nope", "customers")


def test_empty_queue_says_so(run: Any) -> None:
    """An empty queue is reported in words."""
    assert "The queue is empty." in run("queue", "list")
    assert json.loads(run("queue", "list", "--json")) == []


def test_log_filters(run: Any, store: Store) -> None:
    """`log` filters by source, stream, status and since, newest first, as a table or JSON."""
    eu = add_shop(store, "shop-eu")
    us = add_shop(store, "shop-us")
    now = datetime.now(UTC)
    rows = [
        (eu, "customers", "c1", "created", "success", "", now - timedelta(minutes=30)),
        (eu, "orders", "o1", "failed", "error", "[type=missing] no tax", now - timedelta(hours=1)),
        (eu, "orders", "o2", "created", "success", "", now - timedelta(hours=3)),
        (us, "orders", "o9", "failed", "error", "boom", now - timedelta(days=2)),
    ]  # fmt: skip
    with store.transaction() as s:
        for source_id, stream, key, action, status, message, at in rows:
            synclog.write(
                s, at=at, source_id=source_id, stream=stream, record_key=key, action=action,
                status=status, message=message, xero_id=f"id-{key}", api_calls=1,
            )  # fmt: skip

    def keys(*args: str) -> list[str]:
        return [r["record"] for r in json.loads(run("log", "--json", *args))]

    assert keys() == ["c1", "o1", "o2", "o9"]
    assert keys("--source", "shop-eu") == ["c1", "o1", "o2"]
    assert keys("--stream", "orders") == ["o1", "o2", "o9"]
    assert keys("--status", "error") == ["o1", "o9"]
    assert keys("--since", "2h") == ["c1", "o1"]
    assert keys("--since", (now - timedelta(days=1)).date().isoformat()) == ["c1", "o1", "o2"]
    assert keys("--source", "shop-eu", "--stream", "orders", "--status", "error") == ["o1"]
    assert keys("--limit", "1") == ["c1"]
    first = json.loads(run("log", "--json", "--status", "error", "--limit", "1"))[0]
    assert first["source"] == "shop-eu"
    assert first["xero_id"] == "id-o1"
    assert first["message"] == "[type=missing] no tax"
    table = run("log", "--source", "shop-eu")
    assert "[type=missing] no tax" in table
    assert "Nothing in the sync log matches." in run("log", "--stream", "payments")
    assert "is not a time" in fails("log", "--since", "yesterday")


def test_report_requests(run: Any, store: Store) -> None:
    """`report requests` shows calls per connection per day against the daily limit."""
    today = datetime.now(UTC).date()
    with store.transaction() as s:
        acme = Connection(name="acme", daily_limit=5000)
        beta = Connection(name="beta", daily_limit=1000)
        s.add(acme)
        s.add(beta)
        s.flush()
        calls: list[tuple[Connection, date, int]] = [
            (acme, today, 200), (acme, today, 200), (acme, today, 429), (acme, today, 503),
            (beta, today - timedelta(days=1), 200),
            (beta, today - timedelta(days=10), 200),
        ]  # fmt: skip
        for conn, day, status in calls:
            assert conn.id is not None
            usage.count_call(s, conn.id, day, status=status, dialect=store.dialect)

    rows = json.loads(run("report", "requests", "--json"))
    assert rows == [
        {
            "connection": "acme",
            "day": today.isoformat(),
            "calls": 4,
            "daily_limit": 5000,
            "remaining": 4996,
            "rate_limited": 1,
            "errors": 1,
        },
        {
            "connection": "beta",
            "day": (today - timedelta(days=1)).isoformat(),
            "calls": 1,
            "daily_limit": 1000,
            "remaining": 999,
            "rate_limited": 0,
            "errors": 0,
        },
    ]
    assert [
        r["connection"] for r in json.loads(run("report", "requests", "--days", "1", "--json"))
    ] == ["acme"]
    assert len(json.loads(run("report", "requests", "--days", "30", "--json"))) == 3
    table = run("report", "requests")
    assert "acme" in table
    assert "4996" in table


def test_db_upgrade_reports_the_database(run: Any, store_url: str) -> None:
    """`db upgrade` on an up-to-date database says so."""
    assert "is up to date" in run("db", "upgrade")


def test_plugins_lists_magento(run: Any) -> None:
    """`plugins` lists the installed magento plugin as ok."""
    rows = {r["name"]: r for r in json.loads(run("plugins", "--json"))}
    assert rows["magento"]["status"] == "ok"


def test_sources_are_stored_per_name(store: Store) -> None:
    """Sanity: the helper adds a source the CLI would see."""
    add_shop(store)
    with store.transaction() as s:
        assert [src.name for src in s.exec(select(Source)).all()] == ["shop-eu"]


def test_sync_ends_with_its_own_code_when_only_decisions_remain(
    run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records waiting for a person end `sync` (code 3, saying where to look); failures win."""
    from xerobridge.sync.engine import Engine, Summary

    outcome = Summary(waiting=2)

    async def one_pass(self: Engine, *args: Any, **kwargs: Any) -> Summary:
        return outcome

    monkeypatch.setattr(Engine, "sync", one_pass)
    said = run("sync", code=3)
    assert "2 records wait for a person: `xerobridge map` lists the choices" in said
    (line,) = [ln for ln in run("sync", "--json", code=3).splitlines() if ln.startswith("{")]
    assert json.loads(line)["waiting"] == 2
    outcome.failed = 1
    run("sync", code=1)
    outcome.failed, outcome.waiting = 0, 0
    run("sync")
    # A source that could not be read: one line saying why, and code 4.
    outcome.unavailable = {"shop": "could not reach Magento at http://127.0.0.1:9"}
    said = run("sync", code=4)
    assert "source shop could not be read: could not reach Magento at http://127.0.0.1:9" in said


def test_an_invalid_filter_is_refused_with_the_valid_values(run: Any) -> None:
    """`queue list --state bogus` must not say the queue is empty: it names the states."""
    said = " ".join(run("queue", "list", "--state", "bogus", code=2).replace("│", " ").split())
    assert "'bogus' is not one of 'queued', 'running', 'held', 'dead'" in said
    said = " ".join(run("log", "--status", "broken", code=2).replace("│", " ").split())
    assert "'broken' is not one of 'success', 'error'" in said
    assert "The queue is empty" in run("queue", "list", "--state", "dead")


def test_fixing_heals_failed_records_are_retried_by_source_or_stream(
    run: Any, store: Store
) -> None:
    """`queue retry` makes a source's (or a stream's) failed records due again with fresh
    attempts; `settings set` does it for the source whose settings changed."""
    shop, other = add_shop(store, "shop-eu"), add_shop(store, "shop-us")
    Queue(store).enqueue(
        [NewJob(source_id=src, stream=stream, record_key=key)
         for src in (shop, other) for stream, key in (("orders", "1"), ("customers", "2"))]
    )  # fmt: skip
    with store.transaction() as s:
        for job in s.exec(select(Job)).all():
            job.state, job.attempts, job.last_error = "dead", 8, "tax_map lacks 17.5"
            s.add(job)

    def states() -> dict[tuple[int, str], tuple[str, int]]:
        with store.transaction() as s:
            return {(j.source_id, j.stream): (j.state, j.attempts) for j in s.exec(select(Job))}

    assert "1 failed record(s) will be tried again" in run(
        "queue", "retry", "--source", "shop-eu", "--stream", "orders"
    )
    assert states()[(shop, "orders")] == ("queued", 0)
    assert states()[(shop, "customers")] == ("dead", 8)
    assert "1 failed record(s) will be tried again with them" in run(
        "settings", "set", "shop-eu", "page_size=30"
    )
    assert states()[(shop, "customers")] == ("queued", 0)
    assert {states()[(other, st)] for st in ("orders", "customers")} == {("dead", 8)}
    assert "2 failed record(s)" in run("queue", "retry")


@pytest.mark.parametrize(
    "args",
    [
        ("log", "--limit", "100000000000000000000"),
        ("log", "--limit", "-5"),
        ("log", "--limit", "1e20"),
        ("queue", "list", "--limit", "0"),
        ("queue", "run-now", "123456789012345678901234"),
        ("queue", "cancel", "0"),
        ("report", "requests", "--days", "99999999999"),
        ("report", "requests", "--days", "-3"),
    ],
)
def test_numbers_out_of_range_are_refused_in_one_line(run: Any, args: tuple[str, ...]) -> None:
    said = " ".join(run(*args, code=2).replace("│", " ").split())
    assert "Invalid value" in said and "Traceback" not in said


def test_an_age_reaching_before_any_date_is_refused(run: Any) -> None:
    assert "reaches back before any date there is" in fails("log", "--since", "1000000000d")


def test_at_80_columns_each_row_is_a_block_with_its_message_and_ids_in_full(
    run: Any, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`log`, `queue list` and `map` on a narrow terminal: a block per row, every line within
    80 columns, the message and the Xero id whole (a person copies the id into `map --to`)."""
    shop = add_shop(store, "shop-eu")
    xero_id = "0f6a5b2c-1d4e-4c3b-9a8f-7e6d5c4b3a21"
    message = (
        "order 000000031: line 3 (S001-00011) is taxed at 5.0% in Magento but maps to "
        "TaxType 'OUTPUT2' at 20.0% in Xero; add 5.0=<a 5.0% TaxType> to tax_map"
    )
    with store.transaction() as s:
        synclog.write(
            s, at=datetime.now(UTC), source_id=shop, stream="orders", record_key="31",
            action="failed", status="error", message=message, xero_id=xero_id,
        )  # fmt: skip
    queue = Queue(store)
    queue.enqueue([NewJob(source_id=shop, stream="orders", record_key="31")])
    (claimed,) = queue.claim("w")
    job_id = claimed.id
    assert job_id is not None
    candidates = [{"xero_id": xero_id, "label": "Acme Ltd", "reason": "same email"}]
    queue.fail("w", job_id, message, needs_person=True, candidates=candidates)
    monkeypatch.setattr(root, "out", Console(width=80))
    for args in (("log",), ("queue", "list"), ("map",)):
        said = run(*args)
        assert all(len(line.rstrip()) <= 80 for line in said.splitlines()), said
        assert xero_id in said or args != ("map",), said
        assert message in " ".join(line.strip() for line in said.splitlines()), said


def test_sync_prints_a_few_setups_and_counts_the_rest() -> None:
    """Twenty-three payouts waiting for one setting are three lines and a count, not 23."""
    from xerobridge.cli.sync import setup_lines

    setups = [f"payout po_{n}: payout_bank_account is not set" for n in range(23)]
    lines = setup_lines(setups)
    assert lines[:3] == [f"waiting for the setup: {why}" for why in setups[:3]]
    assert lines[3:] == ["... and 20 more waiting for the setup: `xerobridge queue list --state "
                         "held` lists them"]  # fmt: skip
    assert setup_lines(setups[:2]) == [f"waiting for the setup: {why}" for why in setups[:2]]
