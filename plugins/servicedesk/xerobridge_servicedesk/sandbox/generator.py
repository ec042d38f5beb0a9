"""Deterministic MSP data: accounts with additional fields, technicians with costs, worklog types,
and requests, problems, changes, projects and tasks with worklogs of every kind a sync meets.

The same seed and counts give the same records and ids. Everything happened in the 30 days
before the clock's now; a few records are odd on purpose and listed in `state.odd`.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xerobridge_servicedesk.sandbox.state import SandboxState

COMPANIES = (
    "Acme Dental",
    "Birchwood Legal",
    "Cobalt Logistics",
    "Dunmore Bakery",
    "Elmfield School",
    "Fairway Motors",
    "Greystone Architects",
    "Harbour Vets",
    "Ironbridge Accountants",
    "Juniper Florists",
    "Kestrel Surveyors",
    "Larkspur Clinic",
)
CITIES = (
    ("Leeds", "LS1 4AP", "West Yorkshire"),
    ("Bristol", "BS1 5TR", "Avon"),
    ("York", "YO1 7HH", "North Yorkshire"),
    ("Bath", "BA1 1LT", "Somerset"),
)
TECHNICIANS = (("Priya Shah", "55.00"), ("Tom Lewis", "42.50"), ("Ana Costa", "38.00"))
WORKLOG_TYPES = (
    ("Remote Support", "Help over the phone or remote session"),
    ("Onsite Support", "A visit to the customer's site"),
    ("Project Work", "Scheduled project hours"),
    ("Consulting", None),
)
SUBJECTS = (
    "Printer offline on second floor",
    "New starter laptop setup",
    "VPN drops every hour",
    "Mailbox over quota",
    "Backup job failed overnight",
    "Wi-Fi slow in meeting room",
    "Reset MFA for finance user",
    "Install accounting software update",
)
NOTES = (
    "<p>Checked the <b>event log</b> and restarted the spooler.</p>",
    "<div>Called the user &amp; walked through the fix.<br>Closed after test.</div>",
    "<p>Replaced patch cable; link at 1&nbsp;Gbps again.</p><ul><li>tested</li></ul>",
    "Plain note without markup",
    "<p>Updated firmware &lt;v2.4&gt; and rebooted.</p>",
)
MINUTES = (15, 30, 45, 60, 90, 120, 20, 75)
DAY = 86_400_000


def generate(state: SandboxState, *, seed: int = 1, accounts: int = 8, requests: int = 30) -> None:
    """Fill the state: `accounts` accounts and `requests` requests, and around them the rest."""
    rng = random.Random(seed)
    now = state.now_ms()
    start = now - 30 * DAY

    state.account_udfs = {
        "udf_sline_301": {"display_name": "Xero Contact Number", "type": "Single Line"},
        "udf_pick_302": {"display_name": "Support Plan", "type": "Pick List"},
        "udf_date_303": {"display_name": "Contract Start", "type": "Date/Time"},
    }
    account_ids: list[str] = []
    for n in range(accounts):
        name = COMPANIES[n % len(COMPANIES)] + (f" {n // len(COMPANIES) + 1}" if n >= 12 else "")
        city, postcode, region = CITIES[n % len(CITIES)]
        domain = name.lower().replace(" ", "") + ".example.com"
        account = state.add_account(
            created=start - DAY * (n + 1),
            name=name,
            description=f"Managed IT customer since {2015 + n % 9}",
            email_id=f"accounts@{domain}",
            phone=f"0113 496 0{n:03d}",
            web_url=f"https://{domain}",
            support_email=f"it@{domain}",
            email_domain=domain,
            street=f"{n + 1} Mill Lane",
            city=city,
            postal_code=postcode,
            state=region,
            country="United Kingdom",
            udf_fields={
                "udf_sline_301": None,
                "udf_pick_302": rng.choice(("Gold", "Silver", "Pay as you go")),
                "udf_date_303": None,
            },
        )
        account["last_updated_time"] = account["created_time"]
        account_ids.append(account["id"])

    technicians = [
        state.add_technician(name, cost, account_ids)["id"] for name, cost in TECHNICIANS
    ]
    type_ids = [state.add_worklog_type(name, desc or "")["id"] for name, desc in WORKLOG_TYPES]
    if not account_ids:
        return

    parents: list[tuple[str, str]] = []
    for n in range(requests):
        created = start + rng.randrange(0, 25 * DAY)
        record = state.add_parent(
            "requests",
            rng.choice(account_ids),
            SUBJECTS[n % len(SUBJECTS)],
            created=created,
        )
        parents.append(("requests", record["id"]))
    extra = max(1, requests // 6)
    for module, title in (
        ("problems", "Recurring outage of {}"),
        ("changes", "Upgrade {} firewall"),
        ("projects", "Office move for {}"),
    ):
        for _ in range(extra):
            account_id = rng.choice(account_ids)
            name = state.records["accounts"][account_id]["name"]
            record = state.add_parent(
                module,
                account_id,
                title.format(name),
                created=start + rng.randrange(0, 20 * DAY),
            )
            parents.append((module, record["id"]))
    owners = [p for p in parents if p[0] in ("requests", "changes", "projects")]
    for n in range(extra * 2):
        module, owner_id = owners[n % len(owners)]
        owner = state.records[module][owner_id]
        record = state.add_parent(
            "tasks",
            owner["account"]["id"],
            f"Task {n + 1}: follow up",
            created=int(owner["created_time"]["value"]) + DAY,
            parent=(module, owner_id),
        )
        parents.append(("tasks", record["id"]))

    untyped: list[str] = []
    non_billable: list[str] = []
    with_cost: list[str] = []
    for module, parent_id in parents:
        parent = state.records[module][parent_id]
        created = int(parent["created_time"]["value"])
        latest = created
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            begin = min(now - 3_600_000, created + rng.randrange(0, 4 * DAY))
            kind = rng.random()
            worklog = state.add_worklog(
                module,
                parent_id,
                owner_id=rng.choice(technicians),
                minutes=rng.choice(MINUTES),
                description=rng.choice(NOTES),
                type_id=None if kind < 0.12 else rng.choice(type_ids),
                other_cost=rng.choice(("12.50", "30.00")) if 0.12 <= kind < 0.25 else "0",
                is_billable=not 0.25 <= kind < 0.35,
                start=begin,
            )
            logged = begin + 60_000 * (
                int(worklog["time_spent"]["hours"]) * 60 + int(worklog["time_spent"]["minutes"])
            )
            worklog["created_time"] = state.time(logged)
            latest = max(latest, logged)
            if worklog["type"] is None:
                untyped.append(worklog["id"])
            if not worklog["is_billable"]:
                non_billable.append(worklog["id"])
            if Decimal(worklog["other_cost"]):
                with_cost.append(worklog["id"])
        # History, not now: the parent last changed when its last worklog was logged.
        parent["last_updated_time"] = state.time(latest)
    state.odd = {
        "untyped_worklogs": untyped,
        "non_billable_worklogs": non_billable,
        "worklogs_with_additional_cost": with_cost,
    }
