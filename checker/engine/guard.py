"""The guard around model code while the engine runs it: model code may not end, hijack or hang the checker.

While a `guarded` block is active, `sys.exit`, a `KeyboardInterrupt` raised by model code (a real
Ctrl-C is told apart: the SIGINT handler notes it), `os._exit` called by model code and a model call
that runs past the hang limit all become failures that name the action, handler or property (`blame`).
Model code is the actions, handlers and properties (and what they call), found on the stack by their
code objects or their files (neither faultcheck, the standard library nor an installed package).
A sampler ticks about once a second (SIGALRM, main thread only); nothing is added per state.
Imports `checker.model`, `checker.semantics` and `checker.logic`.
"""

from __future__ import annotations

import os
import signal
import site
import sys
import sysconfig
import threading
import time
import traceback
import types
from collections.abc import Iterable, Sequence
from typing import Any

from ..logic import NotABool, Predicate
from ..model import Model, Node, Protocol
from ..semantics import TransitionSystem
from .result import SearchOptions

GRACE = 2.0  # seconds past max_seconds a model call may go on before the guard stops it

_CHECKER = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_THIS = os.path.abspath(__file__)
_REAL_EXIT = os._exit


def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    try:
        dirs.update(site.getsitepackages())
        dirs.add(site.getusersitepackages())
    except AttributeError:  # a virtualenv's old site module
        pass
    return tuple(sorted(os.path.join(os.path.abspath(d), "") for d in dirs if d))


_LIBRARIES = _library_dirs()
_USER_FILE: dict[str, bool] = {}


def user_file(filename: str) -> bool:
    """Whether code in `filename` is the user's: a real file outside faultcheck, the standard library
    and installed packages (`<...>` pseudo-files count only when registered, see `Guard.register`)."""
    known = _USER_FILE.get(filename)
    if known is None:
        path = os.path.abspath(filename)
        known = not filename.startswith("<") and not path.startswith(_CHECKER) and not path.startswith(_LIBRARIES) \
            and "site-packages" not in path and "dist-packages" not in path
        _USER_FILE[filename] = known
    return known


class ModelEscape(BaseException):
    """Raised into model code instead of what would end or hang the process: `os._exit`, a call past
    the hang limit. A BaseException, so that `except Exception` in model code lets it through."""

    def __init__(self, what: str, label: str):
        super().__init__(f"{label} {what}")
        self.what, self.label = what, label


class OutOfTime(BaseException):
    """max_seconds (and the grace) passed while a model call was running: the search stops, undetermined."""


class ModelCodeError(Exception):
    """Model code failed where no search loop turns it into a verdict (the liveness graph): `reason`
    names the culprit, `error` is the traceback of the model's frames."""

    def __init__(self, reason: str, error: str | None = None):
        super().__init__(reason)
        self.reason, self.error = reason, error


_GUARDS: dict[int, Guard] = {}  # thread id -> the guard active in it (forked children inherit them)
_SAVED_EXITS: dict[str, Any] = {}  # os._exit and posix._exit, while any guard is active


def active() -> Guard | None:
    """The guard active in this thread, or None."""
    return _GUARDS.get(threading.get_ident())


def note_sigint() -> None:
    """Called by the engine's own SIGINT handlers: a real Ctrl-C arrived (not model code's KeyboardInterrupt)."""
    g = active()
    if g is not None:
        g.sigint = True


def _guarded_exit(status: int = 0) -> None:
    g = active()
    if g is not None:
        f = g.outermost(sys._getframe(1))
        if f is not None:
            raise g.escape(f"called os._exit({status!r})", f)
    _REAL_EXIT(status)


class Guard:
    """What one guarded run knows: the labels of model code, the limits, what escaped."""

    def __init__(self, options: SearchOptions | None = None):
        options = options or SearchOptions()
        self.hang = float(options.hang_seconds)
        self.max_seconds = options.max_seconds
        self.labels: dict[types.CodeType, str] = {}
        self.kinds: dict[str, str] = {}  # property name -> "invariant", "constraint", ...
        self.sigint = False
        self.escaped: str | None = None  # the first escape, kept even when model code swallowed it
        self.thread = threading.get_ident()
        self.base: types.FrameType | None = None
        self.started = 0.0
        self.period = self._period()  # seconds between two samples
        self._current: types.FrameType | None = None
        self._since = 0.0
        self._saved: dict[str, Any] = {}

    def _period(self) -> float:
        return max(0.05, min([1.0, self.hang / 4] + ([GRACE / 4] if self.max_seconds is not None else [])))

    def limits(self) -> tuple[float, float | None, float]:
        return self.hang, self.max_seconds, self.started

    def set_limits(self, options: SearchOptions | float, max_seconds: float | None = None,
                   started: float | None = None) -> None:
        """New limits (a nested `guarded` block's options; or, leaving it, the outer block's limits back)."""
        if isinstance(options, SearchOptions):
            self.hang, self.max_seconds, self.started = float(options.hang_seconds), options.max_seconds, \
                time.monotonic()
        else:
            self.hang, self.max_seconds, self.started = options, max_seconds, started or time.monotonic()
        self.period = self._period()
        if "sigalrm" in self._saved:
            signal.setitimer(signal.ITIMER_REAL, self.period, self.period)

    # -- what is model code, and its name ---------------------------------------------------
    def register(self, system: TransitionSystem | None = None, **predicates: Sequence[Predicate]) -> None:
        """Learn the names of `system`'s actions and handlers and of the predicates, by kind."""
        if system is not None:
            for a in system.actions:
                for code in _user_codes(a.successors):
                    self.labels.setdefault(code, f"action {a.name}")
            sem = getattr(system, "semantics", None)
            for cls in getattr(sem, "classes", ()):
                for klass in cls.__mro__:
                    if klass is Node or not issubclass(klass, Node):
                        continue
                    for attr, v in vars(klass).items():
                        code = getattr(v, "__code__", None)
                        if code is not None:
                            self.labels.setdefault(code, f"handler {klass.__name__}.{attr}")
        for kind, preds in predicates.items():
            for p in preds:
                self.kinds.setdefault(p.name, kind)
                for part in p.parts:
                    for code in _user_codes(part.fn, pseudo=True):
                        self.labels.setdefault(code, f"{kind} {p.name}")

    def is_model(self, code: types.CodeType) -> bool:
        return code in self.labels or user_file(code.co_filename)

    def label(self, frame: types.FrameType) -> str | None:
        """What the frame runs, as the engine calls it ("action Tick", "handler Worker.on_ping",
        "invariant Safe"); None for a frame that is no entry point of model code."""
        code = frame.f_code
        known = self.labels.get(code)
        if known is not None:
            return known
        if code.co_argcount and code.co_varnames[0] == "self":
            obj = frame.f_locals.get("self")
            if isinstance(obj, Node):
                return f"handler {type(obj).__name__}.{code.co_name}"
            if isinstance(obj, (Model, Protocol)):
                cls = type(obj)
                for name, meth in getattr(cls, "_actions", {}).items():
                    if meth == code.co_name:
                        return f"action {name}"
                for name, (kind, meth) in getattr(cls, "_predicates", {}).items():
                    if meth == code.co_name:
                        return f"{kind} {name}"
        return None

    def outermost(self, frame: types.FrameType | None) -> types.FrameType | None:
        """The outermost frame of model code between `frame` and where the guard was entered."""
        found = None
        while frame is not None and frame is not self.base:
            if self.is_model(frame.f_code):
                found = frame
            frame = frame.f_back
        return found

    def escape(self, what: str, frame: types.FrameType) -> ModelEscape:
        label = self.label(frame) or f"model code {frame.f_code.co_qualname}"
        if self.escaped is None:
            self.escaped = f"{label} {what}"
        return ModelEscape(what, label)

    # -- blame ----------------------------------------------------------------------------------
    def blame(self, exc: BaseException) -> tuple[str | None, str | None] | None:
        """(reason, traceback of the model's frames) when `exc` is model code's failure; reason None
        when the traceback passes through no model code (the caller says what it was doing). None
        when `exc` is not model code's doing: a real Ctrl-C (or a monitor's), time out."""
        if isinstance(exc, OutOfTime):
            return None
        if isinstance(exc, ModelEscape):
            return f"{exc.label} {exc.what}", _format(exc, self)
        if isinstance(exc, NotABool):
            kind = exc.kind or self.kinds.get(exc.name, "property")
            return f"{kind} {exc.name} returned {_short(exc.value)}, not a bool", None
        entry = user = None
        tb = exc.__traceback__
        while tb is not None:
            f = tb.tb_frame
            if entry is None and self.label(f) is not None:
                entry = f
            if user is None and self.is_model(f.f_code):
                user = f
            tb = tb.tb_next
        if isinstance(exc, KeyboardInterrupt) and (self.sigint or entry is None):
            return None
        if isinstance(exc, (SystemExit, KeyboardInterrupt, GeneratorExit)) and entry is None and user is None:
            return None  # not raised under model code: the engine's (or its caller's) own
        what = _what(exc)
        if entry is not None:
            return f"{self.label(entry)} {what}", _format(exc, self)
        if user is not None:
            return f"model code {user.f_code.co_qualname} {what}", _format(exc, self)
        return None, "".join(traceback.format_exception(exc))

    # -- the sampler ----------------------------------------------------------------------------
    def _on_alarm(self, signum: int, frame: types.FrameType | None) -> None:
        now = time.monotonic()
        self._chain(signum, frame, now)
        f = self.outermost(frame)
        if f is None:
            self._current = None
            return
        if f is not self._current:
            self._current, self._since = f, now
        ran = now - self._since
        if ran >= self.hang:
            raise self.escape(f"ran for more than {self.hang:g} s without returning", f)
        if self.max_seconds is not None and now - self.started >= self.max_seconds + GRACE:
            if ran >= GRACE / 2:  # it has run for a while past max_seconds: it blocks the search
                raise self.escape(f"ran for more than {int(ran)} s without returning (max_seconds "
                                  f"{self.max_seconds:g} passed)", f)
            label = self.label(f) or f"model code {f.f_code.co_qualname}"
            raise OutOfTime(f"max_seconds {self.max_seconds:g} reached while {label} was running")

    def _chain(self, signum: int, frame: types.FrameType | None, now: float) -> None:
        """An alarm someone else had set before the guard (pytest-timeout, say) still goes off."""
        due = self._saved.get("alarm_due")
        if due is None or now < due:
            return
        interval = self._saved["alarm"][1]
        self._saved["alarm_due"] = due + interval if interval else None
        handler = self._saved.get("sigalrm")
        if callable(handler):
            handler(signum, frame)

    def _on_sigint(self, signum: int, frame: types.FrameType | None) -> None:
        self.sigint = True
        previous = self._saved.get("sigint")
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            raise KeyboardInterrupt

    def after_fork(self) -> None:
        """In a forked child: interval timers are not inherited; start the sampler again."""
        self._current = None
        if "sigalrm" in self._saved:
            signal.setitimer(signal.ITIMER_REAL, self.period, self.period)

    # -- entering and leaving ----------------------------------------------------------------
    def start(self, base: types.FrameType | None) -> None:
        self.base, self.started = base, time.monotonic()
        if not _GUARDS:
            _SAVED_EXITS["os"] = os._exit
            os._exit = _guarded_exit
            posix = sys.modules.get("posix")
            if posix is not None:
                _SAVED_EXITS["posix"] = posix._exit
                posix._exit = _guarded_exit
        _GUARDS[self.thread] = self
        if threading.current_thread() is threading.main_thread():
            self._saved["sigint"] = signal.signal(signal.SIGINT, self._on_sigint)
            self._saved["sigalrm"] = signal.signal(signal.SIGALRM, self._on_alarm)
            old = signal.setitimer(signal.ITIMER_REAL, self.period, self.period)
            self._saved["alarm"] = old
            self._saved["alarm_due"] = self.started + old[0] if old[0] > 0 else None

    def stop(self) -> None:
        if "sigalrm" in self._saved:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._saved["sigalrm"])
            signal.signal(signal.SIGINT, self._saved["sigint"])
            due, (_, interval) = self._saved["alarm_due"], self._saved["alarm"]
            if due is not None:  # someone's alarm, set before: it goes off when it was due
                signal.setitimer(signal.ITIMER_REAL, max(due - time.monotonic(), 0.001), interval)
        _GUARDS.pop(self.thread, None)
        if not _GUARDS and _SAVED_EXITS:
            os._exit = _SAVED_EXITS.pop("os")
            posix = sys.modules.get("posix")
            if posix is not None and "posix" in _SAVED_EXITS:
                posix._exit = _SAVED_EXITS.pop("posix")
        self._saved.clear()
        self.base = self._current = None


class guarded:
    """`with guarded(options, system, invariant=..., constraint=...) as guard:` runs model code under
    the guard. Re-entrant: inside an active guard (same thread) it only registers the names."""

    def __init__(self, options: SearchOptions | None = None, system: TransitionSystem | None = None,
                 **predicates: Sequence[Predicate]):
        self.options, self.system, self.predicates = options, system, predicates
        self.guard: Guard | None = None
        self.owner = False
        self.outer: tuple[float, float | None, float] = (0.0, None, 0.0)

    def __enter__(self) -> Guard:
        g = active()
        if g is not None:  # nested: the inner options' limits hold while the inner block runs
            g.register(self.system, **self.predicates)
            self.guard, self.outer = g, g.limits()
            if self.options is not None:
                g.set_limits(self.options)
            return g
        g = Guard(self.options)
        g.register(self.system, **self.predicates)
        g.start(sys._getframe(1))
        self.guard, self.owner = g, True
        return g

    def __exit__(self, *exc: object) -> None:
        if self.owner and self.guard is not None:
            self.guard.stop()
        elif self.guard is not None and self.options is not None:
            self.guard.set_limits(*self.outer)


def _user_codes(fn: Any, pseudo: bool = False, depth: int = 0) -> Iterable[types.CodeType]:
    """The code objects of model code behind `fn`: its own when it is the user's, else (a wrapper of
    faultcheck's, as symmetry reduction makes) those of the callables it closes over."""
    fn = getattr(fn, "__func__", fn)
    code = getattr(fn, "__code__", None)
    if code is None or depth > 3:
        return
    if user_file(code.co_filename) or (pseudo and code.co_filename.startswith("<") and "conjunct" in code.co_filename):
        yield code
        return
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            inner = cell.cell_contents
        except ValueError:
            continue
        if callable(inner):
            yield from _user_codes(inner, pseudo, depth + 1)


def _what(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"raised SystemExit({exc.code!r})"
    if isinstance(exc, Exception) or str(exc):
        return f"raised {type(exc).__name__}: {exc}" if str(exc) else f"raised {type(exc).__name__}"
    return f"raised {type(exc).__name__}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _format(exc: BaseException, guard: Guard) -> str:
    """The traceback from the outermost model frame on, without the guard's own frames."""
    tbs = []
    tb = exc.__traceback__
    while tb is not None:
        tbs.append(tb)
        tb = tb.tb_next
    first = next((k for k, t in enumerate(tbs) if guard.is_model(t.tb_frame.f_code)), 0)
    last = len(tbs)
    while last > first + 1 and os.path.abspath(tbs[last - 1].tb_frame.f_code.co_filename) == _THIS:
        last -= 1
    if not tbs:
        return "".join(traceback.format_exception_only(exc))
    summary = traceback.StackSummary.extract((t.tb_frame, t.tb_lineno) for t in tbs[first:last])
    return "Traceback (most recent call last):\n" + "".join(summary.format()) + \
        "".join(traceback.format_exception_only(exc))


__all__ = ["GRACE", "Guard", "ModelCodeError", "ModelEscape", "OutOfTime", "active", "guarded", "note_sigint",
           "user_file"]
