"""Worker processes that end with their driver, quietly.

Ctrl-C reaches every process of the terminal's group: workers are started with SIGINT ignored
(Python keeps a SIGINT disposition its parent set to ignored), so only the driver handles it and
stops them, without a KeyboardInterrupt traceback from each. A driver killed outright (SIGKILL)
cannot stop anyone: each worker watches its parent and exits within :data:`PARENT_POLL_S` of its
death. A Ray address is probed with a plain TCP connection first, so one that does not answer
fails in seconds instead of after Ray's own retries (about 14 minutes).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from ...errors import DfbenchError
from ...validate import real

PARENT_POLL_S = 1.0
RAY_TIMEOUT_ENV = "DFBENCH_RAY_TIMEOUT"  # seconds to wait for a Ray address to answer
RAY_TIMEOUT_S = 10.0
RAY_PORTS = {"ray": 10001, "": 6379}  # ray:// client server; a bare host: the GCS


@contextmanager
def sigint_ignored_in_children() -> Iterator[None]:
    """Start processes inside this block: they inherit SIGINT ignored (the driver's is restored)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def exit_with_parent(poll_s: float = PARENT_POLL_S) -> None:
    """In a worker: a daemon thread that ends the process when its parent has died (also before
    the worker got here: the pid is the one multiprocessing recorded at spawn)."""
    spawned_by = multiprocessing.parent_process()
    parent = spawned_by.pid if spawned_by is not None and spawned_by.pid else os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(0)  # the driver is gone: nobody will read this worker's results

    threading.Thread(target=watch, name="dfbench-parent-watch", daemon=True).start()


def ray_timeout() -> float:
    value = os.environ.get(RAY_TIMEOUT_ENV)
    if value is None:
        return RAY_TIMEOUT_S
    try:
        number = float(value)
    except ValueError:
        raise DfbenchError(f"${RAY_TIMEOUT_ENV} must be a number of seconds, got {value!r}") from None
    return real(number, f"${RAY_TIMEOUT_ENV}", lo=0.1, hi=3600)


def probe_ray_address(address: str | None, timeout: float | None = None) -> None:
    """Refuse, within ``timeout`` seconds, a ``host:port`` or ``ray://host:port`` address where nothing
    answers; ``None`` and ``local`` (a new local instance) and ``auto`` (the running local cluster) are
    Ray's to find."""
    if address is None or address in ("auto", "local"):
        return
    parts = urlsplit(address if "://" in address else f"//{address}")
    try:
        host, port = parts.hostname, parts.port or RAY_PORTS.get(parts.scheme)
    except ValueError as exc:
        raise DfbenchError(f"--address {address!r} is not host:port or ray://host:port ({exc})") from None
    if not host or port is None:
        raise DfbenchError(f"--address {address!r} is not host:port or ray://host:port")
    wait = ray_timeout() if timeout is None else timeout
    try:
        socket.create_connection((host, port), timeout=wait).close()
    except OSError as exc:
        reason = "no answer" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        raise DfbenchError(f"cannot reach Ray at {address}: {reason} (waited at most {wait:g} s; "
                           f"${RAY_TIMEOUT_ENV} sets the wait)") from None
