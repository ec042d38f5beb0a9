"""Find, load and list source plugins from the `xerobridge` entry-point group.

Each plugin loads inside its own try: an import error or an invalid `source_spec` marks that
plugin failed with its error, and the others load. A broken plugin never stops the daemon.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import logging
import os
import traceback
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pluggy

from xerobridge.contract import hookspecs
from xerobridge.contract.errors import UserError
from xerobridge.contract.types import SourceSpec

log = logging.getLogger(__name__)

GROUP = "xerobridge"
HOOK_NAMES = tuple(
    name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "xerobridge_spec")
)


@dataclass
class PluginInfo:
    """One entry point's plugin and what became of loading it."""

    name: str
    distribution: str = ""
    version: str = ""
    status: str = "ok"  # ok | failed | disabled
    error: str = ""
    detail: str = ""  # the traceback of a failure, for the log and `plugins --json`
    hooks: list[str] = field(default_factory=list)
    spec: SourceSpec | None = None
    module: ModuleType | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of `xerobridge plugins --json` and `/api/plugins`."""
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status,
            "error": self.error,
            "detail": self.detail,
            "hooks": self.hooks,
            "title": self.spec.title if self.spec else "",
            "streams": [s.name for s in self.spec.streams] if self.spec else [],
        }


class Plugins:
    """The loaded plugins, one pluggy manager each so that hooks go only to their own plugin."""

    def __init__(self, infos: Iterable[PluginInfo]) -> None:
        self.infos: dict[str, PluginInfo] = {info.name: info for info in infos}
        self._managers: dict[str, pluggy.PluginManager] = {}
        for info in self.infos.values():
            if info.status == "ok" and info.module is not None:
                self._managers[info.name] = _manager_for(info.module, info.name)

    def __iter__(self) -> Any:
        return iter(sorted(self.infos.values(), key=lambda i: i.name))

    def ok(self, name: str) -> PluginInfo:
        """The loaded plugin `name`, or a UserError saying why it cannot be used."""
        info = self.infos.get(name)
        if info is None:
            known = ", ".join(sorted(self.infos)) or "none installed"
            raise UserError(
                f"no plugin named {name!r} (installed: {known}); "
                f"install it with: pip install xerobridge-{name}"
            )
        if info.status == "disabled":
            raise UserError(f"plugin {name!r} is disabled by XEROBRIDGE_DISABLE_PLUGINS")
        if info.status != "ok":
            raise UserError(f"plugin {name!r} failed to load: {info.error}")
        return info

    def spec(self, name: str) -> SourceSpec:
        """The SourceSpec of a loaded plugin."""
        spec = self.ok(name).spec
        assert spec is not None
        return spec

    def has_hook(self, plugin: str, hook: str) -> bool:
        """Whether the plugin implements the hook."""
        return hook in self.ok(plugin).hooks

    def call(self, plugin: str, hook: str, **kwargs: Any) -> Any:
        """Call one plugin's hook; the result may be awaitable (see `resolve`)."""
        self.ok(plugin)
        caller = getattr(self._managers[plugin].hook, hook)
        return caller(**kwargs)

    async def acall(self, plugin: str, hook: str, **kwargs: Any) -> Any:
        """Call one plugin's hook and await its result if it is awaitable."""
        return await resolve(self.call(plugin, hook, **kwargs))


async def resolve(value: Any) -> Any:
    """Await a hook's result if it is awaitable (a hook may be sync or async)."""
    if inspect.isawaitable(value):
        return await value
    return value


async def aiterate(value: Any) -> AsyncIterator[Any]:
    """Iterate a hook's result whether it is an async iterator, an awaitable or a plain iterable."""
    value = await resolve(value)
    if value is None:
        return
    if hasattr(value, "__aiter__"):
        async for item in value:
            yield item
    else:
        for item in value:
            yield item


def _manager_for(module: ModuleType, name: str) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    pm.register(module, name=name)
    # A plugin written on the SDK keeps its hooks on a `xerobridge.sdk.Source` object; hooks
    # the module implements itself (register_routes ...) stay beside it.
    for attr, value in sorted(vars(module).items()):
        if getattr(type(value), "is_xerobridge_source", False):
            pm.register(value, name=f"{name}.{attr}")
    return pm


def disabled_names() -> set[str]:
    """The plugin names listed in XEROBRIDGE_DISABLE_PLUGINS."""
    raw = os.environ.get("XEROBRIDGE_DISABLE_PLUGINS", "")
    return {part.strip() for part in raw.split(",") if part.strip()}


def load_one(ep: importlib.metadata.EntryPoint) -> PluginInfo:
    """Load one entry point's plugin; any failure is recorded on the PluginInfo, never raised."""
    dist = ep.dist
    info = PluginInfo(
        name=ep.name,
        distribution=dist.name if dist else "",
        version=dist.version if dist else "",
    )
    if ep.name in disabled_names():
        info.status = "disabled"
        return info
    try:
        module = ep.load()
        pm = _manager_for(module, ep.name)  # rejects impls whose arguments match no spec
        pm.check_pending()  # rejects hookimpls with no spec, e.g. a misspelt hook name
        info.hooks = sorted(
            impl_name for impl_name in HOOK_NAMES if getattr(pm.hook, impl_name).get_hookimpls()
        )
        if "source_spec" not in info.hooks:
            raise ValueError("it implements no source_spec hook")
        spec = pm.hook.source_spec()
        if not isinstance(spec, SourceSpec):
            raise ValueError(f"source_spec returned {type(spec).__name__}, not a SourceSpec")
        if spec.name != ep.name:
            raise ValueError(
                f"source_spec name {spec.name!r} differs from the entry point name {ep.name!r}"
            )
        spec.validate()
    except (Exception, SystemExit) as exc:  # a plugin calling sys.exit must not end the daemon
        info.status = "failed"
        info.error = f"{type(exc).__name__}: {exc}".strip()
        info.detail = traceback.format_exc()
        log.warning("plugin %s failed to load: %s", ep.name, info.error)
        return info
    info.module = module
    info.spec = spec
    return info


def load_plugins(entry_points: Iterable[importlib.metadata.EntryPoint] | None = None) -> Plugins:
    """Load every plugin of the `xerobridge` entry-point group (or the given entry points)."""
    if entry_points is None:
        entry_points = importlib.metadata.entry_points(group=GROUP)
    seen: dict[str, PluginInfo] = {}
    for ep in entry_points:
        if ep.name in seen:
            # Two distributions claiming one name would make every key ambiguous.
            seen[ep.name].status = "failed"
            seen[ep.name].error = f"two installed distributions declare the plugin {ep.name!r}"
            continue
        seen[ep.name] = load_one(ep)
    return Plugins(seen.values())


def register_module(module: ModuleType, name: str) -> PluginInfo:
    """Load a plugin from a module object (tests and the scaffold), as an entry point would."""
    ep = importlib.metadata.EntryPoint(name=name, value=module.__name__, group=GROUP)
    return load_one(ep)
