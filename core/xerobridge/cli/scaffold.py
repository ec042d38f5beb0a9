"""`xerobridge new-plugin`: render a new source plugin package from the templates in the core.

The templates live in `templates/new_plugin/` as Jinja2 files (`*.j2`, so that neither ruff nor
pytest takes them for this project's code); a path part `__package__` becomes the plugin's
import package and `{name}` in a file name becomes the plugin's name. What comes out installs
with `pip install -e`, loads as `ok` in `xerobridge plugins`, passes its own tests against the
sandboxes, and syncs its sandbox's records in `xerobridge demo`.
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import jinja2

from xerobridge.contract.errors import UserError

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "new_plugin"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
#: Names a plugin cannot take: the core's own commands (a plugin's CLI group is named after it),
#: the Xero sandbox (`xerobridge sandbox <name>` serves a plugin's), and the core itself.
RESERVED = frozenset(
    {
        "admin", "connect", "connections", "db", "demo", "log", "map", "new_plugin", "plugins",
        "queue", "report", "run", "sandbox", "settings", "setup_accounts", "sources", "sync",
        "xero", "xerobridge", "core", "testkit",
    }
)  # fmt: skip


@dataclass(frozen=True)
class PluginNames:
    """The names one plugin goes by."""

    name: str  # entry point, spec and CLI name: tickets
    host: str  # in host names: help-desk for help_desk
    package: str  # import package: xerobridge_tickets
    distribution: str  # what pip installs: xerobridge-tickets
    title: str  # for people: Tickets
    class_name: str  # prefix of its classes: Tickets
    core_requirement: str  # the xerobridge versions it is written for: >=0.1,<0.2


def names_for(name: str) -> PluginNames:
    """The names of plugin `name`, or a UserError saying what a name may be."""
    if not _NAME.match(name):
        raise UserError(
            f"plugin name {name!r} must start with a lower-case letter and use only a-z, 0-9 "
            "and _ (at most 40), e.g. tickets or help_desk"
        )
    if name in RESERVED:
        raise UserError(f"plugin name {name!r} is taken by xerobridge itself; choose another")
    words = name.split("_")
    return PluginNames(
        name=name,
        host=name.replace("_", "-"),
        package=f"xerobridge_{name}",
        distribution=f"xerobridge-{name.replace('_', '-')}",
        title=" ".join(w.capitalize() for w in words if w),
        class_name="".join(w.capitalize() for w in words if w),
        core_requirement=_core_requirement(),
    )


def _core_requirement() -> str:
    """The version range of the running core: its minor series (0.x minors may break)."""
    try:
        version = importlib.metadata.version("xerobridge")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout without installing
        return ""
    major, minor = (int(part) for part in version.split(".")[:2])
    upper = f"{major}.{minor + 1}" if major == 0 else f"{major + 1}"
    return f">={major}.{minor},<{upper}"


def default_directory(name: str) -> Path:
    """Where `new-plugin` writes when not told: ./xerobridge-<name> in the current directory."""
    return Path(names_for(name).distribution)


def _target(relative: Path, names: PluginNames) -> Path:
    parts = [names.package if part == "__package__" else part for part in relative.parts]
    parts[-1] = parts[-1].removesuffix(".j2").replace("{name}", names.name)
    return Path(*parts)


def render(name: str, directory: Path | None = None, *, from_xero: bool = False) -> list[Path]:
    """Write plugin `name` into `directory` (new or empty); return the files written. With
    `from_xero` the example has a stream from Xero too (Xero's suppliers as vendors)."""
    names = names_for(name)
    dest = directory if directory is not None else default_directory(name)
    if dest.exists() and not dest.is_dir():
        raise UserError(f"{dest} is a file; give --dir a directory that is new or empty")
    if dest.is_dir() and any(dest.iterdir()):
        raise UserError(f"{dest} is not empty; give --dir a directory that is new or empty")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # Python, TOML and Markdown, never HTML
    )
    values = {**asdict(names), "from_xero": from_xero}
    written: list[Path] = []
    for template in sorted(TEMPLATES.rglob("*.j2")):
        relative = template.relative_to(TEMPLATES)
        path = dest / _target(relative, names)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = env.get_template(relative.as_posix()).render(values)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    log.info("wrote plugin %s to %s (%d files)", name, dest, len(written))
    return written


def next_steps(name: str, directory: Path) -> list[str]:
    """What to run after `new-plugin`, as the plugin author guide walks through it."""
    return [
        f"pip install -e {directory}",
        "xerobridge plugins",
        f"python -m pytest {directory}",
        "xerobridge demo --once",
        f"xerobridge sandbox {name} --port 0",
    ]
