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

EXIT_OK = 0
EXIT_USAGE = 5
EXIT_REFUSED = 6
EXIT_DATABASE = 7
SYSTEM_ACTOR = "system:cli"

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
    from crm_ledger.projections.runner import ProjectionRunner
    from crm_ledger.storage.idempotency import IdempotencyStore
    from crm_ledger.storage.keystore import KeyStore

    IdempotencyStore(crm.db)
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
@database_option
def serve(host: str | None, port: int | None, workers: int, database: str | None) -> None:
    """Serve the HTTP API (bootstraps the schema first)."""
    import uvicorn

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
    uvicorn.run(
        "crm_ledger.api.app:app_from_env",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level=settings.log_level.lower(),
        access_log=False,
    )


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
    """Revoke a key by id."""
    from crm_ledger.application import CrmApplication

    with guarded():
        crm = CrmApplication(settings_from(database))
        crm.revoke_api_key(key_id, actor=SYSTEM_ACTOR)
        click.echo(f"revoked {key_id}")


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
