"""Every failure of model code is blamed on what failed, and every property is really checked: a
constraint, an invariant or an action by name; an action's result that is no list of states; a
property's result that is no bool; an override without its decorator; `state.down` without crashes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker import (
    Int,
    Message,
    Model,
    Node,
    Protocol,
    Role,
    action,
    check,
    constraint,
    durable,
    invariant,
    terminal,
    timer,
)
from checker.engine import SearchOptions, Verdict, search
from checker.logic import compile_predicate
from checker.model import ModelError
from checker.model.faults import Faults
from checker.semantics import from_model
from checker.semantics.nodes import from_protocol

ORDERS = [dict(store="exact"), dict(store="fingerprint"), dict(store="compact"), dict(strategy="dfs")]
IDS = ["exact", "fingerprint", "compact", "dfs"]


class Counter(Model):
    """0 -> 1 -> 2 -> 3, which loops."""

    def variables(self):
        return {"n": Int(0, 3)}

    def init(self):
        return {"n": 0}

    @action
    def Tick(self, s):
        return [(s[0] + 1,)] if s[0] < 3 else [s]


def run(model: Model, **opts):
    system = from_model(model)
    preds = {k: [compile_predicate(n, f, system.schema) for n, f in getattr(system, k + "s").items()]
             for k in ("invariant", "constraint", "terminal")}
    return search(system, preds["invariant"], SearchOptions(**opts), constraints=preds["constraint"],
                  terminals=preds["terminal"])


# -- who raised --------------------------------------------------------------------------------------


class ConstraintRaises(Counter):
    @constraint
    def Bounded(self, state):
        return 1 // (2 - state.n) >= 0


class InvariantRaises(Counter):
    @invariant
    def Fragile(self, state):
        return 1 // (2 - state.n) >= 0


class ActionRaises(Counter):
    @action
    def Tick(self, s):
        if s[0] == 2:
            raise ValueError("no third step")
        return [(s[0] + 1,)]


@pytest.mark.parametrize("opts", ORDERS, ids=IDS)
@pytest.mark.parametrize("model, reason", [
    (ConstraintRaises, "constraint Bounded raised ZeroDivisionError: integer division or modulo by zero"),
    (InvariantRaises, "invariant Fragile raised ZeroDivisionError: integer division or modulo by zero"),
    (ActionRaises, "action Tick raised ValueError: no third step"),
])
def test_what_raised_is_named(model, reason, opts):
    r = run(model(), **opts)
    assert (r.verdict, r.reason) == (Verdict.ERROR, reason)
    assert "ZeroDivisionError" in r.error or "ValueError" in r.error  # the model's traceback
    if opts.get("strategy") is None:
        assert [s[0] for s in r.path] == [0, 1, 2]


class Ping(Message):
    pass


class Worker(Node):
    got = durable(Int(0, 1), initial=0)

    def on_start(self):
        if self.id == "w1":
            self.send("w2", Ping())

    def on_ping(self, msg, src):
        raise RuntimeError(f"{self.id} cannot take a ping from {src}")


class Workers(Protocol):
    messages = (Ping,)
    w = Role(Worker, 2)


def test_a_handler_that_raises_is_named_with_its_class():
    r = search(from_protocol(Workers()), [])
    assert (r.verdict, r.reason) == (Verdict.ERROR, "handler Worker.on_ping raised RuntimeError: w2 cannot take a "
                                                    "ping from w1")


# -- what an action returns -------------------------------------------------------------------------


class ReturnsFive(Counter):
    @action
    def Tick(self, s):
        return 5 if s[0] == 2 else [(s[0] + 1,)]


class ReturnsNone(Counter):
    @action
    def Tick(self, s):
        if s[0] < 2:
            return [(s[0] + 1,)]


class ReturnsLists(Counter):
    @action
    def Tick(self, s):
        return [[s[0] + 1]] if s[0] == 2 else [(s[0] + 1,)]


@pytest.mark.parametrize("opts", ORDERS, ids=IDS)
@pytest.mark.parametrize("deadlock", [True, False])
@pytest.mark.parametrize("model, reason", [
    (ReturnsFive, "action Tick returned 5: an action returns a list of successor state tuples"),
    (ReturnsNone, "action Tick returned None; return [] when it is not enabled"),
    (ReturnsLists, "action Tick returned a successor [3], which is no state tuple: an action returns a list of "
                   "successor state tuples"),
])
def test_an_action_result_that_is_no_list_of_states_is_an_error(model, reason, deadlock, opts):
    r = run(model(), check_deadlock=deadlock, **opts)
    assert (r.verdict, r.reason) == (Verdict.ERROR, reason)
    assert r.error is None  # nothing raised in the model's code: no traceback into faultcheck's
    if opts.get("strategy") is None:
        assert [s[0] for s in r.path] == [0, 1, 2]


# -- what a property returns -------------------------------------------------------------------------


def returning(value_at_2, kind=invariant):
    class Returns(Counter):
        @kind
        def Prop(self, state):
            return value_at_2 if state.n == 2 else True

    return Returns()


@settings(max_examples=40, deadline=None)
@given(st.one_of(st.booleans(), st.none(), st.integers(-2, 2), st.text(max_size=3), st.floats(0, 1),
                 st.lists(st.booleans(), max_size=1)))
def test_a_property_is_a_bool_or_an_error(value):
    r = run(returning(value))
    if value is True:
        assert r.verdict is Verdict.HOLDS
    elif value is False:
        assert (r.verdict, r.property) == (Verdict.VIOLATED, "Prop")
    else:
        assert (r.verdict, r.reason) == (Verdict.ERROR, f"invariant Prop returned {value!r}, not a bool")
        assert [s[0] for s in r.path] == [0, 1, 2]


@pytest.mark.parametrize("opts", ORDERS, ids=IDS)
@pytest.mark.parametrize("kind", ["invariant", "constraint"])
def test_a_non_bool_is_an_error_in_every_order(kind, opts):
    r = run(returning("no", invariant if kind == "invariant" else constraint), **opts)
    assert (r.verdict, r.reason) == (Verdict.ERROR, f"{kind} Prop returned 'no', not a bool")


class NoTerminal(Model):
    def variables(self):
        return {"n": Int(0, 1)}

    def init(self):
        return {"n": 0}

    @action
    def Once(self, s):
        return [(1,)] if s[0] == 0 else []

    @terminal
    def Done(self, state):
        return None


def test_a_terminal_returning_none_is_an_error():
    assert run(NoTerminal()).reason == "terminal Done returned None, not a bool"


def test_numpy_bools_are_bools():
    np = pytest.importorskip("numpy")
    assert run(returning(np.bool_(True))).verdict is Verdict.HOLDS
    assert run(returning(np.bool_(False))).property == "Prop"


class ShortCircuit(Model):
    """`flag == 0 or n`: n alone is no bool, but the flag is never set, so the invariant returns True
    before it reads n. The checker must not call that an error, whatever order it evaluates parts in."""

    def variables(self):
        return {"flag": Int(0, 1), "n": Int(0, 3)}

    def init(self):
        return {"flag": 0, "n": 0}

    @action
    def Tick(self, s):
        return [(0, s[1] + 1)] if s[1] < 3 else [s]

    @invariant
    def Guarded(self, state):
        return state.flag == 0 or state.n


def test_a_non_bool_part_that_the_source_order_never_returns_is_no_error():
    assert run(ShortCircuit()).verdict is Verdict.HOLDS


# -- overrides keep their role ------------------------------------------------------------------------


class Base(Counter):
    @invariant
    def Safe(self, state):
        return True

    @constraint
    def Keep(self, state):
        return True


class Override(Base):
    def Safe(self, state):  # no @invariant: still the invariant Safe
        return state.n < 2

    def Keep(self, state):  # no @constraint: still the constraint Keep
        return state.n < 3

    def Tick(self, s):  # no @action: still the action Tick
        return [(s[0] + 1,)] if s[0] < 3 else []


def test_an_override_without_its_decorator_keeps_the_role():
    m = Override()
    assert list(m.predicates("invariant")) == ["Safe"] and list(m.predicates("constraint")) == ["Keep"]
    assert [a.name for a in m.actions] == ["Tick"]
    r = run(m)
    assert (r.verdict, r.property) == (Verdict.VIOLATED, "Safe") and [s[0] for s in r.path] == [0, 1, 2]
    assert check(Override, out=None).message.startswith("violated Safe")


def test_an_override_that_is_no_method_is_refused_with_the_fix():
    with pytest.raises(ModelError, match="StaticOverride.Safe overrides Base's @invariant with a staticmethod; define "
                                         "it as a method and repeat @invariant on it"):
        class StaticOverride(Base):
            Safe = staticmethod(lambda state: True)


class Ticker(Node):
    n = durable(Int(0, 3), initial=0)

    def on_start(self):
        self.set_timer("tick")

    @timer
    def tick(self):
        if self.n < 3:
            self.n += 1
            self.set_timer("tick")


class FastTicker(Ticker):
    def tick(self):  # no @timer: still the timer tick
        if self.n < 2:
            self.n += 2
            self.set_timer("tick")


class Ticking(Protocol):
    messages = (Ping,)
    t = Role(FastTicker, 1)

    @invariant
    def Even(self, state):
        return state.t1.n % 2 == 0


class OddTicking(Ticking):
    def Even(self, state):  # no @invariant: still checked
        return state.t1.n != 2


def test_overridden_handlers_and_protocol_invariants_keep_their_roles():
    system = from_protocol(Ticking())
    assert system.semantics.classes[0]._timers_ == ("tick",)
    r = search(system, [compile_predicate("Even", Ticking().Even, system.schema)], SearchOptions(check_deadlock=False))
    # by the override n goes 0 -> 2 (timer armed again) -> 2 (not): 3 states, never n = 1 or 3
    assert (r.verdict, r.stats.distinct) == (Verdict.HOLDS, 3)
    r = check(OddTicking, out=None)
    assert (r.verdict, r.property) == (Verdict.VIOLATED, "Even")


# -- state.down ---------------------------------------------------------------------------------------


class Quiet(Node):
    got = durable(Int(0, 1), initial=0)

    def on_start(self):
        if self.id == "w1":
            self.send("w2", Ping())

    def on_ping(self, msg, src):
        self.got = 1


class DownReader(Protocol):
    messages = (Ping,)
    w = Role(Quiet, 2)

    @invariant
    def NobodyDown(self, state):
        return not state.down


def test_state_down_exists_without_crashes_and_is_empty():
    system = from_protocol(DownReader())
    assert "down" not in system.schema.variables
    assert system.schema.view(system.initial[0]).down == frozenset()
    r = check(DownReader, out=None)
    assert (r.verdict, r.exit_code) == (Verdict.HOLDS, 0)


def test_state_down_with_crashes_is_the_crashed_nodes():
    system = from_protocol(DownReader(), faults=Faults(crashes=1))
    inv = compile_predicate("NobodyDown", DownReader().NobodyDown, system.schema)
    r = search(system, [inv])
    assert (r.verdict, r.property) == (Verdict.VIOLATED, "NobodyDown")
    assert system.schema.view(r.path[-1]).down in ({"w1"}, {"w2"})
