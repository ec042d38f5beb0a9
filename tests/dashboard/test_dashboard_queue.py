"""The queue page: filters, paging, and cancel, run now, approve, add all, sync now."""

from __future__ import annotations

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from xerobridge.clock import FakeClock
from xerobridge.runtime.queue import NewJob, Queue
from xerobridge.store.db import Store
from xerobridge.store.models import Job, SyncLog

from dashboard_ops_helpers import (
    ESCAPED,
    HOSTILE,
    add_source,
    ops_plugins,
    pass_time,
    post_form,
    refusals,
)


@pytest.fixture
def shop(store: Store) -> int:
    """The source `shop`'s id."""
    return add_source(store, ops_plugins(), "shop")[1]


def push(store: Store, source_id: int, stream: str, key: str, *, held: bool = False) -> int:
    """Queue a push job and return its id."""
    Queue(store).enqueue([NewJob(source_id, stream, key, held=held)])
    return job_of(store, stream, key).id or 0


def job_of(store: Store, stream: str, key: str, kind: str = "push") -> Job:
    """The one job of a record."""
    with store.transaction() as s:
        return s.exec(
            select(Job).where(Job.stream == stream, Job.record_key == key, Job.kind == kind)
        ).one()


def jobs(store: Store) -> list[Job]:
    """Every job, oldest first."""
    with store.transaction() as s:
        return list(s.exec(select(Job).order_by(Job.id)).all())  # type: ignore[arg-type]


def test_the_queue_lists_jobs_and_filters_them(client: TestClient, store: Store, shop: int) -> None:
    other = add_source(store, ops_plugins(), "outlet")[1]
    push(store, shop, "customers", "c-1")
    push(store, shop, "orders", "o-1", held=True)
    push(store, other, "customers", "c-9")
    page = client.get("/queue")
    assert page.status_code == 200
    assert all(key in page.text for key in ("c-1", "o-1", "c-9"))
    assert "held (approval)" in page.text
    only_shop = client.get("/queue?source=shop").text
    assert "c-1" in only_shop and "c-9" not in only_shop
    orders = client.get("/queue?source=shop&stream=orders").text
    assert "o-1" in orders and "c-1" not in orders
    held = client.get("/queue?state=held").text
    assert "o-1" in held and "c-1" not in held and "c-9" not in held
    assert "No job matches these filters." in client.get("/queue?stream=products").text


def test_an_empty_queue_says_so(client: TestClient, shop: int) -> None:
    assert "The queue is empty." in client.get("/queue").text


def test_the_queue_pages(client: TestClient, store: Store, shop: int) -> None:
    Queue(store).enqueue(NewJob(shop, "customers", f"k{i:03d}") for i in range(55))
    first = client.get("/queue").text
    assert "k000" in first and "k049" in first and "k050" not in first
    assert 'href="/queue?page=2"' in first
    second = client.get("/queue?page=2").text
    assert "k050" in second and "k054" in second and "k049" not in second
    assert 'href="/queue?page=2"' not in second and 'href="/queue"' in second


BAD_FILTERS = [
    ("state=stuck", "state &#39;stuck&#39; is not one of: queued, held, running, dead"),
    ("source=nowhere", "no source named &#39;nowhere&#39; (sources: shop)"),
    ("page=0", "page &#39;0&#39; is not a page number"),
    ("page=x", "page &#39;x&#39; is not a page number"),
]


def test_bad_filters_are_refused_with_a_reason(client: TestClient, shop: int) -> None:
    for query, problem in BAD_FILTERS:
        response = client.get(f"/queue?{query}")
        assert response.status_code == 400, query
        assert problem in response.text, query


def test_cancelling_removes_the_job_and_logs_it(
    client: TestClient, store: Store, shop: int
) -> None:
    job = push(store, shop, "customers", "c-1")
    kept = push(store, shop, "customers", "c-2")
    response = post_form(
        client, "/queue", "/queue/cancel", {"job_id": job, "back": "/queue?source=shop"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/queue?source=shop"
    assert [j.id for j in jobs(store)] == [kept]
    assert "removed 1 job(s) from the queue" in client.get("/queue").text
    with store.transaction() as s:
        row = s.exec(select(SyncLog)).one()
    assert (row.action, row.record_key) == ("cancelled", "c-1")


def test_cancelling_a_running_job_leaves_it_alone(
    client: TestClient, store: Store, shop: int
) -> None:
    job = push(store, shop, "customers", "c-1")
    assert Queue(store).claim("w1")
    post_form(client, "/queue", "/queue/cancel", {"job_id": job})
    assert len(jobs(store)) == 1
    assert (
        "removed 0 job(s) from the queue; 1 job(s) were running or not found and were left alone"
        in client.get("/queue").text
    )


def test_run_now_retries_a_dead_job_at_once(
    client: TestClient, store: Store, shop: int, clock: FakeClock
) -> None:
    job = push(store, shop, "customers", "c-1")
    assert Queue(store).claim("w1")
    Queue(store).fail("w1", job, "Xero said no", permanent=True)
    assert "Xero said no" in client.get("/queue?state=dead").text
    pass_time(client, clock, 3600)
    post_form(client, "/queue", "/queue/run-now", {"job_id": job})
    fresh = jobs(store)[0]
    assert (fresh.state, fresh.attempts, fresh.last_error) == ("queued", 0, "")
    assert fresh.run_after == clock.now()
    assert "1 job(s) will run at once" in client.get("/queue").text


def test_approving_one_job_and_all_of_a_source(client: TestClient, store: Store, shop: int) -> None:
    first = push(store, shop, "orders", "o-1", held=True)
    push(store, shop, "orders", "o-2", held=True)
    push(store, shop, "orders", "o-3", held=True)
    page = client.get("/queue").text
    assert "Approve all of shop" in page
    post_form(client, "/queue", "/queue/approve", {"job_id": first})
    assert [j.state for j in jobs(store)] == ["queued", "held", "held"]
    assert "approved 1 job(s)" in client.get("/queue").text
    post_form(client, "/queue", "/queue/approve", {"source": "shop"})
    assert [j.state for j in jobs(store)] == ["queued", "queued", "queued"]
    assert "approved 2 job(s)" in client.get("/queue").text
    assert "Approve all of shop" not in client.get("/queue").text


def test_add_all_data_to_queue_queues_a_full_read(
    client: TestClient, store: Store, shop: int
) -> None:
    response = post_form(
        client, "/queue", "/queue/enqueue-all", {"source": "shop", "stream": "products"}
    )
    assert response.status_code == 303
    job = job_of(store, "products", "*", kind="fetch")
    assert job.payload == {"full": True}
    assert job.connection_id is not None
    assert (
        "queued a full read of shop products: every record will be synced"
        in client.get("/queue").text
    )


def test_sync_now_reads_one_record_or_runs_its_queued_job(
    client: TestClient, store: Store, shop: int, clock: FakeClock
) -> None:
    form = {"source": "shop", "stream": "customers", "key": "c-7"}
    post_form(client, "/queue", "/queue/sync-now", form)
    read = job_of(store, "customers", "c-7", kind="fetch")
    assert (read.payload, read.state, read.priority) == ({"keys": ["c-7"]}, "queued", 10)
    assert "shop customers c-7 will be read from the source" in client.get("/queue").text

    job = push(store, shop, "customers", "c-8")
    with store.transaction() as s:  # a queued job that waits for its backoff
        waiting = s.get(Job, job)
        assert waiting is not None
        waiting.run_after = clock.now().replace(year=2030)
        s.add(waiting)
    post_form(client, "/queue", "/queue/sync-now", {**form, "key": "c-8"})
    assert job_of(store, "customers", "c-8").run_after == clock.now()
    assert "shop customers c-8: its queued job runs at once" in client.get("/queue").text
    with store.transaction() as s:
        assert (
            s.exec(select(Job).where(Job.record_key == "c-8", Job.kind == "fetch")).first() is None
        )


BAD_INPUT = [
    ("/queue/cancel", {}, "no job was chosen"),
    ("/queue/cancel", {"job_id": "x1"}, "job id &#39;x1&#39; is not a number"),
    ("/queue/run-now", {"job_id": "1;2"}, "is not a number"),
    ("/queue/approve", {}, "name the jobs to approve, or a source"),
    ("/queue/approve", {"source": "nowhere"}, "no source named &#39;nowhere&#39;"),
    (
        "/queue/enqueue-all",
        {"source": "shop", "stream": "refunds"},
        "has no stream &#39;refunds&#39;; it has: customers, products, orders",
    ),
    (
        "/queue/sync-now",
        {"source": "shop", "stream": "customers", "key": " "},
        "key is missing",
    ),
]


def test_bad_input_is_refused_with_a_reason(client: TestClient, shop: int) -> None:
    for action, data, problem in BAD_INPUT:
        response = post_form(client, "/queue", action, data)
        assert response.status_code == 400, (action, data)
        assert problem in response.text, (action, data)


def test_sync_now_of_a_switched_off_stream_is_refused(
    client: TestClient, store: Store, shop: int
) -> None:
    from xerobridge.config import sources

    sources.update_settings(
        store, ops_plugins().spec("opstest"), "shop", {"disabled_streams": "orders"}
    )
    response = post_form(
        client, "/queue", "/queue/sync-now", {"source": "shop", "stream": "orders", "key": "1"}
    )
    assert response.status_code == 400
    assert "stream &#39;orders&#39; of &#39;shop&#39; is switched off" in response.text
    assert jobs(store) == []


def test_every_form_needs_a_login_and_its_token(
    client: TestClient, store: Store, shop: int
) -> None:
    job = push(store, shop, "customers", "c-1")
    form = {"job_id": job, "source": "shop", "stream": "customers", "key": "c-1"}
    for action in ("cancel", "run-now", "approve", "enqueue-all", "sync-now"):
        refusals(client, f"/queue/{action}", form)
    assert [j.id for j in jobs(store)] == [job]
    assert jobs(store)[0].state == "queued"


def test_stored_values_are_escaped(client: TestClient, store: Store, shop: int) -> None:
    job = push(store, shop, "customers", HOSTILE)
    assert Queue(store).claim("w1")
    Queue(store).fail("w1", job, f"customer {HOSTILE} has no name", permanent=True)
    html = client.get("/queue").text
    assert HOSTILE not in html
    assert ESCAPED in html
