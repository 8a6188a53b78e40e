"""``crm-ledger``: serve, bootstrap, API keys, signing keys, export and verify.

Exit codes (every command):
  0  success
  1  verify: events altered, missing, reordered or inserted
  2  verify: a signature or key problem
  3  verify: a fork or inconsistent checkpoints
  4  verify: truncation or rollback
  5  usage or configuration error
  6  the operation was refused (unknown id, rule violated)
  7  the database cannot be reached
  8  import: some rows were rejected (listed in the rejects report); the others were imported
  9  projections/rebuild: a projection stopped at an event it cannot apply (see status)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from uuid import UUID

import click
from eventsourcing.persistence import InterfaceError, OperationalError

from crm_ledger.domain.errors import DomainError
from crm_ledger.settings import ConfigurationError, Settings, load_settings
from crm_ledger.storage.sqlite_ledger import MigrationError

EXIT_OK = 0
EXIT_USAGE = 5
EXIT_REFUSED = 6
EXIT_DATABASE = 7
EXIT_REJECTED = 8
EXIT_PROJECTION_FAILED = 9
SYSTEM_ACTOR = "system:cli"
SHUTDOWN_DRAIN_SECONDS = 20  # serve: in-flight requests get this long after SIGTERM

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int) -> None:
    """Print `message` to stderr and exit with `code`."""
    click.echo(f"crm-ledger: {message}", err=True)
    sys.exit(code)


@contextmanager
def guarded() -> Iterator[None]:
    """Map typed errors to the documented exit codes."""
    try:
        yield
    except ConfigurationError as exc:
        fail(str(exc), EXIT_USAGE)
    except DomainError as exc:
        fail(exc.detail, EXIT_REFUSED)
    except (OperationalError, InterfaceError) as exc:
        fail(f"database unavailable: {exc}".splitlines()[0], EXIT_DATABASE)
    except MigrationError as exc:
        fail(
            f"the SQLite file's ledger cannot be migrated, nothing was changed: {exc}", EXIT_REFUSED
        )


def settings_from(database: str | None) -> Settings:
    """Settings from the environment, with ``--database`` taking precedence."""
    overrides: dict[str, Any] = {}
    if database:
        overrides["database_url"] = database
    return load_settings(**overrides)


class ExitCodeGroup(click.Group):
    """A click group whose usage errors exit with 5, as documented."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            return super().main(*args, **kwargs)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            exc.show()
            sys.exit(EXIT_USAGE)
        except click.Abort:
            click.echo("aborted", err=True)
            sys.exit(EXIT_USAGE)


@click.group(cls=ExitCodeGroup, help=__doc__)
@click.version_option(package_name="crm-ledger")
def main() -> None:
    """crm-ledger command line."""


database_option = click.option(
    "--database",
    "database",
    default=None,
    metavar="URL",
    help="Database URL (default: CRM_DATABASE_URL or sqlite:///./var/crm.db).",
)


@main.command()
@database_option
def init(database: str | None) -> None:
    """Create the schema; issue a first admin API key if none exists (printed once)."""
    from crm_ledger.application import CrmApplication

    with guarded():
        crm = CrmApplication(settings_from(database))
        _bootstrap(crm)


def _bootstrap(crm: Any) -> None:
    from crm_ledger.projections.contacts import ContactsProjection
    from crm_ledger.projections.registry import prepare
    from crm_ledger.projections.runner import ProjectionRunner
    from crm_ledger.storage.idempotency import IdempotencyStore
    from crm_ledger.storage.keystore import KeyStore

    IdempotencyStore(crm.db)
    prepare(crm)
    ProjectionRunner(crm, ContactsProjection(crm.mapper))
    keystore = KeyStore(crm.settings.data_dir / "keys")
    created = keystore.ensure_key()
    if created:
        click.echo(f"generated signing key {created} in {keystore.directory}")
    if crm.api_keys():
        click.echo("schema ready; API keys already exist (crm-ledger api-keys list)")
        return
    key, token = crm.issue_api_key(name="bootstrap admin", role="admin", actor="system:init")
    click.echo(f"First admin API key (id {key.id}); shown once, only its hash is stored:")
    click.echo(token)


@main.command()
@click.option("--host", default=None, help="Listen address (CRM_HOST, default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (CRM_PORT, default 8000).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--http",
    "http",
    default="httptools",
    show_default=True,
    type=click.Choice(["httptools", "h11"]),
    help="httptools (C parser) on uvloop, or pure-Python h11 on asyncio's event loop.",
)
@database_option
def serve(
    host: str | None, port: int | None, workers: int, http: str, database: str | None
) -> None:
    """Serve the HTTP API (bootstraps the schema first)."""
    import signal

    from crm_ledger import serving
    from crm_ledger.application import CrmApplication

    with guarded():
        settings = settings_from(database)
        if workers > 1 and settings.database_url.startswith("sqlite"):
            fail("--workers > 1 needs PostgreSQL (SQLite has a single writer)", EXIT_USAGE)
        crm = CrmApplication(settings)
        _bootstrap(crm)
        crm.close()
    if database:
        os.environ["CRM_DATABASE_URL"] = database
    if workers == 1:
        # uvicorn drains, puts back the handler it found and raises the signal again: with
        # the default one that is death by SIGTERM (143) after a clean drain. Exit 0 instead.
        # (With --workers N the supervisor has its own handlers and exits 0.)
        signal.signal(signal.SIGTERM, _stopped)
    serving.run(  # uvicorn.run, with TCP_NODELAY kept under --workers N
        "crm_ledger.api.app:app_from_env",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level=settings.log_level.lower(),
        access_log=False,
        # Bounded drain on SIGTERM: uvicorn never tells a connection accepted while it
        # starts shutting down to close, and without a bound it waits for it forever
        # (a busy keep-alive client keeps it open). Then the tail is sealed and we exit.
        timeout_graceful_shutdown=SHUTDOWN_DRAIN_SECONDS,
        **serving.STACKS[http],
    )


def _stopped(_signum: int, _frame: object) -> None:
    """SIGTERM outside uvicorn's own handling (after its drain, or before it started)."""
    raise SystemExit(EXIT_OK)


@main.group("api-keys")
def api_keys() -> None:
    """Issue, list and revoke API keys."""


@api_keys.command("create")
@click.option("--name", required=True, help="What the key is for.")
@click.option(
    "--role",
    default="admin",
    show_default=True,
    type=click.Choice(["admin", "sales", "accountant", "auditor"]),
)
@database_option
def api_keys_create(name: str, role: str, database: str | None) -> None:
    """Issue a key; the key itself is printed alone on the last line."""
    from crm_ledger.application import CrmApplication

    with guarded():
        crm = CrmApplication(settings_from(database))
        key, token = crm.issue_api_key(name=name, role=role, actor=SYSTEM_ACTOR)
        click.echo(f"issued API key {key.id} ({role}); it is shown only now:", err=True)
        click.echo(token)


@api_keys.command("list")
@database_option
def api_keys_list(database: str | None) -> None:
    """List keys (id, role, status, name); secrets are never shown."""
    from crm_ledger.application import CrmApplication

    with guarded():
        crm = CrmApplication(settings_from(database))
        for key in crm.api_keys():
            status = "revoked" if key.revoked else "active"
            click.echo(f"{key.id}\t{key.role}\t{status}\t{key.name}")


@api_keys.command("revoke")
@click.argument("key_id", type=click.UUID)
@database_option
def api_keys_revoke(key_id: UUID, database: str | None) -> None:
    """Revoke a key by id; the webhook endpoints it registered are disabled with it."""
    from crm_ledger.application import CrmApplication
    from crm_ledger.webhooks import revoke_api_key

    with guarded():
        crm = CrmApplication(settings_from(database))
        _, disabled = revoke_api_key(crm, key_id, actor=SYSTEM_ACTOR)
        click.echo(f"revoked {key_id}")
        for endpoint in disabled:
            click.echo(f"disabled webhook endpoint {endpoint.id} ({endpoint.url})")


@main.group("users")
def users_group() -> None:
    """Create accounts for people who log in (POST /auth/login)."""


@users_group.command("create")
@click.argument("username")
@click.option(
    "--role",
    default="sales",
    show_default=True,
    type=click.Choice(["admin", "sales", "accountant", "auditor"]),
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@database_option
def users_create(username: str, role: str, password_stdin: bool, database: str | None) -> None:
    """Create an account; without --password-stdin a password is generated and printed
    alone on the last line (shown only now)."""
    import secrets

    from crm_ledger.application import CrmApplication
    from crm_ledger.storage.user_store import UserStore
    from crm_ledger.users import create_user

    with guarded():
        password = (
            sys.stdin.readline().rstrip("\n") if password_stdin else secrets.token_urlsafe(18)
        )
        crm = CrmApplication(settings_from(database))
        written = create_user(
            crm,
            UserStore(crm.db),
            username=username,
            role=role,
            password=password,
            actor=SYSTEM_ACTOR,
        )
        click.echo(f"created user {username} ({role}), id {written.aggregate.id}", err=True)
        if not password_stdin:
            click.echo(password)


# -- signing keys -------------------------------------------------------------------


def _keystore(data_dir: str | None) -> Any:
    from pathlib import Path

    from crm_ledger.storage.keystore import KeyStore

    base = Path(data_dir) if data_dir else load_settings().data_dir
    return KeyStore(base / "keys")


data_dir_option = click.option(
    "--data-dir", default=None, metavar="DIR", help="Data directory (default: CRM_DATA_DIR)."
)


@main.group("keys")
def keys_group() -> None:
    """Manage the Ed25519 checkpoint signing keys and the public key manifest."""


@contextmanager
def key_errors() -> Iterator[None]:
    from crm_ledger.storage.keystore import KeyStoreError

    with guarded():
        try:
            yield
        except KeyStoreError as exc:
            fail(str(exc), EXIT_REFUSED)


@keys_group.command("generate")
@data_dir_option
@click.option("--name", default=None, help="Key name (default: crm-ledger-<date>-<random>).")
def keys_generate(data_dir: str | None, name: str | None) -> None:
    """Generate a new active signing key."""
    with key_errors():
        click.echo(_keystore(data_dir).generate(name))


@keys_group.command("list")
@data_dir_option
def keys_list(data_dir: str | None) -> None:
    """List keys: name, status, valid from, valid to, key id."""
    with key_errors():
        listed = _keystore(data_dir).keys()  # a list of dicts, not a mapping
        for key in listed:
            click.echo(
                f"{key['name']}\t{key['status']}\t{key['valid_from']}\t"
                f"{key['valid_to'] or '-'}\t{key['key_id']}"
            )


@keys_group.command("rotate")
@data_dir_option
def keys_rotate(data_dir: str | None) -> None:
    """Start an overlap: a new key signs alongside the current one; retire the old later."""
    with key_errors():
        click.echo(_keystore(data_dir).rotate())


@keys_group.command("retire")
@data_dir_option
@click.argument("name")
def keys_retire(data_dir: str | None, name: str) -> None:
    """Stop signing with NAME (its public key stays in the manifest forever)."""
    with key_errors():
        _keystore(data_dir).retire(name)
        click.echo(f"retired {name}")


@keys_group.command("export-public")
@data_dir_option
@click.option("--out", type=click.Path(dir_okay=False), default="-", show_default=True)
def keys_export_public(data_dir: str | None, out: str) -> None:
    """Write the public key manifest (give it to auditors)."""
    with key_errors():
        data = _keystore(data_dir).manifest_bytes()
        if out == "-":
            click.echo(data.decode(), nl=False)
        else:
            with open(out, "wb") as handle:
                handle.write(data)


# -- export and verify ----------------------------------------------------------------


def _progress(label: str) -> Any:
    """A rich progress callback on a terminal, else a no-op."""
    if not sys.stderr.isatty():
        return None, None
    from rich.progress import Progress

    progress = Progress(transient=True)
    task = progress.add_task(label, total=None)
    return progress, (lambda n: progress.update(task, completed=n))


@main.command("export")
@database_option
@data_dir_option
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Bundle directory.")
def export(database: str | None, data_dir: str | None, out: str) -> None:
    """Write a self-contained export bundle for offline verification."""
    from pathlib import Path

    from crm_ledger.application import CrmApplication
    from crm_ledger.storage.bundle import BundleError, export_bundle

    with key_errors():
        crm = CrmApplication(settings_from(database))
        progress, update = _progress("exporting")
        try:
            if progress is not None:
                progress.start()
            index = export_bundle(
                crm.ledger_store(),
                crm.origin,
                _keystore(data_dir).manifest_bytes(),
                Path(out),
                update,
            )
        except BundleError as exc:
            fail(str(exc), EXIT_USAGE)
        finally:
            if progress is not None:
                progress.stop()
        click.echo(
            f"exported {index['entries']} entries and {index['checkpoints']} checkpoints to {out}"
        )


@main.command("verify")
@click.argument("bundle", required=False, type=click.Path(exists=True, file_okay=False))
@database_option
@click.option(
    "--keys",
    "keys_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Public key manifest (default: the bundle's keys.json, or the data dir's).",
)
@click.option(
    "--anchors",
    type=click.Path(exists=True),
    help="Anchor file, or a directory containing anchors.jsonl.",
)
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False),
    help="Your saved state; checked, and updated only when everything verifies.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@data_dir_option
def verify(
    bundle: str | None,
    database: str | None,
    keys_path: str | None,
    anchors: str | None,
    state_path: str | None,
    as_json: bool,
    data_dir: str | None,
) -> None:
    """Recompute and check the whole log; exit 0 ok, 1-4 per failure class, 5 usage."""
    from crm_ledger.verification import VerifyUsageError, run_verification

    if (bundle is None) == (database is None):
        fail("give exactly one of BUNDLE or --database URL", EXIT_USAGE)
    progress, update = _progress("verifying")
    try:
        if progress is not None:
            progress.start()
        with guarded():
            report, text = run_verification(
                bundle=bundle,
                database=database,
                keys_path=keys_path,
                anchors=anchors,
                state_path=state_path,
                data_dir=data_dir,
                as_json=as_json,
                progress=update,
            )
    except VerifyUsageError as exc:
        fail(str(exc), EXIT_USAGE)
    finally:
        if progress is not None:
            progress.stop()
    click.echo(text)
    sys.exit(report.exit_code)


# -- import -----------------------------------------------------------------------------


@main.group("import")
def import_group() -> None:
    """Import records from files."""


@import_group.command("contacts")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--batch-size",
    default=2000,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Rows stored per transaction (larger: faster, but other writers wait longer).",
)
@click.option(
    "--rejects",
    default=None,
    type=click.Path(dir_okay=False),
    help="CSV report of rejected rows: row, reason, the row's cells (default: FILE.rejects.csv).",
)
@click.option(
    "--store-process/--no-store-process",
    default=None,
    help="Store the batches in a process of their own, beside the one checking the rows"
    " (default: for files of 2 MB or more, with more than one core).",
)
@database_option
def import_contacts(
    file: str,
    batch_size: int,
    rejects: str | None,
    store_process: bool | None,
    database: str | None,
) -> None:
    """Import contacts from a CSV FILE; columns kind,name,emails,phones,tax_id,tags,owner,...

    Multiple values in one cell are separated by ';' (the columns are listed in
    docs/operations.md). Each batch is stored in one transaction; rerunning the same
    file after an interruption skips the rows already stored. Exit 0 when every row
    was imported, 8 when some rows were rejected.
    """
    from concurrent.futures.process import BrokenProcessPool
    from pathlib import Path

    from crm_ledger.application import CrmApplication
    from crm_ledger.imports import ImportFileError, ImportSummary, file_digest
    from crm_ledger.imports import import_contacts as run_import

    source = Path(file)
    report = Path(rejects) if rejects else source.with_name(source.name + ".rejects.csv")
    summary = ImportSummary()
    with guarded():
        crm = CrmApplication(settings_from(database))
        digest, lines = file_digest(source)
        progress = _bar("importing contacts", max(lines - 1, 1))
        try:
            if progress is not None:
                progress[0].start()
            run_import(
                crm,
                source,
                actor=SYSTEM_ACTOR,
                rejects=report,
                batch_size=batch_size,
                progress=None if progress is None else progress[1],
                digest=digest,
                summary=summary,
                store_process=store_process,
            )
        except ImportFileError as exc:
            fail(f"{file}: {exc}", EXIT_USAGE)
        except BrokenProcessPool:
            fail(
                f"{file}: the process storing the batches stopped ({summary.line});"
                " what was stored stays: rerun to resume",
                EXIT_DATABASE,
            )
        except OSError as exc:
            fail(str(exc), EXIT_USAGE)
        except KeyboardInterrupt:
            click.echo(f"interrupted: {summary.line}; rerun to resume", err=True)
            raise
        finally:
            if progress is not None:
                progress[0].stop()
    click.echo(f"{file}: {summary.line}" + (f"; rejects in {report}" if summary.rejected else ""))
    sys.exit(EXIT_REJECTED if summary.rejected else EXIT_OK)


def _bar(label: str, total: int) -> tuple[Any, Callable[[int], None]] | None:
    """A rich progress bar of `total` steps on a terminal, else None."""
    if not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import Progress

    progress = Progress(console=Console(stderr=True), transient=True)
    task = progress.add_task(label, total=total)
    return progress, (lambda n: progress.update(task, completed=n))


# -- projections ------------------------------------------------------------------------


@contextmanager
def projection_errors() -> Iterator[None]:
    """`guarded`, and an unknown projection name is a usage error."""
    from crm_ledger.projections.registry import UnknownProjectionError

    with guarded():
        try:
            yield
        except UnknownProjectionError as exc:
            fail(str(exc), EXIT_USAGE)


@main.group("projections")
def projections_group() -> None:
    """Run and watch the read models (projections) outside the API process."""


@projections_group.command("run")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--once", is_flag=True, help="Catch up to the head read at the start, then exit.")
@click.option(
    "--batch-size",
    default=500,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Events applied per transaction.",
)
@database_option
def projections_run(
    names: tuple[str, ...], once: bool, batch_size: int, database: str | None
) -> None:
    """Follow the log and keep projections NAME... (default: all) up to date.

    On PostgreSQL the worker is woken by the event store's subscription (LISTEN/NOTIFY),
    on SQLite it polls every CRM_PROJECTION_POLL_SECONDS. SIGTERM or Ctrl-C stops it
    after the batch in flight. A projection that fails on an event stops just before
    it, reports it here and in `projections status`, and never skips it; the others go
    on. Exit 0 when stopped (or caught up with --once), 9 when a projection failed.
    """
    import signal

    from crm_ledger.application import CrmApplication
    from crm_ledger.projections.registry import build_all, prepare
    from crm_ledger.projections.worker import Worker

    def report(exc: Exception) -> None:
        click.echo(f"crm-ledger: {exc}", err=True)

    with projection_errors():
        crm = CrmApplication(settings_from(database))
        prepare(crm)
        worker = Worker(
            crm,
            build_all(crm.mapper, list(names)),
            batch_size=batch_size,
            poll_seconds=crm.settings.projection_poll_seconds,
            on_failure=report,
        )
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: worker.stop())
        click.echo(f"following {', '.join(worker.runners)}", err=True)
        failures = worker.run(once=once)
        for name, runner in worker.runners.items():
            click.echo(f"{name}: position {runner.position}", err=True)
    sys.exit(EXIT_PROJECTION_FAILED if failures else EXIT_OK)


@projections_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@database_option
def projections_status(as_json: bool, database: str | None) -> None:
    """Each projection's position, the head, the lag and where it failed (if it did).

    Columns: name, position, head, lag, failed_at, rebuild (an unfinished rebuild:
    `bulk APPLIED/TOTAL` events in its bulk phase, else its position), error. Exit 0,
    or 9 when a projection has stopped at a failing event.
    """
    import json

    from crm_ledger.application import CrmApplication
    from crm_ledger.projections.registry import names
    from crm_ledger.projections.status import projection_statuses

    with projection_errors():
        crm = CrmApplication(settings_from(database))
        statuses = projection_statuses(crm, names())
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in statuses], indent=2))
    else:
        click.echo("name\tposition\thead\tlag\tfailed_at\trebuild\terror")
        for s in statuses:
            click.echo(
                f"{s.name}\t{s.position}\t{s.head}\t{s.lag}\t{_dash(s.failed_at)}\t"
                f"{s.rebuild_text}\t{s.error or '-'}"
            )
    failed = any(s.failed_at is not None for s in statuses)
    sys.exit(EXIT_PROJECTION_FAILED if failed else EXIT_OK)


def _dash(value: int | None) -> str:
    return "-" if value is None else str(value)


@main.command("rebuild")
@click.argument("name", required=False)
@click.option("--all", "rebuild_all", is_flag=True, help="Rebuild every projection, in turn.")
@click.option(
    "--batch-size",
    default=20_000,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Events applied per transaction.",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 16),
    help="Processes filling the bulk phase at once (PostgreSQL; set when a rebuild starts).",
)
@database_option
def rebuild(
    name: str | None, rebuild_all: bool, batch_size: int, workers: int, database: str | None
) -> None:
    """Rebuild projection NAME (or --all) from position 0 into fresh tables, then swap.

    The API keeps serving the old tables until the new ones have caught up; the swap is
    one transaction. Safe to interrupt: rerunning resumes from the last batch. A failing
    event stops the rebuild there (exit 9, live tables untouched).
    """
    from crm_ledger.application import CrmApplication
    from crm_ledger.projections.rebuild import Rebuild, RebuildFailedError
    from crm_ledger.projections.registry import build, names, prepare

    if (name is None) == (not rebuild_all):
        fail("give exactly one of NAME or --all", EXIT_USAGE)
    with projection_errors():
        crm = CrmApplication(settings_from(database))
        if workers > 1 and crm.settings.database_url.startswith("sqlite"):
            # SQLite has one writer: parallel bulk workers only wait on each other's locks.
            click.echo("rebuild: SQLite has a single writer; using 1 worker", err=True)
            workers = 1
        selected = names() if rebuild_all else [str(name)]
        prepare(crm)
        projections = [build(n, crm.mapper) for n in selected]
        for projection in projections:
            meter = _RebuildMeter(projection.name)
            job = Rebuild(
                crm, projection, batch_size=batch_size, progress=meter.update, workers=workers
            )
            try:
                meter.start(job.prepare())
                job.run()
            except RebuildFailedError as exc:
                meter.stop()
                fail(f"{exc}; the live tables are unchanged", EXIT_PROJECTION_FAILED)
            finally:
                meter.stop()
            click.echo(meter.summary(job.applied, job.swapped_at))


class _RebuildMeter:
    """A rich bar with ETA on a terminal, else a plain line every few seconds."""

    PLAIN_EVERY = 2.0

    def __init__(self, name: str) -> None:
        import time

        self.name = name
        self.clock = time.monotonic
        self.started = self.clock()
        self.first = self.last = 0
        self.last_line = 0.0
        self.bar: Any = None
        self.task: Any = None

    def start(self, position: int) -> None:
        self.started = self.clock()
        self.first = self.last = position
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn(f"rebuild {self.name}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.task = self.bar.add_task(self.name, total=None, rate="")
            self.bar.start()

    def rate(self, position: int) -> float:
        return (position - self.first) / max(self.clock() - self.started, 1e-9)

    def update(self, position: int, head: int) -> None:
        self.last = position
        if self.bar is not None:
            shown = f"{self.rate(position):,.0f} events/s"
            self.bar.update(self.task, completed=position, total=head, rate=shown)
            return
        now = self.clock()
        if now - self.last_line < self.PLAIN_EVERY and position < head:
            return
        self.last_line = now
        rate = self.rate(position)
        eta = (head - position) / rate if rate > 0 else 0.0
        percent = 100.0 * position / head if head else 100.0
        click.echo(
            f"rebuild {self.name}: {position}/{head} ({percent:.0f}%),"
            f" {rate:,.0f} events/s, eta {eta:.0f} s",
            err=True,
        )

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    def summary(self, applied: int, swapped_at: int | None) -> str:
        seconds = self.clock() - self.started
        return (
            f"rebuilt {self.name}: {applied} events applied in {seconds:.1f} s"
            f" ({applied / max(seconds, 1e-9):,.0f} events/s); live at position {swapped_at}"
        )
