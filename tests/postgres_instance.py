"""A PostgreSQL server of a test's own, for tests that restart PostgreSQL: the machine's
server on 127.0.0.1:5432 is shared, and restarting it would cut every other client off.

`private_postgres()` runs `initdb` into a new temporary directory, starts the server on a
free loopback port with trust auth, and stops (`-m immediate`) and removes it afterwards.
initdb refuses to run as root, so as root the server is run as the `postgres` OS user."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import psycopg
from psycopg import sql

from tests.factories.missing import missing
from tests.factories.peers import free_port
from tests.factories.stores import require_marker

SERVER_USER = "postgres"  # the OS user that runs the server when the tests run as root


@dataclass(frozen=True)
class PrivatePostgres:
    """A running server of one test's own; `url` reaches its `postgres` database as superuser `postgres`."""

    port: int
    directory: Path  # holds the data directory, the unix socket and the server log
    run_as: tuple[str, ...]  # the prefix that runs a command as the server's OS user
    bindir: Path

    @property
    def url(self) -> str:
        return self.database_url("postgres")

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log(self) -> Path:
        return self.directory / "server.log"

    def database_url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def create_database(self, name: str) -> str:
        """Create database `name` on this server; returns its URL."""
        with psycopg.connect(self.url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.database_url(name)

    def restart(self) -> None:
        """Restart this server (fast shutdown: every open connection is cut) and wait until it is up."""
        self.pg_ctl("restart", "-m", "fast", "-w")

    def pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # -l: the server's output goes to a file, so no pipe of ours stays open while it runs.
        command = [*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log), *args]
        try:
            return _run(command, self.directory, check=check)
        except RuntimeError as exc:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{exc}\nserver log:\n{tail}") from exc


def postgres_bindir() -> Path | None:
    """The directory holding initdb and pg_ctl: pg_config's, else the newest /usr/lib/postgresql/<version>/bin."""
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if done.returncode == 0 and done.stdout.strip():
            candidates.append(Path(done.stdout.strip()))
    # Debian's pg_config may come from libpq-dev and name a version whose server is not installed.
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version, reverse=True)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    return None


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A fresh PostgreSQL server on 127.0.0.1 for one test, stopped and removed afterwards."""
    require_marker()
    bindir = postgres_bindir()
    if bindir is None:
        _unavailable("PostgreSQL's initdb and pg_ctl are not installed (/usr/lib/postgresql/<version>/bin)")
    run_as, owner = _server_user()
    # As root, under /tmp (which every user can reach) rather than a TMPDIR that may be root's alone.
    directory = Path(tempfile.mkdtemp(prefix="dochooks-pg-", dir="/tmp" if owner else None))
    try:
        if owner:
            os.chown(directory, owner.pw_uid, owner.pw_gid)
        server = PrivatePostgres(free_port(), directory, run_as, bindir)
        initdb = [str(bindir / "initdb"), "-D", str(server.data_dir), "-U", "postgres", "--auth=trust"]
        _run([*run_as, *initdb, "--encoding=UTF8", "--locale=C", "--no-sync"], directory)
        with open(server.data_dir / "postgresql.conf", "a") as conf:  # restart reads them again from here
            conf.write(
                f"listen_addresses = '127.0.0.1'\nport = {server.port}\nunix_socket_directories = '{directory}'\n"
            )
        server.pg_ctl("start", "-w")
        try:
            yield server
        finally:
            server.pg_ctl("stop", "-m", "immediate", "-w", check=False)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _server_user() -> tuple[tuple[str, ...], pwd.struct_passwd | None]:
    """How to run initdb and pg_ctl (as `postgres` under root: initdb refuses root), and that user."""
    if os.geteuid() != 0:
        return (), None
    runuser = shutil.which("runuser")
    try:
        owner = pwd.getpwnam(SERVER_USER)
    except KeyError:
        owner = None
    if runuser is None or owner is None:
        _unavailable(f"running as root, a private PostgreSQL needs runuser and the {SERVER_USER!r} OS user")
    return (runuser, "-u", SERVER_USER, "--"), owner


def _run(command: list[str], cwd: Path, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    # cwd: the server's user may not be allowed into the directory the tests run from.
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done


def _version(bindir: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in bindir.parent.name.split(".") if part.isdigit())


def _unavailable(reason: str) -> NoReturn:
    missing(f"{reason} (for the tests that need a PostgreSQL of their own)")
