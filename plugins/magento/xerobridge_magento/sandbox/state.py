"""The emulated store's state: records, credentials, faults, and the edits a store admin makes."""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from xerobridge.sdk import Clock, SystemClock
from xerobridge_magento.sandbox.config import (
    DEFAULT_STORES,
    DEFAULT_TAX_RATES,
    StoreView,
    TaxRateDef,
    tax_rate_for,
)
from xerobridge_magento.sandbox.sales import (
    ItemSpec,
    OrderParties,
    OrderRequest,
    SalesError,
    build_creditmemo,
    build_invoice,
    build_order,
)
from xerobridge_magento.sandbox.search import TIME_FORMAT
from xerobridge_magento.sandbox.store import Collection

log = logging.getLogger(__name__)

#: Magento's admin token lifetime (Integration/etc/config.xml, access_token_expiration_period).
ADMIN_TOKEN_LIFETIME = timedelta(hours=4)
#: Magento's admin login lockout (authentication_lock: 6 failures, then 1800 s).
LOCK_MAX_FAILURES = 6
LOCK_SECONDS = 1800

STREAMS = ("customers", "products", "orders", "invoices", "creditmemos")
#: The ways a fault can spoil a successful answer (Fault.answer).
MALFORMED = ("truncated", "html", "broken-record", "repeat")


class AuthFailed(Exception):
    """The admin username/password was refused (or the account is locked)."""


@dataclass
class Fault:
    """A failure the sandbox plays on the next matching requests.

    `status` None answers normally after `delay` (a slow store); `times` 0 means until cleared.
    `path` matches the start of the V1 path (e.g. "/V1/orders"). `delay` is waited on the
    sandbox's clock, so a FakeClock moves instead of the test sleeping.

    With `status` None, `answer` spoils a successful answer the way a broken proxy, a PHP
    notice or a cache in front of a store does (see MALFORMED): "truncated" cuts the JSON in
    half, "html" sends an HTML page with status 200, "broken-record" drops the id and
    updated_at of the first record, and "repeat" sends the previous answer to the same path
    again (whatever the query asked for).
    """

    status: int | None = 503
    times: int = 1
    path: str | None = None
    method: str | None = None
    delay: float = 0.0
    retry_after: float | None = None
    answer: str | None = None
    after: int = 0  # matching requests to let through untouched before the fault plays

    def __post_init__(self) -> None:
        if self.answer is not None and self.answer not in MALFORMED:
            raise ValueError(f"fault answer {self.answer!r} is not one of {', '.join(MALFORMED)}")
        if self.answer is not None and self.status is not None:
            raise ValueError("a fault spoils either the status or the answer, not both")

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a request."""
        if self.method and self.method.upper() != method.upper():
            return False
        return self.path is None or path.startswith(self.path)


@dataclass
class RateLimit:
    """An optional request quota per token (Magento has none for admin REST reads by default)."""

    requests: int
    per_seconds: float
    _seen: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))

    def retry_after(self, key: str, now: float) -> float | None:
        """None when the request may pass (and counts it), else seconds until it may."""
        window = self._seen[key]
        while window and window[0] <= now - self.per_seconds:
            window.popleft()
        if len(window) >= self.requests:
            return max(0.0, window[0] + self.per_seconds - now)
        window.append(now)
        return None


class SandboxState:
    """Everything the emulated Magento store holds; tests seed and change it directly."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        integration_token: str = "sandbox-integration-token",
        admin_users: dict[str, str] | None = None,
        stores: tuple[StoreView, ...] = DEFAULT_STORES,
        tax_rates: tuple[TaxRateDef, ...] = DEFAULT_TAX_RATES,
        public_url: str | None = None,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.integration_token = integration_token
        self.admin_users = dict(admin_users if admin_users is not None else {"admin": "admin123"})
        self.admin_tokens: dict[str, datetime] = {}
        self._failures: dict[str, int] = defaultdict(int)
        self._locked_until: dict[str, datetime] = {}
        self.stores = stores
        self.tax_rates = tax_rates
        self.public_url = public_url
        self.customers = Collection(
            "customers", "id", {"entity_id": "id"},
            fields=("website_id", "store_id", "group_id", "email", "firstname", "lastname"),
        )  # fmt: skip
        self.products = Collection(
            "products", "id", {"entity_id": "id"},
            fields=("sku", "name", "type_id", "status", "visibility", "price"),
        )  # fmt: skip
        self.orders = Collection(
            "orders", "entity_id",
            fields=("store_id", "increment_id", "customer_id", "customer_email", "state", "status"),
        )  # fmt: skip
        self.invoices = Collection(
            "invoices", "entity_id", fields=("order_id", "store_id", "increment_id", "state")
        )
        self.creditmemos = Collection(
            "creditmemos", "entity_id",
            fields=("order_id", "invoice_id", "store_id", "increment_id", "state"),
        )  # fmt: skip
        self.product_ids_by_sku: dict[str, int] = {}
        self._orders_by_customer: dict[int, list[int]] = defaultdict(list)
        self._invoices_by_order: dict[int, list[int]] = defaultdict(list)
        self._next_item_id = 1
        self._next_address_id = 1
        self._sequences: dict[tuple[str, int], int] = defaultdict(int)
        #: Ids of the records made odd on purpose, by what is odd about them (see generator).
        self.odd: dict[str, Any] = {}
        self.faults: list[Fault] = []
        self.rate_limit: RateLimit | None = None
        #: (method, path with query) of every REST request, newest last.
        self.request_log: deque[tuple[str, str]] = deque(maxlen=100_000)
        #: The last successful GET answer per path (query left out), for the "repeat" fault.
        self.last_answers: dict[str, tuple[bytes, str]] = {}

    # -- time --------------------------------------------------------------------------------------

    def now(self) -> str:
        """The clock's time in Magento's UTC `YYYY-MM-DD HH:MM:SS`."""
        return format_time(self.clock.now())

    def collection(self, stream: str) -> Collection:
        """The collection behind a stream name."""
        if stream not in STREAMS:
            raise KeyError(f"unknown stream {stream!r}; streams: {', '.join(STREAMS)}")
        coll: Collection = getattr(self, stream)
        return coll

    def store(self, code_or_id: str | int) -> StoreView:
        """A store view by code or id."""
        for store in self.stores:
            if code_or_id in (store.code, store.id, str(store.id)):
                return store
        raise KeyError(f"no store view {code_or_id!r}")

    # -- auth --------------------------------------------------------------------------------------

    def issue_admin_token(self, username: str, password: str) -> str:
        """An admin token valid for four hours, or AuthFailed (with Magento's lockout)."""
        now = self.clock.now()
        locked = self._locked_until.get(username)
        if locked is not None and now < locked:
            raise AuthFailed(username)
        if self.admin_users.get(username) != password or not password:
            self._failures[username] += 1
            if self._failures[username] >= LOCK_MAX_FAILURES:
                self._locked_until[username] = now + timedelta(seconds=LOCK_SECONDS)
                self._failures[username] = 0
            raise AuthFailed(username)
        self._failures.pop(username, None)
        self._locked_until.pop(username, None)
        # Magento 2.4.4+ issues JWTs; clients must treat the token as opaque either way.
        token = secrets.token_hex(16)
        self.admin_tokens[token] = now + ADMIN_TOKEN_LIFETIME
        return token

    def token_valid(self, token: str | None) -> bool:
        """Whether a bearer token is the integration token or an unexpired admin token."""
        if not token:
            return False
        if secrets.compare_digest(token, self.integration_token):
            return True
        expiry = self.admin_tokens.get(token)
        if expiry is None:
            return False
        if self.clock.now() >= expiry:
            del self.admin_tokens[token]
            return False
        return True

    def revoke_admin_tokens(self) -> None:
        """Forget every admin token (what an admin's "revoke" or a restore from backup does)."""
        self.admin_tokens.clear()

    # -- faults ------------------------------------------------------------------------------------

    def add_fault(self, status: int | None = 503, **kwargs: Any) -> Fault:
        """Queue a fault; see Fault for the arguments."""
        fault = Fault(status=status, **kwargs)
        self.faults.append(fault)
        return fault

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The first fault matching a request, consumed once."""
        for fault in self.faults:
            if fault.matches(method, path):
                if fault.after > 0:
                    fault.after -= 1
                    return None
                if fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self.faults.remove(fault)
                return fault
        return None

    # -- ids ---------------------------------------------------------------------------------------

    def next_item_id(self) -> int:
        """The next order/invoice/credit memo item id."""
        value = self._next_item_id
        self._next_item_id += 1
        return value

    def _increment_id(self, kind: str, store: StoreView) -> str:
        self._sequences[(kind, store.id)] += 1
        return f"{store.increment_prefix}{self._sequences[(kind, store.id)]:08d}"

    # -- customers ---------------------------------------------------------------------------------

    def add_customer(
        self,
        firstname: str,
        lastname: str,
        email: str,
        *,
        addresses: list[dict[str, Any]] | None = None,
        store: str | int = "default",
        group_id: int = 1,
        created_at: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Create a customer; each address dict holds street, city, postcode, country_id ..."""
        view = self.store(store)
        customer_id = self.customers.next_id()
        stamp = created_at or self.now()
        record: dict[str, Any] = {
            "id": customer_id,
            "group_id": group_id,
            "created_at": stamp,
            "updated_at": stamp,
            "created_in": view.name,
            "email": email,
            "firstname": firstname,
            "lastname": lastname,
            "store_id": view.id,
            "website_id": view.website_id,
            "addresses": [],
            "disable_auto_group_change": 0,
            "extension_attributes": {"is_subscribed": False},
        }
        record.update(extra)
        for n, address in enumerate(addresses or ()):
            record["addresses"].append(self._customer_address(customer_id, record, address, n == 0))
        if record["addresses"]:
            record["default_billing"] = str(record["addresses"][0]["id"])
            record["default_shipping"] = str(record["addresses"][0]["id"])
        self.customers.put(record)
        return record

    def _customer_address(
        self, customer_id: int, customer: dict[str, Any], raw: dict[str, Any], default: bool
    ) -> dict[str, Any]:
        address_id = self._next_address_id
        self._next_address_id += 1
        address = {
            "id": address_id,
            "customer_id": customer_id,
            "firstname": raw.get("firstname", customer["firstname"]),
            "lastname": raw.get("lastname", customer["lastname"]),
            **{k: v for k, v in raw.items() if k not in ("firstname", "lastname", "region")},
        }
        region = raw.get("region")
        if region:
            address["region"] = {"region_code": region, "region": region, "region_id": 0}
            address["region_id"] = 0
        if default:
            address["default_billing"] = True
            address["default_shipping"] = True
        return address

    def edit_customer(self, customer_id: int, **changes: Any) -> dict[str, Any]:
        """Change top-level fields of a customer; bumps updated_at like every save in Magento."""
        return self._edit(self.customers, customer_id, changes, "customer")

    def delete_customer(self, customer_id: int) -> bool:
        """Hard-delete a customer: it vanishes from searches and leaves no tombstone."""
        if self.customers.delete(customer_id) is None:
            return False
        # sales_order.customer_id has ON DELETE SET NULL; UNVERIFIED whether Magento's
        # updated_at moves with it (a cascaded FK action normally leaves it alone).
        for order_id in self._orders_by_customer.pop(customer_id, []):
            order = self.orders.get(order_id)
            if order is not None:
                order.pop("customer_id", None)
        return True

    # -- products ----------------------------------------------------------------------------------

    def add_product(
        self,
        sku: str,
        name: str,
        price: float | Decimal | str,
        *,
        type_id: str = "simple",
        tax_class_id: int = 2,
        visibility: int = 4,
        status: int = 1,
        weight: float = 1.0,
        children: list[str] | None = None,
        bundle_options: list[list[str]] | None = None,
        created_at: str | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """Create a product; configurables take child SKUs, bundles one SKU list per option."""
        if sku in self.product_ids_by_sku:
            raise ValueError(
                "The value specified in the URL Key field would generate a URL that already "
                f"exists: {sku}"
            )
        product_id = self.products.next_id()
        stamp = created_at or self.now()
        record: dict[str, Any] = {
            "id": product_id,
            "sku": sku,
            "name": name,
            "attribute_set_id": 4,
            "price": float(Decimal(str(price))),
            "status": status,
            "visibility": visibility,
            "type_id": type_id,
            "created_at": stamp,
            "updated_at": stamp,
            "extension_attributes": {"website_ids": [1, 2]},
            "product_links": [],
            "options": [],
            "media_gallery_entries": [],
            "tier_prices": [],
            "custom_attributes": [
                {"attribute_code": "tax_class_id", "value": str(tax_class_id)},
                {"attribute_code": "url_key", "value": f"{sku.lower()}-{product_id}"},
            ],
        }
        if type_id not in ("configurable", "bundle", "virtual"):
            record["weight"] = weight
        if description:
            record["custom_attributes"].append(
                {"attribute_code": "description", "value": description}
            )
        if children:
            child_ids = [self.product_ids_by_sku[s] for s in children]
            record["extension_attributes"]["configurable_product_links"] = child_ids
            record["extension_attributes"]["configurable_product_options"] = [
                {
                    "id": product_id,
                    "attribute_id": "93",
                    "label": "Colour",
                    "position": 0,
                    "values": [{"value_index": n + 1} for n in range(len(child_ids))],
                    "product_id": product_id,
                }
            ]
        if bundle_options:
            # price_type 0 = dynamic: the order's child lines carry the prices.
            record["custom_attributes"].append({"attribute_code": "price_type", "value": "0"})
            record["extension_attributes"]["bundle_product_options"] = [
                {
                    "option_id": n + 1,
                    "title": f"Option {n + 1}",
                    "required": True,
                    "type": "select",
                    "position": n + 1,
                    "sku": sku,
                    "product_links": [
                        {
                            "id": str(self.product_ids_by_sku[s]),
                            "sku": s,
                            "option_id": n + 1,
                            "qty": 1,
                            "position": m + 1,
                            "is_default": m == 0,
                            "price": 0,
                            "price_type": 0,
                            "can_change_quantity": 0,
                        }
                        for m, s in enumerate(skus)
                    ],
                }
                for n, skus in enumerate(bundle_options)
            ]
        self.products.put(record)
        self.product_ids_by_sku[sku] = product_id
        return record

    def product_by_sku(self, sku: str) -> dict[str, Any] | None:
        """The product with this SKU, or None."""
        product_id = self.product_ids_by_sku.get(sku)
        return None if product_id is None else self.products.get(product_id)

    def edit_product(self, sku: str, **changes: Any) -> dict[str, Any]:
        """Change top-level fields of a product; bumps updated_at."""
        product = self.product_by_sku(sku)
        if product is None:
            raise KeyError(f"no product {sku!r}")
        if "sku" in changes and changes["sku"] != sku:
            del self.product_ids_by_sku[sku]
            self.product_ids_by_sku[changes["sku"]] = product["id"]
        return self._edit(self.products, product["id"], changes, "product")

    def delete_product(self, sku: str) -> bool:
        """Hard-delete a product by SKU: no tombstone, past orders keep their lines."""
        product_id = self.product_ids_by_sku.pop(sku, None)
        return product_id is not None and self.products.delete(product_id) is not None

    # -- sales -------------------------------------------------------------------------------------

    def place_order(
        self,
        items: Sequence[ItemSpec | tuple[str, int]],
        *,
        customer_id: int | None = None,
        guest: dict[str, Any] | None = None,
        store: str | int | None = None,
        shipping: Decimal | float | str = "4.95",
        discount_percent: Decimal | float | str = 0,
        coupon_code: str | None = None,
        payment_method: str = "checkmo",
        created_at: str | None = None,
    ) -> dict[str, Any]:
        """Place an order for a customer or a guest; items are ItemSpecs or (sku, qty) pairs.

        A guest dict holds email, firstname, lastname and address fields (street, city,
        postcode, country_id, telephone). A (sku, qty) of a configurable product picks its
        first child; of a bundle, the first product of each option.
        """
        specs = [self._item_spec(i) for i in items]
        if customer_id is not None:
            customer = self.customers.get(customer_id)
            if customer is None:
                raise SalesError(f"No such entity with customerId = {customer_id}")
            address = dict(customer["addresses"][0]) if customer["addresses"] else {}
            parties = OrderParties(
                email=customer["email"],
                firstname=customer["firstname"],
                lastname=customer["lastname"],
                address=_order_address(address),
                customer_id=customer_id,
                group_id=customer["group_id"],
            )
            view = self.store(store if store is not None else customer["store_id"])
        else:
            if not guest or not guest.get("email"):
                raise SalesError('"customer_email" is required. Enter and try again.')
            parties = OrderParties(
                email=guest["email"],
                firstname=guest.get("firstname", "Guest"),
                lastname=guest.get("lastname", "Customer"),
                address=_order_address(guest),
            )
            view = self.store(store if store is not None else "default")
        parties.address.setdefault("country_id", view.country)
        order_id = self.orders.next_id()
        request = OrderRequest(
            store=view,
            parties=parties,
            items=specs,
            created_at=created_at or self.now(),
            shipping=Decimal(str(shipping)),
            discount_percent=Decimal(str(discount_percent)),
            coupon_code=coupon_code,
            payment_method=payment_method,
        )
        order = build_order(
            request,
            entity_id=order_id,
            increment_id=self._increment_id("order", view),
            rates=self.tax_rates,
            next_item_id=self.next_item_id,
            tax_rate_for=tax_rate_for,
        )
        self.orders.put(order)
        if customer_id is not None:
            self._orders_by_customer[customer_id].append(order_id)
        return order

    def _item_spec(self, item: ItemSpec | tuple[str, int]) -> ItemSpec:
        if isinstance(item, ItemSpec):
            return item
        sku, qty = item
        product = self.product_by_sku(sku)
        if product is None:
            raise SalesError(f"The product that was requested doesn't exist: {sku}")
        ext = product.get("extension_attributes", {})
        if product["type_id"] == "configurable":
            child = self.products.get(ext["configurable_product_links"][0])
            return ItemSpec(product, qty, child=child)
        if product["type_id"] == "bundle":
            selections = []
            for option in ext["bundle_product_options"]:
                chosen = self.product_by_sku(option["product_links"][0]["sku"])
                if chosen is not None:
                    selections.append((chosen, 1))
            return ItemSpec(product, qty, selections=selections)
        return ItemSpec(product, qty)

    def edit_order(self, order_id: int, **changes: Any) -> dict[str, Any]:
        """Change top-level fields of an order (status, customer_note ...); bumps updated_at."""
        return self._edit(self.orders, order_id, changes, "order")

    def cancel_order(self, order_id: int, *, at: str | None = None) -> dict[str, Any]:
        """Cancel an order that has no invoice."""
        order = self._order(order_id)
        if order["state"] not in ("new", "pending_payment", "holded"):
            raise SalesError("We cannot cancel this order.")
        for prefix in ("", "base_"):
            order[prefix + "total_canceled"] = order[prefix + "grand_total"]
        for item in order["items"]:
            item["qty_canceled"] = item["qty_ordered"]
        order["state"] = order["status"] = "canceled"
        self.orders.touch(order, at or self.now())
        return order

    def invoice_order(
        self, order_id: int, *, paid: bool = True, at: str | None = None
    ) -> dict[str, Any]:
        """Invoice the whole order (captured, so paid, unless `paid` is False)."""
        order = self._order(order_id)
        stamp = at or self.now()
        invoice = build_invoice(
            order,
            entity_id=self.invoices.next_id(),
            increment_id=self._increment_id("invoice", self.store(order["store_id"])),
            created_at=stamp,
            paid=paid,
            next_item_id=self.next_item_id,
        )
        self.invoices.put(invoice)
        self._invoices_by_order[order_id].append(invoice["entity_id"])
        self.orders.touch(order, stamp)
        return invoice

    def pay_invoice(self, invoice_id: int, *, at: str | None = None) -> dict[str, Any]:
        """Capture an open invoice (it becomes paid; the order's total_paid follows)."""
        invoice = self.invoices.get(invoice_id)
        if invoice is None:
            raise SalesError(
                "The entity that was requested doesn't exist. Verify the entity and try again."
            )
        if invoice["state"] != 1:
            raise SalesError("The invoice cannot be captured.")
        stamp = at or self.now()
        invoice["state"] = 2
        invoice["transaction_id"] = f"txn-{invoice['increment_id']}"
        order = self._order(invoice["order_id"])
        for prefix in ("", "base_"):
            order[prefix + "total_paid"] = order[prefix + "grand_total"]
            order[prefix + "total_due"] = 0.0
        self.invoices.touch(invoice, stamp)
        self.orders.touch(order, stamp)
        return invoice

    def refund_order(
        self,
        order_id: int,
        *,
        qtys: dict[int, float] | None = None,
        shipping_amount: Decimal | float | str | None = None,
        adjustment_positive: Decimal | float | str = 0,
        adjustment_negative: Decimal | float | str = 0,
        at: str | None = None,
    ) -> dict[str, Any]:
        """Refund offline: `qtys` maps order item ids to quantities (None: all that remain)."""
        order = self._order(order_id)
        stamp = at or self.now()
        invoice_ids = self._invoices_by_order.get(order_id, [])
        memo = build_creditmemo(
            order,
            entity_id=self.creditmemos.next_id(),
            increment_id=self._increment_id("creditmemo", self.store(order["store_id"])),
            created_at=stamp,
            invoice_id=invoice_ids[0] if invoice_ids else None,
            qtys=qtys,
            shipping_amount=None if shipping_amount is None else Decimal(str(shipping_amount)),
            adjustment_positive=Decimal(str(adjustment_positive)),
            adjustment_negative=Decimal(str(adjustment_negative)),
            next_item_id=self.next_item_id,
        )
        self.creditmemos.put(memo)
        self.orders.touch(order, stamp)
        return memo

    def add_order_comment(self, order_id: int, comment: str, *, status: str | None = None) -> None:
        """Append a status history comment (what a write-back from Xero would do)."""
        order = self._order(order_id)
        stamp = self.now()
        order["status_histories"].insert(
            0,
            {
                "comment": comment,
                "created_at": stamp,
                "entity_id": self.next_item_id(),
                "entity_name": "order",
                "is_customer_notified": 0,
                "is_visible_on_front": 0,
                "parent_id": order_id,
                "status": status or order["status"],
            },
        )
        if status:
            order["status"] = status
        self.orders.touch(order, stamp)

    def _order(self, order_id: int) -> dict[str, Any]:
        order = self.orders.get(order_id)
        if order is None:
            raise SalesError(
                "The entity that was requested doesn't exist. Verify the entity and try again."
            )
        return order

    # -- shared ------------------------------------------------------------------------------------

    def _edit(
        self, coll: Collection, record_id: int, changes: dict[str, Any], what: str
    ) -> dict[str, Any]:
        record = coll.get(record_id)
        if record is None:
            raise KeyError(f"no {what} {record_id}")
        forbidden = {coll.id_field, "updated_at", "created_at"} & changes.keys()
        if forbidden:
            raise ValueError(f"cannot edit {', '.join(sorted(forbidden))} of a {what}")
        record.update(changes)
        coll.touch(record, self.now())
        return record

    def generate(
        self, *, seed: int, customers: int = 20, products: int = 20, orders: int = 50
    ) -> None:
        """Fill the store with a deterministic data set (see generator.generate)."""
        from xerobridge_magento.sandbox.generator import generate

        generate(self, seed=seed, n_customers=customers, n_products=products, n_orders=orders)


def format_time(moment: datetime) -> str:
    """A datetime in Magento's UTC `YYYY-MM-DD HH:MM:SS` (naive values are taken as UTC)."""
    from datetime import UTC

    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime(TIME_FORMAT)


_ORDER_ADDRESS_FIELDS = (
    "street",
    "city",
    "postcode",
    "country_id",
    "telephone",
    "company",
    "vat_id",
    "region",
    "region_code",
    "region_id",
    "customer_address_id",
)


def _order_address(raw: dict[str, Any]) -> dict[str, Any]:
    address = {}
    for name in _ORDER_ADDRESS_FIELDS:
        value = raw.get(name)
        if isinstance(value, dict):  # a customer address's region object
            address["region"] = value.get("region")
            address["region_code"] = value.get("region_code")
            continue
        if value is not None:
            address[name] = value
    if "id" in raw and "customer_id" in raw:
        address["customer_address_id"] = raw["id"]
    address.setdefault("telephone", "0000000000")
    address.setdefault("city", "Unknown")
    address.setdefault("postcode", "00000")
    return {k: v for k, v in address.items() if v is not None}
