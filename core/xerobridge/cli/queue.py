"""`xerobridge queue`: what will be synced next."""

from __future__ import annotations

from typing import Annotated

import typer

from xerobridge.cli import bounds, root
from xerobridge.cli.root import JsonOpt, group
from xerobridge.config import sources as source_config
from xerobridge.contract.errors import UserError
from xerobridge.runtime.queue import Queue
from xerobridge.runtime.queue import as_dict as queue_rows
from xerobridge.store.states import JobState

JOB_IDS = typer.Argument(help="Job ids.", min=1, max=bounds.MAX_ID)

queue_app = group("queue", "What will be synced next.")


@queue_app.command("list")
def queue_list(
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    stream: Annotated[str | None, typer.Option(help="Only this stream.")] = None,
    state: Annotated[JobState | None, typer.Option(help="Only jobs in this state.")] = None,
    limit: Annotated[
        int, typer.Option(help="At most this many.", min=1, max=bounds.MAX_ROWS)
    ] = 100,
    as_json: JsonOpt = False,
) -> None:
    """List queued, held, running and dead jobs."""
    store = root.open_store()
    source_id, names = None, {}
    with store.transaction() as s:
        names = {src.id: src.name for src in source_config.list_all(s)}
        if source:
            source_id = source_config.get(s, source).id
    jobs = Queue(store).jobs(source_id=source_id, stream=stream, state=state, limit=limit)
    rows = [queue_rows(j, names) for j in jobs]
    columns = ["id", "source", "kind", "stream", "record", "state", "attempts", "last_error"]
    root.emit(
        rows,
        as_json,
        title="queue",
        columns=[(c.replace("_", " "), c) for c in columns],
        empty="The queue is empty.",
    )


@queue_app.command("cancel")
def queue_cancel(
    job_ids: Annotated[list[int], JOB_IDS],
) -> None:
    """Remove waiting jobs from the queue."""
    n = Queue(root.open_store()).cancel(job_ids)
    root.out.print(f"removed {n} job(s) from the queue")
    if n < len(job_ids):
        root.err.print(f"{len(job_ids) - n} job(s) were running or not found and were left alone")


@queue_app.command("run-now")
def queue_run_now(
    job_ids: Annotated[list[int], JOB_IDS],
) -> None:
    """Make waiting, held or dead jobs due at once."""
    n = Queue(root.open_store()).run_now(job_ids)
    root.out.print(f"{n} job(s) will run at once")


@queue_app.command("retry")
def queue_retry(
    source: Annotated[str | None, typer.Option(help="Only this source's failed records.")] = None,
    stream: Annotated[str | None, typer.Option(help="Only this stream's failed records.")] = None,
) -> None:
    """Try every failed record again (of a source or a stream) once its cause is fixed."""
    store = root.open_store()
    source_id = None
    if source:
        with store.transaction() as s:
            source_id = source_config.get(s, source).id
    n = Queue(store).retry_failed(source_id=source_id, stream=stream)
    root.out.print(f"{n} failed record(s) will be tried again at once")


@queue_app.command("approve")
def queue_approve(
    job_ids: Annotated[list[int] | None, JOB_IDS] = None,
    source: Annotated[str | None, typer.Option(help="Approve all held jobs of a source.")] = None,
) -> None:
    """Release jobs held for approval."""
    if not job_ids and not source:
        raise UserError("name the jobs to approve, or --source to approve all of a source")
    store = root.open_store()
    source_id = None
    if source:
        with store.transaction() as s:
            source_id = source_config.get(s, source).id
    n = Queue(store).approve(job_ids=job_ids or None, source_id=source_id)
    root.out.print(f"approved {n} job(s)")


@queue_app.command("enqueue-all")
def queue_enqueue_all(source: str, stream: str) -> None:
    """Queue every record of a stream ("Add all data to queue")."""
    store = root.open_store()
    with store.transaction() as s:
        src = source_config.get(s, source)
    spec = root.load_plugins().spec(src.plugin)
    spec.stream(stream)
    assert src.id is not None
    Queue(store).enqueue_all(src.id, stream, connection_id=src.connection_id)
    root.out.print(f"queued a full read of {source} {stream}: every record will be synced")
