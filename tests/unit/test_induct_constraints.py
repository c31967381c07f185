"""`induct` under the model's @constraint and @action_constraint (issue 17 item 6): only states inside the
constraints are examined (a search expands only those), the invariants of every successor are checked inside
or outside them (a search checks them all, as TLC does). Expected verdicts and counts are derived here by
brute force over every state, never taken from the code under test."""

from __future__ import annotations

import textwrap
from itertools import product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker import Int, Map, Model, NodeId, action, action_constraint, constraint, forall, formula
from checker.logic import compile_formula, compile_predicate
from checker.logic.formula import State, disj
from checker.logic.induct import describe, induct
from checker.semantics import from_model
from checker.spec import SpecError, check


class Counter(Model):
    """x counts up to 4; Small (x <= 2) is not inductive: its only CTI is x = 2 -> x = 3."""

    def variables(self):
        return {"x": Int(0, 4)}

    def init(self):
        return {"x": 0}

    @action
    def inc(self, s):
        return [(s[0] + 1,)] if s[0] < 4 else []

    @formula
    def Small(self, s):
        return s.x <= 2

    @constraint
    def Below2(self, state):
        return state.x <= 1

    @constraint
    def Below3(self, state):
        return state.x <= 2

    @constraint
    def Odd(self, state):
        return state.x % 2 == 1

    @action_constraint
    def NoStep(self, state, next_state):
        return False


def compiled(system, kind, *names):
    fns = {"invariant": system.invariants, "constraint": system.constraints}[kind]
    return [compile_predicate(n, fns[n], system.schema) for n in names]


def states_of(system) -> list[tuple]:
    schema = system.schema
    names = list(schema.variables)
    return [schema.encode(dict(zip(names, vs))) for vs in product(*(list(schema.variables[n].values()) for n in names))]


def naive(system, invs, cons) -> tuple[str, int, int]:
    """Brute force: (verdict, states examined, states excluded by the constraints)."""
    holds = [s for s in states_of(system) if all(p.check(s) for p in invs)]
    inside = [s for s in holds if all(c.check(s) for c in cons)]
    ok = all(all(p.check(t) for p in invs) for s in inside for a in system.actions for t in a.successors(s))
    ok = ok and all(all(p.check(s) for p in invs) for s in system.initial)
    return ("inductive" if ok else "not_inductive"), len(inside), len(holds) - len(inside)


def test_a_constraint_that_excludes_the_only_cti_makes_the_invariant_inductive():
    system = from_model(Counter())
    invs = compiled(system, "invariant", "Small")
    before = induct(system, invs, method="explicit")
    assert before.verdict == "not_inductive"
    assert system.schema.decode(before.cti.pre)["x"] == 2 and system.schema.decode(before.cti.post)["x"] == 3
    after = induct(system, invs, constraints=compiled(system, "constraint", "Below2"), method="explicit")
    assert (after.verdict, after.cti) == ("inductive", None)
    assert (after.examined, after.excluded, after.filtered) == (2, 1, ("Below2",))  # x in {0, 1}; x = 2 out
    assert after.outside == 1  # x = 1 -> x = 2: outside Below2, and Small holds there
    assert naive(system, invs, compiled(system, "constraint", "Below2")) == ("inductive", 2, 1)


def test_a_successor_outside_the_constraint_still_has_its_invariant_checked():
    """The search checks the invariants of a successor outside the constraints (TLC): x = 2 is stored
    under Below3, x = 3 is generated and violates Small. So induct must not call Small inductive."""
    system = from_model(Counter())
    invs = compiled(system, "invariant", "Small")
    r = induct(system, invs, constraints=compiled(system, "constraint", "Below3"), method="explicit")
    assert r.verdict == "not_inductive" and r.excluded == 0
    assert system.schema.decode(r.cti.pre)["x"] == 2 and r.cti.post_outside == ("Below3",)
    assert any("outside the constraint Below3" in line for line in describe(system, r))


def test_the_search_agrees_that_a_violation_outside_the_constraint_is_one(tmp_path):
    mod = tmp_path / "counter_i17.py"
    mod.write_text(textwrap.dedent("""
        from checker import Int, Model, action, constraint, formula
        class Bounded(Model):
            def variables(self):
                return {"x": Int(0, 4)}
            def init(self):
                return {"x": 0}
            @action
            def inc(self, s):
                return [(s[0] + 1,)] if s[0] < 4 else []
            @formula
            def Small(self, s):
                return s.x <= 2
            @constraint
            def Below3(self, state):
                return state.x <= 2
    """))
    spec = tmp_path / "s.toml"
    spec.write_text('protocol = "counter_i17:Bounded"\nexpected = "violated"\nviolates = "Small"\n')
    assert check(spec, out=None).ok  # x = 3 is generated from the stored x = 2, and Small fails there


def test_the_constraints_together_and_a_formula_constraint_goes_to_the_solver():
    system = from_model(Counter())
    invs = compiled(system, "invariant", "Small")
    r = induct(system, invs, constraints=compiled(system, "constraint", "Below3", "Odd"), method="explicit")  # x = 1 only
    assert (r.verdict, r.examined, r.excluded) == ("inductive", 1, 2)
    s = State(system.schema)
    odd = compile_formula("OddF", disj(s.x == 1, s.x == 3), system.schema)
    r = induct(system, invs, constraints=[odd], method="explicit")  # Small and OddF: x = 1 only, and Z3 offers nothing else
    assert (r.verdict, r.examined, r.excluded, r.solved, r.filtered) == ("inductive", 1, 0, ("OddF",), ())
    both = induct(system, invs, constraints=[odd, *compiled(system, "constraint", "Below2")], method="explicit")
    assert (both.verdict, both.examined, both.excluded) == ("inductive", 1, 0)


def test_an_initial_state_outside_the_constraints_is_still_checked():
    system = from_model(Counter())
    s = State(system.schema)
    positive = compile_formula("Positive", s.x >= 1, system.schema)
    r = induct(system, [positive], constraints=compiled(system, "constraint", "Odd"), method="explicit")  # x = 0 is not Odd
    assert r.verdict == "not_inductive" and r.cti.pre is None and r.cti.post == (0,)


class Pair(Model):
    """v[n1], v[n2] in 0..2, each may count up; AtMostOne (every v <= 1) is not inductive."""

    symmetry = ("n",)

    def variables(self):
        self.N = NodeId("n", 2)
        return {"v": Map(self.N, Int(0, 2))}

    def init(self):
        return {"v": {"n1": 0, "n2": 0}}

    @action
    def inc(self, s):
        return [s[:i] + (s[i] + 1,) + s[i + 1:] for i in range(2) if s[i] < 2]

    @formula(symmetric=True)
    def AtMostOne(self, s):
        return forall(self.N, lambda n: s.v[n] <= 1)

    @constraint
    def FirstIdle(self, state):  # not symmetric: it names n1
        return state.v["n1"] == 0

    @constraint
    def BothIdle(self, state):
        return state.v["n1"] == 0 and state.v["n2"] == 0


@pytest.mark.parametrize("sym", [(), ("n",)])
def test_under_symmetry_a_class_is_examined_when_any_of_its_states_is_inside(sym):
    """Z3 offers one state per class; a constraint naming n1 may hold on another state of the class only.
    The CTI (0, 1) -> (0, 2) lies in the class of (1, 0), which FirstIdle excludes."""
    system = from_model(Pair())
    invs = compiled(system, "invariant", "AtMostOne")
    want = naive(system, invs, compiled(system, "constraint", "FirstIdle"))
    assert want[0] == "not_inductive"
    r = induct(system, invs, symmetry=sym, constraints=compiled(system, "constraint", "FirstIdle"), method="explicit")
    assert r.verdict == "not_inductive"
    assert system.schema.decode(r.cti.pre)["v"] == {"n1": 0, "n2": 1}  # the state inside FirstIdle is shown
    r = induct(system, invs, symmetry=sym, constraints=compiled(system, "constraint", "BothIdle"), method="explicit")
    assert r.verdict == "inductive" and r.examined == 1
    holds = [s for s in states_of(system) if all(p.check(s) for p in invs)]
    classes = {min(s, s[::-1]) for s in holds}
    assert r.excluded == (len(classes) if sym else len(holds)) - 1


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_induct_under_random_constraints_matches_a_naive_check(data):
    values = range(4)
    pairs = list(product(values, values))
    succ = {p: data.draw(st.lists(st.sampled_from(pairs), max_size=2, unique=True)) for p in pairs}
    inv = set(data.draw(st.lists(st.sampled_from(pairs), min_size=1, unique=True)))
    inv.add((0, 0))  # the initial state
    con = set(data.draw(st.lists(st.sampled_from(pairs), unique=True)))

    class Random(Model):
        def variables(self):
            return {"x": Int(0, 3), "y": Int(0, 3)}

        def init(self):
            return {"x": 0, "y": 0}

        @action
        def step(self, s):
            return [tuple(t) for t in succ[s]]

        @constraint
        def Inside(self, state):
            return (state.x, state.y) in con

    system = from_model(Random())
    s = State(system.schema)
    invs = [compile_formula("Inv", disj(*[(s.x == a) & (s.y == b) for a, b in sorted(inv)]), system.schema)]
    cons = compiled(system, "constraint", "Inside")
    want = naive(system, invs, cons)
    r = induct(system, invs, constraints=cons, method="explicit")
    assert r.verdict == want[0]
    if r.verdict == "inductive":
        assert (r.examined, r.excluded) == want[1:]
    else:
        pre = system.schema.decode(r.cti.pre)
        assert (pre["x"], pre["y"]) in inv & con and (tuple(r.cti.post) not in inv)


# -- through the spec: low-level and message-passing ------------------------------------------------------------------

PROTOCOL = '''
from checker import (Int, Message, Node, Protocol, Role, action_constraint, constraint, forall, formula, timer,
                     volatile)

class Nudge(Message):
    """Never sent: a protocol lists at least one message type."""

class Counter(Node):
    n = volatile(Int(0, 3), initial=0)

    def on_start(self):
        self.set_timer("bump")

    @timer
    def bump(self):
        if self.n < 3:
            self.n = self.n + 1
            self.set_timer("bump")

class Count(Protocol):
    c = Role(Counter, count=1)
    messages = (Nudge,)

    @formula
    def Small(self, s):
        return forall(s.role("c"), lambda a: a.n <= 1)

class Bounded(Count):
    @constraint
    def Idle(self, state):
        return state.c1.n == 0

class Stepless(Bounded):
    @action_constraint
    def Never(self, state, next_state):
        return False

class Raising(Count):
    @constraint
    def Boom(self, state):
        if state.c1.n == 1:
            raise ValueError("no")
        return True

class Vague(Count):
    @constraint
    def Maybe(self, state):
        return "yes"
'''


def spec_of(tmp_path, cls: str, expected: str) -> object:
    (tmp_path / "count_i17.py").write_text(PROTOCOL)
    spec = tmp_path / f"{cls}.toml"
    spec.write_text(f'protocol = "count_i17:{cls}"\nkind = "induct"\nexpected = "{expected}"\n'
                    '[network]\nin_flight = "set"\n')
    return spec


def test_a_message_passing_protocol_honours_its_constraint(tmp_path):
    before = check(spec_of(tmp_path, "Count", "not_inductive"), out=None)
    assert before.ok and before.outcome == "not_inductive" and before.property == "Small"
    after = check(spec_of(tmp_path, "Bounded", "inductive"), out=None)
    assert after.ok and after.outcome == "inductive", after.message
    # Small holds for n in {0, 1} and the timer armed or not; no handler sends a Nudge, so typed envelopes
    # keep the network empty: 4 states; Idle keeps the 2 with n = 0
    assert after.stats.distinct == 2
    assert "only states inside the constraint Idle: 2 states satisfying the invariant excluded by Idle" in after.message


def test_an_action_constraint_changes_no_verdict_and_says_so(tmp_path):
    r = check(spec_of(tmp_path, "Stepless", "inductive"), out=None)
    assert r.ok and r.outcome == "inductive"
    assert any(line.startswith("action constraint Never: not applied") for line in r.details)


def test_a_constraint_that_raises_on_a_state_the_invariant_allows_is_a_cti(tmp_path):
    r = check(spec_of(tmp_path, "Raising", "not_inductive"), out=None)
    assert r.ok and r.outcome == "not_inductive" and r.property is None
    assert any("Boom raised ValueError: no" in line for line in r.details)


def test_a_constraint_that_returns_no_bool_is_one_line(tmp_path):
    with pytest.raises(SpecError, match=r"Vague\.toml: induct: .*Maybe returned 'yes', not a bool"):
        check(spec_of(tmp_path, "Vague", "inductive"), out=None)
