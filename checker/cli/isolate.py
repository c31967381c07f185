"""The command line as a supervisor of model code: a fixed hash seed, one forked child per spec, Ctrl-C.

Why PYTHONHASHSEED=0. A protocol's handlers are ordinary Python, and node ids are strings. CPython
salts the hash of every str (and bytes) with a random key chosen when the process starts, so the
iteration order of a set or frozenset of strings differs from one run to the next: a handler doing
``next(iter(self.pool - {self.id}))`` sends to a different peer, and the state space, its counts,
the counterexample, even the verdict can change between two runs of the same command. Sorting in the
checker cannot help, because the handler builds its sets itself; only fixing the seed fixes every set
of strings a handler can build. So the command re-executes the same command line with PYTHONHASHSEED=0
when the interpreter did not start with it (`fix_hash_seed`, from `checker.hashseed`: the console
script calls it before importing this package; `entry()` calls it again, which then does nothing).

Why a child per spec. A spec's module and handlers run arbitrary code: `os._exit`, a segfault in a C
extension, a loop in C that no signal reaches. `supervise` forks (modules already imported, so it is
cheap), runs one spec's work in the child, which prints its own lines and answers with a JSON object
through a pipe; a child that dies without answering is described in one line, a child still running
long after its time limit is killed, and the remaining specs go on. Ctrl-C typed at a terminal reaches
both processes; one sent to the supervisor alone (``kill -INT``) is passed on to the child.
Imports only the standard library (and `checker.hashseed`, which does too).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..hashseed import REEXEC_MARK, fix_hash_seed

SI_KERNEL = 0x80  # siginfo's si_code of a signal the kernel sent: the terminal's Ctrl-C (Linux)
GRACE_SECONDS = 30.0  # a child checking with --max-seconds S is killed when still silent after 2 S + this
STUBBORN_PRESSES = 3  # the Ctrl-C that kills a child which let the first ones pass
POLL_SECONDS = 0.2  # how often the supervisor looks at signals and at a child that holds the pipe open


def can_isolate() -> bool:
    """Fork, siginfo and signal masks exist here, and this is the main thread (signals are its)."""
    return (hasattr(os, "fork") and hasattr(signal, "sigtimedwait") and hasattr(signal, "pthread_sigmask")
            and threading.current_thread() is threading.main_thread())


class Interrupts:
    """A SIGINT handler that remembers a real Ctrl-C before raising KeyboardInterrupt, so that a
    KeyboardInterrupt the model's code raises itself can be told from the user's."""

    def __init__(self) -> None:
        self.pressed = False

    def handler(self, signum: int, frame: Any) -> None:
        self.pressed = True
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def installed(self) -> Iterator[Interrupts]:
        """Install the handler (main thread only; elsewhere every KeyboardInterrupt counts as real).
        A process started with SIGINT ignored (a background job of a script) keeps ignoring it."""
        if threading.current_thread() is not threading.main_thread():
            self.pressed = True
            yield self
            return
        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
            yield self
            return
        previous = signal.signal(signal.SIGINT, self.handler)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)


@dataclass
class Outcome:
    """What the supervisor learnt of one child: its answer, or how it ended without one."""

    answer: dict[str, Any] | None
    death: str = ""  # why there is no answer, one phrase: "the model's code ended the process (exit status 0)"
    interrupted: bool = False  # a Ctrl-C reached the supervisor while the child ran


class Supervisor:
    """Runs work in forked children, one at a time, with SIGINT held in this process throughout
    (`__enter__` blocks it, `__exit__` unblocks it), so that a Ctrl-C is seen, passed on where needed,
    and never lands in the middle of the bookkeeping."""

    def __init__(self) -> None:
        self.interrupted = False
        self.ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # started so: Ctrl-C means nothing

    def __enter__(self) -> Supervisor:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        return self

    def __exit__(self, *exc: object) -> None:
        self.poll_interrupt(None)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

    def poll_interrupt(self, child: int | None) -> bool:
        """Take a pending SIGINT, if any; pass it on to `child` unless the terminal sent it to both."""
        info = signal.sigtimedwait([signal.SIGINT], 0)
        if info is None or self.ignored:
            return False
        self.interrupted = True
        if child is not None and info.si_code != SI_KERNEL:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGINT)
        return True

    def run(self, work: Callable[[], dict[str, Any]], *, limit: float | None = None,
            on_sigint: Callable[[int, Any], None] | None = None) -> Outcome:
        """`work()` in a forked child, its JSON-able answer back here. `limit`: seconds after which a
        child that has not answered is killed. `on_sigint`: the child's SIGINT handler."""
        sys.stdout.flush()
        sys.stderr.flush()
        r, w = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(r)
            _child(work, w, parent, signal.SIG_IGN if self.ignored else on_sigint)
        os.close(w)
        try:
            return self._wait(pid, r, limit)
        finally:
            os.close(r)

    def _wait(self, pid: int, r: int, limit: float | None) -> Outcome:
        chunks: list[bytes] = []
        status: int | None = None
        killed = False
        deadline = None if limit is None else time.monotonic() + limit
        presses = 0
        while True:
            ready, _, _ = select.select([r], [], [], POLL_SECONDS)
            presses += self.poll_interrupt(pid)
            if presses >= STUBBORN_PRESSES and not killed:  # the child ignores Ctrl-C (stuck in C code)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                killed = True
            if ready:
                chunk = os.read(r, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
                continue
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:  # gone, though something it started may hold the pipe open: take what is there
                status = st
                chunks += _drain(r)
                break
            if deadline is not None and not killed and time.monotonic() >= deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                killed = True
        if status is None:
            _, status = os.waitpid(pid, 0)
        interrupted = bool(presses) or self.poll_interrupt(None)
        answer = _decode(b"".join(chunks))
        if answer is not None:
            return Outcome(answer, interrupted=interrupted)
        if killed:
            death = (f"still running {limit:g} s after it started, long past its time limit: the model's code is "
                     "stuck, perhaps in C code that no signal reaches; killed it")
        else:
            death = describe_status(status)
        return Outcome(None, death, interrupted)


def describe_status(status: int) -> str:
    """How a child that never answered ended, as a phrase."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        return f"the process checking it was killed by {name} (signal {sig})"
    if os.WIFEXITED(status):
        return f"the model's code ended the process (exit status {os.WEXITSTATUS(status)})"
    return f"the process checking it ended (wait status {status})"


def _child(work: Callable[[], dict[str, Any]], w: int, parent: int, on_sigint) -> None:
    code = 70  # EX_SOFTWARE: the answer could not be sent
    try:
        _die_with(parent)
        signal.signal(signal.SIGINT, on_sigint or signal.default_int_handler)
        try:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            importlib.import_module("checker.engine.search").process_ends_after_search()  # it os._exits below
            answer = work()
        except KeyboardInterrupt:  # a Ctrl-C before `work` could catch it
            answer = {"interrupted": True}
        data = json.dumps(answer).encode()
        sys.stdout.flush()
        sys.stderr.flush()
        view = memoryview(data)
        while view:
            view = view[os.write(w, view):]
        code = 0
    except BaseException:  # noqa: BLE001 - whatever happened, the supervisor reports a child without an answer
        pass
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _die_with(parent: int) -> None:
    """A child must not outlive its supervisor (killed, or stopped by a CI timeout): Linux's
    PR_SET_PDEATHSIG sends it SIGKILL then."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the supervisor ended before the request took effect
        os._exit(70)


def _drain(r: int) -> list[bytes]:
    out = []
    while select.select([r], [], [], 0)[0]:
        chunk = os.read(r, 1 << 16)
        if not chunk:
            break
        out.append(chunk)
    return out


def _decode(data: bytes) -> dict[str, Any] | None:
    try:
        answer = json.loads(data.decode())
    except (UnicodeDecodeError, ValueError):
        return None
    return answer if isinstance(answer, dict) else None


__all__ = ["GRACE_SECONDS", "REEXEC_MARK", "Interrupts", "Outcome", "Supervisor", "can_isolate", "describe_status",
           "fix_hash_seed"]
