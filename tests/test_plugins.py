"""Plugin loading: real installed distributions, broken ones beside good ones, and hook calls."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from xerobridge.contract.context import SourceContext
from xerobridge.contract.errors import UserError
from xerobridge.contract.plugins import Plugins, aiterate, load_plugins, register_module
from xerobridge.contract.types import Change, Checkpoint, Resolution, XeroDocument
from xerobridge.testkit.context import make_context

FIXTURES = Path(__file__).parent / "fixtures" / "plugins"

#: (distribution, version, entry-point name, module) of each test plugin.
TEST_DISTS = (
    ("xbtest-good", "1.2.3", "good", "xbtest_good"),
    ("xbtest-broken", "0.0.1", "broken", "xbtest_broken"),
    ("xbtest-bad-dep", "0.0.2", "bad_dep", "xbtest_bad_dep"),
    ("xbtest-misnamed", "0.0.3", "misnamed", "xbtest_misnamed"),
    ("xbtest-misspelt", "0.0.4", "misspelt", "xbtest_misspelt"),
    ("xbtest-exits", "0.0.5", "exits", "xbtest_exits"),
)

GOOD_HOOKS = ["fetch_changes", "fetch_records", "map_record", "source_spec", "to_xero"]


def install(site: Path, dist: str, version: str, entries: dict[str, str]) -> None:
    """Install a distribution into `site` as pip would: its modules and a dist-info directory."""
    for module in set(entries.values()):
        shutil.copy(FIXTURES / f"{module}.py", site / f"{module}.py")
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "".join(f"{name} = {module}\n" for name, module in entries.items())
    (info / "entry_points.txt").write_text(f"[xerobridge]\n{lines}")
    (info / "RECORD").write_text("")


def make_site(root: Path) -> Path:
    """A directory holding every test plugin as an installed distribution."""
    site = root / "site"
    site.mkdir()
    for dist, version, name, module in TEST_DISTS:
        install(site, dist, version, {name: module})
    return site


def entry_points_in(site: Path) -> list[importlib.metadata.EntryPoint]:
    """The `xerobridge` entry points of the distributions installed in `site`."""
    return [
        ep
        for dist in importlib.metadata.distributions(path=[str(site)])
        for ep in dist.entry_points
        if ep.group == "xerobridge"
    ]


def run_cli(site: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the real `xerobridge` command with the test plugins installed beside the real ones."""
    full_env = {**os.environ, "PYTHONPATH": str(site), "COLUMNS": "300", **env}
    return subprocess.run(
        [sys.executable, "-m", "xerobridge", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site directory with the good and the broken test plugins installed."""
    return make_site(tmp_path_factory.mktemp("plugins"))


@pytest.fixture(scope="module")
def listed(site: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """`xerobridge plugins --json` with the test plugins installed, by plugin name."""
    home = str(tmp_path_factory.mktemp("home"))
    result = run_cli(site, "plugins", "--json", XEROBRIDGE_HOME=home)
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)}


# -- the real command, in a subprocess ------------------------------------------------------------


def test_good_plugin_is_ok_with_its_version_and_hooks(listed: dict[str, dict[str, Any]]) -> None:
    """A good plugin shows as ok, with its distribution, version, hooks and streams."""
    good = listed["good"]
    assert good["status"] == "ok"
    assert good["error"] == ""
    assert good["distribution"] == "xbtest-good"
    assert good["version"] == "1.2.3"
    assert good["hooks"] == GOOD_HOOKS
    assert good["streams"] == ["customers", "orders"]


def test_plugin_that_fails_to_import_is_failed_with_its_error(
    listed: dict[str, dict[str, Any]],
) -> None:
    """A plugin whose import raises is failed with that error; the others still load."""
    broken = listed["broken"]
    assert broken["status"] == "failed"
    assert "RuntimeError" in broken["error"]
    assert "deliberately broken plugin" in broken["error"]
    assert "Traceback" in broken["detail"]
    assert "xbtest_broken.py" in broken["detail"]
    assert listed["good"]["detail"] == ""
    assert listed["good"]["status"] == "ok"


def test_plugin_that_exits_on_import_is_failed(listed: dict[str, dict[str, Any]]) -> None:
    """A plugin calling sys.exit at import is failed; it does not end the process loading it."""
    assert listed["exits"]["status"] == "failed"
    assert "SystemExit: xbtest_exits: no configuration file found" in listed["exits"]["error"]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("bad_dep", "depends on unknown stream 'clients'"),
        ("misnamed", "'other' differs from the entry point name 'misnamed'"),
        ("misspelt", "fetch_change"),
    ],
)
def test_plugin_with_an_invalid_spec_is_failed_naming_the_problem(
    listed: dict[str, dict[str, Any]], name: str, reason: str
) -> None:
    """An invalid source_spec or a misspelt hook name fails the plugin with a reason naming it."""
    assert listed[name]["status"] == "failed"
    assert reason in listed[name]["error"]


def test_installed_magento_plugin_is_ok(listed: dict[str, dict[str, Any]]) -> None:
    """The magento plugin installed in the environment loads beside the broken test plugins."""
    magento = listed["magento"]
    assert magento["status"] == "ok", magento["error"]
    assert magento["distribution"] == "xerobridge-magento"
    assert "source_spec" in magento["hooks"]


def test_disabled_plugins_are_listed_as_disabled(site: Path) -> None:
    """XEROBRIDGE_DISABLE_PLUGINS=a,b marks those plugins disabled without loading them."""
    result = run_cli(
        site,
        "plugins",
        "--json",
        XEROBRIDGE_DISABLE_PLUGINS="good, broken",
        XEROBRIDGE_HOME=str(site),
    )
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["good"]["status"] == "disabled"
    assert rows["broken"]["status"] == "disabled"
    assert rows["broken"]["error"] == ""
    assert rows["magento"]["status"] == "ok"


def test_table_shows_the_same_statuses(site: Path) -> None:
    """The Rich table lists each plugin with ok, failed: reason, or disabled."""
    result = run_cli(
        site, "plugins", XEROBRIDGE_DISABLE_PLUGINS="misnamed", XEROBRIDGE_HOME=str(site)
    )
    assert result.returncode == 0, result.stderr
    lines = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    assert "1.2.3" in lines["good"]
    assert " ok " in lines["good"]
    assert "map_record" in lines["good"]
    assert " ok " in lines["magento"]
    assert "disabled" in lines["misnamed"]
    assert "failed: ValueError" in lines["bad_dep"]
    # The error text is shown as it is, even where it looks like Rich markup.
    assert "failed: RuntimeError: deliberately broken plugin: [config] missing" in lines["broken"]


# -- in process -----------------------------------------------------------------------------------


@pytest.fixture
def loaded(site: Path, monkeypatch: pytest.MonkeyPatch) -> Plugins:
    """The test plugins loaded in this process from their installed distributions."""
    monkeypatch.syspath_prepend(str(site))
    return load_plugins(entry_points=entry_points_in(site))


def test_load_plugins_records_each_outcome(loaded: Plugins) -> None:
    """load_plugins loads each entry point on its own and records ok or failed for each."""
    status = {info.name: info.status for info in loaded}
    assert status == {
        "good": "ok",
        "broken": "failed",
        "bad_dep": "failed",
        "misnamed": "failed",
        "misspelt": "failed",
        "exits": "failed",
    }
    assert loaded.infos["good"].version == "1.2.3"
    assert loaded.infos["good"].hooks == GOOD_HOOKS
    assert "Traceback" in loaded.infos["broken"].detail


def test_only_usable_plugins_can_be_used(loaded: Plugins) -> None:
    """Asking for a failed or unknown plugin gives a UserError saying why."""
    assert loaded.spec("good").name == "good"
    with pytest.raises(UserError, match="'broken' failed to load: RuntimeError"):
        loaded.spec("broken")
    with pytest.raises(UserError, match="no plugin named 'nope'"):
        loaded.ok("nope")


def test_disabled_plugin_is_not_loaded(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A disabled plugin is not imported, and using it says it is disabled."""
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("XEROBRIDGE_DISABLE_PLUGINS", "broken,good")
    plugins = load_plugins(entry_points=entry_points_in(site))
    assert plugins.infos["broken"].status == "disabled"
    assert plugins.infos["good"].status == "disabled"
    with pytest.raises(UserError, match="disabled"):
        plugins.ok("good")


def test_two_distributions_claiming_one_name_fail_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two installed distributions declaring the same plugin name make that plugin failed."""
    site = tmp_path / "site"
    site.mkdir()
    install(site, "xbtest-good", "1.0", {"good": "xbtest_good"})
    install(site, "xbtest-copy", "2.0", {"good": "xbtest_good"})
    monkeypatch.syspath_prepend(str(site))
    plugins = load_plugins(entry_points=entry_points_in(site))
    assert plugins.infos["good"].status == "failed"
    assert "two installed distributions" in plugins.infos["good"].error


def test_register_module_loads_a_module_as_an_entry_point_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A plugin module registered directly is validated the same way."""
    monkeypatch.syspath_prepend(str(FIXTURES))
    import xbtest_good
    import xbtest_misnamed

    assert register_module(xbtest_good, "good").status == "ok"
    assert register_module(xbtest_misnamed, "misnamed").status == "failed"


def _ctx(plugins: Plugins) -> SourceContext:
    settings = plugins.spec("good").settings()
    return make_context(settings, plugin="good")


def test_acall_awaits_async_hooks_and_passes_sync_results(loaded: Plugins) -> None:
    """acall returns a sync hook's value and awaits an async hook's coroutine."""
    ctx = _ctx(loaded)
    change = Change(stream="customers", key="7")

    async def calls() -> tuple[Any, Any]:
        resolution = await loaded.acall("good", "map_record", ctx=ctx, change=change)
        docs = await loaded.acall(
            "good", "to_xero", ctx=ctx, change=change, links={}, resolution=Resolution.create()
        )
        return resolution, docs

    resolution, docs = asyncio.run(calls())
    assert resolution == Resolution.create()
    assert docs == [
        XeroDocument(
            kind="Contact",
            body={"ContactNumber": "SHOP-7", "Name": "Customer 7"},
            natural_key="SHOP-7",
            key_field="ContactNumber",
        )
    ]
    assert loaded.has_hook("good", "to_xero")
    assert not loaded.has_hook("good", "on_xero_update")


def test_aiterate_reads_async_generators_and_plain_lists(loaded: Plugins) -> None:
    """aiterate yields from an async-generator hook and from a hook returning a list alike."""
    ctx = _ctx(loaded)
    stream = loaded.spec("good").stream("customers")

    async def collect(hook: str, **kwargs: Any) -> list[Any]:
        return [
            item
            async for item in aiterate(loaded.call("good", hook, ctx=ctx, stream=stream, **kwargs))
        ]

    changes = asyncio.run(collect("fetch_changes", cursor="10", until=None))
    assert changes == [
        Change(stream="customers", key="11", data={"n": 11}),
        Change(stream="customers", key="12", data={"n": 12}),
        Checkpoint("12"),
    ]
    records = asyncio.run(collect("fetch_records", keys=["1", "gone", "3"]))
    assert [c.key for c in records] == ["1", "3"]
    assert loaded.call("good", "on_xero_update", ctx=ctx, event=None) is None
