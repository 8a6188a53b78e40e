"""The pipeline, reporting, pipelines and deals read models built incrementally equal a
rebuild from 0.

Hypothesis draws a history of sales and invoicing commands run through the application
services (contacts and their owners, merges, products and their costs, pipelines and
their stages, deals with moves, wins, losses, reopenings and product lines, invoices
drafted, issued, cancelled and rectified by differences or substitution, payments
allocated, taken back and voided, activities logged, re-dated, reassigned and
cancelled); refused commands record nothing. The live runners catch up at random points
with random batch sizes (process some, write more, process more); at the end they catch
up, every table of these read models is read (all rows, all columns), each read model is
rebuilt from position 0 into fresh tables (sometimes after an interrupted first rebuild
that is then resumed with more events written meanwhile), and the tables must be equal.
On SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from eventsourcing.domain import Aggregate
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crm_ledger import activities as activity_cases
from crm_ledger import catalog, invoicing, payments, sales
from crm_ledger.application import CrmApplication
from crm_ledger.domain.activity import Activity
from crm_ledger.domain.deal import Deal
from crm_ledger.domain.errors import DomainError
from crm_ledger.domain.invoice import Invoice
from crm_ledger.domain.payment import Payment
from crm_ledger.domain.pipeline import Pipeline
from crm_ledger.merge import merge_contacts
from tests.property.projection_helpers import (
    application,
    catch_up,
    interrupt_rebuilds,
    positions,
    rebuild,
    table_contents,
)

ACTOR = "user:prop"
NAMES = ("pipeline", "reporting", "pipelines", "deals")
PATTERN = "{series}-{year}-{number:06d}"
STAGES = [
    {"name": "Qualified", "probability": 20, "forecast_category": "pipeline"},
    {"name": "Proposal", "probability": 50, "forecast_category": "best_case"},
    {"name": "Negotiation", "probability": 80, "forecast_category": "commit"},
]
Command = tuple[Any, ...]
A = TypeVar("A", bound=Aggregate)

pick = st.integers(min_value=0, max_value=50)
owners = st.sampled_from([None, "ana", "bob"])
money = st.sampled_from(["0.00", "10.00", "333.33", "1000.00", "0.01", "12.345"])
amounts = st.sampled_from([None, "1000.00", "333.33", "0.01", "250.00"])
costs = st.sampled_from([None, "9.00", "0.01", "30.00"])
quantities = st.sampled_from(["1", "2", "3", "0.5"])
prices = st.sampled_from(["10.00", "10.015", "99.99", "250.00"])  # 10.015: deals refuse
currencies = st.sampled_from(["EUR", "EUR", "USD"])
closes = st.sampled_from([None, "2025-07-15", "2025-03-31", "2026-01-01"])
stage_names = st.sampled_from(["Won back", "Demo", "Proposal", "Trial"])
probabilities = st.sampled_from([0, 10, 50, 90, 100])
moments = st.sampled_from([None, "2025-03-01T09:00:00Z", "2025-02-28T23:30:00-02:00"])
deal_changes = st.one_of(
    st.fixed_dictionaries({"amount": money}),
    st.fixed_dictionaries({"owner": owners}),
    st.fixed_dictionaries({"expected_close": closes}),
    st.fixed_dictionaries({"title": st.sampled_from(["Big one", "Renewal"])}),
    st.fixed_dictionaries({"currency": currencies}),
    st.fixed_dictionaries({"amount": st.none(), "currency": currencies}),
)


def weighted(*choices: tuple[int, st.SearchStrategy[Command]]) -> st.SearchStrategy[Command]:
    """One of `choices`, each drawn about in proportion to its weight (creations and
    the commands that change what the reports show come more often than the rest)."""
    pool = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.sampled_from(pool).flatmap(lambda strategy: strategy)


commands: st.SearchStrategy[Command] = weighted(
    # contacts and products (whose owner and cost an issued invoice's facts read)
    (2, st.tuples(st.just("contact"), st.sampled_from(["organisation", "person"]), owners)),
    (2, st.tuples(st.just("owner"), pick, owners)),
    (1, st.tuples(st.just("merge"), pick, pick)),
    (1, st.tuples(st.just("product"), costs)),
    (2, st.tuples(st.just("cost"), pick, costs)),
    # pipelines
    (1, st.tuples(st.just("pipeline"))),
    (1, st.tuples(st.just("stage_add"), pick, stage_names, probabilities)),
    (1, st.tuples(st.just("stage_rename"), pick, pick, stage_names)),
    (1, st.tuples(st.just("stage_reorder"), pick, st.integers(min_value=1, max_value=3))),
    (1, st.tuples(st.just("stage_retire"), pick, pick)),
    # deals
    (
        5,
        st.tuples(st.just("deal"), pick, pick, pick, amounts, currencies, owners, closes),
    ),
    (2, st.tuples(st.just("deal_update"), pick, deal_changes)),
    (3, st.tuples(st.just("move"), pick, pick)),
    (3, st.tuples(st.just("win"), pick)),
    (2, st.tuples(st.just("lose"), pick)),
    (1, st.tuples(st.just("reopen"), pick)),
    (2, st.tuples(st.just("line_add"), pick, st.none() | pick, quantities, prices)),
    (1, st.tuples(st.just("line_update"), pick, pick, quantities)),
    (1, st.tuples(st.just("line_remove"), pick, pick)),
    # invoices
    (
        4,
        st.tuples(
            st.just("draft"),
            pick,
            st.lists(st.tuples(st.none() | pick, quantities, prices), min_size=1, max_size=3),
            currencies,
            st.sampled_from([None, "2025-06-30"]),
        ),
    ),
    (1, st.tuples(st.just("draft_update"), pick, st.sampled_from([None, "2025-12-31"]), pick)),
    (5, st.tuples(st.just("issue"), pick)),
    (1, st.tuples(st.just("cancel"), pick)),
    (2, st.tuples(st.just("rectify"), pick, st.sampled_from(["differences", "substitution"]))),
    (1, st.tuples(st.just("credit"), pick, quantities)),
    # payments
    (3, st.tuples(st.just("pay"), pick, money)),
    (1, st.tuples(st.just("allocate"), pick, pick, money)),
    (1, st.tuples(st.just("deallocate"), pick, pick)),
    (1, st.tuples(st.just("void"), pick)),
    # activities
    (
        2,
        st.tuples(st.just("log"), st.sampled_from(["call", "task", "note"]), pick, moments, owners),
    ),
    (1, st.tuples(st.just("redate"), pick, moments)),
    (1, st.tuples(st.just("reassign"), pick, owners)),
    (1, st.tuples(st.just("activity_cancel"), pick)),
    # the live runners catch up part of the way
    (3, st.tuples(st.just("sync"), st.integers(min_value=1, max_value=9), st.integers(1, 4))),
)


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
    ids=["sqlite", "postgres"],
)
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """A factory of fresh, empty databases (one per Hypothesis example).

    On PostgreSQL one database is created for the test and each call empties it (its
    ``public`` schema dropped and created again): much cheaper than a database per
    example on a loaded machine, and as empty."""
    if request.param == "sqlite":
        return lambda: f"sqlite:///{tmp_path}/{uuid.uuid4().hex}.db"
    factory: Callable[[], str] = request.getfixturevalue("postgres_database_factory")
    url = factory()

    def emptied() -> str:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
        return url

    return emptied


class References:
    """The merge's `ReferenceFinder`: every known contact and activity (the merge loads
    each and relinks only those that really refer to the duplicate)."""

    def __init__(self, history: History) -> None:
        self.history = history

    def members(self, organisation_id: uuid.UUID) -> list[uuid.UUID]:
        return list(self.history.contacts)

    def activities(self, contact_id: uuid.UUID) -> list[uuid.UUID]:
        return list(self.history.activities)

    def cases(self, contact_id: uuid.UUID) -> list[uuid.UUID]:
        return []  # this history opens no cases

    def answers(self, contact_id: uuid.UUID) -> list[uuid.UUID]:
        return []  # nor records NPS answers

    def responses(self, contact_id: uuid.UUID) -> list[uuid.UUID]:
        return []  # nor campaign responses


class History:
    """Runs drawn commands through the use cases; ids of what exists are kept so later
    commands can pick them (modulo how many there are)."""

    def __init__(self, crm: CrmApplication) -> None:
        self.crm = crm
        self.contacts: list[uuid.UUID] = []
        self.products: list[uuid.UUID] = []
        self.pipelines: list[uuid.UUID] = []
        self.deals: list[uuid.UUID] = []
        self.invoices: list[uuid.UUID] = []
        self.payments: list[uuid.UUID] = []
        self.activities: list[uuid.UUID] = []
        self.refused: list[tuple[Command, str]] = []
        issuer = invoicing.register_issuer(
            crm,
            actor=ACTOR,
            legal_name="Acme SL",
            tax_id="B12345678",
            series=[{"code": "A", "pattern": PATTERN}],
        )
        self.issuer = issuer.aggregate.id
        self.do_pipeline()
        self.do_contact("organisation", "ana")
        self.do_contact("organisation", None)
        self.do_product("9.00")

    def run(self, command: Command) -> None:
        try:
            getattr(self, f"do_{command[0]}")(*command[1:])
        except DomainError as refusal:  # refused: nothing recorded, nothing to project
            self.refused.append((command, type(refusal).__name__))

    @staticmethod
    def _pick(ids: list[uuid.UUID], index: int | None) -> uuid.UUID | None:
        return ids[index % len(ids)] if ids and index is not None else None

    def _version(self, aggregate_id: uuid.UUID) -> int:
        return int(self.crm.repository.get(aggregate_id).version)

    def _load(self, cls: type[A], aggregate_id: uuid.UUID) -> A:
        aggregate: Aggregate = self.crm.repository.get(aggregate_id)
        assert isinstance(aggregate, cls)
        return aggregate

    # -- contacts and products ----------------------------------------------------------

    def do_contact(self, kind: str, owner: str | None) -> None:
        number = len(self.contacts) + 1
        written = self.crm.register_contact(
            actor=ACTOR,
            kind=kind,
            name=f"Cliente {number}",
            tax_id=f"A{number:08d}",
            owner=owner,
        )
        self.contacts.append(written.aggregate.id)

    def do_owner(self, index: int, owner: str | None) -> None:
        if (cid := self._pick(self.contacts, index)) is not None:
            self.crm.update_contact(
                cid, expected_version=self._version(cid), actor=ACTOR, changes={"owner": owner}
            )

    def do_merge(self, first: int, second: int) -> None:
        survivor, duplicate = self._pick(self.contacts, first), self._pick(self.contacts, second)
        if survivor is not None and duplicate is not None:
            merge_contacts(
                self.crm,
                survivor,
                duplicate_id=duplicate,
                expected_version=self._version(survivor),
                actor=ACTOR,
                references=References(self),
            )

    def do_product(self, cost: str | None) -> None:
        written = catalog.create_product(
            self.crm,
            actor=ACTOR,
            sku=f"P-{len(self.products) + 1}",
            name=f"Product {len(self.products) + 1}",
            cost=cost,
        )
        self.products.append(written.aggregate.id)

    def do_cost(self, index: int, cost: str | None) -> None:
        if (pid := self._pick(self.products, index)) is not None:
            catalog.update_product(
                self.crm,
                pid,
                expected_version=self._version(pid),
                actor=ACTOR,
                changes={"cost": cost},
            )

    # -- pipelines ----------------------------------------------------------------------

    def do_pipeline(self) -> None:
        written = sales.create_pipeline(
            self.crm, name=f"Pipeline {len(self.pipelines) + 1}", stages=STAGES, actor=ACTOR
        )
        self.pipelines.append(written.aggregate.id)

    def _stage(self, pipeline_id: uuid.UUID, index: int, *, active: bool = False) -> str:
        pipeline = self._load(Pipeline, pipeline_id)
        ids = pipeline.active_stage_ids if active else [s["stage_id"] for s in pipeline.stages]
        return str(ids[index % len(ids)])

    def do_stage_add(self, index: int, name: str, probability: int) -> None:
        if (pid := self._pick(self.pipelines, index)) is not None:
            sales.add_stage(
                self.crm,
                pid,
                expected_version=self._version(pid),
                actor=ACTOR,
                name=name,
                probability=probability,
                forecast_category="pipeline",
            )

    def do_stage_rename(self, index: int, stage: int, name: str) -> None:
        if (pid := self._pick(self.pipelines, index)) is not None:
            sales.rename_stage(
                self.crm,
                pid,
                self._stage(pid, stage),
                expected_version=self._version(pid),
                actor=ACTOR,
                name=name,
            )

    def do_stage_reorder(self, index: int, shift: int) -> None:
        if (pid := self._pick(self.pipelines, index)) is not None:
            pipeline = self._load(Pipeline, pid)
            active = pipeline.active_stage_ids
            shift %= len(active)
            sales.reorder_stages(
                self.crm,
                pid,
                expected_version=self._version(pid),
                actor=ACTOR,
                stage_ids=[*active[shift:], *active[:shift]],
            )

    def do_stage_retire(self, index: int, stage: int) -> None:
        if (pid := self._pick(self.pipelines, index)) is not None:
            sales.retire_stage(
                self.crm,
                pid,
                self._stage(pid, stage),
                expected_version=self._version(pid),
                actor=ACTOR,
            )

    # -- deals --------------------------------------------------------------------------

    def do_deal(
        self,
        contact: int,
        pipeline: int,
        stage: int,
        amount: str | None,
        currency: str,
        owner: str | None,
        expected_close: str | None,
    ) -> None:
        cid, pid = self._pick(self.contacts, contact), self._pick(self.pipelines, pipeline)
        if cid is None or pid is None:
            return
        written = sales.create_deal(
            self.crm,
            actor=ACTOR,
            title=f"Deal {len(self.deals) + 1}",
            contact_id=cid,
            pipeline_id=pid,
            currency=currency,
            stage_id=self._stage(pid, stage),
            amount=amount,
            expected_close=expected_close,
            owner=owner,
        )
        self.deals.append(written.aggregate.id)

    def _deal(self, index: int) -> Deal | None:
        if (did := self._pick(self.deals, index)) is None:
            return None
        return self._load(Deal, did)

    def do_deal_update(self, index: int, changes: dict[str, Any]) -> None:
        if (deal := self._deal(index)) is not None:
            sales.update_deal(
                self.crm, deal.id, expected_version=deal.version, actor=ACTOR, changes=changes
            )

    def do_move(self, index: int, stage: int) -> None:
        if (deal := self._deal(index)) is not None:
            sales.move_deal(
                self.crm,
                deal.id,
                expected_version=deal.version,
                actor=ACTOR,
                stage_id=self._stage(deal.pipeline_id, stage),
            )

    def do_win(self, index: int) -> None:
        if (deal := self._deal(index)) is not None:
            sales.win_deal(self.crm, deal.id, expected_version=deal.version, actor=ACTOR)

    def do_lose(self, index: int) -> None:
        if (deal := self._deal(index)) is not None:
            sales.lose_deal(
                self.crm, deal.id, expected_version=deal.version, actor=ACTOR, reason="price"
            )

    def do_reopen(self, index: int) -> None:
        if (deal := self._deal(index)) is not None:
            sales.reopen_deal(self.crm, deal.id, expected_version=deal.version, actor=ACTOR)

    def do_line_add(self, index: int, product: int | None, quantity: str, price: str) -> None:
        if (deal := self._deal(index)) is not None:
            sales.add_deal_line(
                self.crm,
                deal.id,
                expected_version=deal.version,
                actor=ACTOR,
                quantity=quantity,
                product_id=self._pick(self.products, product),
                description=None if product is not None and self.products else "Service",
                unit_price=price,
            )

    def _line(self, deal: Deal, index: int) -> uuid.UUID | None:
        if not deal.lines:
            return None
        return uuid.UUID(deal.lines[index % len(deal.lines)]["line_id"])

    def do_line_update(self, index: int, line: int, quantity: str) -> None:
        if (deal := self._deal(index)) is not None and (lid := self._line(deal, line)):
            sales.update_deal_line(
                self.crm,
                deal.id,
                lid,
                expected_version=deal.version,
                actor=ACTOR,
                changes={"quantity": quantity},
            )

    def do_line_remove(self, index: int, line: int) -> None:
        if (deal := self._deal(index)) is not None and (lid := self._line(deal, line)):
            sales.remove_deal_line(
                self.crm, deal.id, lid, expected_version=deal.version, actor=ACTOR
            )

    # -- invoices -----------------------------------------------------------------------

    def _lines(self, spec: list[tuple[int | None, str, str]]) -> list[dict[str, Any]]:
        lines = []
        for product, quantity, price in spec:
            line = {
                "description": "Widget",
                "quantity": quantity,
                "unit_price": price,
                "vat_rate": "21",
            }
            if (pid := self._pick(self.products, product)) is not None:
                line["product_id"] = str(pid)
            lines.append(line)
        return lines

    def do_draft(
        self,
        contact: int,
        spec: list[tuple[int | None, str, str]],
        currency: str,
        due_date: str | None,
    ) -> None:
        if (cid := self._pick(self.contacts, contact)) is None:
            return
        written = invoicing.create_invoice(
            self.crm,
            actor=ACTOR,
            issuer_id=self.issuer,
            series="A",
            customer_id=cid,
            lines=self._lines(spec),
            currency=currency,
            due_date=None if due_date is None else date.fromisoformat(due_date),
        )
        self.invoices.append(written.aggregate.id)

    def _invoice(self, index: int) -> Invoice | None:
        if (iid := self._pick(self.invoices, index)) is None:
            return None
        return self._load(Invoice, iid)

    def do_draft_update(self, index: int, due_date: str | None, contact: int) -> None:
        if (invoice := self._invoice(index)) is not None:
            changes: dict[str, Any] = {"due_date": due_date}
            if (cid := self._pick(self.contacts, contact)) is not None and contact % 2:
                changes["customer_id"] = str(cid)
            invoicing.update_invoice(
                self.crm, invoice.id, expected_version=invoice.version, actor=ACTOR, changes=changes
            )

    def do_issue(self, index: int) -> None:
        if (invoice := self._invoice(index)) is not None:
            invoicing.issue_invoice(
                self.crm,
                invoice.id,
                expected_version=invoice.version,
                actor=ACTOR,
                exchange_rate=None if invoice.currency == "EUR" else Decimal("0.9"),
            )

    def do_cancel(self, index: int) -> None:
        if (invoice := self._invoice(index)) is not None:
            invoicing.cancel_invoice(
                self.crm, invoice.id, expected_version=invoice.version, actor=ACTOR, reason="typo"
            )

    def do_rectify(self, index: int, method: str) -> None:
        if (invoice := self._invoice(index)) is not None:
            lines: list[dict[str, Any]] | None = None
            if method == "substitution":
                lines = [{**line, "quantity": "1"} for line in invoice.lines]
            written = invoicing.rectify_invoice(
                self.crm,
                invoice.id,
                actor=ACTOR,
                invoice_type="R1",
                method=method,
                reason="wrong quantity",
                lines=lines,
            )
            self.invoices.append(written.aggregate.id)

    def do_credit(self, index: int, quantity: str) -> None:
        """A partial credit note (by differences): one line taken back."""
        if (invoice := self._invoice(index)) is not None and invoice.lines:
            line = invoice.lines[0]
            written = invoicing.rectify_invoice(
                self.crm,
                invoice.id,
                actor=ACTOR,
                invoice_type="R1",
                method="differences",
                reason="returned",
                lines=[
                    {
                        "description": line["description"],
                        "quantity": f"-{quantity}",
                        "unit_price": line["unit_price"],
                        "vat_rate": "21",
                        **({"product_id": line["product_id"]} if line.get("product_id") else {}),
                    }
                ],
            )
            self.invoices.append(written.aggregate.id)

    # -- payments -----------------------------------------------------------------------

    def do_pay(self, index: int, amount: str) -> None:
        """A payment by the invoice's customer, allocated to it at once (partly)."""
        invoice = self._invoice(index)
        if invoice is None or invoice.customer_id is None or Decimal(amount) <= 0:
            return
        received = Decimal(amount) * 2
        written = payments.record_payment(
            self.crm,
            actor=ACTOR,
            customer_id=invoice.customer_id,
            method="transfer",
            received_on="2025-06-15",
            amount=f"{received:.2f}",
            currency=invoice.currency,
            allocations=[{"invoice_id": str(invoice.id), "amount": f"{Decimal(amount):.2f}"}],
        )
        self.payments.append(written.aggregate.id)

    def _payment(self, index: int) -> Payment | None:
        if (pid := self._pick(self.payments, index)) is None:
            return None
        return self._load(Payment, pid)

    def do_allocate(self, index: int, invoice_index: int, amount: str) -> None:
        payment, invoice = self._payment(index), self._invoice(invoice_index)
        if payment is not None and invoice is not None:
            payments.allocate_payment(
                self.crm,
                payment.id,
                expected_version=payment.version,
                actor=ACTOR,
                invoice_id=invoice.id,
                amount=amount,
            )

    def do_deallocate(self, index: int, allocation: int) -> None:
        if (payment := self._payment(index)) is not None and payment.allocations:
            keys = sorted(payment.allocations)
            payments.deallocate_payment(
                self.crm,
                payment.id,
                uuid.UUID(keys[allocation % len(keys)]),
                expected_version=payment.version,
                actor=ACTOR,
            )

    def do_void(self, index: int) -> None:
        if (payment := self._payment(index)) is not None:
            payments.void_payment(
                self.crm, payment.id, expected_version=payment.version, actor=ACTOR, reason="error"
            )

    # -- activities ---------------------------------------------------------------------

    def do_log(self, kind: str, contact: int, moment: str | None, assignee: str | None) -> None:
        if (cid := self._pick(self.contacts, contact)) is None:
            return
        fields: dict[str, Any] = (
            {"due_date": "2025-03-05", "assignee": assignee}
            if kind == "task"
            else {"occurred_at": moment}
        )
        written = activity_cases.log_activity(
            self.crm,
            actor=ACTOR,
            kind=kind,
            subject=f"{kind} about it",
            links=[{"type": "contact", "id": str(cid)}],
            **fields,
        )
        self.activities.append(written.aggregate.id)

    def _activity(self, index: int) -> Activity | None:
        if (aid := self._pick(self.activities, index)) is None:
            return None
        return self._load(Activity, aid)

    def do_redate(self, index: int, moment: str | None) -> None:
        if (activity := self._activity(index)) is not None:
            activity_cases.update_activity(
                self.crm,
                activity.id,
                expected_version=activity.version,
                actor=ACTOR,
                changes={"occurred_at": moment},
            )

    def do_reassign(self, index: int, assignee: str | None) -> None:
        if (activity := self._activity(index)) is not None:
            activity_cases.reassign_activity(
                self.crm,
                activity.id,
                expected_version=activity.version,
                actor=ACTOR,
                assignee=assignee,
            )

    def do_activity_cancel(self, index: int) -> None:
        if (activity := self._activity(index)) is not None:
            activity_cases.cancel_activity(
                self.crm, activity.id, expected_version=activity.version, actor=ACTOR
            )

    # -- the live runners ---------------------------------------------------------------

    def do_sync(self, batch_size: int, batches: int) -> None:
        catch_up(self.crm, NAMES, batch_size, batches)


A_SALES_LIFE: list[Command] = [
    ("deal", 0, 0, 0, "1000.00", "EUR", "ana", "2025-07-15"),
    ("line_add", 0, 0, "2", "49.50"),
    ("sync", 2, 1),
    ("move", 0, 1),
    ("stage_add", 0, "Demo", 10),
    ("stage_reorder", 0, 1),
    ("draft", 0, [(0, "2", "99.99"), (None, "1", "10.00")], "EUR", None),
    ("issue", 0),
    ("pay", 0, "10.00"),
    ("sync", 3, 2),
    ("win", 0),
    ("owner", 0, "bob"),
    ("rectify", 0, "substitution"),
    ("issue", 1),
    ("credit", 1, "1"),
    ("issue", 2),
    ("cost", 0, "30.00"),
    ("log", "task", 0, None, "ana"),
    ("reassign", 0, "bob"),
    ("reopen", 0),
    ("lose", 0),
    ("cancel", 2),
    ("stage_retire", 0, 2),
    ("stage_rename", 0, 1, "Trial"),
    ("deal", 1, 0, 0, "250.00", "USD", None, None),
    ("win", 1),
]


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    history=st.lists(commands, min_size=1, max_size=25),
    late=st.lists(commands, max_size=8),
    final_batch=st.integers(min_value=1, max_value=20),
    rebuild_batch=st.integers(min_value=1, max_value=10),
    interrupted_after=st.integers(min_value=0, max_value=3),
    bulk=st.booleans(),
)
# Every kind of followed event, runners catching up inside the story (in batches of
# one at the end), and a rebuild resumed after more events were written:
@example(
    history=A_SALES_LIFE, late=[], final_batch=1, rebuild_batch=3, interrupted_after=0, bulk=True
)
@example(
    history=A_SALES_LIFE,
    late=[
        ("issue", 3),
        ("deallocate", 0, 0),
        ("void", 0),
        ("merge", 0, 1),
        ("deal_update", 0, {"amount": "5.00"}),
    ],
    final_batch=4,
    rebuild_batch=2,
    interrupted_after=2,
    bulk=False,
)
def test_incremental_sales_read_models_equal_a_rebuild(
    new_database: Callable[[], str],
    tmp_path: Path,
    history: list[Command],
    late: list[Command],
    final_batch: int,
    rebuild_batch: int,
    interrupted_after: int,
    bulk: bool,
) -> None:
    """For any history, the pipeline and reporting tables built incrementally equal the
    tables rebuilt from position 0, every row and every column.

    With `interrupted_after`, a first rebuild stops after that many batches and the
    `late` commands run before the rebuild is resumed (so it has events past where it
    stopped). `bulk` lets a ``per_aggregate`` projection use the bulk phase.
    """
    with application(new_database(), tmp_path) as crm:
        runner = History(crm)
        for command in history:
            runner.run(command)
        catch_up(crm, NAMES, final_batch)
        if interrupted_after:
            interrupt_rebuilds(
                crm, NAMES, bulk=bulk, batch_size=rebuild_batch, steps=interrupted_after
            )
        for command in late:
            runner.run(command)
        catch_up(crm, NAMES, final_batch)
        incremental = table_contents(crm, NAMES)
        head = crm.head_position()
        live = {name: p for name, p in positions(crm).items() if name in NAMES}
        assert live == dict.fromkeys(NAMES, head)

        rebuild(crm, NAMES, bulk=bulk, batch_size=rebuild_batch)

        assert table_contents(crm, NAMES) == incremental
        assert positions(crm) == dict.fromkeys(NAMES, head)  # no rebuild left behind


def test_the_story_reaches_every_table(sqlite_url: str, tmp_path: Path) -> None:
    """The explicit example is not vacuous: after it every table of these read models has
    rows, and among them an issued invoice, a cancelled one, a rectification by
    substitution (negated lines), a payment allocation and a lost deal."""
    with application(sqlite_url, tmp_path) as crm:
        runner = History(crm)
        for command in A_SALES_LIFE:
            runner.run(command)
        catch_up(crm, NAMES, 7)
        contents = table_contents(crm, NAMES)
        assert [] == runner.refused
        assert [] == [table for table, rows in contents.items() if not rows]
        with crm.db.transaction(write=False) as tx:
            statuses = {r[0] for r in tx.all("SELECT status FROM proj_report_invoices")}
            methods = {r[0] for r in tx.all("SELECT method FROM proj_report_invoices")}
            negated = tx.scalar("SELECT COUNT(*) FROM proj_report_lines WHERE own = 0")
            deals = tx.all("SELECT status, owner FROM proj_pipeline_deals ORDER BY title")
        assert {"issued", "cancelled"} <= statuses
        assert {"substitution", "differences"} <= methods
        assert negated > 0
        assert [("lost", "ana"), ("won", None)] == deals


def test_contents_differ_when_a_row_is_changed(sqlite_url: str, tmp_path: Path) -> None:
    """The comparison can fail: a changed cell in one table is seen."""
    with application(sqlite_url, tmp_path) as crm:
        History(crm)
        catch_up(crm, NAMES, 5)
        before = table_contents(crm, NAMES)
        with crm.db.transaction() as tx:
            tx.execute("UPDATE proj_pipeline_stages SET probability = probability + 1")
        assert table_contents(crm, NAMES) != before
