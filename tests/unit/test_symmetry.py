"""Symmetry reduction (checker/engine/symmetry.py, checker/model/symmetry.py, `check(symmetry=...)`).

Every expected figure is computed here by brute force: a plain search of the unreduced model, then the
number of orbits of its reachable states under every renaming of the role's ids (the least image under
`images`, or, where that is too slow, the connected components of the states under two renamings that
generate the whole symmetric group). The reduced search must find exactly one state per orbit, whatever
form the reduction takes ("sort", "min", "sig"); permutations compiled on slots must agree with the
decoded renamer; counterexamples found under symmetry must stay concrete and replay on the full model."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tomllib
from functools import cache
from itertools import permutations
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import checker
import checker.engine.symmetry as symmetry
from checker import (
    Bool,
    Ids,
    Int,
    Map,
    Message,
    Model,
    Node,
    NodeId,
    Option,
    Param,
    Protocol,
    Record,
    Role,
    Seq,
    Set,
    action,
    durable,
    invariant,
    volatile,
)
from checker.cli import main
from checker.engine import Verdict
from checker.engine.symmetry import permuter, reduced, reduction
from checker.logic import compile_predicate
from checker.model import StateSchema
from checker.model.faults import Faults
from checker.model.symmetry import images, renamer, role_ids
from checker.semantics import from_model
from checker.semantics.nodes import from_protocol
from checker.spec import SpecError
from checker.spec.run import prepare
from checker.trace import Trace, replay
from protocols.two_phase_commit_tla import TwoPhase

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"


# -- brute force -------------------------------------------------------------------------------------------------------


def reachable(system, limit: int | None = None) -> list[tuple] | None:
    """Every reachable state, breadth first (None when there are more than `limit`)."""
    seen = dict.fromkeys(system.initial)
    frontier = list(seen)
    while frontier:
        nxt = []
        for s in frontier:
            for a in system.actions:
                for t in a.successors(s):
                    if t not in seen:
                        seen[t] = None
                        nxt.append(t)
                        if limit is not None and len(seen) > limit:
                            return None
        frontier = nxt
    return list(seen)


def orbit_mins(schema, roles, states) -> set[tuple]:
    """One least image per orbit: the classes, straight from the definition."""
    fns = images(schema, tuple(roles))
    return {min(f(s) for f in fns) for s in states}


def generators(schema, role: str, make) -> list:
    """A transposition and an n-cycle of the role's ids: together they generate every permutation."""
    ids = role_ids(schema, role)
    n = len(ids)
    swap = {x: x for x in ids}
    swap[ids[0]], swap[ids[1]] = ids[1], ids[0]
    cycle = {ids[i]: ids[(i + 1) % n] for i in range(n)}
    return [make(swap)] if n == 2 else [make(swap), make(cycle)]


class Orbits:
    """The orbits of a set of states closed under `gens` (union-find); closure is asserted."""

    def __init__(self, states, gens):
        self.parent = {s: s for s in states}
        for s in states:
            for g in gens:
                t = g(s)
                assert t in self.parent, "the reachable states are not closed under renaming"
                a, b = self.find(s), self.find(t)
                if a != b:
                    self.parent[a] = b
        self.count = len({self.find(s) for s in states})

    def find(self, s):
        p = self.parent
        while p[s] != s:
            p[s] = p[p[s]]
            s = p[s]
        return s


def renaming_generators(schema, role):
    return generators(schema, role, lambda m: renamer(schema, role, m))


def slot_generators(schema, role, sample):
    """Generators compiled on slots, checked against the decoded renamer on `sample` first."""
    fast = generators(schema, role, lambda m: permuter(schema, (role,), m))
    slow = renaming_generators(schema, role)
    for s in sample:
        for f, g in zip(fast, slow):
            assert f(s) == g(s)
    return fast


def all_mappings(ids):
    return [dict(zip(ids, p)) for p in permutations(ids)]


@pytest.fixture
def form(request, monkeypatch):
    """Force a reduction form: "min" (least image over every permutation) or "sig" (sorted
    signatures, least image over ties); "auto" leaves the choice to `reduction`."""
    which = request.param
    if which == "min":
        monkeypatch.setattr(symmetry, "SMALL", 10**6)
    elif which == "sig":
        monkeypatch.setattr(symmetry, "SMALL", 1)
    return which


def assert_exact(system, role, red, states, orbits: Orbits):
    """The reduced search reaches exactly one reachable state per orbit."""
    reps = reachable(reduced(system, red))
    assert all(r in orbits.parent for r in reps), "a representative is no reachable state"
    assert len({orbits.find(r) for r in reps}) == len(reps), "two representatives of one class"
    assert len(reps) == orbits.count
    for r in reps:  # every representative is the representative of itself
        assert red.canon(r) == r
    return reps


# -- a protocol with crashes whose state names ids as values ----------------------------------------------------------


class Vote(Message):
    fav = Ids("v")


class Voter(Node):
    fav = durable(Option(Ids("v")), initial=None)
    also = durable(Set(Ids("v")), initial=frozenset())

    def on_start(self):
        if self.fav is None:
            self.fav = self.choose(self.peers("v"))
            self.also = frozenset({self.fav})
            self.send("c1", Vote(fav=self.fav))


class Collector(Node):
    got = volatile(Set(Ids("v")), initial=frozenset())
    last = durable(Option(Ids("v")), initial=None)

    def on_vote(self, msg, src):
        self.got = self.got | {src}
        self.last = msg.fav

    def on_peer_crash(self, peer):
        self.got = self.got - {peer}


class Votes(Protocol):
    """Voters each pick a peer and tell a collector, which remembers who voted and the last pick."""

    vs = Param(3, "voters", lo=2, hi=5)
    c = Role(Collector, count=1)
    v = Role(Voter, count="vs")
    messages = (Vote,)
    symmetry = ("v",)

    @invariant(symmetric=True)
    def NoSelfVote(self, state):
        return all(getattr(state, f"v{i}").fav != f"v{i}" for i in range(1, self.vs + 1))


@cache
def explored(kind: str, size: int):
    """(system, reachable states, their orbits, the role) of one of the models below, computed once.
    Orbits come from the decoded renamer; for the largest spaces from permutations compiled on slots,
    themselves checked against the renamer on a sample first."""
    if kind == "tla":
        system, role = from_model(TwoPhase(rms=size)), "rm"
    elif kind == "mp":
        system, role = prepare(SPECS / "two_phase_commit_ok.toml", {"rms": size})[0], "rm"
    else:
        system, role = from_protocol(Votes(vs=size), faults=Faults(crashes=1, crashable=("v",))), "v"
    states = reachable(system)
    if len(states) < 5000:
        gens = renaming_generators(system.schema, role)
    else:
        gens = slot_generators(system.schema, role, random.Random(size).sample(states, 200))
    return system, states, Orbits(states, gens), role


# -- 1. exactness --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rms", [2, 3, 4, 5])
def test_twophase_tla_reduced_count_is_the_orbit_count(rms):
    system, states, orbits, _ = explored("tla", rms)
    if rms <= 3:  # the definition itself agrees with the union-find
        assert len(orbit_mins(system.schema, ("rm",), states)) == orbits.count
    red = reduction(system.schema, ("rm",))
    assert red.form == "sort" and red.exact
    assert_exact(system, "rm", red, states, orbits)
    r = checker.check(TwoPhase, params={"rms": rms}, symmetry=True, out=None)
    assert r.ok and r.stats.distinct == orbits.count < len(states)
    assert "rm" in r.symmetry


@pytest.mark.parametrize("form", ["auto", "min", "sig"], indirect=True)
@pytest.mark.parametrize("rms", [3, 4])
def test_message_passing_2pc_reduced_count_is_the_orbit_count(rms, form):
    system, states, orbits, _ = explored("mp", rms)
    red = reduction(system.schema, ("rm",))
    assert red.exact and red.form == (form if form != "auto" else "min" if rms == 3 else "sig")
    assert_exact(system, "rm", red, states, orbits)
    r = checker.check(SPECS / "two_phase_commit_ok.toml", params={"rms": rms}, symmetry=True, out=None)
    assert r.ok and r.stats.distinct == orbits.count < len(states)


@pytest.mark.parametrize("form", ["auto", "min", "sig"], indirect=True)
@pytest.mark.parametrize("n", [3, 4])
def test_a_protocol_with_crashes_and_ids_as_values_is_reduced_exactly(n, form):
    system, states, orbits, _ = explored("votes", n)
    schema = system.schema
    decoded = [schema.decode(s) for s in states[:: max(1, len(states) // 500)]]
    assert any(d["down"] for d in decoded)  # crashes do happen
    assert any(d["c1"].last is None and d["v1"].fav is not None for d in decoded)  # an absent Option among ids
    red = reduction(schema, ("v",))
    assert red.exact and red.form == (form if form != "auto" else "min" if n == 3 else "sig")
    assert_exact(system, "v", red, states, orbits)


def test_an_absent_option_keeps_one_encoding_under_renaming():
    """Renaming must never write into an absent Option's padding or a sequence's unused blocks."""
    P = NodeId("p", 3)
    schema = StateSchema({"ptr": Option(P), "log": Seq(P, 2), "m": Map(P, Bool())})
    for ptr in (None, "p1", "p3"):
        for log in ((), ("p2",), ("p3", "p1")):
            raw = schema.encode({"ptr": ptr, "log": log, "m": {"p1": True, "p2": False, "p3": False}})
            for m in all_mappings(P.names):
                out = permuter(schema, ("p",), m)(raw)
                assert schema.encode(schema.decode(out)) == out
                assert out == renamer(schema, "p", m)(raw)


# -- 2. random symmetric models ------------------------------------------------------------------------------------------

GUARD = st.one_of(st.none(), st.integers(0, 2))  # a value of m[i] the rule needs (None: any)
VALUE = st.integers(0, 2)
RULES = st.one_of(
    st.tuples(st.just("set"), GUARD, VALUE, GUARD),
    st.tuples(st.just("inc"), GUARD),
    st.tuples(st.just("join"), GUARD),
    st.tuples(st.just("leave"), VALUE),
    st.tuples(st.just("tick"), GUARD),
    st.tuples(st.just("pair"), GUARD, GUARD, VALUE),
    st.tuples(st.just("point"), GUARD),
    st.tuples(st.just("unpoint"), VALUE),
    st.tuples(st.just("push"), GUARD),
    st.tuples(st.just("pop"), VALUE),
    st.tuples(st.just("link"), GUARD),
    st.tuples(st.just("follow")),
)


def step(st_, rule, ids, k, edge):
    """Every successor of decoded state `st_` by `rule`, applied alike to every id (and pair of ids)."""
    kind, *a = rule
    m, out = st_["m"], []

    def fits(i, guard):
        return guard is None or m[i] == guard % (k + 1)

    def new(changes=None, **kw):
        d = dict(st_)
        d["m"] = {**m, **(changes or {})}
        d.update(kw)
        out.append(d)

    for i in ids:
        if kind == "set" and fits(i, a[0]) and (a[2] is None or st_["g"] == a[2] % (k + 1)):
            new({i: a[1] % (k + 1)})
        elif kind == "inc" and fits(i, a[0]):
            new({i: (m[i] + 1) % (k + 1)})
        elif kind == "join" and fits(i, a[0]) and i not in st_["s"]:
            new(s=st_["s"] | {i})
        elif kind == "leave" and i in st_["s"]:
            new({i: a[0] % (k + 1)}, s=st_["s"] - {i})
        elif kind == "tick" and fits(i, a[0]) and st_["g"] < k:
            new(g=st_["g"] + 1)
        elif kind == "pair":
            for j in ids:
                if j != i and fits(i, a[0]) and fits(j, a[1]):
                    new({i: a[2] % (k + 1)})
        elif kind == "point" and "ptr" in st_ and st_["ptr"] is None and fits(i, a[0]):
            new(ptr=i)
        elif kind == "unpoint" and "ptr" in st_ and st_["ptr"] == i:
            new({i: a[0] % (k + 1)}, ptr=None)
        elif kind == "push" and "log" in st_ and len(st_["log"]) < 2 and fits(i, a[0]):
            new(log=st_["log"] + (i,))
        elif kind == "pop" and "log" in st_ and st_["log"] and st_["log"][0] == i:
            new({i: a[0] % (k + 1)}, log=st_["log"][1:])
        elif kind == "link" and "edges" in st_:
            for j in ids:
                if j != i and fits(i, a[0]):
                    new(edges=st_["edges"] | {edge.make(a=i, b=j)})
        elif kind == "follow" and "edges" in st_:
            for e in st_["edges"]:
                if e.a == i:
                    new({i: m[e.b]}, edges=st_["edges"] - {e})
    return out


def generated(n: int, k: int, start: tuple[int, ...], rules: list, extras: frozenset[str]) -> Model:
    P = NodeId("p", n)
    edge = Record("Edge", a=P, b=P)

    class Generated(Model):
        symmetry = ("p",)

        def variables(self):
            v = {"g": Int(0, k), "m": Map(P, Int(0, k)), "s": Set(P)}
            if "ptr" in extras:
                v["ptr"] = Option(P)
            if "log" in extras:
                v["log"] = Seq(P, 2)
            if "edges" in extras:
                v["edges"] = Set(edge)
            return v

        def init(self):
            out = []
            for p in sorted(set(permutations(start))):  # a whole orbit: the initial states are symmetric
                d = {"g": 0, "m": dict(zip(P.names, p)), "s": frozenset()}
                d.update({"ptr": None, "log": (), "edges": frozenset()} if extras else {})
                out.append({x: d[x] for x in self.variables()})
            return out

        @action
        def Step(self, s):
            decoded = self.schema.decode(s)
            succ = [t for r in rules for t in step(decoded, r, P.names, k, edge)]
            return [self.schema.encode({x: d[x] for x in decoded}) for d in succ]

        @invariant(symmetric=True)
        def Bounded(self, state):
            return state.g <= k

    return Generated()


@st.composite
def models(draw):
    n = draw(st.integers(2, 4))
    k = draw(st.integers(1, 2))
    extras = frozenset() if n == 4 else draw(st.frozensets(st.sampled_from(["ptr", "log", "edges"]), max_size=2))
    start = tuple(draw(st.lists(st.integers(0, k), min_size=n, max_size=n)))
    rules = draw(st.lists(RULES, min_size=2, max_size=6))
    return n, k, start, rules, extras


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(models(), st.sampled_from(["auto", "min", "sig"]), st.randoms(use_true_random=False))
def test_random_symmetric_models_get_one_state_per_orbit(spec, which, rnd):
    n, k, start, rules, extras = spec
    model = generated(n, k, start, rules, extras)
    system = from_model(model)
    states = reachable(system, limit=400)
    assume(states is not None and len(states) > 2)
    schema = system.schema
    orbits = Orbits(states, renaming_generators(schema, "p"))
    with pytest.MonkeyPatch.context() as mp:
        if which != "auto":
            mp.setattr(symmetry, "SMALL", 10**6 if which == "min" else 1)
        red = reduction(schema, ("p",))
        assert red.exact
        if extras:
            assert red.form != "sort"  # ids occur as values: sorting records alone would not be exact
        assert_exact(system, "p", red, states, orbits)
        r = checker.check(model, symmetry=True, out=None, check_deadlock=False)
        assert r.ok and r.stats.distinct == orbits.count
        fns = images(schema, ("p",))
        for s in rnd.sample(states, min(len(states), 15)):
            c = red.canon(s)
            assert all(red.canon(f(s)) == c for f in fns)
            assert c in {f(s) for f in fns}  # the representative is in the state's own orbit


# -- 3. permutations on slots agree with the decoded renamer; witnesses ---------------------------------------------------


@cache
def permuter_case(name: str):
    if name == "mp2pc-crash":
        system, _ = prepare(SPECS / "two_phase_commit_blocking.toml")
        return system, "rm", reachable(system)
    system, states, _, role = explored(*{"tla3": ("tla", 3), "votes3": ("votes", 3)}[name])
    return system, role, states


@pytest.mark.parametrize("name", ["tla3", "votes3", "mp2pc-crash"])
def test_permuter_agrees_with_the_renamer_on_every_state_and_permutation(name):
    system, role, states = permuter_case(name)
    schema = system.schema
    assert len(states) > 50
    for m in all_mappings(role_ids(schema, role)):
        fast, slow = permuter(schema, (role,), m), renamer(schema, role, m)
        assert all(fast(s) == slow(s) for s in states), m


@pytest.mark.parametrize("form", ["auto", "sig"], indirect=True)
@pytest.mark.parametrize("name", ["tla3", "votes3", "mp2pc-crash"])
def test_witness_names_a_renaming_that_gives_the_representative(name, form):
    system, role, states = permuter_case(name)
    schema = system.schema
    ids = role_ids(schema, role)
    red = reduction(schema, (role,))
    assert red.form in ("sort", "sig" if form == "sig" else "min")
    for s in states:
        rep, m = red.witness(s)
        assert sorted(m) == sorted(ids) and sorted(m.values()) == sorted(ids)  # a bijection on the ids
        assert rep == red.canon(s) == renamer(schema, role, m)(s)


# -- 4. counterexamples under symmetry stay concrete ------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["auto", "sig"], indirect=True)
@pytest.mark.parametrize(
    "name, role",
    [
        ("two_phase_commit_tla_early_commit", "rm"),
        ("two_phase_commit_early_commit", "rm"),
        ("raft_election_volatile_vote", "server"),
    ],
)
def test_a_counterexample_found_under_symmetry_replays_on_the_full_model(name, role, form, tmp_path):
    spec = SPECS / f"{name}.toml"
    plain = checker.check(spec, out=None)
    r = checker.check(spec, symmetry=True, out=tmp_path)
    assert r.ok and r.symmetry and plain.trace is not None and r.trace is not None
    assert r.stats.distinct < plain.stats.distinct
    assert len(r.trace) == len(plain.trace)  # still the shortest
    system, invs = prepare(spec)
    saved = Trace.load(tmp_path / f"{name}.json")
    assert saved.to_json() == r.trace.to_json()
    rp = replay(system, saved)
    assert rp.ok, rp.message
    (bad,) = [p for p in invs if p.name == r.property]
    assert not bad.check(rp.path[-1]) and all(bad.check(s) for s in rp.path[:-1])
    red = reduction(system.schema, (role,))
    ids = role_ids(system.schema, role)
    moved = 0
    for st_, raw in zip(saved.steps, rp.path):
        perm = st_.extra.get("permutation", {})
        assert all(k != v for k, v in perm.items())  # only the ids that move are recorded
        full = {x: perm.get(x, x) for x in ids}
        assert sorted(full.values()) == sorted(ids)
        assert renamer(system.schema, role, full)(raw) == red.canon(raw)
        moved += bool(perm)
    assert moved  # the path does go through states that are not their own representatives


# -- 5. declared symmetric invariants are symmetric -----------------------------------------------------------------------


def symmetric_classes():
    import importlib
    import pkgutil

    import protocols

    found = {}
    for info in pkgutil.iter_modules(protocols.__path__):
        mod = importlib.import_module(f"protocols.{info.name}")
        for obj in vars(mod).values():
            if (
                isinstance(obj, type)
                and issubclass(obj, (Model, Protocol))
                and obj.__module__ == mod.__name__
                and getattr(obj, "symmetry", ())
            ):
                found[f"{mod.__name__}:{obj.__name__}"] = obj
    return found


def specs_of(classes):
    out = []
    for f in sorted(SPECS.glob("*.toml")):
        proto = tomllib.loads(f.read_text()).get("protocol")
        if proto in classes:
            out.append((f, classes[proto]))
    return out


SYMMETRIC = symmetric_classes()
SYMMETRIC_SPECS = specs_of(SYMMETRIC)


def test_the_protocols_that_declare_symmetry_are_found():
    assert {"protocols.two_phase_commit_tla:TwoPhase", "protocols.two_phase_commit:TwoPhaseCommit"} <= set(SYMMETRIC)
    assert {cls for _, cls in SYMMETRIC_SPECS} == set(SYMMETRIC.values())  # each is checked by some spec
    assert all(cls._symmetric for cls in SYMMETRIC.values())


@pytest.mark.parametrize("spec, cls", SYMMETRIC_SPECS, ids=[f.stem for f, _ in SYMMETRIC_SPECS])
def test_declared_symmetric_invariants_do_not_change_under_renaming(spec, cls):
    declared = tomllib.loads(spec.read_text()).get("params", {})
    small = {k: 3 for k, v in declared.items() if type(v) is int and v > 3}  # 8 RMs: 40,320 renamings a state
    system, _ = prepare(spec, small)
    schema = system.schema
    preds = [
        compile_predicate(name, system.invariants[name], schema)
        for name in sorted(cls._symmetric)
        if name in system.invariants
    ]
    assert preds
    states = reachable(system, limit=3000)
    if states is None:  # too many to list: the first levels
        states = []
        frontier = list(system.initial)
        while len(states) < 3000 and frontier:
            states += frontier
            frontier = list(dict.fromkeys(t for s in frontier for a in system.actions for t in a.successors(s)))
    rnd = random.Random(spec.stem)
    failing = [s for s in states if not all(p.check(s) for p in preds)][:20]
    sample = failing + rnd.sample(states, min(len(states), 40))
    if issubclass(cls, Model):  # arbitrary states of the schema too, where the invariants can fail
        for _ in range(60):
            sample.append(schema.encode({v: rnd.choice(list(t.values())) for v, t in schema.variables.items()}))
    fns = images(schema, tuple(cls.symmetry))
    for s in sample:
        for p in preds:
            want = p.check(s)
            assert all(p.check(f(s)) == want for f in fns), (p.name, schema.to_json(s))


def test_renaming_does_change_an_invariant_that_singles_out_a_node():
    """The check above can fail: an invariant about rm1 alone is not invariant under renaming."""
    system, states, _, _ = explored("tla", 3)
    p = compile_predicate("Rm1Working", lambda state: state.rmState["rm1"] == "working", system.schema)
    fns = images(system.schema, ("rm",))
    assert any(p.check(f(s)) != p.check(s) for s in states for f in fns)


# -- 6. refusals ---------------------------------------------------------------------------------------------------------


class Pair(Model):
    symmetry = ("p",)

    def variables(self):
        self.P = NodeId("p", 2)
        return {"m": Map(self.P, Bool())}

    def init(self):
        return {"m": {"p1": False, "p2": False}}

    @action
    def Flip(self, s):
        return [s[:i] + (1,) + s[i + 1 :] for i in range(2) if not s[i]]

    @invariant
    def FirstFirst(self, state):
        return state.m["p1"] or not state.m["p2"]


class PairNoRoles(Pair):
    symmetry = ()


def one_line_spec_error(fn, match):
    with pytest.raises(SpecError, match=match) as e:
        fn()
    assert "\n" not in str(e.value)


def test_liveness_under_symmetry_is_refused():
    one_line_spec_error(
        lambda: checker.check(SPECS / "two_phase_commit_blocking.toml", symmetry=True, out=None),
        "liveness is not checked under symmetry",
    )
    assert checker.check(SPECS / "two_phase_commit_blocking.toml", out=None).ok  # fine without


def test_an_invariant_not_declared_symmetric_is_refused():
    one_line_spec_error(
        lambda: checker.check(Pair, symmetry=True, out=None, check_deadlock=False),
        "invariant FirstFirst is not declared symmetric",
    )
    r = checker.check(Pair, out=None, check_deadlock=False)
    assert r.verdict is Verdict.VIOLATED and r.property == "FirstFirst"  # it does single out p1


def test_symmetry_without_declared_roles_is_refused(tmp_path):
    one_line_spec_error(
        lambda: checker.check(PairNoRoles, symmetry=True, out=None, check_deadlock=False), "names interchangeable roles"
    )
    spec = tmp_path / "tm.toml"
    spec.write_text('protocol = "protocols.two_phase_commit_tla:TwoPhase"\nexpected = "holds"\nsymmetry = ["tm"]\n')
    one_line_spec_error(lambda: checker.check(spec, out=None), "no nodes or ids of role 'tm'")


def test_symmetry_is_opt_in_for_a_model_that_declares_it():
    system, states, _, _ = explored("tla", 3)
    assert checker.check(TwoPhase, params={"rms": 3}, out=None).stats.distinct == len(states)
    assert checker.check(TwoPhase, params={"rms": 3}, symmetry=False, out=None).stats.distinct == len(states)


def test_the_cli_refuses_symmetry_with_liveness_in_one_line_exit_2():
    p = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from checker.cli import main; sys.exit(main())",
            "check",
            "--symmetry",
            "-q",
            str(SPECS / "two_phase_commit_blocking.toml"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "liveness is not checked under symmetry" in lines[0] and "Traceback" not in p.stderr


def test_the_cli_reduces_where_the_spec_declares_symmetry_unless_told_not_to(tmp_path, capsys):
    system, states, _, _ = explored("tla", 3)
    classes = len(orbit_mins(system.schema, ("rm",), states))
    spec = tmp_path / "sym.toml"
    spec.write_text(
        'protocol = "protocols.two_phase_commit_tla:TwoPhase"\ninvariants = ["TypeOK", "TCConsistent"]\n'
        'expected = "holds"\nsymmetry = ["rm"]\n[params]\nrms = 3\n'
    )
    counts = {}
    for flag in ([], ["--symmetry"], ["--no-symmetry"]):
        capsys.readouterr()
        assert main(["check", "-q", "--json", "--no-lint", "--out", str(tmp_path / "out"), *flag, str(spec)]) == 0
        out = json.loads(capsys.readouterr().out)
        counts[" ".join(flag)] = (out["distinct_states"], out["symmetry"] is not None)
    assert counts == {"": (classes, True), "--symmetry": (classes, True), "--no-symmetry": (len(states), False)}
