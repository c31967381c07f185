"""`induct --suggest` (checker.logic.suggest): lemmas that make a non-inductive invariant inductive.

A tiny lock service (its steps written by hand as Z3 relations: `relation.kinds` patched) checks the
algorithm; TwoPhase.tla (its formula actions given to Z3 by `relation.kinds`) checks the real thing. Every
suggested lemma is checked here without the code under test: on every reachable state (a search written
here) and, with the invariant, for inductiveness by brute force over every canonical state and the model's
own Python actions (lock service), or by `induct` both symbolically and by enumeration (TwoPhase.tla).
"""

from __future__ import annotations

import json
from itertools import product
from pathlib import Path

import pytest
import z3

from checker import Bool, Map, Model, NodeId, Param, Set, action, forall, formula, implies, make
from checker.cli import main
from checker.logic import PropertyError, compile_formula, compile_predicate, relation
from checker.logic.formula import State, show
from checker.logic.induct import induct
from checker.logic.relation import Kind
from checker.logic.suggest import suggest
from checker.semantics import from_model
from tests.naive import reachable

ROOT = Path(__file__).resolve().parents[1]
CTI_SPEC = ROOT / "specs" / "two_phase_commit_induct_cti.toml"


class Lock(Model):
    """A lock server grants its one lock to a client by a Grant message; the client holds it once the Grant
    arrives, and releases it (back to the server) later. Mutex (at most one holder) holds, but is not
    inductive alone: a Grant in flight while someone holds the lock is not ruled out."""

    n = Param(3, "clients", lo=2, hi=4)

    def variables(self):
        self.C = NodeId("c", self.n)
        return {"free": Bool(), "held": Map(self.C, Bool()), "grant": Set(self.C)}

    def init(self):
        return {"free": True, "held": {c: False for c in self.C.names}, "grant": set()}

    @action(over="C")
    def Grant(self, s, cs):
        at = self.at
        if not s[at.free]:
            return ()
        out = []
        for c in cs:
            t = list(s)
            t[at.free] = 0
            t[at.grant] |= 1 << c
            out.append(tuple(t))
        return out

    @action(over="C")
    def Receive(self, s, cs):
        at = self.at
        out = []
        for c in cs:
            if s[at.grant] >> c & 1:
                t = list(s)
                t[at.grant] &= ~(1 << c)
                t[at.held[c]] = 1
                out.append(tuple(t))
        return out

    @action(over="C")
    def Release(self, s, cs):
        at = self.at
        out = []
        for c in cs:
            if s[at.held[c]]:
                t = list(s)
                t[at.held[c]] = 0
                t[at.free] = 1
                out.append(tuple(t))
        return out

    @formula(symmetric=True)
    def Mutex(self, s):
        return forall(self.C, lambda a, b: implies(s.held[a] & s.held[b], a == b))

    @formula(symmetric=True)
    def Free(self, s):
        """Wrong on purpose: the lock is free in every state (true initially, false after a Grant)."""
        return s.free

    @formula(symmetric=True)
    def Taken(self, s):
        """Wrong on purpose: the lock is never free (false initially)."""
        return ~s.free


def lock_kinds(system) -> list[Kind]:
    """Lock's steps as Z3 relations over the slots, written by hand (one kind per step and client)."""
    at, n = system.schema.offsets, system.schema.variables["held"].keys
    free, grant, held = at["free"], at["grant"], [at["held"] + c for c in range(len(n))]
    width = system.schema.width

    def kind(name, body, changed):
        def rel(pre, post):
            p, q = pre.slots, post.slots
            same = [q[i] == p[i] for i in range(width) if i not in changed]
            return z3.And(*body(p, q), *same)
        return Kind(name, rel)

    def has(v, c):
        return z3.Extract(c, c, v) == 1

    out = []
    for c in range(len(n)):
        out.append(kind(f"Grant c{c + 1}", lambda p, q, c=c: [
            p[free] == 1, q[free] == 0, q[grant] == p[grant] | (1 << c)], {free, grant}))
        out.append(kind(f"Receive c{c + 1}", lambda p, q, c=c: [
            has(p[grant], c), q[grant] == p[grant] & ~(1 << c), q[held[c]] == 1], {grant, held[c]}))
        out.append(kind(f"Release c{c + 1}", lambda p, q, c=c: [
            p[held[c]] == 1, q[held[c]] == 0, q[free] == 1], {free, held[c]}))
    return out


def lock(names=("Mutex",)):
    model = Lock(n=3)
    system = from_model(model)
    return model, system, [compile_predicate(x, system.invariants[x], system.schema) for x in names]


def every_state(schema) -> list[tuple]:
    names = list(schema.variables)
    return [schema.encode(dict(zip(names, values)))
            for values in product(*(list(schema.variables[x].values()) for x in names))]


def brute_cti(system, predicates) -> tuple | None:
    """A state satisfying every predicate with a successor (by the model's own actions) violating one."""
    for s in every_state(system.schema):
        if all(p.check(s) for p in predicates):
            for a in system.actions:
                for t in a.successors(s):
                    if not all(p.check(t) for p in predicates):
                        return s, t
    return None


def lemma_predicates(system, result):
    return [compile_formula(f"Lemma{i}", lemma.term, system.schema) for i, lemma in enumerate(result.lemmas, 1)]


# -- the algorithm, on the lock service -----------------------------------------------------------------------


def test_lock_mutex_is_not_inductive_alone():
    _, system, invs = lock()
    assert brute_cti(system, invs) is not None


def test_suggested_lemmas_hold_and_make_mutex_inductive(monkeypatch):
    model, system, invs = lock()
    monkeypatch.setattr(relation, "kinds", lock_kinds)
    lines = []
    r = suggest(system, invs, model=model, progress=lines.append)
    assert r.inductive and r.lemmas, r.reason
    lemmas = lemma_predicates(system, r)
    for s in reachable(system):
        for p in lemmas:
            assert p.check(s), (p.formula, system.schema.decode(s))
    assert brute_cti(system, invs + lemmas) is None
    assert r.exhaustive and r.states == len(reachable(system))
    assert r.generated >= r.holding >= r.kept >= len(r.lemmas)
    assert any("Houdini" in line for line in lines) and any("states reached" in line for line in lines)


def test_every_lemma_is_needed(monkeypatch):
    """Minimised: without any one of the lemmas, the conjunction is no longer inductive."""
    model, system, invs = lock()
    monkeypatch.setattr(relation, "kinds", lock_kinds)
    r = suggest(system, invs, model=model)
    lemmas = lemma_predicates(system, r)
    for i in range(len(lemmas)):
        assert brute_cti(system, invs + lemmas[:i] + lemmas[i + 1:]) is not None, lemmas[i].formula


def test_the_source_printed_builds_the_lemma(monkeypatch):
    """What the user pastes into an @formula method (`s` the state, `self` the model) is the lemma checked."""
    model, system, invs = lock()
    monkeypatch.setattr(relation, "kinds", lock_kinds)
    r = suggest(system, invs, model=model)
    ns = {"s": State(system.schema), "self": model, "forall": forall, "implies": implies, "make": make}
    for lemma in r.lemmas:
        assert "_v" not in lemma.source  # the variables are named a, b
        if "forall" in lemma.source:
            assert "forall(self.C, lambda a" in lemma.source  # quantified over the model's own node-id type
        assert show(eval(lemma.source, ns)) == lemma.text == show(lemma.term)


def test_a_step_that_raises_where_no_lemma_can_rule_it_out(monkeypatch):
    """A kind given by atoms may have one that raises (the model's own code cannot take the state): lemmas
    are a proof only if they rule out every state where one would. Here it raises once the lock is lost (not
    free, granted to nobody, held by nobody): unreachable, but no clause of the grammar (`forall`) says so."""
    model, system, invs = lock()
    at = system.schema.offsets

    def with_error(system):
        def atoms(pre):
            p = pre.slots
            lost = [p[at["free"]] == 0, p[at["grant"]] == 0] + [p[at["held"] + c] == 0 for c in range(3)]
            return [relation.Atom(tuple(lost), {}, "the lock is lost")]
        return [*lock_kinds(system), Kind("Recover", lambda pre, post: z3.BoolVal(False), atoms)]

    monkeypatch.setattr(relation, "kinds", with_error)
    r = suggest(system, invs, model=model)
    assert not r.inductive and "Recover raises (the lock is lost)" in r.reason


def test_candidates_from_a_smaller_instance_are_checked_on_the_larger(monkeypatch):
    """Generated and filtered with 2 clients, checked (Houdini) with 3: the lemmas' source names no client."""
    model, system, invs = lock()
    small = from_model(Lock(n=2))
    monkeypatch.setattr(relation, "kinds", lock_kinds)
    r = suggest(system, invs, model=model, sample=small)
    assert r.inductive and r.states == len(reachable(small)) < len(reachable(system))
    lemmas = lemma_predicates(system, r)
    assert all(p.check(s) for s in reachable(system) for p in lemmas)
    assert brute_cti(system, invs + lemmas) is None


def test_no_suggestion_for_an_invariant_false_in_a_reachable_state(monkeypatch):
    model, system, invs = lock(("Mutex", "Free"))
    monkeypatch.setattr(relation, "kinds", lock_kinds)
    r = suggest(system, invs, model=model)
    assert not r.inductive and not r.lemmas
    assert r.reason.startswith("Free is false in a reachable state")


def test_no_suggestion_for_an_invariant_false_initially(monkeypatch):
    model, system, invs = lock(("Mutex", "Taken"))
    monkeypatch.setattr(relation, "kinds", lock_kinds)
    r = suggest(system, invs, model=model)
    assert not r.inductive and r.reason.startswith("an initial state violates Taken")


def test_steps_z3_cannot_take_are_one_clear_reason():
    """Lock's actions are Python code on tuples: relation.kinds refuses them, and suggest says so."""
    model, system, invs = lock()
    r = suggest(system, invs, model=model)
    assert not r.inductive and "Z3" in r.reason and "\n" not in r.reason


def test_a_python_predicate_is_refused():
    model, system, _ = lock()
    p = compile_predicate("Py", lambda state: True, system.schema)
    with pytest.raises(PropertyError, match="Python predicate"):
        suggest(system, [p], model=model)


def test_an_empty_budget_stops_with_a_reason(monkeypatch):
    model, system, invs = lock()
    monkeypatch.setattr(relation, "kinds", lock_kinds)
    r = suggest(system, invs, model=model, budget_seconds=0)
    assert not r.inductive and "budget" in r.reason


def test_the_same_lemmas_whatever_the_order_of_evaluation(monkeypatch):
    model, system, invs = lock()
    monkeypatch.setattr(relation, "kinds", lock_kinds)
    first = [x.text for x in suggest(system, invs, model=model).lemmas]
    assert first == [x.text for x in suggest(system, invs, model=model).lemmas]


def test_cli_suggests_nothing_for_an_inductive_spec(capsys):
    two_phase()
    code = main(["induct", str(ROOT / "specs" / "two_phase_commit_induct_proof.toml"), "--suggest"])
    out = capsys.readouterr()
    assert code == 0 and "inductive" in out.out and "Lemma" not in out.out and "suggest:" not in out.err


# -- TwoPhase.tla, with its actions given to Z3 ----------------------------------------------------------------


def two_phase(rms: int = 3):
    from protocols.two_phase_commit_tla import TwoPhase

    model = TwoPhase(rms=rms)
    system = from_model(model)
    try:
        relation.kinds(system)
    except relation.SymbolicUnsupported as e:
        pytest.skip(f"TwoPhase.tla's actions are not formulas yet: {e}")
    return model, system, [compile_predicate("TCConsistent", system.invariants["TCConsistent"], system.schema)]


def test_two_phase_tcconsistent_gets_lemmas_that_make_it_inductive():
    model, system, invs = two_phase()
    r = suggest(system, invs, model=model)
    assert r.inductive and r.lemmas, r.reason
    lemmas = lemma_predicates(system, r)
    states = reachable(system)
    assert len(states) == 288  # TLC's count for 3 RMs
    for s in states:
        for p in lemmas:
            assert p.check(s), (p.formula, system.schema.decode(s))
    assert induct(system, invs, method="symbolic").verdict == "not_inductive"
    assert induct(system, invs + lemmas, method="symbolic").verdict == "inductive"
    assert induct(system, invs + lemmas, method="explicit", symmetry=("rm",)).verdict == "inductive"


@pytest.mark.slow
def test_two_phase_with_four_rms_from_candidates_found_with_three():
    model, system, invs = two_phase(4)
    r = suggest(system, invs, model=model, sample=two_phase(3)[1])
    assert r.inductive, r.reason
    lemmas = lemma_predicates(system, r)
    for s in reachable(system):
        assert all(p.check(s) for p in lemmas)
    assert induct(system, invs + lemmas, method="explicit", symmetry=("rm",)).verdict == "inductive"


# -- a message-passing protocol: node fields and envelopes in flight -------------------------------------------


@pytest.mark.slow
def test_message_passing_two_phase_commit_gets_lemmas():
    """TwoPhaseCommit (TM and RM nodes on a multiset network): Consistent alone is not inductive; the lemmas
    suggested (some about envelopes in flight) hold on every reachable state and make it inductive."""
    from checker.spec.run import prepare

    system, invs = prepare(ROOT / "specs" / "two_phase_commit_ok.toml", {"rms": 2})
    assert induct(system, invs, method="symbolic").verdict == "not_inductive"
    r = suggest(system, invs)
    assert r.inductive and r.lemmas, r.reason
    assert any("in_flight" in lemma.source for lemma in r.lemmas)
    lemmas = lemma_predicates(system, r)
    for s in reachable(system):
        for p in lemmas:
            assert p.check(s), (p.formula, system.schema.decode(s))
    assert induct(system, invs + lemmas, method="symbolic").verdict == "inductive"
    import protocols.two_phase_commit as module

    ns = {**vars(module), "s": State(system.schema), "self": system.semantics.protocol}
    for lemma in r.lemmas:  # the source pastes into the protocol's module
        assert show(eval(lemma.source, ns)) == lemma.text


def test_cli_induct_suggest_prints_lemmas_to_paste(capsys):
    model, system, _ = two_phase()
    code = main(["induct", str(CTI_SPEC), "--suggest", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["verdict"] == "not_inductive"
    found = out["suggest"]
    assert found["inductive"] and found["lemmas"]
    ns = {"s": State(system.schema), "self": model, "forall": forall, "implies": implies, "make": make}
    for lemma in found["lemmas"]:
        assert show(eval(lemma["source"], ns)) == lemma["text"]
    code = main(["induct", str(CTI_SPEC), "--suggest"])
    text = capsys.readouterr().out
    assert code == 0 and "make the conjunction inductive" in text and "    return forall(self.RM, lambda a" in text
    assert "@formula(symmetric=True)" in text and "def Lemma1(self, s):" in text
