"""Cluster tests start real processes: whatever happens, none is left behind after the session."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from checker.runtime import controller


def hosts_running(marker: str) -> list[int]:
    """Pids of live processes whose command line mentions `marker` (a run's folder)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                state = (d / "stat").read_text().split()[2]
            except OSError:
                continue
            if marker in cmd and "checker.runtime.host" in cmd and state != "Z" and int(d.name) != os.getpid():
                out.append(int(d.name))
    return out


@pytest.fixture(scope="session", autouse=True)
def no_process_left_behind():
    yield
    controller._kill_leftovers()  # the process groups of every host still running


@pytest.fixture(autouse=True)
def no_host_left_by_a_test(tmp_path):
    """After each test, even a failed one: SIGKILL every host whose command line names its tmp_path."""
    yield
    for pid in hosts_running(str(tmp_path)):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
