"""The first stage of a push: what each record is in Xero, what it needs first, and its
documents.

`map_record` says which Xero object the record is (a person's decision overrides it) and what it
needs first; what it needs is linked already, or read from the source and queued ahead of it
(the job waits, it never fails for ordering); `to_xero` then builds the documents, and is asked
again with the new links after each round of writes.
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict

import sqlalchemy as sa
from sqlmodel import col, select

from xerobridge.contract.errors import NeedsChoice, Permanent
from xerobridge.contract.types import Change, Direction, Resolution, XeroDocument
from xerobridge.store import links as linkstore
from xerobridge.store.models import Job, Link
from xerobridge.store.states import JobKind, JobState
from xerobridge.sync.batch import (
    AwaitsXero,
    HoldBack,
    OwnLinks,
    Stage,
    Work,
    own_xero_ids,
    parse_when,
)
from xerobridge.sync.intake import read_records
from xerobridge.sync.runtimes import SourceRuntime
from xerobridge.xero.client import contact_problem

#: How many queued jobs behind a batch are asked what they need, when the batch lacks some.
LOOK_AHEAD = 1000


class Resolve(Stage):
    """Map, order and build: everything before a document is sent."""

    async def _map(self, job: Job, own: OwnLinks) -> Work:
        """Ask map_record what the record is; a person's decision overrides its answer."""
        runtime = self.runtimes.get(job.source_id)
        payload = job.payload or {}
        updated = payload.get("updated_at")
        change = Change(
            stream=job.stream,
            key=job.record_key,
            data=payload.get("data") or {},
            op="delete" if job.op == "delete" else "upsert",
            updated_at=parse_when(updated),
        )
        work = Work(job, runtime, change, Resolution.create(), {}, time.perf_counter())
        if not runtime.ctx.settings.stream_enabled(change.stream):
            # Switched off since it was queued: it leaves the queue, saying why.
            work.resolution = Resolution.skip(
                f"stream {change.stream} is switched off (the source's disabled_streams)"
            )
            return work
        view = runtime.ctx.links
        links = own[(runtime.id, change.stream, change.key)]
        roles = {role: link.xero_id for role, link in links.items()}
        with (
            view.known({(change.stream, change.key): roles})
            if isinstance(view, linkstore.StoreLinkView)
            else contextlib.nullcontext()
        ):
            work.resolution = await self.plugins.acall(
                runtime.source.plugin, "map_record", ctx=runtime.ctx, change=change
            )
        main = links.get("main")
        decided = main if main is not None and main.method in ("chosen", "create") else None
        if decided is not None and work.resolution.action != "skip":
            # The plugin still says what the record needs; the person said what it is.
            needs = work.resolution.needs
            facts = work.resolution.facts
            work.resolution = (
                Resolution.link(decided.xero_id, needs=needs, facts=facts)
                if decided.xero_id
                else Resolution.create(needs=needs, facts=facts)
            )
        resolution = work.resolution
        if resolution.action == "choose":
            raise NeedsChoice(resolution.reason, candidates=resolution.candidates)
        matched = resolution.action == "link" and resolution.xero_id and decided is None
        if matched and (main is None or main.xero_id != resolution.xero_id):
            assert resolution.xero_id is not None
            links["main"] = self._link(runtime, change, resolution.xero_id, method="matched")
        return work

    def _link(self, runtime: SourceRuntime, change: Change, xero_id: str, *, method: str) -> Link:
        stream = runtime.spec.stream(change.stream)
        with self.store.transaction() as s:
            return linkstore.set_link(
                s,
                source_id=runtime.id,
                key=(change.stream, change.key, "main"),
                xero_type=stream.xero_object,
                xero_id=xero_id,
                method=method,
                now=self.clock.now(),
            )

    async def _dependencies(self, works: list[Work]) -> dict[int, Exception]:
        """What stops each job (by `id(work)`): a dependency not in Xero yet (HoldBack; it is
        queued ahead if it was not), or one that failed or is gone (Permanent).

        The batch's dependencies are looked up together: one query per source and stream for
        their links, one for their jobs, and one read of the source per stream that lacks some.
        """
        problems: dict[int, Exception] = {}
        by_source: dict[int, list[Work]] = defaultdict(list)
        for work in works:
            if work.resolution.needs:
                by_source[work.runtime.id].append(work)
        for source_id, group in by_source.items():
            runtime = group[0].runtime
            records = {(d.stream, d.key) for w in group for d in w.resolution.needs}
            with self.store.transaction() as s:
                found = linkstore.of_records(s, source_id, records)
                rows = s.exec(
                    select(Job.stream, Job.record_key, Job.state, Job.last_error).where(
                        Job.source_id == source_id,
                        col(Job.stream).in_({st for st, _k in records}),  # lets ix_job_record serve
                        col(Job.record_key).in_({k for _st, k in records}),
                        Job.kind == "push",
                    )
                ).all()
            coming = self._coming_from_xero(runtime, group)
            jobs: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
            for stream_name, key, state, error in rows:
                jobs[(stream_name, key)].append((state, error))
            missing: dict[str, set[str]] = defaultdict(set)
            unresolved: dict[int, list[str]] = defaultdict(list)
            awaited: dict[int, list[tuple[str, str]]] = defaultdict(list)
            for work in group:
                for dep in work.resolution.needs:
                    link = found.get((dep.stream, dep.key, dep.role))
                    if link is not None and link.xero_id and link.in_flight_at is None:
                        work.links[(dep.stream, dep.key, dep.role)] = link.xero_id
                        continue
                    if runtime.spec.stream(dep.stream).direction is Direction.FROM_XERO:
                        if dep.stream in coming:
                            unresolved[id(work)].append(f"{dep.stream} {dep.key} from Xero")
                            continue
                        problems[id(work)] = AwaitsXero(
                            f"{work.change.stream} {work.change.key} needs {dep.stream} "
                            f"{dep.key}, which has not come from Xero"
                            + (f": {dep.missing}" if dep.missing else "")
                            + "; it is tried again by itself once that has",
                            awaited=((dep.stream, dep.key),),
                        )
                        break
                    if link is None or link.in_flight_at is None:
                        queued = jobs.get((dep.stream, dep.key), [])
                        dead = [error for state, error in queued if state == "dead"]
                        if dead:
                            problems[id(work)] = Permanent(
                                f"{work.change.stream} {work.change.key} needs {dep.stream} "
                                f"{dep.key}, which failed: {dead[0]}"
                            )
                            break
                        if not queued:
                            missing[dep.stream].add(dep.key)
                        elif all(state == "held" for state, _error in queued):
                            awaited[id(work)].append((dep.stream, dep.key))
                    unresolved[id(work)].append(f"{dep.stream} {dep.key}")
            if missing:
                for stream_name, keys in (await self._look_ahead(runtime, group)).items():
                    missing[stream_name] |= keys
            gone: set[tuple[str, str]] = set()
            for stream_name, keys in missing.items():
                _queued, lost = await read_records(
                    runtime, runtime.spec.stream(stream_name), sorted(keys), plugins=self.plugins,
                    queue=self.queue, priority_boost=50,
                )  # fmt: skip
                gone.update((stream_name, key) for key in lost)
            for work in group:
                if id(work) in problems:
                    continue
                lost = [f"{d.stream} {d.key}" for d in work.resolution.needs
                        if (d.stream, d.key) in gone]  # fmt: skip
                if lost:
                    problems[id(work)] = Permanent(
                        f"{work.change.stream} {work.change.key} needs {', '.join(lost)}, "
                        "which the source no longer has"
                    )
                elif awaited.get(id(work)):
                    names = ", ".join(f"{st} {k}" for st, k in awaited[id(work)])
                    problems[id(work)] = HoldBack(
                        f"waits for {names}, which waits for a person's decision "
                        "(`xerobridge map`); it goes on by itself once that is decided",
                        awaited=tuple(awaited[id(work)]),
                    )
                elif unresolved.get(id(work)):
                    problems[id(work)] = HoldBack("waiting for " + ", ".join(unresolved[id(work)]))
        return problems

    def _coming_from_xero(self, runtime: SourceRuntime, group: list[Work]) -> set[str]:
        """The streams from Xero the batch needs that are still being read or applied: a need
        of theirs not linked yet may be on its way, so the record waits instead of failing."""
        wanted = {
            d.stream for w in group for d in w.resolution.needs
            if runtime.spec.stream(d.stream).direction is Direction.FROM_XERO
        }  # fmt: skip
        if not wanted:
            return set()
        with self.store.transaction() as s:
            busy = s.exec(
                select(Job.stream)
                .where(
                    Job.source_id == runtime.id,
                    col(Job.stream).in_(wanted),
                    col(Job.kind).in_((JobKind.FETCH, JobKind.APPLY)),
                    col(Job.state).in_((JobState.QUEUED, JobState.RUNNING)),
                )
                .distinct()
            ).all()
        return set(busy)

    async def _look_ahead(self, runtime: SourceRuntime, group: list[Work]) -> dict[str, set[str]]:
        """What the jobs queued behind this batch need that is neither in Xero nor queued.

        Records that exist only as dependencies (a guest's contact) are found when a record
        needing them is pushed. Found a batch at a time, they would be written in small
        batches between their dependants; found for the jobs queued behind too, they are read
        and queued together, and go to Xero in full batches ahead of those jobs.
        """
        streams = sorted({w.change.stream for w in group})
        mine = {w.job.id for w in group}
        after = self._looked.get(runtime.id, 0)
        with self.store.transaction() as s:
            rows = s.execute(
                sa.select(
                    col(Job.id), col(Job.stream), col(Job.record_key), col(Job.op), col(Job.payload)
                )
                .where(
                    col(Job.source_id) == runtime.id,
                    col(Job.kind) == "push",
                    col(Job.stream).in_(streams),
                    col(Job.state) == "queued",
                    col(Job.id) > after,
                )
                .order_by(col(Job.id))
                .limit(LOOK_AHEAD)
            ).all()
        if not rows:
            return {}
        self._looked[runtime.id] = max(row[0] for row in rows)
        needs: set[tuple[str, str]] = set()
        for job_id, stream, key, op, payload in rows:
            if job_id in mine:
                continue
            change = Change(stream, key, (payload or {}).get("data") or {},
                            op="delete" if op == "delete" else "upsert")  # fmt: skip
            try:
                resolution = await self.plugins.acall(
                    runtime.source.plugin, "map_record", ctx=runtime.ctx, change=change
                )
            except Exception:
                continue  # its own push will report it
            needs.update((d.stream, d.key) for d in resolution.needs)
        if not needs:
            return {}
        with self.store.transaction() as s:
            found = linkstore.of_records(s, runtime.id, needs)
            queued = set(
                s.exec(
                    select(Job.stream, Job.record_key).where(
                        Job.source_id == runtime.id,
                        col(Job.stream).in_({st for st, _k in needs}),
                        col(Job.record_key).in_({k for _st, k in needs}),
                        Job.kind == "push",
                    )
                ).all()
            )
        handled = {(st, k) for (st, k, _role), link in found.items()
                   if link.xero_id or link.in_flight_at is not None}  # fmt: skip
        missing: dict[str, set[str]] = defaultdict(set)
        for stream, key in needs - handled - queued:
            missing[stream].add(key)
        return missing

    async def _documents(self, work: Work) -> list[XeroDocument]:
        runtime = work.runtime
        docs = await self.plugins.acall(
            runtime.source.plugin,
            "to_xero",
            ctx=runtime.ctx,
            change=work.change,
            links=dict(work.links),
            resolution=work.resolution,
        )
        docs = list(docs or [])
        for doc in docs:
            if not isinstance(doc, XeroDocument):
                raise TypeError(f"to_xero returned {type(doc).__name__}, not a XeroDocument")
            if problem := contact_problem(doc.kind, doc.body):
                raise Permanent(f"{work.change.stream} {work.change.key}: {problem}")
        return docs

    async def _rebuild(self, works: list[Work]) -> None:
        """Ask to_xero again, with the new links, for the jobs that wrote in this round."""
        wrote = [w for w in works if w.error is None and w.wrote]
        own = self._load_own([(w.runtime, w.change.stream, w.change.key) for w in wrote])
        for work in wrote:
            work.wrote = False
            work.links.update(own_xero_ids(own, work.runtime.id, work.change))
            try:
                with self._timed("map"):
                    work.docs = await self._documents(work)
            except Exception as exc:
                work.error = exc
