"""A database password is never written or printed (a real PostgreSQL server, password auth).

A run whose storage URL holds a planted password is searched, transferred, ablated, exported
and reported; then every file of the run folder, every export and every line printed are
searched for the password. The ways PostgreSQL users keep secrets work: a URL without a
password plus libpq's PGPASSWORD or a pgpass file, and ``env:NAME``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from hpscout.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
from test_workflow import write_config  # noqa: E402  (the tiny end-to-end config)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.filterwarnings("ignore:Heartbeat of storage")]

PASSWORD = "Pl4nted-s3cret-7d1f"
ROLE = "planted"


@pytest.fixture
def secret_db(pg_cluster, postgres_url):
    """A database owned by a role that logs in with PASSWORD (md5): (host, port, dbname)."""
    import psycopg

    dbname = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(postgres_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as con:
        exists = con.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone()
        if not exists:
            con.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")
        con.execute(f'ALTER DATABASE "{dbname}" OWNER TO {ROLE}')
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute(f"GRANT ALL ON SCHEMA public TO {ROLE}")
    return "127.0.0.1", pg_cluster.port, dbname


def _files_holding(root: Path, needle: str) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def test_a_run_with_a_password_in_its_storage_url_writes_and_prints_it_nowhere(tmp_path, capsys, secret_db):
    host, port, db = secret_db
    config = write_config(tmp_path)
    cfg = yaml.safe_load(config.read_text())
    cfg["storage"] = f"postgresql://{ROLE}:{PASSWORD}@{host}:{port}/{db}"
    config.write_text(yaml.safe_dump(cfg))

    assert main(["validate", str(config), "--json"]) == 0
    assert main(["run", str(config)]) == 0  # every stage: search, transfer, ablation, final, report
    exports = tmp_path / "exports"
    for fmt, name in (("llamafactory", "lf.yaml"), ("hf", "args.json"), ("json", "final.json")):
        assert main(["export", str(tmp_path / "run"), "--format", fmt, "--out", str(exports / name)]) == 0
    assert main(["trials", str(config), "--json"]) == 0
    printed = capsys.readouterr()

    run = tmp_path / "run"
    assert (run / "report" / "index.html").exists() and (run / "final" / "training_args.json").exists()
    assert _files_holding(run, PASSWORD) == []
    assert _files_holding(exports, PASSWORD) == []
    assert PASSWORD not in printed.out and PASSWORD not in printed.err
    # what is written says a password was there, masked
    assert f"postgresql://{ROLE}:***@{host}:{port}/{db}" in (run / "config.yaml").read_text()
    assert len(json.loads(printed.out[printed.out.rindex("\n[") + 1 :])) == 3


def test_a_url_without_password_uses_pgpassword_or_a_pgpass_file(tmp_path, capsys, secret_db, monkeypatch):
    host, port, db = secret_db
    config = write_config(tmp_path)
    url = f"postgresql://{ROLE}@{host}:{port}/{db}"
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    assert main(["validate", str(config), "--set", f"storage={url}"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach storage" in err and "PGPASSWORD" in err  # says where a password can come from

    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    assert main(["validate", str(config), "--set", f"storage={url}"]) == 0
    monkeypatch.delenv("PGPASSWORD")

    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"{host}:{port}:{db}:{ROLE}:{PASSWORD}\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    assert main(["validate", str(config), "--set", f"storage={url}"]) == 0
    # a masked URL read back from a written config connects the same way
    assert main(["validate", str(config), "--set", f"storage=postgresql://{ROLE}:***@{host}:{port}/{db}"]) == 0


def test_env_storage_keeps_the_url_out_of_config_and_command_line(tmp_path, capsys, secret_db, monkeypatch):
    host, port, db = secret_db
    config = write_config(tmp_path)
    monkeypatch.setenv("HPSCOUT_STORAGE", f"postgresql://{ROLE}:{PASSWORD}@{host}:{port}/{db}")
    assert main(["validate", str(config), "--set", "storage=env:HPSCOUT_STORAGE", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["storage"] == "env:HPSCOUT_STORAGE"
    argv = ["--storage", "env:HPSCOUT_STORAGE"]  # what `ps` shows: no URL, no password
    assert main(["search", str(config), *argv, "--objective", "_objectives:quadratic", "--trials", "2"]) == 0
    assert main(["trials", str(config), *argv, "--json"]) == 0
    out = capsys.readouterr()
    assert len(json.loads(out.out[out.out.rindex("\n[") + 1 :])) == 2
    assert PASSWORD not in out.out + out.err and f"{ROLE}:***@" in out.err  # the dashboard hint, masked
    assert _files_holding(tmp_path / "run", PASSWORD) == []
    assert "storage: null" in (tmp_path / "run" / "config.yaml").read_text()
