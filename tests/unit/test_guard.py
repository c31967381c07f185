"""Model code may not end, hijack or hang a search (checker/engine/guard.py): sys.exit, os._exit, a
KeyboardInterrupt it raises itself and a call that never returns are errors naming the action, handler
or property; a real Ctrl-C still stops the search (undetermined); os._exit elsewhere still exits."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from checker import Int, Message, Model, Node, Protocol, Role, action, check, constraint, durable, invariant
from checker.engine import SearchOptions, Verdict, search
from checker.engine import search as engine_search_api  # noqa: F401  (the package's search, as the CLI uses it)
from checker.engine.guard import ModelCodeError, guarded
from checker.engine.liveness import Fairness, check_liveness
from checker.logic import compile_predicate
from checker.semantics import from_model
from checker.semantics.nodes import from_protocol
from checker.spec import SpecError

engine_search = sys.modules["checker.engine.search"]

ORDERS = [dict(store="exact"), dict(store="fingerprint"), dict(store="compact"), dict(strategy="dfs"),
          dict(strategy="random", walks=20), dict(strategy="hypothesis", walks=20)]
IDS = ["exact", "fingerprint", "compact", "dfs", "random", "hypothesis"]


class Counter(Model):
    """0 -> 1 -> 2 -> 3, which loops: every order reaches 2 (a walk of 3 steps does)."""

    def variables(self):
        return {"n": Int(0, 3)}

    def init(self):
        return {"n": 0}

    @action
    def Tick(self, s):
        return [(s[0] + 1,)] if s[0] < 3 else [s]


def run(model: Model, **opts) -> object:
    system = from_model(model)
    preds = {k: [compile_predicate(n, f, system.schema) for n, f in getattr(system, k + "s").items()]
             for k in ("invariant", "constraint", "terminal")}
    return search(system, preds["invariant"], SearchOptions(**opts), constraints=preds["constraint"],
                  terminals=preds["terminal"])


# -- ending the process --------------------------------------------------------------------------------


class SysExit(Counter):
    @action
    def Tick(self, s):
        if s[0] == 2:
            sys.exit(0)
        return [(s[0] + 1,)] if s[0] < 3 else [s]


class OsExit(Counter):
    @action
    def Tick(self, s):
        if s[0] == 2:
            os._exit(0)
        return [(s[0] + 1,)] if s[0] < 3 else [s]


class RaisesInterrupt(Counter):
    @action
    def Tick(self, s):
        if s[0] == 2:
            raise KeyboardInterrupt
        return [(s[0] + 1,)] if s[0] < 3 else [s]


@pytest.mark.parametrize("opts", ORDERS, ids=IDS)
@pytest.mark.parametrize("model, reason", [(SysExit, "action Tick raised SystemExit(0)"),
                                           (OsExit, "action Tick called os._exit(0)"),
                                           (RaisesInterrupt, "action Tick raised KeyboardInterrupt")])
def test_ending_the_process_from_an_action_is_an_error_naming_it(model, reason, opts):
    r = run(model(), **opts)
    assert (r.verdict, r.reason) == (Verdict.ERROR, reason)
    if opts.get("strategy") is None:
        assert [s[0] for s in r.path] == [0, 1, 2]


def test_the_check_api_reports_sys_exit_as_an_error():
    r = check(SysExit, out=None)
    assert (r.verdict, r.exit_code) == (Verdict.ERROR, 2)
    assert r.message == "error: action Tick raised SystemExit(0)"


class ExitsInInvariant(Counter):
    @invariant
    def Safe(self, state):
        if state.n == 3:
            sys.exit(3)
        return True


class ExitsInConstraint(Counter):
    @constraint
    def Small(self, state):
        if state.n == 3:
            os._exit(1)
        return True


@pytest.mark.parametrize("opts", ORDERS[:4], ids=IDS[:4])
def test_ending_the_process_from_a_property_names_the_property(opts):
    assert run(ExitsInInvariant(), **opts).reason == "invariant Safe raised SystemExit(3)"
    assert run(ExitsInConstraint(), **opts).reason == "constraint Small called os._exit(1)"


class Swallows(Counter):
    @action
    def Tick(self, s):
        if s[0] == 2:
            try:
                os._exit(0)
            except BaseException:  # the model hides what the guard raised, and goes on
                pass
        return [(s[0] + 1,)] if s[0] < 3 else [s]


def test_model_code_that_swallows_the_guard_gains_nothing():
    r = run(Swallows())
    assert r.verdict is Verdict.ERROR and r.reason.startswith("action Tick called os._exit(0)")


# -- message-passing protocols: handlers ------------------------------------------------------------------


class Ping(Message):
    pass


class Sender(Node):
    done = durable(Int(0, 1), initial=0)

    def on_start(self):
        if self.id == "w1":
            self.send("w2", Ping())


class Exiter(Sender):
    def on_ping(self, msg, src):
        os._exit(0)


class Sleeper(Sender):
    def on_ping(self, msg, src):
        time.sleep(30)


class Spinner(Sender):
    def on_ping(self, msg, src):
        while True:
            pass


def protocol(node: type[Node]) -> Protocol:
    cls = type(f"With{node.__name__}", (Protocol,), {"messages": (Ping,), "w": Role(node, 2)})
    return cls()


@pytest.mark.parametrize("opts", ORDERS[:4], ids=IDS[:4])
def test_os_exit_in_a_handler_is_an_error_naming_the_handler(opts):
    r = search(from_protocol(protocol(Exiter)), [], SearchOptions(**opts))
    assert (r.verdict, r.reason) == (Verdict.ERROR, "handler Exiter.on_ping called os._exit(0)")


@pytest.mark.parametrize("node", [Sleeper, Spinner])
def test_a_handler_that_never_returns_is_an_error_after_hang_seconds(node):
    r = search(from_protocol(protocol(node)), [], SearchOptions(hang_seconds=1))
    assert r.verdict is Verdict.ERROR
    assert r.reason == f"handler {node.__name__}.on_ping ran for more than 1 s without returning"


def test_a_search_inside_an_outer_guard_keeps_its_own_limits():
    with guarded() as outer:  # the default limit (60 s) outside; the search's own (1 s) inside
        r = search(from_protocol(protocol(Spinner)), [], SearchOptions(hang_seconds=1))
        assert outer.hang == 60
    assert r.reason == "handler Spinner.on_ping ran for more than 1 s without returning"


def test_max_seconds_bounds_a_blocking_handler():
    r = search(from_protocol(protocol(Sleeper)), [], SearchOptions(max_seconds=0.5))
    assert r.verdict is Verdict.ERROR
    assert r.reason.startswith("handler Sleeper.on_ping ran for more than ")
    assert r.reason.endswith(" s without returning (max_seconds 0.5 passed)")


class Hangs(Counter):
    @action
    def Tick(self, s):
        if s[0] == 2:
            time.sleep(30)
        return [(s[0] + 1,)] if s[0] < 3 else [s]


@pytest.mark.parametrize("opts", [dict(store="compact"), dict(strategy="dfs")], ids=["compact", "dfs"])
def test_the_hang_limit_holds_in_the_other_orders(opts):
    r = run(Hangs(), hang_seconds=1, **opts)
    assert (r.verdict, r.reason) == (Verdict.ERROR, "action Tick ran for more than 1 s without returning")


# -- a real Ctrl-C, and os._exit outside model code ---------------------------------------------------


class CtrlC(Counter):
    @action
    def Tick(self, s):
        if s[0] == 2:  # a real SIGINT, twice: the breadth-first search takes the first at a clean point
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return [(s[0] + 1,)] if s[0] < 3 else [s]


@pytest.mark.parametrize("opts", ORDERS[:4], ids=IDS[:4])
def test_a_real_sigint_is_undetermined_not_an_error(opts):
    r = run(CtrlC(), **opts)
    assert (r.verdict, r.reason) == (Verdict.UNDETERMINED, "interrupted (Ctrl-C)")


class CtrlCOnce(Counter):
    @action
    def Tick(self, s):
        if s[0] == 1:
            os.kill(os.getpid(), signal.SIGINT)
        return [(s[0] + 1,)] if s[0] < 3 else [s]


def test_one_real_sigint_stops_the_breadth_first_search_at_the_next_clean_point():
    r = run(CtrlCOnce())
    assert (r.verdict, r.reason) == (Verdict.UNDETERMINED, "interrupted (Ctrl-C)")


def test_os_exit_outside_model_code_still_exits():
    pid = os.fork()
    if pid == 0:  # the child: a guard is active, but this call is no model code's
        try:
            with guarded(SearchOptions(), from_model(Counter())):
                os._exit(7)
        finally:
            os._exit(9)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 7


def test_the_guard_restores_what_it_replaced():
    real_exit = os._exit
    sigint, sigalrm = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGALRM)
    signal.setitimer(signal.ITIMER_REAL, 100)  # someone's alarm, pending: it survives the search
    try:
        run(OsExit())
        assert os._exit is real_exit
        assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGALRM)) == (sigint, sigalrm)
        assert 95 < signal.getitimer(signal.ITIMER_REAL)[0] <= 100
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def test_searches_in_two_threads_each_have_their_guard():
    import threading

    out = {}

    def work(name, model):
        out[name] = run(model)

    threads = [threading.Thread(target=work, args=(k, m)) for k, m in (("exits", OsExit()), ("fine", Counter()))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (out["exits"].verdict, out["exits"].reason) == (Verdict.ERROR, "action Tick called os._exit(0)")
    assert out["fine"].verdict is Verdict.HOLDS
    assert type(os._exit).__name__ == "builtin_function_or_method"  # the real one again


# -- parallel levels ---------------------------------------------------------------------------------


class Wide(Model):
    """Level 2 holds 64 states; one of them, late in the level (a child's slice), calls os._exit."""

    def variables(self):
        return {"x": Int(0, 64), "y": Int(0, 1)}

    def init(self):
        return {"x": 0, "y": 0}

    @action
    def Spread(self, s):
        return [(x, 0) for x in range(1, 65)] if s[0] == 0 else []

    @action
    def Step(self, s):
        if s[0] == 60:
            os._exit(0)
        return [(s[0], 1)] if s[0] and not s[1] else []


@pytest.mark.parametrize("store", ["exact", "fingerprint"])
def test_os_exit_in_a_workers_slice_is_the_same_error(store, monkeypatch):
    monkeypatch.setattr(engine_search, "PARALLEL_MIN", 8)
    one = run(Wide(), store=store, check_deadlock=False)
    many = run(Wide(), store=store, check_deadlock=False, workers=2)
    assert (many.verdict, many.reason) == (one.verdict, one.reason) == (Verdict.ERROR, "action Step called os._exit(0)")
    assert many.path == one.path and [s[0] for s in many.path] == [0, 60]


class WideSpin(Wide):
    @action
    def Step(self, s):
        while s[0] == 60:  # in a child's slice: only the child's own sampler can stop it
            pass
        return [(s[0], 1)] if s[0] and not s[1] else []


def test_a_hang_in_a_workers_slice_is_stopped_there_too(monkeypatch):
    monkeypatch.setattr(engine_search, "PARALLEL_MIN", 8)
    r = run(WideSpin(), check_deadlock=False, workers=2, hang_seconds=1)
    assert (r.verdict, r.reason) == (Verdict.ERROR, "action Step ran for more than 1 s without returning")
    assert [s[0] for s in r.path] == [0, 60]


class Numbered(Message):
    k = Int(0, 63)


class FanOut(Node):
    """w1 sends 64 numbered messages at once; w2 remembers the first it receives, and exits when 0
    arrives after 60: only while expanding the level after the first delivery, late in that level."""

    first = durable(Int(0, 64), initial=0)

    def on_start(self):
        if self.id == "w1":
            for k in range(64):
                self.send("w2", Numbered(k))

    def on_numbered(self, msg, src):
        if msg.k == 0 and self.first == 61:
            os._exit(0)
        if not self.first:
            self.first = msg.k + 1


class FanOutProtocol(Protocol):
    messages = (Numbered,)
    w = Role(FanOut, 2)


def test_os_exit_in_a_handler_reached_only_in_a_parallel_level(monkeypatch):
    monkeypatch.setattr(engine_search, "PARALLEL_MIN", 16)
    system = from_protocol(FanOutProtocol(), network="set")
    one = search(system, [], SearchOptions(check_deadlock=False))
    many = search(system, [], SearchOptions(workers=2, check_deadlock=False))
    assert (many.verdict, many.reason) == (one.verdict, one.reason)
    assert (many.verdict, many.reason) == (Verdict.ERROR, "handler FanOut.on_numbered called os._exit(0)")
    assert len(many.path) == 2 and many.path == one.path  # the initial state, then 60 delivered first


# -- liveness --------------------------------------------------------------------------------------------


def test_os_exit_while_building_the_liveness_graph_is_a_model_code_error():
    with pytest.raises(ModelCodeError, match=r"^action Tick called os._exit\(0\)$"):
        check_liveness(from_model(OsExit()), [], Fairness())


@pytest.mark.parametrize("body, what", [("sys.exit(4)", "raised SystemExit(4)"), ("os._exit(0)", "called os._exit(0)")])
def test_model_code_that_exits_while_the_model_is_set_up_is_a_spec_error_naming_it(tmp_path, monkeypatch, body, what):
    """on_start runs while the transition system is built, before any search: guarded there too."""
    (tmp_path / "exits_at_start.py").write_text(
        "import os, sys\n"
        "from checker import Int, Message, Node, Protocol, Role, durable\n"
        "class Ping(Message):\n    pass\n"
        "class N(Node):\n"
        "    x = durable(Int(0, 3), initial=0)\n"
        f"    def on_start(self):\n        {body}\n"
        "    def on_ping(self, msg: Ping, src):\n        pass\n"
        "class P(Protocol):\n    messages = (Ping,)\n    n = Role(N, count=2)\n")
    spec = tmp_path / "s.toml"
    spec.write_text('protocol = "exits_at_start:P"\nexpected = "holds"\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(SpecError) as e:
        check(spec, out=None)
    assert str(e.value) == f"{spec}: setting up the model: handler N.on_start {what}"
