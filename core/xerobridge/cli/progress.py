"""Rich progress bars and the summary table of a sync pass (`xerobridge sync`, the demo)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from xerobridge.runtime.worker import Progress as WorkerProgress
from xerobridge.sync.engine import Summary


@contextmanager
def bars(console: Console, *, enabled: bool = True) -> Iterator[object]:
    """A callback for the worker that draws one bar per stream: read, pushed, failed."""
    if not enabled:
        yield None
        return
    progress = Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        TextColumn("read {task.fields[read]:>6}  pushed {task.fields[pushed]:>6}"),
        TextColumn("failed {task.fields[failed]:>4}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    tasks: dict[tuple[str, str], TaskID] = {}

    def update(state: WorkerProgress) -> None:
        for key, counts in sorted(state.streams.items()):
            if key not in tasks:
                tasks[key] = progress.add_task(f"{key[0]} {key[1]}", total=None, read=0,
                                               pushed=0, failed=0)  # fmt: skip
            done = counts.created + counts.updated + counts.skipped + counts.failed + counts.held
            progress.update(
                tasks[key],
                total=max(counts.read, done) or None,
                completed=done,
                read=counts.read,
                pushed=counts.created + counts.updated,
                failed=counts.failed,
            )

    with progress:
        yield update


def table(summary: Summary) -> Table:
    """Records per stream created, updated, skipped, failed; calls; 429s; time."""
    out = Table(title="sync summary")
    columns = ("read", "created", "updated", "skipped", "failed", "held")
    out.add_column("stream")
    for column in columns:
        out.add_column(column, justify="right")
    for name, counts in summary.streams.items():
        out.add_row(name, *(str(counts.get(c, 0)) for c in columns))
    out.caption = (
        f"{summary.read_calls} read call(s), {summary.write_calls} write call(s), "
        f"{summary.http_429} 429(s), {summary.elapsed_s:.1f} s"
    )
    return out
