"""Sources: adding one, switching it and its streams on and off, its settings, removing it.

The settings form is generated from the plugin's settings model (`dashboard.forms`) and saved
by the same `sources.add` / `sources.update_settings` as `xerobridge sources add` and
`xerobridge settings set`, so both refuse the same values with the same words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from xerobridge.config import connections, sources, xero_lists
from xerobridge.contract.errors import UserError
from xerobridge.contract.plugins import Plugins
from xerobridge.contract.types import SourceSpec
from xerobridge.runtime.queue import Queue
from xerobridge.store.db import Store
from xerobridge.store.models import Source
from xerobridge.sync.engine import Engine
from xerobridge.web.dashboard import forms
from xerobridge.web.dashboard.render import render, session_of


def register_routes() -> list[BaseRoute]:
    """The sources list with its add form, and each source's page and forms."""
    return [
        Route("/sources", list_page, methods=["GET"]),
        Route("/sources", add, methods=["POST"]),
        Route("/sources/{name}", source_page, methods=["GET"]),
        Route("/sources/{name}/settings", save_settings, methods=["POST"]),
        Route("/sources/{name}/enabled", set_enabled, methods=["POST"]),
        Route("/sources/{name}/connection", set_connection, methods=["POST"]),
        Route("/sources/{name}/streams/{stream}/enabled", set_stream, methods=["POST"]),
        Route("/sources/{name}/streams/{stream}/enqueue-all", enqueue_all, methods=["POST"]),
        Route("/sources/{name}/enqueue-all", enqueue_everything, methods=["POST"]),
        Route("/sources/{name}/retry", retry_failed, methods=["POST"]),
        Route("/sources/{name}/streams/{stream}/retry", retry_failed, methods=["POST"]),
        Route("/sources/{name}/remove", confirm_remove, methods=["GET"]),
        Route("/sources/{name}/remove", remove, methods=["POST"]),
    ]


@dataclass(frozen=True)
class StreamRow:
    """One stream of a source as its page shows it."""

    name: str
    title: str
    xero_object: str
    direction: str
    depends_on: tuple[str, ...]
    enabled: bool


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _plugins(request: Request) -> Plugins:
    plugins: Plugins = request.app.state.plugins
    return plugins


def _to(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def _source_path(name: str, anchor: str = "") -> str:
    return f"/sources/{quote(name)}" + (f"#{anchor}" if anchor else "")


# -- the list and the add form --------------------------------------------------------------------


def list_page(request: Request) -> Response:
    """Every source; with `?plugin=NAME`, the form that adds a source of that plugin."""
    plugin = request.query_params.get("plugin", "")
    if not plugin:
        return _list(request)
    try:
        spec = _plugins(request).spec(plugin)
    except UserError as exc:
        session_of(request).flash(str(exc), "error")
        return _to("/sources")
    texts = forms.current_texts(spec.settings, {})
    return _list(request, adding=_AddForm.blank(spec, texts))


@dataclass
class _AddForm:
    """What the add form shows: the plugin, what was typed, and what is wrong with it."""

    spec: SourceSpec
    name: str
    connection: str
    prefix: str
    enabled_streams: set[str]
    fields: list[forms.FormField]
    problem: str = ""

    @classmethod
    def blank(cls, spec: SourceSpec, texts: Mapping[str, str]) -> _AddForm:
        return cls(
            spec=spec,
            name="",
            connection="",
            prefix="",
            enabled_streams={s.name for s in spec.streams},
            fields=forms.fields(spec.settings, texts),
        )


def _list(request: Request, *, adding: _AddForm | None = None, status_code: int = 200) -> Response:
    store = _store(request)
    with store.transaction() as s:
        srcs = sources.list_all(s)
        conns = connections.list_all(s)
        states = {src.name: _status(s, src, _plugins(request)) for src in srcs}
    conn_names = {c.id: c.name for c in conns}
    plugins = [info for info in _plugins(request) if info.status == "ok" and info.spec]
    return render(
        request,
        "dashboard/sources.html",
        status_code=status_code,
        title="Sources",
        sources=srcs,
        states=states,
        connection_names=conn_names,
        connections=conns,
        plugins=plugins,
        adding=adding,
    )


def _status(s: Session, source: Source, plugins: Plugins) -> str:
    """As `sources list` says it: disabled, pending, connected, error or plugin missing."""
    try:
        spec = plugins.spec(source.plugin)
    except UserError:
        return "plugin missing"
    state = sources.status(s, source, spec)
    if state == "error" and source.id is not None and (why := sources.read_problem(s, source.id)):
        return f"error: {why}"
    return state


async def add(request: Request) -> Response:
    """Add a source of a plugin with its first settings."""
    form = await request.form()
    return await run_in_threadpool(_add, request, form)


def _add(request: Request, form: FormData) -> Response:
    plugin = str(form.get("plugin", ""))
    try:
        spec = _plugins(request).spec(plugin)
    except UserError as exc:
        session_of(request).flash(str(exc), "error")
        return _to("/sources")
    model = spec.settings
    typed, errors = forms.read(model, form)
    defaults = forms.current_texts(model, {})
    differ = forms.changed(model, typed, defaults)
    values = {
        name: text
        for name, text in typed.items()
        if name in differ or model.model_fields[name].is_required()
    }
    chosen = {str(s) for s in form.getlist("streams")}
    off = [s.name for s in spec.streams if s.name not in chosen]
    if off:
        values["disabled_streams"] = ",".join(off)
    errors = {**forms.errors_of(model, values), **errors}
    adding = _AddForm(
        spec=spec,
        name=str(form.get("name", "")).strip(),
        connection=str(form.get("connection", "")),
        prefix=str(form.get("prefix", "")).strip(),
        enabled_streams=chosen,
        fields=forms.fields(model, {**defaults, **typed}, errors=errors),
        problem=errors.get("", ""),
    )
    if errors:
        adding.problem = adding.problem or "Some settings are not valid; see the fields marked."
        return _list(request, adding=adding, status_code=400)
    try:
        source = sources.add(
            _store(request),
            _plugins(request),
            plugin,
            adding.name,
            connection=adding.connection or None,
            values=values,
            key_prefix=adding.prefix or None,
        )
    except UserError as exc:
        adding.problem = str(exc)
        return _list(request, adding=adding, status_code=400)
    session_of(request).flash(
        f"Added source {source.name} ({plugin}), key prefix {source.key_prefix}."
    )
    return _to(_source_path(source.name))


# -- one source -----------------------------------------------------------------------------------


@dataclass
class _Loaded:
    """A source with what its page needs; `spec` is None when its plugin cannot be used."""

    source: Source
    connection: str
    stored: dict[str, str]
    spec: SourceSpec | None
    plugin_problem: str
    disabled: list[str]


def _load(request: Request, name: str) -> _Loaded:
    store = _store(request)
    with store.transaction() as s:
        source = sources.get(s, name)
        stored = sources.stored_values(s, source)
        conn = None
        if source.connection_id is not None:
            conn = next((c for c in connections.list_all(s) if c.id == source.connection_id), None)
        spec, problem, disabled = None, "", []
        try:
            spec = _plugins(request).spec(source.plugin)
            disabled = list(sources.load_settings(s, source, spec).disabled_streams)
        except UserError as exc:
            problem = str(exc)
    return _Loaded(source, conn.name if conn else "", stored, spec, problem, disabled)


def _render_source(
    request: Request,
    loaded: _Loaded,
    *,
    typed: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    spec = loaded.spec
    fields: list[forms.FormField] = []
    streams: list[StreamRow] = []
    if spec is not None:
        model = spec.settings
        shown = forms.current_texts(model, loaded.stored)
        shown.update(typed or {})
        secrets_set = {n for n in model.secret_fields() if loaded.stored.get(n)}
        fields = forms.fields(
            model, shown, errors=errors, secrets_set=secrets_set, source=loaded.source.name,
            listed=xero_lists.choices(_store(request), loaded.source, spec),
        )  # fmt: skip
        streams = [
            StreamRow(
                name=s.name,
                title=s.title or s.name.replace("_", " ").capitalize(),
                xero_object=s.xero_object,
                direction=str(s.direction),
                depends_on=s.depends_on,
                enabled=s.name not in loaded.disabled,
            )
            for s in spec.streams
        ]
    info = _plugins(request).infos.get(loaded.source.plugin)
    plugin_page = bool(info and info.status == "ok" and "register_routes" in info.hooks)
    return render(
        request,
        "dashboard/source.html",
        status_code=status_code,
        title=f"Source {loaded.source.name}",
        source=loaded.source,
        connection=loaded.connection,
        connections=_connection_names(request),
        plugin_problem=loaded.plugin_problem,
        plugin_title=spec.title if spec else loaded.source.plugin,
        plugin_page=plugin_page,
        needs_accounts=bool(spec and spec.xero_accounts),
        streams=streams,
        fields=fields,
        problem=(errors or {}).get("", ""),
    )


def source_page(request: Request) -> Response:
    """A source: its state, its streams and its settings form."""
    try:
        loaded = _load(request, request.path_params["name"])
    except UserError as exc:
        session_of(request).flash(str(exc), "error")
        return _to("/sources")
    return _render_source(request, loaded)


async def save_settings(request: Request) -> Response:
    """Validate the whole form, then save what changed; errors are shown at their fields."""
    form = await request.form()
    return await run_in_threadpool(_save_settings, request, form)


def _save_settings(request: Request, form: FormData) -> Response:
    name = request.path_params["name"]
    try:
        loaded = _load(request, name)
    except UserError as exc:
        session_of(request).flash(str(exc), "error")
        return _to("/sources")
    spec = loaded.spec
    if spec is None:
        session_of(request).flash(loaded.plugin_problem, "error")
        return _to(_source_path(name))
    model = spec.settings
    typed, problems = forms.read(model, form)
    errors = {**forms.errors_of(model, {**loaded.stored, **typed}), **problems}
    if errors:
        if "" not in errors:
            errors[""] = "Nothing was saved: some settings are not valid; see the fields marked."
        return _render_source(request, loaded, typed=typed, errors=errors, status_code=400)
    changes = forms.changed(model, typed, forms.current_texts(model, loaded.stored))
    if not changes:
        session_of(request).flash("Nothing changed.")
        return _to(_source_path(name, "settings"))
    try:
        xero_lists.check(_store(request), loaded.source, spec, changes)
        sources.update_settings(_store(request), spec, name, changes)
    except UserError as exc:
        return _render_source(request, loaded, typed=typed, errors={"": str(exc)}, status_code=400)
    # A failure the old settings caused (a tax map, an account name) may be gone now.
    again = Queue(_store(request)).retry_failed(source_id=loaded.source.id)
    retried = f" {again} failed record(s) will be tried again with them." if again else ""
    session_of(request).flash(f"Saved {', '.join(sorted(changes))} for {name}.{retried}")
    return _to(_source_path(name, "settings"))


async def set_enabled(request: Request) -> Response:
    """Switch the whole source on or off."""
    form = await request.form()
    return await run_in_threadpool(_set_enabled, request, form)


def _set_enabled(request: Request, form: FormData) -> Response:
    name = request.path_params["name"]
    enabled, problem = _flag(form)
    if problem:
        session_of(request).flash(problem, "error")
        return _to(_source_path(name))
    try:
        sources.set_enabled(_store(request), name, enabled)
    except UserError as exc:
        session_of(request).flash(str(exc), "error")
        return _to("/sources")
    state = "enabled: it is read and synced again" if enabled else "disabled: nothing is synced"
    session_of(request).flash(f"Source {name} is {state}.")
    return _to(_source_path(name))


def _connection_names(request: Request) -> list[str]:
    with _store(request).transaction() as s:
        return [c.name for c in connections.list_all(s)]


async def set_connection(request: Request) -> Response:
    """Bind the source to a Xero connection."""
    form = await request.form()
    return await run_in_threadpool(_set_connection, request, form)


def _set_connection(request: Request, form: FormData) -> Response:
    name = request.path_params["name"]
    connection = str(form.get("connection", ""))
    try:
        sources.connect(_store(request), name, connection)
    except UserError as exc:
        session_of(request).flash(str(exc), "error")
        return _to(_source_path(name))
    session_of(request).flash(f"Source {name} now syncs with Xero connection {connection}.")
    return _to(_source_path(name))


def _flag(form: FormData) -> tuple[bool, str]:
    raw = str(form.get("enabled", ""))
    if raw not in ("true", "false"):
        return False, f"enabled must be true or false, not {raw!r}"
    return raw == "true", ""


async def set_stream(request: Request) -> Response:
    """Switch one stream on or off (the `disabled_streams` setting)."""
    form = await request.form()
    return await run_in_threadpool(_set_stream, request, form)


def _set_stream(request: Request, form: FormData) -> Response:
    name, stream = request.path_params["name"], request.path_params["stream"]
    enabled, problem = _flag(form)
    try:
        loaded = _load(request, name)
        if loaded.spec is None:
            raise UserError(loaded.plugin_problem)
        loaded.spec.stream(stream)
        if problem:
            raise UserError(problem)
        off = [s for s in loaded.disabled if s != stream] + ([] if enabled else [stream])
        sources.update_settings(
            _store(request), loaded.spec, name, {"disabled_streams": ",".join(off)}
        )
    except UserError as exc:
        session_of(request).flash(str(exc), "error")
        return _to(_source_path(name, "streams"))
    session_of(request).flash(
        f"Stream {stream} of {name} is {'switched on' if enabled else 'switched off'}."
    )
    return _to(_source_path(name, "streams"))


async def enqueue_all(request: Request) -> Response:
    """Queue every record of a stream ("Add all data to queue")."""
    await request.form()
    return await run_in_threadpool(_enqueue_all, request)


def _enqueue_all(request: Request) -> Response:
    name, stream = request.path_params["name"], request.path_params["stream"]
    try:
        loaded = _load(request, name)
        if loaded.spec is None:
            raise UserError(loaded.plugin_problem)
        loaded.spec.stream(stream)
        assert loaded.source.id is not None
        Queue(_store(request)).enqueue_all(
            loaded.source.id, stream, connection_id=loaded.source.connection_id
        )
    except UserError as exc:
        session_of(request).flash(str(exc), "error")
        return _to(_source_path(name, "streams"))
    session_of(request).flash(
        f"Queued a full read of {name} {stream}: every record will be synced."
    )
    return _to(_source_path(name, "streams"))


async def retry_failed(request: Request) -> Response:
    """Try the failed records of a source (or one stream) again ("Retry all failed")."""
    await request.form()
    return await run_in_threadpool(_retry_failed, request)


def _retry_failed(request: Request) -> Response:
    name, stream = request.path_params["name"], request.path_params.get("stream")
    try:
        loaded = _load(request, name)
        if stream is not None and loaded.spec is not None:
            loaded.spec.stream(stream)
        n = Queue(_store(request)).retry_failed(source_id=loaded.source.id, stream=stream)
    except UserError as exc:
        session_of(request).flash(str(exc), "error")
        return _to(_source_path(name, "streams"))
    what = f"{name} {stream}" if stream else name
    session_of(request).flash(f"{n} failed record(s) of {what} will be tried again at once.")
    return _to(_source_path(name, "streams"))


async def enqueue_everything(request: Request) -> Response:
    """Queue every record of every stream that is switched on ("Add all data to queue")."""
    await request.form()
    name = request.path_params["name"]
    # The engine decides what a full read of a source is, as `xerobridge sync --full` does;
    # the web app's client is its way to Xero, so only the source clients are closed here.
    engine = Engine(_store(request), _plugins(request), xero_http=request.app.state.http)
    try:
        queued = engine.queue_reads(name, full=True)
    except UserError as exc:
        session_of(request).flash(str(exc), "error")
        return _to("/sources")
    finally:
        await engine.runtimes.aclose()
    session_of(request).flash(
        f"Queued a full read of {queued} stream(s) of {name}: every record will be synced."
    )
    return _to(_source_path(name, "streams"))


def confirm_remove(request: Request) -> Response:
    """Ask before removing a source, saying what goes with it."""
    try:
        loaded = _load(request, request.path_params["name"])
    except UserError as exc:
        session_of(request).flash(str(exc), "error")
        return _to("/sources")
    return render(
        request, "dashboard/source_remove.html", title="Remove source", source=loaded.source
    )


async def remove(request: Request) -> Response:
    """Remove a source with its settings, cursors, queued jobs and links."""
    await request.form()
    return await run_in_threadpool(_remove, request)


def _remove(request: Request) -> Response:
    name = request.path_params["name"]
    try:
        sources.remove(_store(request), name)
    except UserError as exc:
        session_of(request).flash(str(exc), "error")
        return _to("/sources")
    session_of(request).flash(f"Removed source {name}.")
    return _to("/sources")
