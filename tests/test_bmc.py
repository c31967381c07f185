"""Bounded model checking (`checker.logic.bmc`, `faultcheck bmc`): the depth of the first violation it finds
is the length of the shortest counterexample a breadth-first search finds; its trace replays; nothing
found up to K is undetermined (exit 3) unless the spec accepts bounds; what Z3 cannot be given is refused
in one line. The first tests give TCommit.tla's steps to Z3 by hand (`relation.kinds` patched), so they
do not depend on how the library's steps become formulas; the sweep over the broken library specs uses
the real relation and skips, with the reason, the specs it cannot take."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import z3

import checker
from checker.cli import main
from checker.engine import Verdict
from checker.logic import PropertyError, compile_predicate, relation
from checker.logic.bmc import BmcInternalError, bmc
from checker.logic.formula import FormulaError
from checker.model.lowlevel import PredicateDef
from checker.spec import load_spec
from checker.spec.properties import history_predicates, replay_properties
from checker.spec.run import EXIT_OK, EXIT_UNDETERMINED, EXIT_UNEXPECTED, _predicates, _set_up
from checker.trace import Trace, reproduce
from protocols.tcommit_tla import ABORTED, COMMITTED, PREPARED, WORKING, TCommit, TCommitHasty

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"
SWEEP_SECONDS = 300.0  # a broken spec bmc cannot answer in this long is skipped, saying so


# -- TCommit.tla's steps written by hand as relations (rmState[rm_i] is slot i) ------------------------------


def tcommit_kinds(hasty: bool, bogus: bool = False):
    """`relation.kinds` for TCommit (or TCommitHasty): Prepare(rm), Decide(rm) commit and abort. `bogus`
    adds a step the model does not have (a working RM commits at once): a wrong relation."""

    def kinds(system):
        n = len(system.schema.variables["rmState"].keys)

        def frame(pre, post, r):
            return [post.slots[i] == pre.slots[i] for i in range(n) if i != r]

        def prepare(pre, post, r):
            return z3.And(pre.slots[r] == WORKING, post.slots[r] == PREPARED, *frame(pre, post, r))

        def commit(pre, post, r):
            can = z3.And([z3.Or(pre.slots[i] == PREPARED, pre.slots[i] == COMMITTED) for i in range(n)])
            return z3.And(pre.slots[r] == PREPARED, z3.BoolVal(True) if hasty else can, post.slots[r] == COMMITTED,
                          *frame(pre, post, r))

        def abort(pre, post, r):
            none_committed = z3.And([pre.slots[i] != COMMITTED for i in range(n)])
            return z3.And(z3.Or(pre.slots[r] == WORKING, pre.slots[r] == PREPARED), none_committed,
                          post.slots[r] == ABORTED, *frame(pre, post, r))

        def jump(pre, post, r):
            return z3.And(pre.slots[r] == WORKING, post.slots[r] == COMMITTED, *frame(pre, post, r))

        out = []
        for r in range(n):
            for name, rel in (("Prepare", prepare), ("Commit", commit), ("Abort", abort)) + ((("Jump", jump),)
                                                                                            if bogus else ()):
                out.append(relation.Kind(f"{name}(rm{r + 1})", lambda pre, post, rel=rel, r=r: rel(pre, post, r)))
        return out

    return kinds


def spec_of(model_class, **changes):
    """tcommit_tla.toml (TCConsistent expected to hold) with another model class or other fields."""
    return replace(load_spec(SPECS / "tcommit_tla.toml"), model_class=model_class, invariants=("TCConsistent",),
                   **changes)


def bfs_length(spec) -> int | None:
    """The shortest counterexample's length by the explicit breadth-first search (None: it holds)."""
    r = checker.check(spec, out=None, lint=False)
    assert r.verdict in (Verdict.VIOLATED, Verdict.HOLDS), r.message
    return len(r.trace) if r.verdict is Verdict.VIOLATED else None


@pytest.mark.parametrize("rms", [2, 3, 4])
def test_the_depth_found_is_the_shortest_counterexample_of_a_breadth_first_search(monkeypatch, tmp_path, rms):
    monkeypatch.setattr(relation, "kinds", tcommit_kinds(hasty=True))
    spec = load_spec(SPECS / "tcommit_tla_hasty.toml").with_params({"rms": rms})
    shortest = bfs_length(spec)
    assert shortest is not None
    seen = []
    r = checker.check(spec, kind="bmc", depth=shortest + 3, out=tmp_path,
                      progress=lambda j, t, outcome: seen.append((j, outcome)))
    assert r.verdict is Verdict.VIOLATED and r.property == "TCConsistent"
    assert len(r.trace) == shortest and r.stats.depth == shortest
    assert seen == [(j, "no violation") for j in range(shortest)] + [(shortest, "violation")]
    # the trace is a normal one: written, labelled by the model's own steps, and it replays to the violation
    saved = Trace.load(r.written)
    model, system = _set_up(spec, False)
    assert reproduce(system, saved, replay_properties(spec, model, system)).ok
    assert [s.label for s in saved.steps[1:]][-1].startswith("Decide")


def test_one_depth_short_of_the_violation_is_undetermined_and_accept_bounds_only_helps_a_holding_spec(monkeypatch):
    monkeypatch.setattr(relation, "kinds", tcommit_kinds(hasty=True))
    r = checker.check(SPECS / "tcommit_tla_hasty.toml", kind="bmc", depth=2, out=None)
    assert r.verdict is Verdict.UNDETERMINED and r.exit_code == EXIT_UNDETERMINED and not r.ok
    assert "no violation up to depth 2" in r.message
    assert [line.split(":")[0] for line in r.details if line.startswith("depth ")] == ["depth 0", "depth 1", "depth 2"]

    monkeypatch.setattr(relation, "kinds", tcommit_kinds(hasty=False))
    r = checker.check(spec_of(TCommit), kind="bmc", depth=6, out=None)
    assert r.verdict is Verdict.UNDETERMINED and r.exit_code == EXIT_UNDETERMINED
    r = checker.check(spec_of(TCommit, accept_bounds=True), kind="bmc", depth=6, out=None)
    assert r.ok and r.exit_code == EXIT_OK and "accept_bounds" in r.message


def test_a_violation_of_a_spec_expected_to_hold_is_the_violation_exit_code(monkeypatch, tmp_path):
    monkeypatch.setattr(relation, "kinds", tcommit_kinds(hasty=True))
    r = checker.check(spec_of(TCommitHasty), kind="bmc", depth=5, out=tmp_path)
    assert r.verdict is Verdict.VIOLATED and r.exit_code == EXIT_UNEXPECTED and len(r.trace) == 3


def test_the_command_prints_the_time_per_depth_then_the_verdict_and_compares_with_the_committed_trace(
        monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(relation, "kinds", tcommit_kinds(hasty=True))
    code = main(["bmc", str(SPECS / "tcommit_tla_hasty.toml"), "--depth", "6", "--out", str(tmp_path)])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    depth_lines = [line.strip() for line in out if line.strip().startswith("depth ")]
    assert [d.split(" (")[0] for d in depth_lines] == ["depth 0: no violation", "depth 1: no violation",
                                                       "depth 2: no violation", "depth 3: violation"]
    verdict = next(i for i, line in enumerate(out) if line.startswith("ok "))
    assert verdict > max(out.index(line) for line in out if line.strip().startswith("depth "))
    assert any("has 3: as short" in line for line in out)
    assert any(line.strip().startswith("trace: ") for line in out)

    code = main(["bmc", str(SPECS / "tcommit_tla_hasty.toml"), "--depth", "2", "--json", "--out", str(tmp_path)])
    obj = json.loads(capsys.readouterr().out)
    assert code == EXIT_UNDETERMINED and obj["kind"] == "bmc" and obj["verdict"] == "undetermined"
    assert [d.split(":")[0] for d in obj["details"] if d.startswith("depth ")] == ["depth 0", "depth 1", "depth 2"]


def test_set_overrides_a_parameter(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(relation, "kinds", tcommit_kinds(hasty=True))
    code = main(["bmc", str(SPECS / "tcommit_tla_hasty.toml"), "--depth", "4", "--set", "rms=2", "--json",
                 "--out", str(tmp_path)])
    obj = json.loads(capsys.readouterr().out)
    assert code == 0 and obj["params"] == {"rms": 2} and obj["trace_length"] == 3


def test_a_path_the_model_cannot_take_is_an_internal_error_naming_the_depth(monkeypatch):
    monkeypatch.setattr(relation, "kinds", tcommit_kinds(hasty=False, bogus=True))
    spec = load_spec(SPECS / "tcommit_tla.toml")
    model, system = _set_up(spec, False)
    invs = _predicates(system, "invariant", ("TCConsistent",), spec.where)
    with pytest.raises(BmcInternalError, match=r"from depth \d to depth \d"):
        bmc(system, invs, 4)


def test_python_predicates_are_refused_in_one_line_naming_them(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(relation, "kinds", tcommit_kinds(hasty=True))
    spec = load_spec(SPECS / "tcommit_tla_hasty.toml")
    model, system = _set_up(spec, False)
    invs = _predicates(system, "invariant", None, spec.where)
    python = compile_predicate("NoneAborted", lambda st: "aborted" not in st.rmState.values(), system.schema)
    assert python.formula is None
    with pytest.raises(PropertyError, match="invariant NoneAborted is a Python predicate"):
        bmc(system, [*invs, python], 3)
    with pytest.raises(PropertyError, match="constraint NoneAborted is a Python predicate"):
        bmc(system, invs, 3, constraints=[python])
    # through the command: exit 2, one line on stderr naming the spec and the invariant
    code = main(["bmc", str(SPECS / "heartbeat_eager.toml"), "--depth", "2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "heartbeat_eager.toml" in err[0] and "invariant Accuracy" in err[0]


def rm1_working(self, s):
    return s.rmState["rm1"] == "working"


rm1_working._fc_predicate = PredicateDef("Rm1Working", "constraint", True)  # a formula @constraint


class ConstrainedHasty(TCommitHasty):
    """TCommitHasty whose states with rm1 not working are not expanded (their invariants still checked)."""

    Rm1Working = rm1_working


def test_a_formula_constraint_has_the_searchs_meaning(monkeypatch):
    """With 2 RMs, no violation is reachable through states where rm1 works (rm1 must prepare before it
    commits, or abort before rm2 commits); a search agrees that it holds. With 3, rm2 and rm3 violate it in
    3 steps, and the last state (rm1 still working) need not be inside it anyway."""
    monkeypatch.setattr(relation, "kinds", tcommit_kinds(hasty=True))
    for rms, shortest in ((2, None), (3, 3)):
        spec = spec_of(ConstrainedHasty, params={"rms": rms})
        assert bfs_length(spec) == shortest
        r = checker.check(spec, kind="bmc", depth=6, out=None)
        if shortest is None:
            assert r.verdict is Verdict.UNDETERMINED
        else:
            assert r.verdict is Verdict.VIOLATED and len(r.trace) == shortest
    # an invariant violated only by a state outside the constraint is found: its invariants are checked
    spec = spec_of(ConstrainedHasty, params={"rms": 2})
    model, system = _set_up(spec, False)
    constraints = _predicates(system, "constraint", None, spec.where)
    assert [c.name for c in constraints] == ["Rm1Working"] and constraints[0].formula is not None
    prepared = compile_predicate("Rm1NotPrepared", _formula(lambda s: s.rmState["rm1"] != "prepared"), system.schema)
    r = bmc(system, [prepared], 3, constraints=constraints)
    assert r.verdict == "violated" and len(r.path) - 1 == 1


def _formula(fn):
    def f(s):
        return fn(s)

    f._fc_predicate = PredicateDef("f", "invariant", True)
    return f


def test_a_solver_that_gives_up_is_undetermined_with_its_reason(monkeypatch):
    monkeypatch.setattr(relation, "kinds", tcommit_kinds(hasty=True))
    spec = load_spec(SPECS / "tcommit_tla_hasty.toml")
    model, system = _set_up(spec, False)
    invs = _predicates(system, "invariant", None, spec.where)
    r = bmc(system, invs, 5, max_seconds=1e-9)
    assert r.verdict == "undetermined" and ("max_seconds" in r.reason or "time limit" in r.reason)


# -- the library's broken specs, with the real transition relation ------------------------------------------


def _broken_specs():
    out = []
    for f in sorted(SPECS.glob("*.toml")):
        spec = load_spec(f)
        if spec.expected != "violated" or spec.kind != "search":
            continue
        length = len(json.loads(spec.counterexample_path().read_text())["steps"]) - 1 if spec.counterexample else 99
        out.append(pytest.param(f.name, marks=pytest.mark.slow) if length > 5 else f.name)
    return out


@pytest.mark.parametrize("name", _broken_specs())
def test_bmc_agrees_with_breadth_first_search_on_the_shortest_violation_of_every_broken_spec(name):
    spec = load_spec(SPECS / name)
    model, system = _set_up(spec, False)
    invs = _predicates(system, "invariant", spec.invariants, spec.where) + history_predicates(spec, system)
    if spec.violates not in {p.name for p in invs}:
        pytest.skip(f"violates {spec.violates}, which is not an invariant (bmc checks invariants only)")
    python = [p.name for p in invs if p.formula is None]
    if python:
        pytest.skip(f"Python invariants, not formulas: {', '.join(python)}")
    try:
        relation.kinds(system)
    except (FormulaError, ImportError, NotImplementedError) as e:
        pytest.skip(f"its steps are not formulas yet: {type(e).__name__}: {e}")
    shortest = bfs_length(spec)
    r = checker.check(spec, kind="bmc", depth=shortest, out=None, max_seconds=SWEEP_SECONDS)
    if r.verdict is Verdict.UNDETERMINED and ("max_seconds" in r.reason or "time limit" in r.reason):
        pytest.skip(f"bmc could not answer within {SWEEP_SECONDS} s: {r.reason}")
    # the first depth with a violation is the shortest counterexample's length (every lower depth had none)
    assert r.verdict is Verdict.VIOLATED, r.message
    assert len(r.trace) == shortest
    assert r.property in {p.name for p in invs}
    assert reproduce(system, r.trace, replay_properties(spec, model, system)).ok


def test_a_holding_protocol_is_undetermined_up_to_k_unless_the_spec_accepts_bounds(capsys):
    """Message-passing 2PC with the real relation: nothing up to depth 4 is exit 3; accept_bounds passes."""
    spec = load_spec(SPECS / "two_phase_commit_ok.toml")
    try:
        relation.kinds(_set_up(spec, False)[1])
    except (FormulaError, ImportError) as e:
        pytest.skip(f"its steps are not formulas yet: {type(e).__name__}: {e}")
    code = main(["bmc", str(SPECS / "two_phase_commit_ok.toml"), "--depth", "4"])
    out = capsys.readouterr().out
    assert code == EXIT_UNDETERMINED and "no violation up to depth 4" in out
    r = checker.check(replace(spec, accept_bounds=True), kind="bmc", depth=4, out=None)
    assert r.ok and r.exit_code == EXIT_OK and r.stats.depth == 4
    # an induct spec's invariants hold in every reachable state: bmc judges it as a spec expected to hold
    r = checker.check(SPECS / "two_phase_commit_nodes_induct_proof.toml", kind="bmc", depth=2, out=None)
    assert r.verdict is Verdict.UNDETERMINED and r.expected == "holds" and r.exit_code == EXIT_UNDETERMINED
