"""The command line: key issuance, configuration errors, verify exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from uuid import UUID

from crm_ledger.application import CrmApplication
from crm_ledger.settings import Settings
from crm_ledger.storage.user_store import UserStore
from crm_ledger.storage.webhook_store import WebhookStore
from crm_ledger.users import login
from crm_ledger.webhooks import register_webhook

CLI = str(Path(sys.executable).with_name("crm-ledger"))


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def test_api_key_is_alone_on_the_last_line(database_url: str, tmp_path: Path) -> None:
    """`api-keys create` prints the key alone on the last stdout line; list shows it."""
    env = {"CRM_DATA_DIR": str(tmp_path / "data")}
    created = run(
        "api-keys", "create", "--name", "ci", "--role", "sales", "--database", database_url, env=env
    )
    assert 0 == created.returncode, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("crm_")
    key_id = token.split("_")[1]
    listed = run("api-keys", "list", "--database", database_url, env=env)
    assert "sales\tactive\tci" in listed.stdout
    assert key_id[:8] in listed.stdout.replace("-", "")
    revoked = run(
        "api-keys",
        "revoke",
        "00000000-0000-0000-0000-000000000000",
        "--database",
        database_url,
        env=env,
    )
    assert 6 == revoked.returncode
    assert "no api key" in revoked.stderr


def test_revoking_a_key_disables_the_webhooks_it_registered(
    database_url: str, tmp_path: Path
) -> None:
    """`api-keys revoke` disables the endpoints the key registered and names each."""
    env = {"CRM_DATA_DIR": str(tmp_path / "data"), "CRM_WEBHOOK_ALLOW_LOCAL": "true"}
    created = run(
        "api-keys", "create", "--name", "hooks", "--role", "admin", "--database", database_url,
        env=env,
    )  # fmt: skip
    assert 0 == created.returncode, created.stderr
    key_id = UUID(created.stdout.strip().splitlines()[-1].split("_")[1])
    settings = Settings(
        database_url=database_url, data_dir=tmp_path / "data", webhook_allow_local=True
    )
    crm = CrmApplication(settings)
    try:
        written, _ = register_webhook(
            crm,
            WebhookStore(crm.db),
            url="http://127.0.0.1:9/hook",
            role="admin",
            actor=f"apikey:{key_id}",
        )
    finally:
        crm.close()
    revoked = run("api-keys", "revoke", str(key_id), "--database", database_url, env=env)
    assert 0 == revoked.returncode, revoked.stderr
    assert revoked.stdout.splitlines() == [
        f"revoked {key_id}",
        f"disabled webhook endpoint {written.aggregate.id} (http://127.0.0.1:9/hook)",
    ]


def test_users_create_prints_a_generated_password_once(database_url: str, tmp_path: Path) -> None:
    """`users create` makes an account whose generated password logs in; a taken name
    exits 6."""
    env = {"CRM_DATA_DIR": str(tmp_path / "data")}
    made = run("users", "create", "ana", "--role", "auditor", "--database", database_url, env=env)
    assert 0 == made.returncode, made.stderr
    password = made.stdout.strip().splitlines()[-1]
    assert len(password) >= 12
    assert "created user ana (auditor)" in made.stderr
    again = run("users", "create", "ana", "--database", database_url, env=env)
    assert (6, "taken") == (again.returncode, "taken" if "taken" in again.stderr else again.stderr)
    crm = CrmApplication(Settings(database_url=database_url, data_dir=tmp_path / "data"))
    try:
        done = login(crm, UserStore(crm.db), username="ana", password=password, code=None)
        assert done.user.role == "auditor"
    finally:
        crm.close()


def test_invalid_configuration_is_one_line_and_exit_5(tmp_path: Path) -> None:
    """A bad CRM_ variable stops the program with one line naming it."""
    bad = run("api-keys", "list", env={"CRM_PORT": "99999", "CRM_DATA_DIR": str(tmp_path)})
    assert 5 == bad.returncode
    lines = bad.stderr.strip().splitlines()
    assert 1 == len(lines)
    assert "CRM_PORT" in lines[0]
    url = run("api-keys", "list", "--database", "mysql://x")
    assert 5 == url.returncode
    assert "CRM_DATABASE_URL" in url.stderr


def test_usage_error_exits_5() -> None:
    """Unknown options and missing arguments are usage errors (5)."""
    assert 5 == run("verify").returncode
    assert 5 == run("api-keys", "create").returncode


def test_init_then_verify_exit_codes(tmp_path: Path) -> None:
    """init issues a first admin key once; verify exits 0, then 1 after tampering."""
    db = tmp_path / "crm.db"
    env = {"CRM_DATABASE_URL": f"sqlite:///{db}", "CRM_DATA_DIR": str(tmp_path / "data")}
    first = run("init", env=env)
    assert 0 == first.returncode, first.stderr
    assert first.stdout.strip().splitlines()[-1].startswith("crm_")
    again = run("init", env=env)
    assert "already exist" in again.stdout
    run("api-keys", "create", "--name", "x", env=env)
    # seal a checkpoint so verify has something signed to check
    from crm_ledger.application import CrmApplication
    from crm_ledger.settings import Settings
    from crm_ledger.storage.checkpoints import CheckpointWriter
    from crm_ledger.storage.keystore import KeyStore

    settings = Settings(database_url=env["CRM_DATABASE_URL"], data_dir=tmp_path / "data")
    crm = CrmApplication(settings)
    CheckpointWriter(
        crm.ledger_store(),
        KeyStore(settings.data_dir / "keys"),
        crm.origin,
        settings.data_dir / "anchors",
    ).cut(force=True)
    ok = run(
        "verify",
        "--database",
        env["CRM_DATABASE_URL"],
        "--anchors",
        str(tmp_path / "data" / "anchors"),
        "--json",
        env=env,
    )
    assert 0 == ok.returncode, ok.stdout + ok.stderr
    assert '"ok": true' in ok.stdout
    with crm.db.transaction() as tx:
        tx.execute("UPDATE stored_events SET topic = topic || 'X' WHERE rowid = 2")
    crm.close()
    bad = run("verify", "--database", env["CRM_DATABASE_URL"], env=env)
    assert 1 == bad.returncode
    # the SQLite file rebuilds envelopes from the event rows (crm_ledger.storage.sqlite_ledger)
    assert "leaf_mismatch at leaf 1 seq 2" in bad.stdout


def test_keys_generate_rotate_list_retire(tmp_path: Path) -> None:
    """`keys list` shows each key's name and status through a rotation and a retirement."""
    env = {"CRM_DATA_DIR": str(tmp_path / "data")}
    first = run("keys", "generate", "--name", "k1", env=env)
    assert 0 == first.returncode, first.stderr
    rotated = run("keys", "rotate", env=env)
    assert 0 == rotated.returncode, rotated.stderr
    second = rotated.stdout.strip().splitlines()[-1]
    listed = run("keys", "list", env=env)
    assert 0 == listed.returncode, listed.stderr
    rows = {line.split("\t")[0]: line.split("\t")[1] for line in listed.stdout.splitlines()}
    assert {"k1": "active", second: "active"} == rows
    assert 0 == run("keys", "retire", "k1", env=env).returncode
    rows = {
        line.split("\t")[0]: line.split("\t")[1]
        for line in run("keys", "list", env=env).stdout.splitlines()
    }
    assert {"k1": "retired", second: "active"} == rows
