"""``create_app(settings)``: builds the whole HTTP service. Nothing runs at import."""

from __future__ import annotations

import gc
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from crm_ledger import __version__
from crm_ledger.api import permissions, problems
from crm_ledger.api.deps import PrincipalCache
from crm_ledger.api.drain import Drain
from crm_ledger.api.edge import EdgeMiddleware
from crm_ledger.api.routers import activities as activity_routes
from crm_ledger.api.routers import alarms as alarm_routes
from crm_ledger.api.routers import auth as auth_routes
from crm_ledger.api.routers import campaigns as campaign_routes
from crm_ledger.api.routers import cases as case_routes
from crm_ledger.api.routers import changes as change_routes
from crm_ledger.api.routers import consent_purposes as consent_purpose_routes
from crm_ledger.api.routers import consents as consent_routes
from crm_ledger.api.routers import contacts, deals, health, pipelines
from crm_ledger.api.routers import delivery_notes as delivery_note_routes
from crm_ledger.api.routers import duplicates as duplicate_routes
from crm_ledger.api.routers import invoices as invoice_routes
from crm_ledger.api.routers import issuers as issuer_routes
from crm_ledger.api.routers import leads as lead_routes
from crm_ledger.api.routers import ledger as ledger_routes
from crm_ledger.api.routers import orders as order_routes
from crm_ledger.api.routers import payments as payment_routes
from crm_ledger.api.routers import personal_data as personal_data_routes
from crm_ledger.api.routers import pipeline_reports as pipeline_report_routes
from crm_ledger.api.routers import price_lists as price_list_routes
from crm_ledger.api.routers import products as product_routes
from crm_ledger.api.routers import purchase_invoices as purchase_invoice_routes
from crm_ledger.api.routers import quotes as quote_routes
from crm_ledger.api.routers import reports as report_routes
from crm_ledger.api.routers import segments as segment_routes
from crm_ledger.api.routers import suppliers as supplier_routes
from crm_ledger.api.routers import surveys as survey_routes
from crm_ledger.api.routers import timelines as timeline_routes
from crm_ledger.api.routers import webhooks as webhook_routes
from crm_ledger.api.routing import include
from crm_ledger.api.webhook_delivery import WebhookDispatcher
from crm_ledger.application import CrmApplication
from crm_ledger.logging_setup import configure_logging
from crm_ledger.projections import trigram
from crm_ledger.projections.follower import Follower
from crm_ledger.projections.registry import build_all
from crm_ledger.projections.runner import ProjectionRunner
from crm_ledger.settings import Settings, load_settings
from crm_ledger.storage.checkpoints import CheckpointWriter
from crm_ledger.storage.idempotency import IdempotencyStore
from crm_ledger.storage.keystore import KeyStore
from crm_ledger.storage.lease import Lease
from crm_ledger.storage.user_store import UserStore
from crm_ledger.storage.wakeup import wakeup_for
from crm_ledger.storage.webhook_store import WebhookStore

DESCRIPTION = """
An event-sourced CRM whose every change is an immutable, hash-chained, signed event.

* Authenticate with `Authorization: Bearer <api key>`.
* Changes need `If-Match: "<version>"` (the `ETag` you read); 412 when stale, 428 when missing.
* `POST` accepts `Idempotency-Key`; a replay returns the first response.
* Errors are RFC 9457 `application/problem+json`.
"""


def create_app(settings: Settings, *, crm: CrmApplication | None = None) -> FastAPI:
    """Build the FastAPI application for `settings` (connects to the database)."""
    crm = crm or CrmApplication(settings)
    idempotency = IdempotencyStore(crm.db)
    trigram.enable(crm.db, crm.mapper)  # before the projections' DDL: see its docstring
    runners = {name: ProjectionRunner(crm, p) for name, p in build_all(crm.mapper).items()}
    # one process of `serve --workers N` follows the log; the others catch up on demand
    table = crm.recorder.events_table_name  # type: ignore[attr-defined]
    following = Lease(crm.db.datastore, f"crm_ledger.projections:{table}")
    follower = Follower(
        crm,
        list(runners.values()),
        poll_seconds=settings.projection_poll_seconds,
        follow=following.held,
    )
    webhook_store = WebhookStore(crm.db)
    user_store = UserStore(crm.db)
    # one process of `serve --workers N` delivers webhooks
    delivering = Lease(crm.db.datastore, f"crm_ledger.webhooks:{table}")
    dispatcher = WebhookDispatcher(
        crm,
        webhook_store,
        allow_local=settings.webhook_allow_local,
        timeout=settings.webhook_timeout_seconds,
        deliver=delivering.held,
    )
    # on PostgreSQL both loops start at once when events are written (LISTEN)
    wakeup = wakeup_for(crm.recorder, [follower.wake, dispatcher.wake])
    if wakeup is not None:
        follower.listening = wakeup.listening
    ledger = crm.ledger_store()
    keystore = KeyStore(settings.data_dir / "keys")
    keystore.ensure_key()
    checkpoints = CheckpointWriter(ledger, keystore, crm.origin, settings.data_dir / "anchors")
    drain = Drain()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        checkpoints.cut(force=True)  # seal any tail left unsealed by a previous run
        checkpoints.start(settings.checkpoint_interval_seconds, settings.checkpoint_max_events)
        follower.start()
        dispatcher.start()
        if wakeup is not None:
            wakeup.start()
        drain.watch_signals()  # on SIGTERM: Connection: close on every response (api/drain.py)
        try:
            yield
        finally:
            await drain.close(timeout=5)  # refuse late requests; seal after the last write
            if wakeup is not None:
                wakeup.stop()
            follower.stop()
            following.close()
            dispatcher.stop()
            delivering.close()
            checkpoints.stop()
            drain.unwatch_signals()

    app = FastAPI(
        title="crm_ledger",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        license_info={"name": "Apache-2.0", "identifier": "Apache-2.0"},
    )
    app.state.crm = crm
    app.state.idempotency = idempotency
    app.state.settings = settings
    app.state.runners = runners
    app.state.user_store = user_store
    app.state.ledger = ledger
    app.state.keystore = keystore
    app.state.checkpoints = checkpoints
    app.state.webhook_store = webhook_store
    app.state.webhook_dispatcher = dispatcher
    app.state.wakeup = wakeup
    app.state.principals = PrincipalCache(settings.api_key_cache_seconds)
    problems.install(app)
    permissions.install(app)  # before the routers: every route is checked
    include(app, health.router)
    include(app, auth_routes.router)
    include(app, auth_routes.users_router)
    include(app, contacts.router)
    include(app, duplicate_routes.router)
    include(app, consent_routes.router)
    include(app, consent_purpose_routes.router)
    include(app, personal_data_routes.router)
    include(app, segment_routes.router)
    include(app, pipelines.router)
    include(app, deals.router)
    include(app, pipeline_report_routes.router)
    include(app, report_routes.router)
    include(app, activity_routes.router)
    include(app, timeline_routes.router)
    include(app, lead_routes.router)
    include(app, case_routes.router)
    include(app, survey_routes.router)
    include(app, campaign_routes.router)
    include(app, product_routes.router)
    include(app, price_list_routes.router)
    include(app, issuer_routes.router)
    include(app, invoice_routes.router)
    include(app, payment_routes.router)
    include(app, alarm_routes.router)
    include(app, quote_routes.router)
    include(app, order_routes.router)
    include(app, delivery_note_routes.router)
    include(app, supplier_routes.router)
    include(app, purchase_invoice_routes.router)
    include(app, ledger_routes.router)
    include(app, change_routes.router)
    include(app, webhook_routes.router)
    app.add_middleware(
        EdgeMiddleware, max_body=settings.max_body_bytes, idempotency=idempotency, drain=drain
    )
    return app


#: how long a server process's threads may hold the interpreter lock while another waits
SWITCH_INTERVAL_SECONDS = 0.0005


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (each worker process builds its own app)."""
    settings = load_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    app = create_app(settings)
    # The server keeps what it has built so far (modules, routes, models: ~160,000
    # objects) for the whole life of the process: take it out of the collector's full
    # passes, which would otherwise walk all of it every time (docs/performance.md).
    gc.collect()
    gc.freeze()
    # The event loop thread gives up the interpreter lock at every socket call and waits
    # for it back while the projection and checkpoint threads compute: at most this long
    # (Python's default is 5 ms). Shorter waits cut the tail of busy requests.
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    return app
