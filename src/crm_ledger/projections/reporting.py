"""The reporting read model: facts of issued invoices, payments, deals and activities,
for the reports of ``/reports/...`` (revenue, forecast, win rate, receivables, customers,
activity). Every figure is a sum over these rows, and every row follows from the log.

**Invoices.** A draft's row keeps what the ``Issued`` event does not carry (customer id,
currency, due date, what it rectifies); ``Issued`` then fixes the row and writes one
*line fact* per invoice line: issue date, customer, owner, product, currency, base and
cost of goods, in integer cents. Amounts carry their own sign: a credit note by
differences has negative quantities, hence negative bases and costs. A rectification by
**substitution** replaces the lines of the invoice it rectifies, so its facts are its
own lines plus the rectified invoice's own lines negated (dated on the rectification's
issue date): for every grouping the sum is then the change, as with differences, and
its ``net_*`` invoice figures are its own minus the rectified invoice's. ``Cancelled``
marks the invoice and its line facts cancelled: the reports leave them out.

* **owner** of an invoice: the owner of its customer (the contact) when it was issued;
* **cost of goods** of a line: ``quantity x product cost`` rounded once to cents, half up,
  with the product's cost when the invoice was issued; NULL when the line names no
  product or the product had no cost then. A product's cost has no currency of its own:
  it is taken in the invoice's currency.

**Payments**: what each payment allocates to each invoice (``PaymentRecorded`` holds the
running allocation, ``PaymentRemoved`` takes it back) and the day each was received.

**Deals** keep stage, status, amount (cents), currency, owner, expected close, creation
and close times; **stages** their probability and forecast category. **Activities** keep
kind, who logged them, assignee, the time they sit on a timeline (occurred at, else
logged at) and whether they were cancelled; their *owner* is the assignee, else whoever
logged it.

Money is integer cents (exact ``SUM`` on SQLite and PostgreSQL, never a float). The
reports themselves are in `crm_ledger.projections.reporting_queries`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from eventsourcing.utils import get_topic

from crm_ledger.domain.activity import Activity
from crm_ledger.domain.contact import ERASED_NAME, Contact
from crm_ledger.domain.deal import Deal
from crm_ledger.domain.invoice import DEFAULT_TERM_DAYS, Invoice, RectificationMethod
from crm_ledger.domain.payment import Payment
from crm_ledger.domain.pipeline import Pipeline
from crm_ledger.domain.product import Product
from crm_ledger.projections.base import Dispatching, Handler
from crm_ledger.projections.pipeline import cents
from crm_ledger.storage.sql import Tx

CUSTOMERS = "proj_report_customers"
PRODUCTS = "proj_report_products"
INVOICES = "proj_report_invoices"
LINES = "proj_report_lines"
ALLOCATIONS = "proj_report_allocations"
PAYMENTS = "proj_report_payments"
STAGES = "proj_report_stages"
DEALS = "proj_report_deals"
ACTIVITIES = "proj_report_activities"
SEP = "\x01"
DRAFT, ISSUED, CANCELLED = "draft", "issued", "cancelled"
OPEN, WON, LOST = "open", "won", "lost"

_DDL = (
    "CREATE TABLE IF NOT EXISTS proj_report_customers ("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL, owner TEXT)",
    "CREATE TABLE IF NOT EXISTS proj_report_products ("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL, cost TEXT)",
    "CREATE TABLE IF NOT EXISTS proj_report_invoices ("
    " id TEXT PRIMARY KEY,"
    " status TEXT NOT NULL,"
    " customer_id TEXT,"
    " currency TEXT NOT NULL,"
    " due_date TEXT,"
    " rectifies_id TEXT,"
    " method TEXT,"
    " root_id TEXT NOT NULL,"
    " number TEXT,"
    " invoice_type TEXT,"
    " issue_date TEXT,"
    " due_on TEXT,"
    " owner TEXT,"
    " base_cents {bigint},"
    " tax_cents {bigint},"
    " total_cents {bigint},"
    " net_base_cents {bigint},"
    " net_total_cents {bigint})",
    "CREATE INDEX IF NOT EXISTS proj_report_invoices_issued"
    " ON proj_report_invoices (status, issue_date)",
    "CREATE TABLE IF NOT EXISTS proj_report_lines ("
    " invoice_id TEXT NOT NULL,"
    " line_no INTEGER NOT NULL,"
    " own INTEGER NOT NULL,"
    " product_id TEXT,"
    " customer_id TEXT,"
    " owner TEXT,"
    " currency TEXT NOT NULL,"
    " issue_date TEXT NOT NULL,"
    " base_cents {bigint} NOT NULL,"
    " cost_cents {bigint},"
    " cancelled INTEGER NOT NULL,"
    " PRIMARY KEY (invoice_id, line_no))",
    "CREATE INDEX IF NOT EXISTS proj_report_lines_date"
    " ON proj_report_lines (cancelled, issue_date)",
    "CREATE TABLE IF NOT EXISTS proj_report_allocations ("
    " invoice_id TEXT NOT NULL,"
    " payment_id TEXT NOT NULL,"
    " amount_cents {bigint} NOT NULL,"
    " PRIMARY KEY (invoice_id, payment_id))",
    "CREATE TABLE IF NOT EXISTS proj_report_payments ("
    " id TEXT PRIMARY KEY, received_on TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS proj_report_stages ("
    " pipeline_id TEXT NOT NULL,"
    " stage_id TEXT NOT NULL,"
    " probability INTEGER NOT NULL,"
    " forecast_category TEXT NOT NULL,"
    " PRIMARY KEY (pipeline_id, stage_id))",
    "CREATE TABLE IF NOT EXISTS proj_report_deals ("
    " id TEXT PRIMARY KEY,"
    " pipeline_id TEXT NOT NULL,"
    " stage_id TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " amount_cents {bigint},"
    " currency TEXT NOT NULL,"
    " owner TEXT,"
    " expected_close TEXT,"
    " created_at TEXT NOT NULL,"
    " closed_at TEXT)",
    "CREATE TABLE IF NOT EXISTS proj_report_activities ("
    " id TEXT PRIMARY KEY,"
    " kind TEXT NOT NULL,"
    " actor TEXT NOT NULL,"
    " assignee TEXT,"
    " at TEXT NOT NULL,"
    " cancelled INTEGER NOT NULL)",
)

FOLLOWED: tuple[tuple[type, tuple[str, ...]], ...] = (
    (Contact, ("Registered", "Updated", "Merged", "Erased")),
    (Product, ("Created", "Updated")),
    (Invoice, ("Drafted", "Updated", "Issued", "Cancelled", "PaymentRecorded", "PaymentRemoved")),
    (Payment, ("Recorded",)),
    (Pipeline, ("Created", "StageAdded")),
    (
        Deal,
        (
            "Created",
            "Updated",
            "Moved",
            "Won",
            "Lost",
            "Reopened",
            "LineAdded",
            "LineUpdated",
            "LineRemoved",
        ),
    ),
    (Activity, ("Logged", "Updated", "Reassigned", "Cancelled")),
)


def _event_classes() -> list[tuple[str, type]]:
    """(``Owner.Event``, class) for each followed event the domain defines."""
    found: list[tuple[str, type]] = []
    for owner, names in FOLLOWED:
        for name in names:
            cls = getattr(owner, name, None)
            if isinstance(cls, type):
                found.append((f"{owner.__name__}.{name}", cls))
    return found


def reporting_topics() -> tuple[str, ...]:
    """Topics of the events this read model follows."""
    return tuple(get_topic(cls) for _, cls in _event_classes())


# -- pure helpers -----------------------------------------------------------------------


def line_cost_cents(quantity: str, cost: str | None) -> int | None:
    """Cost of goods of a line in cents: quantity x unit cost, rounded once, half up
    (away from zero, so a negated line costs exactly the negation); None if unknown."""
    if cost is None:
        return None
    value = Decimal(quantity) * Decimal(cost) * 100
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def due_on(issue_date: str, due_date: str | None) -> str:
    """The due date: the one set on the draft, else issue date + DEFAULT_TERM_DAYS."""
    if due_date is not None:
        return due_date
    return (date.fromisoformat(issue_date) + timedelta(days=DEFAULT_TERM_DAYS)).isoformat()


def sql_int(value: Any) -> int:
    """An integer SQL result (PostgreSQL's ``SUM(bigint)`` is a ``Decimal``)."""
    if isinstance(value, float):
        raise TypeError("a float reached a money sum")
    return int(value or 0)


def sql_text(value: Any) -> str | None:
    """A nullable SQL or event value as text."""
    return None if value is None else str(value)


class ReportingProjection(Dispatching):
    """Maintains the ``proj_report_*`` tables.

    Not ``per_aggregate``: an invoice's facts read its customer's owner, its products'
    costs and the invoice it rectifies, so the log must be applied in order.
    """

    name = "reporting"
    statements = _DDL

    def __init__(self) -> None:
        self.topics = reporting_topics()
        handlers: dict[str, Handler] = {
            "Contact.Registered": self._contact_registered,
            "Contact.Updated": self._contact_updated,
            "Contact.Merged": self._contact_merged,
            "Contact.Erased": self._contact_erased,
            "Product.Created": self._product_created,
            "Product.Updated": self._product_updated,
            "Invoice.Drafted": self._invoice_drafted,
            "Invoice.Updated": self._invoice_updated,
            "Invoice.Issued": self._invoice_issued,
            "Invoice.Cancelled": self._invoice_cancelled,
            "Invoice.PaymentRecorded": self._payment_allocated,
            "Invoice.PaymentRemoved": self._payment_removed,
            "Payment.Recorded": self._payment_recorded,
            "Pipeline.Created": self._pipeline_created,
            "Pipeline.StageAdded": self._stage_added,
            "Deal.Created": self._deal_created,
            "Deal.Updated": self._deal_updated,
            "Deal.Moved": self._deal_moved,
            "Deal.Won": self._deal_won,
            "Deal.Lost": self._deal_lost,
            "Deal.Reopened": self._deal_reopened,
            "Deal.LineAdded": self._deal_amount,
            "Deal.LineUpdated": self._deal_amount,
            "Deal.LineRemoved": self._deal_amount,
            "Activity.Logged": self._activity_logged,
            "Activity.Updated": self._activity_updated,
            "Activity.Reassigned": self._activity_reassigned,
            "Activity.Cancelled": self._activity_cancelled,
        }
        self._handlers: dict[type, Handler] = {cls: handlers[key] for key, cls in _event_classes()}

    @staticmethod
    def _set(tx: Tx, table: str, row_id: str, columns: dict[str, Any]) -> None:
        if not columns:
            return
        assignments = ", ".join(f"{name} = ?" for name in columns)
        tx.execute(f"UPDATE {table} SET {assignments} WHERE id = ?", (*columns.values(), row_id))

    # -- customers and products ---------------------------------------------------------

    def _contact_registered(self, tx: Tx, event: Any) -> None:
        tx.execute(
            f"INSERT INTO {CUSTOMERS} (id, name, owner) VALUES (?, ?, ?)",
            (str(event.originator_id), event.name, event.owner),
        )

    def _contact_updated(self, tx: Tx, event: Any) -> None:
        changes = {k: v for k, v in dict(event.changes).items() if k in ("name", "owner")}
        self._set(tx, CUSTOMERS, str(event.originator_id), changes)

    def _contact_merged(self, tx: Tx, event: Any) -> None:
        changes = {k: v for k, v in dict(event.absorbed).items() if k == "owner"}
        self._set(tx, CUSTOMERS, str(event.originator_id), changes)

    def _contact_erased(self, tx: Tx, event: Any) -> None:
        self._set(tx, CUSTOMERS, str(event.originator_id), {"name": ERASED_NAME})

    def _product_created(self, tx: Tx, event: Any) -> None:
        tx.execute(
            f"INSERT INTO {PRODUCTS} (id, name, cost) VALUES (?, ?, ?)",
            (str(event.originator_id), event.name, event.cost),
        )

    def _product_updated(self, tx: Tx, event: Any) -> None:
        changes = {k: v for k, v in dict(event.changes).items() if k in ("name", "cost")}
        self._set(tx, PRODUCTS, str(event.originator_id), changes)

    # -- invoices -----------------------------------------------------------------------

    def _invoice_drafted(self, tx: Tx, event: Any) -> None:
        invoice_id = str(event.originator_id)
        rectifies = event.rectifies or {}
        rectified_id = rectifies.get("invoice_id")
        root_id = invoice_id
        if rectified_id is not None:
            root = tx.scalar(f"SELECT root_id FROM {INVOICES} WHERE id = ?", (rectified_id,))
            root_id = str(root or rectified_id)
        tx.execute(
            f"INSERT INTO {INVOICES} (id, status, customer_id, currency, due_date,"
            " rectifies_id, method, root_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                invoice_id,
                DRAFT,
                sql_text(event.customer_id),
                event.currency,
                None,
                rectified_id,
                rectifies.get("method"),
                root_id,
            ),
        )

    def _invoice_updated(self, tx: Tx, event: Any) -> None:
        wanted = ("customer_id", "currency", "due_date")
        changes = {k: v for k, v in dict(event.changes).items() if k in wanted}
        if "customer_id" in changes:
            changes["customer_id"] = sql_text(changes["customer_id"])
        self._set(tx, INVOICES, str(event.originator_id), changes)

    def _invoice_issued(self, tx: Tx, event: Any) -> None:
        invoice_id = str(event.originator_id)
        draft = tx.one(
            f"SELECT customer_id, currency, due_date, rectifies_id, method FROM {INVOICES}"
            " WHERE id = ?",
            (invoice_id,),
        )
        if draft is None:
            raise LookupError(f"invoice {invoice_id} was issued without a draft")
        customer_id, currency, due_date, rectified_id, method = draft
        owner = None
        if customer_id is not None:
            owner = tx.scalar(f"SELECT owner FROM {CUSTOMERS} WHERE id = ?", (customer_id,))
        totals = dict(event.totals)
        base, tax = cents(totals["base_total"]) or 0, cents(totals["tax_total"]) or 0
        total = cents(totals["total"]) or 0
        net_base, net_total = base, total
        day = str(event.issue_date)
        fact = {
            "customer_id": customer_id,
            "owner": owner,
            "currency": currency,
            "issue_date": day,
        }
        rows = [
            (
                invoice_id,
                index,
                1,
                line.get("product_id"),
                *fact.values(),
                cents(line_base) or 0,
                line_cost_cents(line["quantity"], self._cost(tx, line.get("product_id"))),
                0,
            )
            for index, (line, line_base) in enumerate(
                zip(event.lines, totals["line_bases"], strict=True)
            )
        ]
        if method == RectificationMethod.SUBSTITUTION.value and rectified_id is not None:
            replaced = tx.one(
                f"SELECT base_cents, total_cents FROM {INVOICES} WHERE id = ?", (rectified_id,)
            )
            if replaced is None:
                raise LookupError(f"invoice {invoice_id} rectifies unknown {rectified_id}")
            net_base, net_total = base - sql_int(replaced[0]), total - sql_int(replaced[1])
            own_lines = tx.all(
                f"SELECT product_id, base_cents, cost_cents FROM {LINES}"
                " WHERE invoice_id = ? AND own = 1 ORDER BY line_no",
                (rectified_id,),
            )
            for offset, (product_id, line_base, cost) in enumerate(own_lines):
                negated_cost = None if cost is None else -sql_int(cost)
                rows.append(
                    (
                        invoice_id,
                        len(event.lines) + offset,
                        0,
                        product_id,
                        *fact.values(),
                        -sql_int(line_base),
                        negated_cost,
                        0,
                    )
                )
        tx.executemany(
            f"INSERT INTO {LINES} (invoice_id, line_no, own, product_id, customer_id, owner,"
            " currency, issue_date, base_cents, cost_cents, cancelled)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        columns = {
            "status": ISSUED,
            "number": event.number,
            "invoice_type": event.invoice_type,
            "issue_date": day,
            "due_on": due_on(day, due_date),
            "owner": owner,
            "base_cents": base,
            "tax_cents": tax,
            "total_cents": total,
            "net_base_cents": net_base,
            "net_total_cents": net_total,
        }
        self._set(tx, INVOICES, invoice_id, columns)

    @staticmethod
    def _cost(tx: Tx, product_id: str | None) -> str | None:
        if product_id is None:
            return None
        return sql_text(tx.scalar(f"SELECT cost FROM {PRODUCTS} WHERE id = ?", (product_id,)))

    def _invoice_cancelled(self, tx: Tx, event: Any) -> None:
        invoice_id = str(event.originator_id)
        self._set(tx, INVOICES, invoice_id, {"status": CANCELLED})
        tx.execute(f"UPDATE {LINES} SET cancelled = 1 WHERE invoice_id = ?", (invoice_id,))

    def _payment_allocated(self, tx: Tx, event: Any) -> None:
        tx.execute(
            f"INSERT INTO {ALLOCATIONS} (invoice_id, payment_id, amount_cents) VALUES (?, ?, ?)"
            " ON CONFLICT (invoice_id, payment_id) DO UPDATE SET amount_cents ="
            " excluded.amount_cents",
            (str(event.originator_id), str(event.payment_id), cents(event.allocated)),
        )

    def _payment_removed(self, tx: Tx, event: Any) -> None:
        tx.execute(
            f"DELETE FROM {ALLOCATIONS} WHERE invoice_id = ? AND payment_id = ?",
            (str(event.originator_id), str(event.payment_id)),
        )

    def _payment_recorded(self, tx: Tx, event: Any) -> None:
        tx.execute(
            f"INSERT INTO {PAYMENTS} (id, received_on) VALUES (?, ?)",
            (str(event.originator_id), str(event.received_on)),
        )

    # -- pipelines and deals ------------------------------------------------------------

    def _insert_stages(self, tx: Tx, pipeline_id: str, stages: Iterable[Any]) -> None:
        tx.executemany(
            f"INSERT INTO {STAGES} (pipeline_id, stage_id, probability, forecast_category)"
            " VALUES (?, ?, ?, ?)",
            [
                (pipeline_id, s["stage_id"], int(s["probability"]), s["forecast_category"])
                for s in stages
            ],
        )

    def _pipeline_created(self, tx: Tx, event: Any) -> None:
        self._insert_stages(tx, str(event.originator_id), event.stages)

    def _stage_added(self, tx: Tx, event: Any) -> None:
        self._insert_stages(tx, str(event.originator_id), [event.stage])

    def _deal_created(self, tx: Tx, event: Any) -> None:
        tx.execute(
            f"INSERT INTO {DEALS} (id, pipeline_id, stage_id, status, amount_cents, currency,"
            " owner, expected_close, created_at, closed_at) VALUES (?,?,?,?,?,?,?,?,?,NULL)",
            (
                str(event.originator_id),
                str(event.pipeline_id),
                str(event.stage_id),
                OPEN,
                cents(event.amount),
                event.currency,
                event.owner,
                event.expected_close,
                event.at,
            ),
        )

    def _deal_updated(self, tx: Tx, event: Any) -> None:
        columns: dict[str, Any] = {}
        for field, value in dict(event.changes).items():
            if field == "amount":
                columns["amount_cents"] = cents(value)
            elif field in ("currency", "owner", "expected_close"):
                columns[field] = value
        self._set(tx, DEALS, str(event.originator_id), columns)

    def _deal_amount(self, tx: Tx, event: Any) -> None:
        self._set(tx, DEALS, str(event.originator_id), {"amount_cents": cents(event.amount)})

    def _deal_moved(self, tx: Tx, event: Any) -> None:
        self._set(tx, DEALS, str(event.originator_id), {"stage_id": str(event.stage_id)})

    def _deal_won(self, tx: Tx, event: Any) -> None:
        self._set(tx, DEALS, str(event.originator_id), {"status": WON, "closed_at": event.at})

    def _deal_lost(self, tx: Tx, event: Any) -> None:
        self._set(tx, DEALS, str(event.originator_id), {"status": LOST, "closed_at": event.at})

    def _deal_reopened(self, tx: Tx, event: Any) -> None:
        self._set(tx, DEALS, str(event.originator_id), {"status": OPEN, "closed_at": None})

    # -- activities ---------------------------------------------------------------------

    def _activity_logged(self, tx: Tx, event: Any) -> None:
        tx.execute(
            f"INSERT INTO {ACTIVITIES} (id, kind, actor, assignee, at, cancelled)"
            " VALUES (?, ?, ?, ?, ?, 0)",
            (
                str(event.originator_id),
                event.kind,
                event.actor,
                event.assignee,
                event.occurred_at or event.logged_at,
            ),
        )

    def _activity_updated(self, tx: Tx, event: Any) -> None:
        changes = dict(event.changes)
        if changes.get("occurred_at") is not None:
            self._set(tx, ACTIVITIES, str(event.originator_id), {"at": changes["occurred_at"]})

    def _activity_reassigned(self, tx: Tx, event: Any) -> None:
        self._set(tx, ACTIVITIES, str(event.originator_id), {"assignee": event.assignee})

    def _activity_cancelled(self, tx: Tx, event: Any) -> None:
        self._set(tx, ACTIVITIES, str(event.originator_id), {"cancelled": 1})
