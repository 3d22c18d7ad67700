"""A real, throwaway PostgreSQL cluster for tests (never a mock).

Uses the Debian ``postgresql`` package's initdb/pg_ctl. As root, the server runs as
the ``postgres`` user. Set HPSCOUT_TEST_POSTGRES_URL to use an existing server instead
(then restart tests are skipped).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def _bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for cand in sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True):
        return cand
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgCluster:
    datadir: Path
    port: int
    as_user: list[str]
    pg_ctl: str

    @property
    def url(self) -> str:
        return f"postgresql://hpscout:hpscout@127.0.0.1:{self.port}/hpscout_test"

    def _ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [*self.as_user, self.pg_ctl, "-D", str(self.datadir), "-w", "-t", "60", *args]
        return subprocess.run(cmd, capture_output=True, text=True, check=check)

    def start(self) -> None:
        self._ctl("-l", str(self.datadir / "server.log"), "-o", f"-p {self.port} -k {self.datadir} -h 127.0.0.1", "start")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "stop", check=False)

    def restart(self) -> None:
        self.stop()
        self.start()

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL."""
        import psycopg

        con = psycopg.connect(host="127.0.0.1", port=self.port, user="hpscout", password="hpscout", dbname="postgres", autocommit=True)
        with con.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
            cur.execute(f'CREATE DATABASE "{name}"')
        con.close()
        return f"postgresql://hpscout:hpscout@127.0.0.1:{self.port}/{name}"


def start_cluster() -> PgCluster:
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if not initdb or not pg_ctl:
        raise RuntimeError("PostgreSQL binaries not found; install the Debian package 'postgresql' (.ci/run does)")
    as_user: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="hpscout-pg-"))
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, "postgres")
    datadir = base / "data"
    pwfile = base / "pw"
    pwfile.write_text("hpscout\n")
    if as_user:
        shutil.chown(pwfile, "postgres")
    subprocess.run(
        [*as_user, initdb, "-D", str(datadir), "-U", "hpscout", "--pwfile", str(pwfile), "-A", "md5", "-E", "UTF8"],
        check=True,
        capture_output=True,
        text=True,
    )
    with open(datadir / "postgresql.conf", "a") as fh:
        fh.write("\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n")
    cluster = PgCluster(datadir=datadir, port=_free_port(), as_user=as_user, pg_ctl=pg_ctl)
    cluster.start()
    deadline = time.time() + 30
    while True:
        try:
            cluster.create_database("hpscout_test")
            break
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.5)
    return cluster
