"""Z3 in the loop: `faultcheck induct` (bounded inductiveness), `faultcheck lint` (vacuity, redundancy)
and the violation cores stored in traces. Expected sets are computed here by brute force over
every canonical state, never taken from the code under test."""

from __future__ import annotations

import json
from itertools import permutations, product
from pathlib import Path

import pytest

import checker
from checker import Int, Model, action, forall, formula, implies, invariant
from checker.cli import main
from checker.logic import compile_predicate, smt
from checker.logic.formula import State, conj
from checker.logic.induct import induct
from checker.logic.lint import cached_lint, lint
from checker.model.symmetry import images
from checker.semantics import from_model
from checker.spec import SpecError, check
from protocols.two_phase_commit_tla import TwoPhase

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
LEMMAS = ["PreparedRecorded", "PreparedMeansVoted", "DecisionSent", "CommitOnlyIfAllPrepared", "CommittedAfterCommit",
          "AbortedAlone"]


def two_phase(rms: int, names: list[str]):
    system = from_model(TwoPhase(rms=rms))
    return system, [compile_predicate(n, system.invariants[n], system.schema) for n in names]


def every_state(schema) -> list[tuple]:
    """Every canonical state of a small schema, by brute force over decoded values."""
    names = list(schema.variables)
    out = []
    for values in product(*(list(schema.variables[n].values()) for n in names)):
        out.append(schema.encode(dict(zip(names, values))))
    return out


def reachable(system) -> set[tuple]:
    seen, todo = set(system.initial), list(system.initial)
    while todo:
        s = todo.pop()
        for a in system.actions:
            for t in a.successors(s):
                if t not in seen:
                    seen.add(t)
                    todo.append(t)
    return seen


# -- the enumeration Z3 does ---------------------------------------------------------------------------------------------


def test_z3_enumerates_exactly_the_states_that_satisfy_the_invariant():
    system, (tc,) = two_phase(2, ["TCConsistent"])
    want = {raw for raw in every_state(system.schema) if tc.check(raw)}
    got = list(smt.models(system.schema, tc.formula))
    assert len(got) == len(set(got)) and set(got) == want
    assert 0 < len(want) < len(every_state(system.schema))  # the invariant does cut some states


def test_with_symmetry_z3_gives_one_state_per_class():
    system, invs = two_phase(3, ["TCConsistent", *LEMMAS])
    renames = images(system.schema, ("rm",))
    assert len(renames) == 6
    want = {raw for raw in every_state(system.schema) if all(p.check(raw) for p in invs)}
    classes = {min(f(raw) for f in renames) for raw in want}
    assert len(want) > len(classes) > 10
    both = conj(*(p.formula for p in invs))
    got = list(smt.models(system.schema, both, lambda raw: {f(raw) for f in renames}))
    assert len(got) == len(classes)
    assert {min(f(raw) for f in renames) for raw in got} == classes


def test_renaming_rms_moves_map_entries_set_members_and_message_fields():
    m = TwoPhase(rms=3)
    s = m.schema.encode({"tmState": "init", "tmPrepared": {"rm1"}, "msgs": {m.Prepared.make(rm="rm1")},
                         "rmState": {"rm1": "prepared", "rm2": "working", "rm3": "aborted"}})
    swap = next(f for f in images(m.schema, ("rm",)) if m.schema.decode(f(s))["tmPrepared"] == {"rm2"}
                and m.schema.decode(f(s))["rmState"]["rm3"] == "aborted")
    out = m.schema.decode(swap(s))
    assert out["msgs"] == {m.Prepared.make(rm="rm2")}
    assert dict(out["rmState"]) == {"rm1": "working", "rm2": "prepared", "rm3": "aborted"}


# -- induct ---------------------------------------------------------------------------------------------------------------


def test_tc_consistent_alone_has_an_unreachable_counterexample_to_induction():
    system, invs = two_phase(3, ["TCConsistent"])
    r = induct(system, invs, symmetry=["rm"], method="explicit")
    assert r.verdict == "not_inductive" and r.cti is not None
    cti = r.cti
    (tc,) = invs
    assert tc.check(cti.pre) and not tc.check(cti.post)
    assert cti.post in system.apply(cti.pre, cti.step)  # the model's own step leads there
    assert cti.pre not in reachable(system)  # no search would ever meet it
    i, j = (x.split("=")[1] for x in cti.instance)
    rm = system.schema.decode(cti.post)["rmState"]
    assert (rm[i], rm[j]) == ("aborted", "committed")  # the instance named is one that fails


@pytest.mark.parametrize("rms", [2, 3])
def test_tc_consistent_with_the_lemmas_is_inductive(rms):
    system, invs = two_phase(rms, ["TCConsistent", *LEMMAS])
    r = induct(system, invs, symmetry=["rm"], method="explicit")
    assert r.verdict == "inductive" and r.cti is None
    plain = induct(system, invs, method="explicit")
    assert plain.verdict == "inductive"
    # brute force: every state satisfying the conjunction steps only to such states
    holds = [raw for raw in every_state(system.schema) if all(p.check(raw) for p in invs)] if rms == 2 else None
    if holds is not None:
        assert plain.examined == len(holds)
        assert all(all(p.check(t) for p in invs) for raw in holds for a in system.actions for t in a.successors(raw))
    assert r.examined < plain.examined  # symmetry examines one state per class


@pytest.mark.parametrize("dropped", LEMMAS)
def test_every_lemma_is_needed(dropped):
    """Without any one lemma the rest is not inductive, and the CTI really is one."""
    names = ["TCConsistent", *[n for n in LEMMAS if n != dropped]]
    system, invs = two_phase(3, names)
    r = induct(system, invs, symmetry=["rm"], method="explicit")
    assert r.verdict == "not_inductive"
    assert all(p.check(r.cti.pre) for p in invs)
    assert not all(p.check(r.cti.post) for p in invs)
    assert r.cti.post in system.apply(r.cti.pre, r.cti.step)


def test_an_invariant_false_initially_is_reported_before_any_solving():
    class Counter(Model):
        def variables(self):
            return {"x": Int(0, 3)}

        def init(self):
            return {"x": 0}

        @action
        def inc(self, s):
            return [(s[0] + 1,)] if s[0] < 3 else []

        @formula
        def Positive(self, s):
            return s.x > 0

    system = from_model(Counter())
    r = induct(system, [compile_predicate("Positive", system.invariants["Positive"], system.schema)], method="explicit")
    assert r.verdict == "not_inductive" and r.cti.pre is None and r.cti.post == (0,)


def test_induct_refuses_what_it_cannot_enumerate(tmp_path):
    system, invs = two_phase(3, ["TCConsistent"])

    class Plain(TwoPhase):
        @invariant
        def Py(self, state):
            return True

    ps = from_model(Plain(rms=2))
    with pytest.raises(checker.logic.PropertyError, match="Python predicate.*@formula"):
        induct(ps, [compile_predicate("Py", ps.invariants["Py"], ps.schema)], method="explicit")
    with pytest.raises(checker.logic.PropertyError, match="no ids of role 'tm'"):
        induct(system, invs, symmetry=["tm"], method="explicit")
    spec = tmp_path / "bag.toml"
    spec.write_text('protocol = "protocols.two_phase_commit:TwoPhaseCommit"\nkind = "induct"\n'
                    'expected = "inductive"\nmethod = "explicit"\n')
    with pytest.raises(SpecError, match=r"bag\.toml: induct: variable 'network' is a multiset.*in_flight = \"set\""):
        check(spec, out=None)
    # the symbolic method (the default) takes a multiset: its counts are bounded integers
    assert check(spec, out=None, method="auto").method == "symbolic"


def test_symmetry_is_refused_when_the_invariant_singles_out_a_node():
    class Picky(TwoPhase):
        @formula
        def Rm1First(self, s):
            return implies(s.rmState["rm2"] == "committed", s.rmState["rm1"] == "committed")

    system = from_model(Picky(rms=3))
    p = compile_predicate("Rm1First", system.invariants["Rm1First"], system.schema)
    with pytest.raises(checker.logic.PropertyError, match="symmetry over rm: Rm1First names 'rm[12]'"):
        induct(system, [p], symmetry=["rm"], method="explicit")
    assert induct(system, [p], method="explicit").verdict in ("inductive", "not_inductive")  # without symmetry it is fine


def test_a_message_passing_protocol_with_a_set_network_can_be_inducted(tmp_path):
    spec = tmp_path / "n.toml"
    spec.write_text('protocol = "protocols.two_phase_commit:TwoPhaseCommit"\nkind = "induct"\n'
                    'expected = "not_inductive"\nsymmetry = ["rm"]\n[network]\nin_flight = "set"\n')
    r = check(spec, out=None)
    assert r.ok and r.outcome == "not_inductive"
    # Z3 may first offer a state the protocol's code cannot take (a Prepared from the TM to itself), or
    # one whose successor breaks Consistent: both show that Consistent alone is not inductive
    assert r.property == "Consistent" and any(line.startswith("step: ") for line in r.details) or \
        r.property is None and any("raised" in line for line in r.details)


def test_a_state_the_model_cannot_take_is_shown_as_such():
    class Fragile(TwoPhase):
        @action
        def Boom(self, s):
            if s[self.at.tmState] == 2:  # tmState aborted
                raise ValueError("cannot")
            return ()

    system = from_model(Fragile(rms=2))
    names = ["TCConsistent", *LEMMAS]  # inductive: the only way to fail is the state Boom cannot take
    r = induct(system, [compile_predicate(n, system.invariants[n], system.schema) for n in names], method="explicit")
    assert r.verdict == "not_inductive" and r.cti.error == "ValueError: cannot" and r.cti.property == "Boom"
    assert system.schema.decode(r.cti.pre)["tmState"] == "aborted"


def test_max_states_cuts_induct_short_as_undetermined():
    r = check(SPECS / "two_phase_commit_induct_proof.toml", params={"rms": 3}, out=None, max_states=10,
              method="explicit")
    assert (r.ok, r.exit_code, r.outcome, r.stats.distinct) == (False, 3, "undetermined", 10)


def test_a_search_spec_can_be_asked_whether_its_invariants_are_inductive():
    r = check(SPECS / "two_phase_commit_tla.toml", out=None, kind="induct")
    assert (r.outcome, r.expected, r.exit_code, r.property) == ("not_inductive", "inductive", 1, "TCConsistent")


# -- lint -------------------------------------------------------------------------------------------------------------------


class Linted(TwoPhase):
    @formula
    def StartsCommitted(self, s):
        return s.tmState == "committed"

    @formula
    def WorkingOrNot(self, s):
        return forall(self.RM, lambda r: (s.rmState[r] == "working") | (s.rmState[r] != "working"))

    @formula
    def NoCommitWithoutPrepared(self, s):
        return implies(s.tmState == "committed", s.tmPrepared.card() == self.rms)

    @invariant
    def Plain(self, state):
        return True


def lint_of(names):
    system = from_model(Linted(rms=3))
    return lint(system, [compile_predicate(n, system.invariants[n], system.schema) for n in names])


def test_lint_reports_an_invariant_false_in_the_initial_state():
    (f,) = [f for f in lint_of(["StartsCommitted"]) if f.kind == "initial"]
    assert f.warning and f.property == "StartsCommitted" and "initial state" in f.message


def test_lint_notes_invariants_the_schema_already_guarantees_without_warning():
    found = lint_of(["TypeOK", "WorkingOrNot", "TCConsistent"])
    assert {(f.property, f.kind) for f in found} == {("TypeOK", "guaranteed"), ("WorkingOrNot", "guaranteed")}
    assert not any(f.warning for f in found)


def test_lint_warns_of_an_invariant_implied_by_the_others_naming_the_fewest():
    found = lint_of(["CommitOnlyIfAllPrepared", "NoCommitWithoutPrepared", "TCConsistent"])
    (f,) = [f for f in found if f.kind == "implied"]
    assert f.warning and f.property == "NoCommitWithoutPrepared"
    assert f.message.startswith("implied by CommitOnlyIfAllPrepared:")
    # and the proof's lemmas imply TCConsistent itself: exactly three of them are needed
    found = lint_of(["TCConsistent", *LEMMAS])
    (f,) = [f for f in found if f.kind == "implied"]
    assert f.property == "TCConsistent"
    named = f.message.split(":")[0].removeprefix("implied by ").split(", ")
    system = from_model(TwoPhase(rms=3))
    forms = {n: compile_predicate(n, system.invariants[n], system.schema).formula for n in LEMMAS}
    tc = compile_predicate("TCConsistent", system.invariants["TCConsistent"], system.schema).formula
    assert smt.entails(system.schema, [forms[n] for n in named], tc) is True
    for n in named:  # each one named is needed
        assert smt.entails(system.schema, [forms[m] for m in named if m != n], tc) is False


def test_lint_leaves_python_predicates_alone_with_a_note():
    (f,) = lint_of(["Plain"])
    assert (f.kind, f.warning) == ("predicate", False)


def test_check_lints_once_and_then_answers_from_its_cache(tmp_path, monkeypatch):
    system, invs = two_phase(3, ["TypeOK", "TCConsistent"])
    cache = tmp_path / "lint-cache.json"
    first = cached_lint(system, invs, cache)
    assert [f.kind for f in first] == ["guaranteed"] and cache.is_file()

    def boom(*a, **k):
        raise AssertionError("the solver was asked again")

    monkeypatch.setattr("checker.logic.lint.lint", boom)
    assert cached_lint(system, invs, cache) == first  # same formulas: from the cache
    other, invs2 = two_phase(3, ["TCConsistent"])
    with pytest.raises(AssertionError, match="asked again"):
        cached_lint(other, invs2, cache)  # a different set of formulas is not in the cache


def test_check_shows_lint_warnings_and_the_cli_lint_exits_1_on_them(tmp_path, capsys):
    spec = tmp_path / "p.toml"
    spec.write_text(f'protocol = "protocols.two_phase_commit_tla:TwoPhase"\nexpected = "holds"\n'
                    f'invariants = ["TCConsistent", {", ".join(map(json.dumps, LEMMAS))}]\n')
    r = check(spec, out=tmp_path / "out")
    assert r.ok and len(r.warnings) == 1 and "TCConsistent: implied by" in r.warnings[0]
    assert main(["lint", str(spec)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("warn ") and "warning: TCConsistent: implied by" in out
    assert main(["lint", str(SPECS / "two_phase_commit_tla.toml")]) == 0
    assert "note: TypeOK: the schema's types already guarantee it" in capsys.readouterr().out


# -- the CLI ------------------------------------------------------------------------------------------------------------------


def test_faultcheck_induct_exit_codes_and_json(tmp_path, capsys):
    assert main(["induct", str(SPECS / "two_phase_commit_induct_proof.toml")]) == 0
    assert "inductive, for every state" in capsys.readouterr().out  # symbolic: 8 RMs
    assert main(["induct", "--method", "explicit", "--set", "rms=3", str(SPECS / "two_phase_commit_induct_proof.toml")]) == 0
    assert "inductive within these bounds" in capsys.readouterr().out
    assert main(["induct", "--json", str(SPECS / "two_phase_commit_induct_cti.toml")]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert (obj["kind"], obj["verdict"], obj["expected"], obj["property"]) == \
        ("induct", "not_inductive", "not_inductive", "TCConsistent")
    assert any(d.startswith("step: ") for d in obj["details"])
    assert main(["induct", "--method", "explicit", "--max-states", "5", "--set", "rms=3",
                 str(SPECS / "two_phase_commit_induct_proof.toml")]) == 3
    capsys.readouterr()
    bad = tmp_path / "b.toml"
    bad.write_text('protocol = "protocols.two_phase_commit_tla:TwoPhase"\nkind = "induct"\nexpected = "holds"\n')
    assert main(["induct", str(bad)]) == 2
    err = capsys.readouterr().err
    assert 'b.toml: expected: must be "inductive" or "not_inductive" for kind = "induct"' in err
    assert main(["induct", "--set", "rms=2", str(SPECS / "two_phase_commit_induct_cti.toml")]) == 0


def test_check_runs_induct_specs_too_one_junit_case_each(tmp_path, capsys):
    junit = tmp_path / "j.xml"
    code = main(["check", "-q", "--out", str(tmp_path / "o"), "--junit", str(junit),
                 str(SPECS / "two_phase_commit_induct_cti.toml"), str(SPECS / "two_phase_commit_induct_proof.toml")])
    assert code == 0
    text = junit.read_text()
    assert text.count("<testcase") == 2 and "<failure" not in text and "<error" not in text


def test_induct_spec_fields_are_checked(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('protocol = "protocols.two_phase_commit_tla:TwoPhase"\nkind = "induct"\n'
                    'expected = "inductive"\nviolates = "TCConsistent"\n')
    with pytest.raises(SpecError, match='violates: only for kind = "search"'):
        check(spec, out=None)
    spec.write_text('protocol = "protocols.two_phase_commit_tla:TwoPhase"\nkind = "induct"\n'
                    'expected = "inductive"\nsymmetry = "rm"\n')
    with pytest.raises(SpecError, match="symmetry: expected list"):
        check(spec, out=None)


# -- cores in traces ----------------------------------------------------------------------------------------------------------


def test_a_violated_formula_stores_its_instance_and_a_minimal_core_in_the_trace(tmp_path):
    r = check(SPECS / "two_phase_commit_tla_early_commit.toml", out=tmp_path)
    core = r.trace.extra["violation_core"]
    fields = {f["field"]: f["value"] for f in core["fields"]}
    last = r.trace.steps[-1].state["rmState"]
    assert sorted(fields.values()) == ["aborted", "committed"]
    assert all(last[k.removeprefix("rmState[").rstrip("]")] == v for k, v in fields.items())
    system, (tc,) = two_phase(3, ["TCConsistent"])
    st = smt.SymbolicState(system.schema)
    raw = system.schema.from_json(r.trace.steps[-1].state)
    atoms = {a.label: a for a in smt.atoms(system.schema)}
    slots = [i for f in fields for i in atoms[f].slots]
    solver = smt.solver()
    solver.add(*st.constraints(), smt.to_z3(tc.formula, st), *st.equals(raw, slots))
    assert str(solver.check()) == "unsat"  # those fields alone make it false
    reloaded = checker.trace.Trace.load(r.written)
    assert reloaded.extra["violation_core"] == core  # kept in the JSON


def test_formulas_and_predicates_agree_on_every_reachable_state():
    """TCConsistent as the formula and as the hand-written predicate of TwoPhase.tla."""
    system, (tc,) = two_phase(3, ["TCConsistent"])
    for raw in reachable(from_model(TwoPhase(rms=3))) | set(every_state(from_model(TwoPhase(rms=2)).schema)[:0]):
        rm = system.schema.decode(raw)["rmState"].values()
        assert tc.check(raw) == (not ("committed" in rm and "aborted" in rm))
    s = State(system.schema)
    both = conj(tc.formula, s.tmState == "init")
    assert smt.entails(system.schema, [both], tc.formula) is True


def test_every_permutation_is_a_bijection_on_states():
    m = TwoPhase(rms=2)
    states = every_state(m.schema)
    for f in images(m.schema, ("rm",)):
        assert sorted(map(f, states)) == sorted(states)
    assert len(list(permutations("ab"))) == len(images(m.schema, ("rm",)))


def test_an_ill_typed_formula_is_one_line_naming_the_spec_and_the_invariant(tmp_path, capsys):
    mod = tmp_path / "badformula.py"
    mod.write_text(
        "from checker import forall, formula\n"
        "from protocols.two_phase_commit_tla import TwoPhase\n"
        "class Bad(TwoPhase):\n"
        "    @formula\n"
        "    def Wrong(self, s):\n"
        "        return forall(self.RM, lambda r: s.rmState[r] == 3)\n"
        "class Typo(TwoPhase):\n"
        "    @formula\n"
        "    def Wrong(self, s):\n"
        "        return forall(self.RMS, lambda r: s.rmState[r] == 'working')\n"
    )
    for cls, want in (("Bad", "invariant Wrong: 3 is not a Enum"), ("Typo", "invariant Wrong: building the formula "
                                                                         "raised AttributeError")):
        spec = tmp_path / f"{cls}.toml"
        spec.write_text(f'protocol = "badformula:{cls}"\nexpected = "holds"\ninvariants = ["Wrong"]\n')
        assert main(["check", "-q", str(spec)]) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line.startswith(f"faultcheck: {spec}: ") and want in line, line
