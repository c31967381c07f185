"""checker/logic/actions.py: low-level actions written as formulas (`@action(formula=True)`, `when`).

The compiled Python successors of TwoPhase.tla equal those of the hand-written Python actions it had
before (kept here as the reference), on every state of 2 RMs and every reachable state of 3; the Z3
relation's successors (enumerated by blocking models) equal the Python ones on every reachable state and
on random type-correct states; and on random small formula-action models (hypothesis) Python and Z3
agree. Bad declarations are one clear line.
"""

from __future__ import annotations

import itertools

import pytest
import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from checker import Bool, Int, Map, Model, NodeId, Set, action, ite, when
from checker.cli import main
from checker.engine import search
from checker.logic import relation
from checker.logic.actions import model_kinds
from checker.logic.formula import INTEGER, const
from checker.logic.relation import SymbolicUnsupported
from checker.logic.smt import SymbolicState
from checker.model import ModelError
from checker.semantics import from_model
from tests.naive import reachable
from protocols.two_phase_commit_tla import EarlyCommit, TwoPhase

# -- the reference: TwoPhase's actions as hand-written Python on tuples (the protocol's code before formulas) --

WORKING, PREPARED, COMMITTED, ABORTED = range(4)
INIT, TM_COMMITTED, TM_ABORTED = range(3)


class HandTwoPhase(TwoPhase):
    """TwoPhase.tla's actions as Python code on raw tuples (every action overridden)."""

    def setup(self):
        def bit(message):
            return 1 << self.Message.rank(message)

        self.PREPARED = [bit(self.Prepared.make(rm=rm)) for rm in self.RM.names]
        self.COMMIT, self.ABORT = bit(self.Commit.make()), bit(self.Abort.make())
        self.ALL_RMS = (1 << self.rms) - 1

    @action(over="RM")
    def TMRcvPrepared(self, s, rms):
        at = self.at
        if s[at.tmState] != INIT:
            return ()
        msgs, tmPrepared = s[at.msgs], s[at.tmPrepared]
        out = []
        for r in rms:
            if msgs & self.PREPARED[r]:
                if tmPrepared >> r & 1:
                    out.append(s)
                    continue
                t = list(s)
                t[at.tmPrepared] = tmPrepared | 1 << r
                out.append(tuple(t))
        return out

    @action
    def TMCommit(self, s):
        at = self.at
        if s[at.tmState] == INIT and s[at.tmPrepared] == self.ALL_RMS:
            return [self.decide(s, TM_COMMITTED, self.COMMIT)]
        return ()

    @action
    def TMAbort(self, s):
        if s[self.at.tmState] == INIT:
            return [self.decide(s, TM_ABORTED, self.ABORT)]
        return ()

    def decide(self, s, tmState, msg):
        at = self.at
        t = list(s)
        t[at.tmState] = tmState
        t[at.msgs] |= msg
        return tuple(t)

    @action(over="RM")
    def RMPrepare(self, s, rms):
        at = self.at
        out = []
        for r in rms:
            if s[at.rmState[r]] == WORKING:
                t = list(s)
                t[at.rmState[r]] = PREPARED
                t[at.msgs] |= self.PREPARED[r]
                out.append(tuple(t))
        return out

    @action(over="RM")
    def RMChooseToAbort(self, s, rms):
        rmState = self.at.rmState
        out = []
        for r in rms:
            if s[rmState[r]] == WORKING:
                t = list(s)
                t[rmState[r]] = ABORTED
                out.append(tuple(t))
        return out

    @action(over="RM")
    def RMRcvCommitMsg(self, s, rms):
        if s[self.at.msgs] & self.COMMIT:
            return self.set_rms(s, rms, COMMITTED)
        return ()

    @action(over="RM")
    def RMRcvAbortMsg(self, s, rms):
        if s[self.at.msgs] & self.ABORT:
            return self.set_rms(s, rms, ABORTED)
        return ()

    def set_rms(self, s, rms, state):
        rmState = self.at.rmState
        out = []
        for r in rms:
            if s[rmState[r]] == state:
                out.append(s)
            else:
                t = list(s)
                t[rmState[r]] = state
                out.append(tuple(t))
        return out


class HandEarlyCommit(HandTwoPhase):
    @action
    def TMCommit(self, s):
        at = self.at
        if s[at.tmState] == INIT and s[at.tmPrepared] != 0:
            return [self.decide(s, TM_COMMITTED, self.COMMIT)]
        return ()


def every_state(schema) -> list[tuple]:
    """Every slot tuple within the slots' bounds (for TwoPhase each one is a canonical state)."""
    return list(itertools.product(*(range(b) for b in schema.slot_bounds)))


class Z3Successors:
    """The successors Z3 gives for one action's relation: pre fixed to a state, post free, each model
    blocked in turn."""

    def __init__(self, kind: relation.Kind, schema):
        self.pre, self.post = SymbolicState(schema, prefix="pre_"), SymbolicState(schema, prefix="post_")
        self.solver = z3.Solver()
        self.solver.add(*self.pre.constraints(), *self.post.constraints(), kind.relation(self.pre, self.post))

    def __call__(self, raw: tuple) -> set[tuple]:
        s, out = self.solver, set()
        s.push()
        s.add(*self.pre.equals(raw))
        while (r := s.check()) == z3.sat:
            t = self.post.state_of(s.model())
            out.add(t)
            s.add(z3.Not(z3.And(self.post.equals(t))))
        assert r == z3.unsat, r
        s.pop()
        return out


# -- TwoPhase: formulas vs the hand-written actions ---------------------------------------------------------------


@pytest.mark.parametrize(("cls", "hand"), [(TwoPhase, HandTwoPhase), (EarlyCommit, HandEarlyCommit)])
@pytest.mark.parametrize("rms", [2, 3])
def test_compiled_successors_equal_the_hand_written_ones(cls, hand, rms):
    new, old = from_model(cls(rms=rms)), from_model(hand(rms=rms))
    assert [a.name for a in new.actions] == [a.name for a in old.actions]
    assert all(a.formula is not None for a in cls(rms=rms).actions)
    states = every_state(new.schema) if rms == 2 else reachable(old)
    if rms == 3 and cls is TwoPhase:
        assert len(states) == 288  # TLC's count, by the reference
    for raw in states:
        for a, b in zip(new.actions, old.actions):
            got, want = list(a.successors(raw)), list(b.successors(raw))
            assert got == want, (a.name, raw)
            # a step that changes nothing is the state itself, as the hand-written code returns it
            assert [t is raw for t in got] == [t is raw for t in want], (a.name, raw)
            assert list(a.instances(raw)) == list(b.instances(raw)), (a.name, raw)


def test_twophase_keeps_tlcs_numbers():
    for rms, distinct, depth in ((3, 288, 11), (5, 8832, 17)):
        r = search(from_model(TwoPhase(rms=rms)))
        assert (r.stats.distinct, r.stats.depth) == (distinct, depth)


@pytest.mark.parametrize("rms", [2, 3])
def test_z3_successors_equal_python_successors_on_every_reachable_state(rms):
    model = TwoPhase(rms=rms)
    system = from_model(model)
    kinds = relation.kinds(system)  # dispatches to actions.model_kinds through system.model
    assert [k.name for k in kinds] == [a.name for a in system.actions]
    states = reachable(system)
    for kind, a in zip(kinds, system.actions):
        z = Z3Successors(kind, system.schema)
        for raw in states:
            assert z(raw) == set(a.successors(raw)), (a.name, raw)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.data())
def test_z3_successors_equal_python_successors_on_random_states(data):
    rms = data.draw(st.sampled_from([2, 3]))
    system = from_model(TwoPhase(rms=rms))
    raw = tuple(data.draw(st.integers(0, b - 1)) for b in system.schema.slot_bounds)
    for kind, a in zip(model_kinds(system, system.model), system.actions):
        assert Z3Successors(kind, system.schema)(raw) == set(a.successors(raw)), (a.name, raw)


# -- random small formula-action models ----------------------------------------------------------------------------

N = NodeId("n", 2)
VARIABLES = {"x": Int(0, 3), "b": Bool(), "S": Set(Int(0, 2)), "m": Map(N, Int(0, 2))}


@st.composite
def ints(draw, depth=2):
    """A function (s, p) -> an integer term (p: the action's parameter, or None)."""
    leaves = [lambda s, p: s.x, lambda s, p: s.m["n1"], lambda s, p: s.S.card()]
    k = draw(st.integers(-1, 4))
    leaves.append(lambda s, p, k=k: const(k, INTEGER))
    leaves.append(lambda s, p: s.m[p] if p is not None else s.m["n2"])
    if depth == 0:
        return draw(st.sampled_from(leaves))
    a, b = draw(ints(depth - 1)), draw(ints(depth - 1))
    c = draw(bools(depth - 1))
    return draw(st.sampled_from([
        *leaves,
        lambda s, p: a(s, p) + b(s, p),
        lambda s, p: a(s, p) - b(s, p),
        lambda s, p: ite(c(s, p), a(s, p), b(s, p)),
    ]))


@st.composite
def bools(draw, depth=2):
    leaves = [lambda s, p: s.b, lambda s, p: s.S.contains(1), lambda s, p: s.x == 0]
    if depth == 0:
        return draw(st.sampled_from(leaves))
    a, b = draw(ints(depth - 1)), draw(ints(depth - 1))
    f, g = draw(bools(depth - 1)), draw(bools(depth - 1))
    return draw(st.sampled_from([
        *leaves,
        lambda s, p: a(s, p) < b(s, p),
        lambda s, p: a(s, p) == b(s, p),
        lambda s, p: s.S.contains(a(s, p)),
        lambda s, p: ~f(s, p),
        lambda s, p: f(s, p) & g(s, p),
        lambda s, p: f(s, p) | g(s, p),
    ]))


@st.composite
def sets(draw):
    a = draw(ints(1))
    k = draw(st.integers(0, 2))
    return draw(st.sampled_from([
        lambda s, p: s.S,
        lambda s, p: s.S | {a(s, p)},
        lambda s, p: s.S - {k},
        lambda s, p: s.S & {0, k},
    ]))


@st.composite
def updates(draw):
    """A function (s, p) -> when(...), changing some of the variables (values kept in range)."""
    guard = draw(bools())
    chosen = draw(st.sets(st.sampled_from(sorted(VARIABLES))))
    xs, bs, ss, ms = draw(ints()), draw(bools()), draw(sets()), draw(ints(1))
    key = draw(st.sampled_from(["param", "n1", "n2", "x"]))

    def update(s, p):
        changes = {}
        if "x" in chosen:
            changes["x"] = xs(s, p) % 4  # an integer fitted to Int(0, 3): always in range
        if "b" in chosen:
            changes["b"] = bs(s, p)
        if "S" in chosen:
            changes["S"] = ss(s, p)
        if "m" in chosen:
            value = ms(s, p) % 3
            if key == "x":  # the key depends on the state
                changes["m"] = ite(s.x % 2 == 0, s.m.set("n1", value), s.m.set("n2", value))
            else:  # the parameter (or n1 where the action has none), or a constant key
                changes["m"] = {p if p is not None else "n1": value} if key == "param" else s.m.set(key, value)
        return when(guard(s, p), **changes)

    return update


class RandomBase(Model):
    def variables(self):
        self.N = N
        return dict(VARIABLES)

    def init(self):
        return {"x": 0, "b": False, "S": set(), "m": {"n1": 0, "n2": 0}}


def random_model(actions: list[tuple[bool, list]]) -> type[Model]:
    """A model whose actions are the given branches: over N (the parameter n) or without a parameter."""
    ns = {}
    for i, (over, branches) in enumerate(actions):
        fn = _over_n(branches) if over else _no_parameter(branches)
        fn.__name__ = f"A{i}"
        ns[f"A{i}"] = action(over="N" if over else (), formula=True)(fn)
    return type("Random", (RandomBase,), ns)


def _over_n(branches):
    def fn(self, s, n):
        return [u(s, n) for u in branches]

    return fn


def _no_parameter(branches):
    def fn(self, s):
        return branches[0](s, None) if len(branches) == 1 else [u(s, None) for u in branches]

    return fn


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.booleans(), st.lists(updates(), min_size=1, max_size=2)), min_size=1, max_size=3),
       st.data())
def test_random_formula_actions_agree_in_python_and_z3(actions, data):
    model = random_model(actions)()
    system = from_model(model)
    schema = system.schema
    values = [list(schema.variables[v].values()) for v in schema.variables]
    states = [schema.encode(dict(zip(schema.variables, vs))) for vs in itertools.product(*values)]
    picked = data.draw(st.lists(st.sampled_from(states), min_size=1, max_size=4, unique=True))
    for kind, a in zip(model_kinds(system, model), system.actions):
        z = Z3Successors(kind, schema)
        for raw in picked:
            got = list(a.successors(raw))
            assert set(got) == z(raw), (a.name, schema.decode(raw))
            assert all(schema.decode(t) is not None for t in got)  # canonical successors
            assert sorted(t for _, t in a.instances(raw)) == sorted(got)


# -- what a formula action can say -----------------------------------------------------------------------------------


class Counter(Model):
    def variables(self):
        self.N = NodeId("n", 2)
        return {"x": Int(0, 2), "m": Map(self.N, Bool())}

    def init(self):
        return {"x": 0, "m": {"n1": False, "n2": False}}

    @action(formula=True)
    def Inc(self, s):
        return when(True, x=s.x + 1)  # no guard: overflows at 2

    @action(over="N", formula=True)
    def Flip(self, s, n):
        return [when(~s.m[n], m={n: True}), when(s.m[n], m=s.m.set(n, False))]  # a choice of two branches


def test_an_integer_outside_its_type_is_an_error_in_the_search_and_no_step_for_z3():
    system = from_model(Counter())
    inc = system.action_named("Inc")
    assert inc.successors(system.schema.encode({"x": 1, "m": {"n1": False, "n2": False}})) == \
        [system.schema.encode({"x": 2, "m": {"n1": False, "n2": False}})]
    top = system.schema.encode({"x": 2, "m": {"n1": True, "n2": False}})
    with pytest.raises(ModelError, match=r"^Inc sets x to an integer outside Int\(0, 2\): 3$"):
        inc.successors(top)
    (kind, flip_kind) = model_kinds(system, system.model)
    assert Z3Successors(kind, system.schema)(top) == set()
    flip = system.action_named("Flip")
    assert [p for p, _ in flip.instances(top)] == [("n1",), ("n2",)]
    assert Z3Successors(flip_kind, system.schema)(top) == set(flip.successors(top)) == {
        system.schema.encode({"x": 2, "m": {"n1": False, "n2": False}}),
        system.schema.encode({"x": 2, "m": {"n1": True, "n2": True}})}


def test_the_search_names_the_action_that_overflows(tmp_path, capsys):
    (tmp_path / "overflow.py").write_text(
        "from checker import Int, Model, action, when\n"
        "class Up(Model):\n"
        "    def variables(self):\n"
        "        return {'x': Int(0, 2)}\n"
        "    def init(self):\n"
        "        return {'x': 0}\n"
        "    @action(formula=True)\n"
        "    def Inc(self, s):\n"
        "        return when(s.x >= 0, x=s.x + 1)\n")
    spec = tmp_path / "up.toml"
    spec.write_text('protocol = "overflow:Up"\nexpected = "holds"\n')
    code = main(["check", "-q", str(spec)])
    out = capsys.readouterr()
    assert code in (1, 2) and "action Inc" in out.out + out.err and "outside Int(0, 2): 3" in out.out + out.err


BAD = {
    "not_an_update": ("    @action(formula=True)\n    def A(self, s):\n        return s.x == 1\n",
                      "Bad.A: a formula action returns when(guard, var=value, ...) or a list of them, got x == 1"),
    "unknown_variable": ("    @action(formula=True)\n    def A(self, s):\n        return when(s.x == 0, y=1)\n",
                         "Bad.A: when(...) sets 'y', which is no variable of the state (variables: x, m)"),
    "ill_typed": ("    @action(formula=True)\n    def A(self, s):\n        return when(True, x='one')\n",
                  "Bad.A: 'one' is not a Int(0, 2)"),
    "dict_for_int": ("    @action(formula=True)\n    def A(self, s):\n        return when(True, x={0: 1})\n",
                     "Bad.A: when(..., x={...}): a dict of point updates needs a map"),
    "python_truth": ("    @action(formula=True)\n    def A(self, s):\n        return when(True, x=1) if s.x == 0 else ()\n",
                     "is a formula, not a Python truth value"),
    "arity": ("    @action(over='N', formula=True)\n    def A(self, s, ns, extra):\n        return when(True)\n",
              "Bad.A: a formula action (self, s, n) takes 3 arguments, this one takes 4"),
    "typo": ("    @action(formula=True)\n    def A(self, s):\n        return when(s.x == self.Nope)\n",
             "Bad.A: building the formula action raised AttributeError"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_formula_action_is_one_line(case, tmp_path, capsys):
    body, want = BAD[case]
    (tmp_path / f"bad_{case}.py").write_text(
        "from checker import Bool, Int, Map, Model, NodeId, action, when\n"
        "class Bad(Model):\n"
        "    def variables(self):\n"
        "        self.N = NodeId('n', 2)\n"
        "        return {'x': Int(0, 2), 'm': Map(self.N, Bool())}\n"
        "    def init(self):\n"
        "        return {'x': 0, 'm': {'n1': False, 'n2': False}}\n" + body)
    spec = tmp_path / f"{case}.toml"
    spec.write_text(f'protocol = "bad_{case}:Bad"\nexpected = "holds"\n')
    assert main(["check", "-q", str(spec)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"faultcheck: {spec}: ") and want in line, line


def test_a_model_with_a_python_action_has_no_symbolic_steps():
    class Mixed(TwoPhase):
        @action
        def Noop(self, s):
            return ()

    system = from_model(Mixed(rms=2))
    with pytest.raises(SymbolicUnsupported, match=r"^Mixed: action Noop is Python code on tuples, not a formula: "
                                                  r"declare it @action\(formula=True\).*or use enumeration"):
        relation.kinds(system)
    hand = from_model(HandTwoPhase(rms=2))
    with pytest.raises(SymbolicUnsupported, match="action TMRcvPrepared is Python code on tuples"):
        relation.kinds(hand)
