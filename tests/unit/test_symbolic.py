"""The symbolic transition relation of message-passing protocols (checker/logic/handlers.py) against the
model's own code, typed envelopes against the reachable states, and symbolic `induct` against the
explicit one (same verdicts; a CTI from either is a CTI by the other's definition)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import z3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker import Bool, Int, Message, Node, Param, Protocol, Role, durable, forall, formula, implies, volatile
from checker.logic import compile_predicate, relation, smt
from checker.logic.handlers import protocol_relation
from checker.logic.induct import induct
from checker.semantics.nodes import from_protocol
from checker.spec.run import check, prepare
from tests.naive import reachable, successors

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"

# search specs whose steps the symbolic relation covers and whose tables build in well under a second
FAST = ["two_phase_commit_ok", "two_phase_commit_early_commit", "two_phase_commit_blocking",
        "two_phase_commit_recovery", "raft_election_durable", "raft_election_volatile_vote",
        "block_store_one_one", "block_store_quorum", "checkpoint_snapshot_unordered"]


def symbolic_successors(system, s: tuple, compact: bool = False) -> set[tuple]:
    """Every successor of `s` by the Z3 relation (Or of the kinds' relations, or the selector encoding)."""
    ks = relation.kinds(system)
    pre, post = relation.state(system, "pre_"), relation.state(system, "post_")
    solver = z3.Solver()
    solver.add(*pre.equals(s), *post.constraints())
    solver.add(relation.step(ks, pre, post, "t") if compact else z3.Or([k.relation(pre, post) for k in ks]))
    out = set()
    while solver.check() == z3.sat:
        t = post.state_of(solver.model())
        out.add(t)
        solver.add(z3.Not(z3.And(post.equals(t))))
        assert len(out) < 10_000
    return out


def sample(states: list[tuple], k: int) -> list[tuple]:
    """Up to k states spread over the list (deterministic)."""
    if len(states) <= k:
        return states
    step = len(states) / k
    return [states[int(i * step)] for i in range(k)]


@pytest.mark.parametrize("name", FAST)
def test_the_relation_gives_exactly_the_models_successors(name):
    system, _ = prepare(SPECS / f"{name}.toml")
    states = reachable(system, limit=5_000, partial=True)
    for s in sample(states, 12):
        assert symbolic_successors(system, s) == successors(system, s), s


@pytest.mark.parametrize("name", FAST[:4])
def test_the_compact_encoding_agrees_with_the_disjunction(name):
    system, _ = prepare(SPECS / f"{name}.toml")
    states = reachable(system, limit=5_000, partial=True)
    for s in sample(states, 6):
        assert symbolic_successors(system, s, compact=True) == successors(system, s)


@pytest.mark.parametrize("name", FAST)
def test_typed_envelopes_hold_every_envelope_a_reachable_state_has(name):
    """Typed envelopes never remove a reachable state: every envelope in flight in any reachable state is
    one the derivation found."""
    system, _ = prepare(SPECS / f"{name}.toml")
    rel = protocol_relation(system, system.semantics)
    sem = system.semantics
    states = reachable(system, limit=200_000)
    assert states is not None
    seen = set()
    for s in states:
        x, code = s[sem.NET], 0
        while x:
            if x & sem.one:
                seen.add(code)
            x >>= sem.bits
            code += 1
    assert seen <= rel.envelopes
    assert seen  # something was in flight


def test_typed_envelopes_name_the_roles():
    system, _ = prepare(SPECS / "two_phase_commit_ok.toml")
    routes = protocol_relation(system, system.semantics).routes()
    assert "Prepare: tm → rm" in routes
    assert "Abort: rm → tm, tm → rm" in routes
    # nothing sends an RM's message to another RM: those envelopes are not in the symbolic state
    st_ = relation.state(system)
    sem = system.semantics
    rm1, rm2 = sem.index["rm1"], sem.index["rm2"]
    codes = [c for c in range(sem.Msg.cardinality * sem.n * sem.n) if sem.envelope(c)[:2] == (rm1, rm2)]
    assert codes and all(st_.slots[sem.NET].elems[c] is False or st_.slots[sem.NET].elems[c] == 0 for c in codes)


# -- induct: symbolic against explicit ------------------------------------------------------------------------


def assert_is_cti(system, invs, cti):
    """`cti` is a counterexample to induction by the explicit definition."""
    if cti.pre is None:
        assert not all(p.check(cti.post) for p in invs)
        return
    assert all(p.check(cti.pre) for p in invs)
    if cti.error:  # the model's own code raises on the state
        raised = []
        for a in system.actions:
            try:
                a.successors(cti.pre)
            except Exception as e:  # (any error the model's code raises)
                raised.append(e)
        assert raised, cti
        return
    assert cti.post in successors(system, cti.pre)
    assert not all(p.check(cti.post) for p in invs)


def assert_relation_has(system, pre_raw, post_raw):
    """The symbolic relation has the step pre_raw -> post_raw."""
    ks = relation.kinds(system)
    pre, post = relation.state(system, "a_"), relation.state(system, "b_")
    s = z3.Solver()
    s.add(*pre.equals(pre_raw), *post.equals(post_raw), z3.Or([k.relation(pre, post) for k in ks]))
    assert s.check() == z3.sat


@pytest.mark.parametrize("spec", ["two_phase_commit_induct_cti", "two_phase_commit_induct_proof"])
def test_symbolic_and_explicit_induct_agree_on_the_induct_specs(spec):
    system, invs = prepare(SPECS / f"{spec}.toml", {"rms": 3})  # (explicit enumeration takes 3 RMs, not 8)
    a = induct(system, invs, method="symbolic")
    b = induct(system, invs, method="explicit", symmetry=("rm",))
    assert a.method == "symbolic" and b.method == "explicit"
    assert a.verdict == b.verdict
    if a.cti is not None:
        assert_is_cti(system, invs, a.cti)
        assert_is_cti(system, invs, b.cti)
        assert_relation_has(system, b.cti.pre, b.cti.post)


LEMMAS = ["VoteSentByVoter", "RecordedVoteSentByVoter", "NoVoteSentByVoter", "DecisionSentAfterDeciding",
          "CommittedAfterDecision", "CommitOnlyIfAllPrepared"]


def two_phase_nodes(lemmas, rms=1, network="set"):
    system, invs = prepare(SPECS / "two_phase_commit_nodes_induct_proof.toml", {"rms": rms})
    if network == "set":
        from checker.spec.load import load_spec
        from checker.spec.run import system_of

        spec = load_spec(SPECS / "two_phase_commit_nodes_induct_proof.toml").with_params({"rms": rms})
        spec = spec.__class__(**{**spec.__dict__, "network": {**spec.network, "in_flight": "set"}})
        model = spec.instantiate()
        system = system_of(spec, model, False)
    known = system.invariants
    preds = [compile_predicate(n, known[n], system.schema) for n in ["Consistent", *lemmas]]
    return system, preds


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sets(st.sampled_from(LEMMAS)))
def test_symbolic_and_explicit_induct_agree_on_message_passing_2pc(lemmas):
    """Random subsets of the 2PC lemmas, on a set network with one RM (small enough to enumerate)."""
    system, invs = two_phase_nodes(sorted(lemmas))
    a = induct(system, invs, method="symbolic")
    b = induct(system, invs, method="explicit")
    assert a.verdict == b.verdict, (sorted(lemmas), a.cti, b.cti)
    if a.cti is not None:
        assert_is_cti(system, invs, a.cti)
        assert_is_cti(system, invs, b.cti)
        if b.cti.pre is not None and not b.cti.error:
            assert_relation_has(system, b.cti.pre, b.cti.post)


def test_the_message_passing_2pc_proof_holds_for_many_rms():
    for rms in (3, 8):
        r = check(SPECS / "two_phase_commit_nodes_induct_proof.toml", params={"rms": rms}, out=None)
        assert r.ok and r.outcome == "inductive" and r.method == "symbolic", r.message
    system, invs = prepare(SPECS / "two_phase_commit_nodes_induct_proof.toml", {"rms": 3})
    weaker = [p for p in invs if p.name != "CommitOnlyIfAllPrepared"]
    r = induct(system, weaker, method="symbolic")
    assert r.verdict == "not_inductive"
    assert_is_cti(system, weaker, r.cti)


def test_multiset_counts_are_bounded_integers():
    """On a multiset network a count may reach its bound: the invariant must rule it out, or the CTI is
    the state on which the model's own code raises (as the explicit search would)."""
    system, invs = prepare(SPECS / "two_phase_commit_nodes_induct_proof.toml", {"rms": 2})
    without = [p for p in invs if p.name != "VoteSentByVoter"]
    r = induct(system, without, method="symbolic")
    assert r.verdict == "not_inductive"
    assert_is_cti(system, without, r.cti)


def test_explicit_induct_refuses_a_multiset_network_and_auto_goes_symbolic():
    system, invs = prepare(SPECS / "two_phase_commit_nodes_induct_proof.toml", {"rms": 2})
    from checker.logic import PropertyError

    with pytest.raises(PropertyError, match="multiset"):
        induct(system, invs, method="explicit")
    assert induct(system, invs).method == "symbolic"


def test_unsupported_steps_fall_back_to_enumeration_and_say_why():
    system, invs = prepare(SPECS / "checkpoint_snapshot.toml")  # FIFO channels
    with pytest.raises(relation.SymbolicUnsupported, match="FIFO"):
        relation.kinds(system)


# -- random small protocols ----------------------------------------------------------------------------------


class Ping(Message):
    v = Int(0, 1)


def random_protocol(table: dict, start_value: int, flip: bool):  # noqa: C901 - a protocol in a test
    """Two nodes passing pings; what a node does with a ping is looked up in `table` (hypothesis draws it):
    the key reads the node's fields and the message, so every field is concretized on some path."""

    class Cell(Node):
        x = durable(Int(0, 2), initial=0)
        flag = volatile(Bool(), initial=False)

        def on_start(self):
            if self.id == "cell1":
                self.send("cell2", Ping(start_value))
                self.set_timer("poke")

        def on_ping(self, msg, src):
            new_x, reply, toggles = table[(self.x, msg.v)]
            if self.x + msg.v > 2 and self.flag:  # arithmetic and a branch on symbolic values
                new_x = 0
            self.x = new_x
            if toggles:
                self.flag = not self.flag
            if reply is not None and self.choose([True, False]):
                self.send(src, Ping(reply))

        from checker import timer as _timer

        @_timer
        def poke(self):
            if flip and self.flag:
                self.x = (self.x + 1) % 3 if self.x < 2 else 0

    class Pings(Protocol):
        n = Param(2, "nodes", lo=2, hi=2)
        cell = Role(Cell, count="n")
        messages = (Ping,)

        @formula
        def Small(self, s):
            return forall(s.role("cell"), lambda c: implies(c.flag, c.x != 2))

    return Pings()


rows = st.tuples(st.integers(0, 2), st.one_of(st.none(), st.integers(0, 1)), st.booleans())
tables = st.fixed_dictionaries({k: rows for k in itertools.product(range(3), range(2))})


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables, st.integers(0, 1), st.booleans(), st.sampled_from(["set", "multiset"]))
def test_random_protocols_symbolic_relation_equals_the_model(table, start, flip, network):
    system = from_protocol(random_protocol(table, start, flip), network=network)
    states = reachable(system, limit=20_000)
    assert states is not None
    for s in sample(states, 8):
        assert symbolic_successors(system, s) == successors(system, s)
    rel = protocol_relation(system, system.semantics)
    for s in states:  # typed envelopes hold everything in flight
        x, code = s[system.semantics.NET], 0
        while x:
            if x & system.semantics.one:
                assert code in rel.envelopes
            x >>= system.semantics.bits
            code += 1


def assert_induct_agrees(table, start, flip):
    system = from_protocol(random_protocol(table, start, flip), network="set")
    invs = [compile_predicate("Small", system.invariants["Small"], system.schema)]
    a = induct(system, invs, method="symbolic")
    b = induct(system, invs, method="explicit")
    assert a.verdict == b.verdict
    if a.cti is not None:
        assert_is_cti(system, invs, a.cti)
        assert_is_cti(system, invs, b.cti)
        if b.cti.pre is not None and not b.cti.error:
            assert_relation_has(system, b.cti.pre, b.cti.post)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables, st.integers(0, 1), st.booleans())
def test_random_protocols_symbolic_and_explicit_induct_agree(table, start, flip):
    assert_induct_agrees(table, start, flip)


def test_smt_vec_states_round_trip():
    system, _ = prepare(SPECS / "two_phase_commit_ok.toml")
    relation.kinds(system)
    st_ = relation.state(system, "x_")
    for raw in reachable(system)[:30]:
        s = z3.Solver()
        s.add(*st_.constraints(), *st_.equals(raw))
        assert s.check() == z3.sat
        assert st_.state_of(s.model()) == raw
        assert all(smt.evaluate(p.formula, system.schema, raw) == p.check(raw) for p in [
            compile_predicate("Consistent", system.invariants["Consistent"], system.schema)])


# -- declared routes ------------------------------------------------------------------------------------------


def routed_protocol():
    from checker import Message as M

    class Hello(M):
        route = "a -> b"

    class A(Node):
        def on_start(self):
            self.send("a1", Hello())  # breaks the route: a -> a

    class B(Node):
        pass

    class Routed(Protocol):
        a = Role(A, count=1)
        b = Role(B, count=1)
        messages = (Hello,)

    return Routed()


def test_a_send_against_the_declared_route_is_an_error_naming_the_rule():
    from checker.semantics.nodes import HandlerError

    with pytest.raises(HandlerError, match=r"sends Hello to a1 \(role a\), but Hello.route allows only a -> b"):
        from_protocol(routed_protocol())


def test_a_route_must_name_roles():
    from checker import Message as M
    from checker.model import ModelError

    with pytest.raises(ModelError, match="route"):
        class Bad(M):
            route = "a => b"

    class Lost(M):
        route = "x -> y"

    class N(Node):
        pass

    with pytest.raises(ModelError, match="names no role"):
        class P(Protocol):
            n = Role(N, count=1)
            messages = (Lost,)


def test_declared_routes_and_derived_ones_agree_on_2pc():
    """protocols.two_phase_commit declares its routes; the handlers' sends derive the same ones."""
    system, _ = prepare(SPECS / "two_phase_commit_ok.toml")
    derived = protocol_relation(system, system.semantics).routes()
    declared = []
    for m in system.semantics.protocol.messages:
        declared.append(f"{m.__name__}: " + ", ".join(f"{a} → {b}" for a, b in sorted(m._routes_)))
    assert derived == declared


def test_bmc_reports_a_reachable_state_where_the_models_code_raises():
    """As the search does: a handler storing a value outside its field's type is an error, found at the
    depth of the state where the step raises, with the path to it."""
    from checker.logic.bmc import bmc

    class Tick(Message):
        pass

    class Sender(Node):
        def on_start(self):
            self.send("counter1", Tick())
            self.send("counter1", Tick())

    class Counter(Node):
        n = durable(Int(0, 1), initial=0)

        def on_tick(self, msg, src):
            self.n = self.n + 1  # the second Tick stores 2 in Int(0, 1)

    class Ticks(Protocol):
        sender = Role(Sender, count=1)
        counter = Role(Counter, count=1)
        messages = (Tick,)

        @formula
        def Fine(self, s):
            return s.counter1.n <= 1

    system = from_protocol(Ticks())
    invs = [compile_predicate("Fine", system.invariants["Fine"], system.schema)]
    r = bmc(system, invs, 4)
    assert r.verdict == "error" and len(r.path) == 2, r
    assert "outside" in r.reason
    with pytest.raises(Exception, match="outside"):
        reachable(system)


def test_accept_bounds_and_the_time_bound_work_for_induct(tmp_path):
    spec = tmp_path / "slow.toml"
    body = ('protocol = "protocols.two_phase_commit_tla:TwoPhase"\nkind = "induct"\nexpected = "inductive"\n'
            'method = "explicit"\ninvariants = ["TCConsistent", "PreparedRecorded", "PreparedMeansVoted", '
            '"DecisionSent", "CommitOnlyIfAllPrepared", "CommittedAfterCommit", "AbortedAlone"]\n'
            '[params]\nrms = 6\n[bounds]\nmax_seconds = 0.5\n')
    spec.write_text(body)
    r = check(spec, out=None)
    assert (r.ok, r.exit_code, r.outcome) == (False, 3, "undetermined") and "0.5" in r.message
    spec.write_text(body.replace('kind = "induct"', 'kind = "induct"\naccept_bounds = true'))
    r = check(spec, out=None)
    assert (r.ok, r.exit_code, r.outcome) == (True, 0, "undetermined") and "accept_bounds" in r.message
    assert check(spec, out=None, method="symbolic").outcome == "inductive"  # the same, without enumerating


def test_a_formula_constraint_restricts_the_symbolic_query():
    """TLC's CONSTRAINT: only states inside it are expanded; Small (n <= 1) is inductive once n stays 0."""
    from checker import timer as timer_

    class Bump(Message):
        pass

    class Counter(Node):
        n = durable(Int(0, 3), initial=0)

        def on_start(self):
            self.set_timer("bump")

        @timer_
        def bump(self):
            if self.n < 3:
                self.n = self.n + 1
                self.set_timer("bump")

    class Count(Protocol):
        c = Role(Counter, count=1)
        messages = (Bump,)

        @formula
        def Small(self, s):
            return s.c1.n <= 1

    class Bounded(Count):
        @formula
        def IdleF(self, s):
            return s.c1.n == 0

    system = from_protocol(Bounded())
    invs = [compile_predicate("Small", system.invariants["Small"], system.schema)]
    assert induct(system, invs, method="symbolic").verdict == "not_inductive"
    idle = compile_predicate("IdleF", system.invariants["IdleF"], system.schema)
    r = induct(system, invs, method="symbolic", constraints=[idle])
    assert r.verdict == "inductive" and r.solved == ("IdleF",)


def all_search_specs():
    import tomllib

    return [f for f in sorted(SPECS.glob("*.toml")) if tomllib.loads(f.read_text()).get("kind", "search") == "search"]


@pytest.mark.slow
@pytest.mark.parametrize("spec", all_search_specs(), ids=lambda f: f.stem)
def test_typed_envelopes_on_every_search_spec(spec):
    """On every search spec whose steps Z3 can be given: every envelope in flight in a reachable state (the
    first 100,000 found) is one the derivation allows."""
    system, _ = prepare(spec)
    sem = getattr(system, "semantics", None)
    if sem is None:
        pytest.skip("a low-level model: no network")
    try:
        rel = protocol_relation(system, sem)
    except relation.SymbolicUnsupported as e:
        pytest.skip(f"not given to Z3: {e}")
    for s in reachable(system, limit=100_000, partial=True):
        x, code = s[sem.NET], 0
        while x:
            if x & sem.one:
                assert code in rel.envelopes, (spec.stem, sem.envelope(code))
            x >>= sem.bits
            code += 1
