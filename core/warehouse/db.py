"""The DuckDB warehouse: one database object per process, a cursor per thread.

DuckDB lets only one process open a database file for writing. The app and the CLI both
need it, so access goes through a process-wide ``Warehouse`` that

* opens the file only while some thread is using it, behind an exclusive ``flock`` on a
  sidecar lock file (so two Switchyard processes queue instead of failing or corrupting);
* hands every caller its own cursor (``conn.cursor()``), which is DuckDB's thread model;
* closes the file after a short idle period, so a CLI ingest never waits long for the app;
* tells a waiting caller who holds the lock (``on_wait``) and gives up with ``WarehouseBusy``
  after ``lock_timeout_s`` instead of dead-locking.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from core.files import make_private
from core.warehouse.migrations import migrate

# No internet here, and no surprise downloads in production either.
DUCKDB_CONFIG = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


class WarehouseBusy(RuntimeError):
    """Another process held the warehouse for longer than we were willing to wait."""


def _holder_description(lock_path: Path) -> str:
    try:
        text = lock_path.read_text().strip()
    except OSError:
        text = ""
    return text or "another Switchyard process"


class Warehouse:
    """Process-wide access to one DuckDB file; see the module docstring."""

    def __init__(
        self,
        path: Path | str,
        *,
        idle_close_s: float = 0.0,
        lock_timeout_s: float = 120.0,
        on_wait: Callable[[str], None] | None = None,
        label: str = "switchyard",
    ) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.idle_close_s = idle_close_s
        self.lock_timeout_s = lock_timeout_s
        self.on_wait = on_wait
        self.label = label
        self._mutex = threading.RLock()
        self._write_mutex = threading.Lock()
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._lock_fd: int | None = None
        self._users = 0
        self._timer: threading.Timer | None = None
        self._migrated = False

    # -- opening and closing -------------------------------------------------------------
    def _take_file_lock(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self.lock_timeout_s
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told and self.on_wait is not None:
                    self.on_wait(
                        f"Warehouse {self.path.name} is in use by "
                        f"{_holder_description(self.lock_path)}; waiting up to "
                        f"{self.lock_timeout_s:.0f} s for it to finish…"
                    )
                    told = True
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise WarehouseBusy(
                        f"The warehouse is still in use by {_holder_description(self.lock_path)} "
                        f"after {self.lock_timeout_s:.0f} s. Try again when it has finished."
                    ) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{self.label} (pid {os.getpid()})".encode(), 0)
        self._lock_fd = fd

    def _release_file_lock(self) -> None:
        if self._lock_fd is not None:
            try:
                os.ftruncate(self._lock_fd, 0)
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            finally:
                os.close(self._lock_fd)
                self._lock_fd = None

    def _open(self) -> None:
        self._take_file_lock()
        deadline = time.monotonic() + self.lock_timeout_s
        while True:
            try:
                self._conn = duckdb.connect(str(self.path), config=dict(DUCKDB_CONFIG))
                break
            except duckdb.IOException as exc:  # a non-Switchyard process holds DuckDB's own lock
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    self._release_file_lock()
                    raise WarehouseBusy(f"Could not open the warehouse: {exc}") from None
                time.sleep(0.1)
            except BaseException:
                self._release_file_lock()
                raise
        # DuckDB creates its files with the process's umask; the warehouse is private.
        make_private(self.path, self.path.with_name(self.path.name + ".wal"))
        try:
            if not self._migrated:
                migrate(self._conn)
                self._migrated = True
        except BaseException:
            self._close()
            raise

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
        self._release_file_lock()

    def _close_if_idle(self) -> None:
        with self._mutex:
            if self._users == 0:
                self._close()

    def close(self) -> None:
        """Close now (waits for no one: call when no cursor is in use)."""
        with self._mutex:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._close()

    # -- using it ------------------------------------------------------------------------
    @contextmanager
    def cursor(self, *, write: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor for this thread. ``write=True`` also serialises writers in this process."""
        with self._mutex:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._conn is None:
                self._open()
            self._users += 1
            assert self._conn is not None
            cur = self._conn.cursor()
        try:
            if write:
                with self._write_mutex:
                    yield cur
            else:
                yield cur
        finally:
            try:
                cur.close()
            finally:
                with self._mutex:
                    self._users -= 1
                    if self._users == 0:
                        if self.idle_close_s <= 0:
                            self._close()
                        else:
                            self._timer = threading.Timer(self.idle_close_s, self._close_if_idle)
                            self._timer.daemon = True
                            self._timer.start()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A write cursor inside BEGIN/COMMIT; anything raised rolls everything back."""
        with self.cursor(write=True) as cur:
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            else:
                cur.execute("COMMIT")
                self._bump_data_version()

    @property
    def version_path(self) -> Path:
        return self.path.with_name(self.path.name + ".version")

    def data_version(self) -> str:
        """A token that changes whenever a transaction commits (ingest, re-pricing, price
        overrides, comparison results). Pages cache their work keyed on it; it is a file beside
        the warehouse so reading it never opens (or waits for) the DuckDB file."""
        try:
            return self.version_path.read_text().strip() or "0"
        except FileNotFoundError:
            return "0"

    def _bump_data_version(self) -> None:
        # temp file + rename, so a reader sees the old token or the new one, never half
        tmp = self.version_path.with_name(f".{self.version_path.name}.{os.urandom(4).hex()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, f"{time.time_ns()}-{os.urandom(4).hex()}".encode())
        finally:
            os.close(fd)
        os.replace(tmp, self.version_path)


_instances: dict[tuple[str, str], Warehouse] = {}
_instances_lock = threading.Lock()


def get_warehouse(
    path: Path | str | None = None,
    *,
    idle_close_s: float = 0.0,
    on_wait: Callable[[str], None] | None = None,
    label: str = "switchyard",
) -> Warehouse:
    """The process-wide Warehouse for ``path`` (default: the settings' warehouse)."""
    from core.settings import get_settings

    settings = get_settings()
    p = Path(path) if path is not None else settings.warehouse_path
    key = (str(p.resolve()), label)
    with _instances_lock:
        wh = _instances.get(key)
        if wh is None:
            wh = Warehouse(
                p,
                idle_close_s=idle_close_s,
                lock_timeout_s=settings.lock_timeout_s,
                on_wait=on_wait,
                label=label,
            )
            _instances[key] = wh
        return wh


def one_row(cur: duckdb.DuckDBPyConnection, sql: str, params: list | tuple | None = None
            ) -> tuple:
    """The single row of an aggregate query (which always returns one)."""
    row = cur.execute(sql, params or []).fetchone()
    if row is None:  # an aggregate without GROUP BY always answers; this is a bug if it fires
        raise RuntimeError(f"Expected one row from: {sql[:80]}")
    return row
