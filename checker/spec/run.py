"""Run one check: a spec (or a model) -> search -> trace -> an outcome compared with what was expected.

Exit codes (DESIGN.md): 0 as expected, 1 not as expected, 2 bad input or
internal error, 3 undetermined. Imports every layer below; nothing imports this.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..engine import Monitor, SearchOptions, SearchResult, Stats, Verdict, search
from ..engine.checkpoint import CheckpointError
from ..engine.checks import Tlc
from ..engine.onray import RayMissing
from ..engine.search import tlc_refusal
from ..engine.symmetry import Reduction, SymmetryError, concretize, reduced, reduction
from ..logic import ActionConstraint, Predicate, PropertyError, StateFunction, compile_predicate
from ..model import Model, ModelError
from ..model.node import Protocol
from ..semantics import TransitionSystem, from_model
from ..semantics.nodes import from_protocol
from ..trace import Trace, TraceError, build_trace, reproduce
from .load import Spec, SpecError, load_spec, spec_for_model
from .paths import PathError, inside, write_root
from .properties import check_convergence, check_liveness, history_predicates, liveness_properties, replay_properties

EXIT_OK, EXIT_UNEXPECTED, EXIT_ERROR, EXIT_UNDETERMINED = 0, 1, 2, 3


@dataclass(frozen=True)
class CheckResult:
    """The outcome of checking one spec.

    >>> r = check("specs/two_phase_commit_tla.toml", params={"rms": 3}, out=None)
    >>> r.verdict, r.ok, r.stats.distinct, r.exit_code
    (<Verdict.HOLDS: 'holds'>, True, 288, 0)
    """

    spec: str
    verdict: Verdict
    expected: str
    ok: bool
    exit_code: int
    message: str  # one line: what happened, relative to what was expected
    stats: Stats
    property: str | None = None
    trace: Trace | None = None
    counterexample: str | None = None  # committed path if the spec names one, else the trace written, else None
    written: str | None = None  # where this run wrote its trace, if it did
    reason: str = ""
    error: str | None = None
    params: dict[str, Any] | None = None
    kind: str = "search"
    outcome: str | None = None  # the verdict in the spec's own words, where it has them ("inductive")
    details: tuple[str, ...] = ()  # lines to show under the summary (a counterexample to induction)
    warnings: tuple[str, ...] = ()  # what lint found wrong with the invariants
    symmetry: str | None = None  # how states were reduced by symmetry, if they were
    time: str | None = None  # how time was kept finite, for a timed protocol
    workers: int = 1
    strategy: str = "bfs"
    witnesses: dict[str, str | None] | None = None  # reachability property -> the witness trace written (or None)
    method: str | None = None  # induct: "symbolic" (stats count queries) or "explicit" (states examined)

    def _repr_html_(self) -> str:
        """Jupyter's view: the outcome, TLC's statistics and the counterexample's viewer (`checker.spec.notebook`)."""
        from .notebook import result_html

        return result_html(self)

    def to_json(self) -> dict[str, Any]:
        s = self.stats
        return {
            "spec": self.spec,
            "kind": self.kind,
            "verdict": self.outcome or self.verdict.value,
            "expected": self.expected,
            "ok": self.ok,
            "exit_code": self.exit_code,
            "message": self.message,
            "property": self.property,
            "params": self.params,
            "distinct_states": s.distinct,
            "states_generated": s.generated,
            "depth": s.depth,
            "seconds": round(s.seconds, 4),
            "states_per_second": round(s.states_per_second, 1),
            "collision_probability": s.collision_probability,
            "coverage": s.coverage,
            "never_enabled": s.never_enabled,
            "counterexample": self.counterexample,
            "trace_length": len(self.trace) if self.trace is not None else None,
            "reason": self.reason,
            "details": list(self.details),
            "warnings": list(self.warnings),
            **({"method": self.method} if self.method else {}),
            "symmetry": self.symmetry,
            "time": self.time,
            "bytes_per_state": s.bytes_per_state,
            "workers": self.workers,
            "strategy": self.strategy,
            "witnesses": self.witnesses,
        }


def combine_exit_codes(codes: list[int]) -> int:
    """Over several specs: the first present of 2, 1, 3, else 0."""
    for c in (EXIT_ERROR, EXIT_UNEXPECTED, EXIT_UNDETERMINED):
        if c in codes:
            return c
    return EXIT_OK


def _predicates(system: TransitionSystem, kind: str, names: tuple[str, ...] | None, where: str) -> list[Predicate]:
    fns = {"invariant": system.invariants, "constraint": system.constraints, "terminal": system.terminals,
           "reachable": system.reachables}[kind]
    out = []
    for name in names if names is not None else tuple(fns):
        try:
            out.append(compile_predicate(name, fns[name], system.schema))
        except PropertyError as e:
            raise SpecError(f"{where}: {kind} {name}: {e}") from None
    return out


def check(
    spec_or_model: str | os.PathLike | Spec | Model | type[Model],
    *,
    params: dict[str, Any] | None = None,
    invariants: list[str] | None = None,
    max_states: int | None = None,
    max_depth: int | None = None,
    max_seconds: float | None = None,
    check_deadlock: bool | None = None,
    store: str = "exact",
    check_determinism: bool = False,
    out: str | os.PathLike | None = ".faultcheck",
    update: bool = False,
    monitor: Monitor | None = None,
    lint: bool = True,
    kind: str | None = None,
    simplest: bool = False,
    symmetry: bool | None = None,
    workers: int = 1,
    strategy: str = "bfs",
    walks: int = 1000,
    seed: int = 0,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: float = 600.0,
    resume: str | os.PathLike | None = None,
    compact_above: float | None = None,
    sharded: bool = False,
    ray: str | None = None,
    ray_workers: int | None = None,
    ray_ship: bool = False,
    parallel_min: int | None = None,
    depth: int | None = None,
    progress: Callable[[int, float, str], None] | None = None,
    method: str | None = None,
) -> CheckResult:
    """Check a spec file, a loaded `Spec`, or a model instance or class.

    Options override the spec: `params`, `invariants`, bounds, `check_deadlock`,
    `store` ("exact" or "fingerprint"), `check_determinism` (run every handler of a
    protocol twice, with set iteration reversed, and fail if the results differ). A new trace is written under `out`
    (None: nowhere); a committed counterexample is rewritten only with `update`. With `lint` and an `out`
    folder, formula invariants are linted by Z3 when `out`'s cache has not seen them (warnings in the
    result). `kind="induct"` asks whether a search spec's invariants are inductive; `kind="bmc"` asks Z3
    for a violation within `depth` steps (bounded model checking; `progress(j, seconds, outcome)` after
    each depth j, else the per-depth lines are in the result's details). `method` (induct: "symbolic",
    "explicit" or "auto") overrides the spec's.
    Bad input raises `SpecError` (one line); everything else is in the result. A committed
    counterexample must lie inside the spec's project, and `update` never overwrites a file there
    that is not a faultcheck trace (both `SpecError`).
    """
    if isinstance(spec_or_model, Spec):
        spec = spec_or_model
    elif isinstance(spec_or_model, (str, os.PathLike)):
        spec = load_spec(spec_or_model)
    else:
        spec = spec_for_model(spec_or_model)
    declared = _declared_params(spec)
    if params:
        spec = spec.with_params(params)
    committed = _committed(spec)
    if update and committed is not None and spec.expected == "violated" and (why := _not_a_trace(committed)):
        raise SpecError(_why_not_overwritten(spec, committed, why))
    model, system = _set_up(spec, check_determinism)
    names = tuple(invariants) if invariants is not None else spec.invariants
    if names is not None:
        known = model.predicates("invariant")
        for n in names:
            if n not in known:
                raise SpecError(f"{spec.where}: unknown invariant {n!r} (invariants: {', '.join(known) or 'none'})")
    invs = _predicates(system, "invariant", names, spec.where) + history_predicates(spec, system)
    if (kind or spec.kind) == "induct":
        return _check_induct(spec, model, system, invs, max_states if max_states is not None
                             else spec.bounds.get("max_states"), monitor, method or spec.method,
                             max_seconds if max_seconds is not None else spec.bounds.get("max_seconds"))
    if (kind or spec.kind) == "bmc":
        return _check_bmc(spec, model, system, invs, depth, max_seconds if max_seconds is not None
                          else spec.bounds.get("max_seconds"), out, committed, declared, progress)
    warnings = _lint(spec, system, invs, out) if lint and out is not None else ()
    b = spec.bounds
    try:
        options = SearchOptions(
            max_states=max_states if max_states is not None else b.get("max_states"),
            max_depth=max_depth if max_depth is not None else b.get("max_depth"),
            max_seconds=max_seconds if max_seconds is not None else b.get("max_seconds"),
            check_deadlock=_deadlock_default(spec, model) if check_deadlock is None else check_deadlock,
            store=store,
            workers=workers,
            strategy=strategy,
            walks=walks,
            seed=seed,
            checkpoint_dir=None if checkpoint_dir is None else str(checkpoint_dir),
            checkpoint_every=checkpoint_every,
            resume=None if resume is None else str(resume),
            compact_above=_compact_above(compact_above, store, workers, checkpoint_dir, resume, sharded or ray),
            sharded=sharded,
            ray=ray,
            ray_workers=ray_workers,
            ray_ship=ray_ship,
            **({"parallel_min": parallel_min} if parallel_min is not None else {}),
        )
    except ValueError as e:
        raise SpecError(f"{spec.where}: {e}") from None
    lives = liveness_properties(spec, model, system)
    if lives and strategy != "bfs":
        raise SpecError(f"{spec.where}: liveness is checked on the whole state graph: strategy {strategy} cannot")
    acons = [ActionConstraint(n, f, system.schema) for n, f in system.action_constraints.items()]
    view = next((StateFunction(n, f, system.schema) for n, f in system.views.items()), None)
    reach = _predicates(system, "reachable", spec.reachable_properties(), spec.where)
    refused = tlc_refusal(options, view, reach)
    if refused:
        raise SpecError(f"{spec.where}: {refused}")
    if lives and (view is not None or acons):
        raise SpecError(f"{spec.where}: liveness is checked on the whole state graph, without the model's "
                        f"{'view' if view is not None else 'action constraints'}: check it in a spec of its own")
    red = _symmetry(spec, model, system, invs, lives, symmetry, view is not None or bool(acons), reach)
    searched = reduced(system, red) if red is not None else system
    if checkpoint_dir is not None or resume is not None:  # what a checkpoint records and a resume compares
        searched = replace(searched, name=_identity(spec, red))
    recipe = None
    if ray is not None:
        if spec.path is None:
            raise SpecError(f"{spec.where}: --ray needs a spec file (the workers load the spec themselves)")
        recipe = Recipe(str(Path(spec.path).resolve()), dict(spec.params), tuple(names) if names is not None else None,
                        symmetry, check_determinism, checkpoint_dir is not None or resume is not None,
                        str(Path(spec.root).resolve()))
    try:
        result = search(
            searched,
            invs,
            options,
            constraints=_predicates(system, "constraint", None, spec.where),
            terminals=_predicates(system, "terminal", None, spec.where),
            monitor=monitor,
            action_constraints=acons,
            view=view,
            reachable=reach,
            recipe=recipe,
        )
    except CheckpointError as e:
        raise SpecError(str(e)) from None
    except RayMissing as e:
        raise SpecError(f"{spec.where}: {e}") from None
    if red is not None and result.path is not None:
        path, perms = concretize(system, red, result.path)
        result = replace(result, path=path, permutations=perms)
    if lives and result.verdict is Verdict.HOLDS:
        result = check_liveness(spec, system, lives, options, result)
    if "converges" in spec.consistency and result.verdict is Verdict.HOLDS:
        result = check_convergence(spec, system, options, result)
    judged = _judge(spec, model, system, invs, result, out, update, committed, declared)
    judged = replace(judged, symmetry=red.describe() if red is not None else None, workers=workers, strategy=strategy,
                     time=describe_time(system))
    if reach:
        judged = _witnesses(spec, system, red, result, judged, out)
    if simplest and result.verdict is Verdict.VIOLATED and out is not None:
        judged = replace(judged, details=judged.details + (_simplest(spec, system, invs, result, out, options),))
    if view is not None and result.verdict is Verdict.HOLDS:  # a view's "holds" is about an abstraction
        warnings = (*warnings, f"holds on the states the view {view.name} keeps apart: states with equal views "
                               "were explored as one (README: TLC's model-checking options)")
    return replace(judged, warnings=warnings) if warnings else judged


def describe_time(system: TransitionSystem) -> str | None:
    """How a timed protocol's time was kept finite: "time: times exact 4 ticks back, skew <= 1, delay <= 2"."""
    sem = getattr(system, "semantics", None)
    t = getattr(sem, "time", None)
    if t is None:
        return None
    how = "set by [time] horizon" if t.horizon is not None else "one past the largest constant"
    parts = [f"time: past times exact for {sem.cut} tick{'s' if sem.cut != 1 else ''} ({how})",
             f"skew <= {t.max_skew}", "asynchronous" if t.max_delay is None else f"delay <= {t.max_delay}"]
    return ", ".join(parts)


def _witnesses(spec: Spec, system: TransitionSystem, red: Reduction | None, result: SearchResult,
               judged: CheckResult, out: str | os.PathLike | None) -> CheckResult:
    """Write the shortest trace to each reachability property reached (`<out>/<spec>.<Name>.witness.json`,
    verdict "witness"); one line each under the summary."""
    written: dict[str, str | None] = {}
    lines = []
    for name in spec.reachable_properties():
        path = (result.witnesses or {}).get(name)
        if path is None:
            continue
        perms = None
        if red is not None:
            path, perms = concretize(system, red, path)
        trace = build_trace(system, path, protocol=spec.protocol, property=name, verdict="witness",
                            spec=str(spec.path) if spec.path else None, reason=f"{name} reached",
                            permutations=perms)
        where = str(trace.save(Path(out) / f"{spec.name}.{name}.witness.json")) if out is not None else None
        written[name] = where
        lines.append(f"witness: {name} reached in {len(trace)} steps" + (f": {where}" if where else ""))
    return replace(judged, witnesses=written, details=judged.details + tuple(lines))


def _simplest(spec: Spec, system: TransitionSystem, invs: list[Predicate], result: SearchResult,
              out: str | os.PathLike, options: SearchOptions) -> str:
    """Write the violation with the fewest faults at any length; one line saying what it is."""
    from ..engine import fewest_faults
    from ..semantics import FAULT_KINDS

    r = fewest_faults(system, invs, options)
    if r.path is None:
        return f"fewest faults: not found ({r.reason or r.verdict.value})"
    trace = build_trace(system, r.path, protocol=spec.protocol, property=r.property, verdict=r.verdict.value,
                        spec=str(spec.path) if spec.path else None)
    where = trace.save(Path(out) / f"{spec.name}.simplest.json")
    faults = sum(st.kind in FAULT_KINDS for st in trace.steps)
    shortest = sum(1 for s, t in zip(result.path, result.path[1:])  # type: ignore[arg-type]
                   if (step := system.find_step(s, t)) is not None and step.kind in FAULT_KINDS)
    return (f"fewest faults: {len(trace)} steps with {faults} fault{'s' if faults != 1 else ''} (violating "
            f"{r.property}; the shortest has {shortest}): {where}")


def _lint(spec: Spec, system: TransitionSystem, invs: list[Predicate], out: str | os.PathLike) -> tuple[str, ...]:
    """Lint's warnings on the formulas, from the cache under `out` when it has seen them."""
    from ..logic.lint import cached_lint

    try:
        findings = cached_lint(system, invs, Path(out) / "lint-cache.json")
    except Exception as e:  # the solver is a help here, never a reason to fail the check
        return (f"lint could not run: {type(e).__name__}: {e}",)
    return tuple(str(f) for f in findings if f.warning)


def _check_induct(spec: Spec, model: Model, system: TransitionSystem, invs: list[Predicate], max_states: int | None,
                  monitor: Monitor | None, method: str = "auto", max_seconds: float | None = None) -> CheckResult:
    """Is the conjunction of the invariants inductive (within the spec's bounds)? Symbolic where the steps
    can be given to Z3 (`method`), with the monitor's progress line and time bound either way."""
    from ..logic.induct import describe, induct

    expected = spec.expected if spec.kind == "induct" else "inductive"
    constraints = _predicates(system, "constraint", None, spec.where)
    if monitor is None:
        monitor = Monitor(max_seconds=max_seconds)
    elif max_seconds is not None and monitor.max_seconds is None:
        monitor.max_seconds = max_seconds
    monitor.start()
    try:
        r = induct(system, invs, symmetry=spec.symmetry, max_states=max_states, constraints=constraints,
                   action_constraints=tuple(system.action_constraints), method=method, tick=monitor.tick)
    except PropertyError as e:
        raise SpecError(f"{spec.where}: induct: {e}") from None
    finally:
        monitor.finish(Stats(distinct=0, generated=0, depth=1, seconds=0.0))
    stats = Stats(distinct=r.examined, generated=r.successors, depth=1, seconds=r.seconds)
    sym = f"; symmetry over {', '.join(r.symmetry)}" if r.symmetry else ""
    if r.method == "symbolic":
        sym = f"; symbolic: one Z3 query per kind of step, {r.kinds:,} kinds"
    if r.solved or r.filtered:
        unit = "classes of states" if r.symmetry else "states"
        names = (*r.solved, *r.filtered)
        sym += (f"; only states inside the constraint{'s' if len(names) > 1 else ''} {', '.join(names)}"
                + (f" ({', '.join(r.solved)} in the solver's query)" if r.solved else "")
                + (f": {r.excluded:,} {unit} satisfying the invariant excluded by {', '.join(r.filtered)}"
                   if r.filtered else ""))
    notes: tuple[str, ...] = ()
    if r.unused:
        notes = (f"action constraint {', '.join(r.unused)}: not applied (a search checks the invariants of the "
                 "successor of a step it forbids, as TLC does, so it cannot change this verdict)",)
    if r.fallback:
        notes += (f"states enumerated, not symbolic: {r.fallback}",)
    if r.routes:
        notes += (f"typed envelopes (derived from the handlers): {'; '.join(r.routes)}",)
    common = dict(spec=spec.where, verdict=Verdict.HOLDS, expected=expected, stats=stats, params=dict(model.params),
                  kind="induct", outcome=r.verdict, details=tuple(describe(system, r)) + notes, reason=r.reason,
                  method=r.method,
                  time=describe_time(system))
    if r.verdict == "undetermined":
        if spec.accept_bounds and expected == "inductive" and not r.reason.startswith("interrupted"):
            return CheckResult(ok=True, exit_code=EXIT_OK, message=f"undetermined ({r.reason}); accept_bounds = true",
                               **{**common, "verdict": Verdict.UNDETERMINED})
        return CheckResult(ok=False, exit_code=EXIT_UNDETERMINED, message=f"undetermined: {r.reason}",
                           **{**common, "verdict": Verdict.UNDETERMINED})
    examined = f"{r.examined:,} states examined" if r.method == "explicit" else f"{r.examined:,} queries"
    if r.verdict == "inductive":
        what = (f"inductive within these bounds ({examined}{sym})" if r.method == "explicit"
                else f"inductive, for every state ({r.seconds:.2f} s{sym})")
    else:
        cti = r.cti
        assert cti is not None
        if cti.pre is None:
            what = f"not inductive: an initial state violates {cti.property}"
        elif cti.error:
            what = (f"not inductive: the invariant allows a state on which {cti.property} raises "
                    f"({examined}{sym})")
        else:
            what = (f"not inductive: {cti.step.label if cti.step else 'a step'} leads from a state satisfying the "
                    f"invariant to one violating {cti.property} ({examined}{sym})")
        common["verdict"] = Verdict.VIOLATED
        common["property"] = None if cti.error else cti.property
    ok = r.verdict == expected
    message = f"{what}{', as expected' if ok else f' (expected {expected})'}"
    return CheckResult(ok=ok, exit_code=EXIT_OK if ok else EXIT_UNEXPECTED, message=message, **common)


def _check_bmc(spec: Spec, model: Model | Protocol, system: TransitionSystem, invs: list[Predicate],
               depth: int | None, max_seconds: float | None, out: str | os.PathLike | None, committed: Path | None,
               declared: dict[str, Any], progress: Callable[[int, float, str], None] | None) -> CheckResult:
    """Bounded model checking (`logic.bmc`): a violation within `depth` steps, judged as a search's is (a
    trace written and replayed, compared with the committed counterexample); none is undetermined, unless
    the spec accepts bounds."""
    from ..logic.bmc import BmcInternalError, bmc
    from ..logic.formula import FormulaError

    if depth is None or type(depth) is not int or depth < 0:
        raise SpecError(f"{spec.where}: bmc: a depth (a whole number of steps >= 0) is needed, got {depth!r}")
    if spec.kind == "induct":  # its invariants hold in every reachable state, whether or not they are inductive
        spec = replace(spec, kind="search", expected="holds", violates=None, counterexample=None)
        committed = None
    if spec.expected == "violated" and spec.violates not in {p.name for p in invs}:
        raise SpecError(f"{spec.where}: bmc: violates = {spec.violates!r} is not an invariant: bmc looks for "
                        "invariant violations only")
    if system.action_constraints:
        raise SpecError(f"{spec.where}: bmc: action constraint {', '.join(system.action_constraints)}: a search "
                        "does not follow the steps it forbids, and bmc cannot give it to Z3")
    constraints = _predicates(system, "constraint", None, spec.where)
    try:
        r = bmc(system, invs, depth, constraints=constraints, progress=progress, max_seconds=max_seconds)
    except (PropertyError, FormulaError) as e:  # a Python predicate; steps Z3 cannot be given (SymbolicUnsupported)
        raise SpecError(f"{spec.where}: bmc: {e}") from None
    lines = [f"transition relation: {r.kinds:,} kinds of step, built in {r.setup_seconds:.2f} s"]
    lines += [] if progress is not None else r.depth_lines()
    skipped = [*(("deadlock",) if _deadlock_default(spec, model) else ()), *(spec.liveness or ()),
               *spec.reachable_properties(), *(("Converges",) if "converges" in spec.consistency else ())]
    if skipped:
        lines.append(f"not checked by bmc (invariants only): {', '.join(skipped)}")
    if system.views:
        lines.append(f"the view {', '.join(system.views)} is not applied: bmc explores the states themselves")
    verdict = {"violated": Verdict.VIOLATED, "error": Verdict.ERROR}.get(r.verdict, Verdict.UNDETERMINED)
    stats = Stats(distinct=0, generated=0, depth=r.depth, seconds=r.total_seconds)
    found = SearchResult(verdict, stats, property=r.invariant, path=r.path, reason=r.reason)
    if verdict is Verdict.ERROR:  # the model's own code raises: as the search reports it, with the path there
        return replace(_judge(spec, model, system, invs, found, out, False, committed, declared), kind="bmc",
                       details=tuple(lines), time=describe_time(system))
    judged = _judge(spec, model, system, invs, found, out, False, committed, declared)
    if judged.trace is not None:
        replayed = reproduce(system, judged.trace, replay_properties(spec, model, system))
        if not replayed.ok:
            raise BmcInternalError(f"bmc: the trace built from Z3's path does not replay: {replayed.message}")
        if committed is not None and committed.exists():
            try:
                old = len(Trace.load(committed))
            except TraceError:
                old = None
            if old is not None:
                n = len(judged.trace)
                lines.append(f"bmc's trace has {n} steps; {spec.counterexample} has {old}: "
                             + ("as short" if n == old else f"bmc's is shorter by {old - n}" if n < old
                                else f"bmc's is longer by {n - old} (a bug: bmc finds the shortest)"))
    return replace(judged, kind="bmc", details=judged.details + tuple(lines), time=describe_time(system))


def prepare(path: str | os.PathLike, params: dict[str, Any] | None = None) -> tuple[TransitionSystem, list[Predicate]]:
    """A spec's transition system and its compiled invariants, without checking anything."""
    spec = load_spec(path)
    if params:
        spec = spec.with_params(params)
    model = spec.instantiate()
    system = system_of(spec, model, False)
    return system, _predicates(system, "invariant", spec.invariants, spec.where)


def _set_up(spec: Spec, check_determinism: bool) -> tuple[Model | Protocol, TransitionSystem]:
    """The model and its transition system. The model's own code runs here too (its constructor, every
    node's on_start): under the engine's guard, so a sys.exit, os._exit or hang there is a one-line error
    naming the spec and the method, like a failure in the search."""
    from ..engine.guard import guarded

    with guarded(None) as guard:
        try:
            model = spec.instantiate()
            return model, system_of(spec, model, check_determinism)
        except SpecError:
            raise
        except BaseException as e:
            blamed = guard.blame(e)
            if blamed is None:
                raise
            reason = blamed[0] or f"raised {type(e).__name__}: {e}"
            raise SpecError(f"{spec.where}: setting up the model: {reason}") from None


def system_of(spec: Spec, model: Model | Protocol, check_determinism: bool) -> TransitionSystem:
    try:
        if isinstance(model, Protocol):
            return from_protocol(model, network=spec.network.get("in_flight", "multiset"),
                                 check_determinism=check_determinism, faults=spec.faults,
                                 ordering=spec.network.get("ordering", "unordered"),
                                 capacity=spec.network.get("capacity", 4), time=spec.time,
                                 overflow=spec.network.get("overflow", "error"))
        return from_model(model)
    except ModelError as e:
        raise SpecError(f"{spec.where}: {e}") from None
    except Exception as e:  # init() raised
        raise SpecError(f"{spec.where}: {spec.protocol}: setting up the initial states raised {type(e).__name__}: {e}") from None


def _symmetry(spec: Spec, model: Model | Protocol, system: TransitionSystem, invs: list[Predicate], lives: list,
              wanted: bool | None, steps: bool = False, reach: list[Predicate] = ()) -> Reduction | None:
    """The reduction to search with: the spec's roles (or, asked for, the model's declared ones). `steps`: the
    model has a view or action constraints, which are not checked under symmetry."""
    if wanted is False or (wanted is None and not spec.symmetry):
        return None
    if steps:
        raise SpecError(f"{spec.where}: symmetry: not with a view or action constraints (they would see "
                        "representatives, not the states reached); use --no-symmetry")
    roles = spec.symmetry or tuple(type(model).symmetry)
    if not roles:
        raise SpecError(f"{spec.where}: symmetry: neither the spec (symmetry = [...]) nor {spec.protocol} "
                        "(symmetry = (...)) names interchangeable roles")
    if lives:
        raise SpecError(f"{spec.where}: symmetry: liveness is not checked under symmetry (a cycle of representatives "
                        "need not be a cycle of states, which makes TLC's unsound); use --no-symmetry")
    declared = type(model)._symmetric
    history = set(spec.consistency_properties())
    for p in invs:
        if p.name not in declared and p.name not in history:
            raise SpecError(f"{spec.where}: symmetry: invariant {p.name} is not declared symmetric; declare it "
                            "@invariant(symmetric=True) (or @formula(symmetric=True)) if renaming nodes never changes it")
    for p in reach:
        if p.name not in declared:
            raise SpecError(f"{spec.where}: symmetry: reachable {p.name} is not declared symmetric; declare it "
                            "@reachable(symmetric=True) if renaming nodes never changes it")
    try:
        return reduction(system.schema, roles)
    except SymmetryError as e:
        raise SpecError(f"{spec.where}: {e}") from None


@dataclass(frozen=True)
class Recipe:
    """How a Ray worker rebuilds what a search spec searches: the spec's path and the options that shape
    the transition system. Picklable: the protocol's code is imported on the worker, never shipped in a
    pickle."""

    path: str
    params: dict[str, Any]
    invariants: tuple[str, ...] | None
    symmetry: bool | None
    check_determinism: bool
    named: bool  # checkpoints: the system is named by its identity
    root: str  # the spec's project (importable on the workers)

    def __call__(self) -> dict[str, Any]:
        spec = load_spec(self.path)
        if self.params:
            spec = spec.with_params(self.params)
        model, system = _set_up(spec, self.check_determinism)
        names = self.invariants if self.invariants is not None else spec.invariants
        invs = _predicates(system, "invariant", names, spec.where) + history_predicates(spec, system)
        lives = liveness_properties(spec, model, system)
        acons = [ActionConstraint(n, f, system.schema) for n, f in system.action_constraints.items()]
        view = next((StateFunction(n, f, system.schema) for n, f in system.views.items()), None)
        reach = _predicates(system, "reachable", spec.reachable_properties(), spec.where)
        red = _symmetry(spec, model, system, invs, lives, self.symmetry, view is not None or bool(acons), reach)
        searched = reduced(system, red) if red is not None else system
        if self.named:
            searched = replace(searched, name=_identity(spec, red))
        return {"system": searched, "invariants": invs,
                "constraints": _predicates(system, "constraint", None, spec.where),
                "terminals": _predicates(system, "terminal", None, spec.where),
                "tlc": Tlc(tuple(acons), view, tuple(reach)), "reachable": reach}


def _compact_above(gib: float | None, store: str, workers: int, checkpoint_dir, resume, sharded=False) -> int | None:
    """Bytes of resident memory past which the search switches to the compact store, if it may."""
    if store == "compact" or workers > 1 or checkpoint_dir or resume or gib == 0 or sharded:
        return None
    if gib is not None:
        return int(gib * 2**30)
    try:
        with open("/proc/meminfo") as f:
            total = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemTotal:"))
    except (OSError, StopIteration, ValueError):
        return None
    return total * 3 // 4


def _deadlock_default(spec: Spec, model: Model | Protocol) -> bool:
    if spec.check_deadlock is not None:
        return spec.check_deadlock
    if getattr(model, "check_deadlock", None) is not None:  # a Model's class attribute `check_deadlock = False`
        return bool(model.check_deadlock)
    return not isinstance(model, Protocol)  # a protocol with nothing left to do is quiescent, not deadlocked


def _identity(spec: Spec, red: Reduction | None) -> str:
    """The searched system's name while checkpointing: the protocol, the spec file and the reduction, so
    that a checkpoint of another spec (or of the same one with symmetry on or off) is refused."""
    where = str(spec.path.resolve()) if spec.path is not None else "no spec file"
    return f"{spec.protocol} ({where})" + (f", {red.describe()}" if red is not None else "")


def _declared_params(spec: Spec) -> dict[str, Any]:
    """Every parameter of the spec's model as the spec file sets it (defaults filled in), in JSON's terms."""
    names = getattr(spec.model_class, "_params", {})
    return _as_json({n: spec.params.get(n, p.default) for n, p in names.items()})


def _as_json(obj: Any) -> Any:
    return json.loads(json.dumps(obj, sort_keys=True, default=str))


def _committed(spec: Spec) -> Path | None:
    """The committed counterexample's path, resolved, and checked to lie inside the spec's project."""
    if spec.counterexample is None:
        return None
    root = write_root(spec.path) if spec.path is not None else spec.root
    try:
        return inside(spec.root / spec.counterexample, root, where=spec.where, field="counterexample",
                      shown=spec.counterexample)
    except PathError as e:
        raise SpecError(str(e)) from None


def _not_a_trace(path: Path) -> str | None:
    """Why the file at `path` is not a faultcheck trace, or None (also when there is no file)."""
    if not path.exists() and not path.is_symlink():
        return None
    try:
        Trace.load(path)
    except TraceError as e:
        return str(e).removeprefix(f"{path}: ")
    return None


def _why_not_overwritten(spec: Spec, path: Path, why: str) -> str:
    return (f"{spec.where}: counterexample: {path} exists and is not a faultcheck trace ({why}); --update "
            "overwrites only traces: move it away or fix the spec's counterexample path")


def _stale(old: Trace, spec: Spec, declared: dict[str, Any]) -> str | None:
    """How a committed trace was recorded for another protocol or other parameters than the spec's."""
    if old.protocol != spec.protocol:
        return f"recorded for protocol {old.protocol}, the spec says {spec.protocol}"
    return params_mismatch(_as_json(old.params), declared)


def params_mismatch(recorded: dict[str, Any], have: dict[str, Any], says: str = "the spec says") -> str | None:
    """"recorded for rms=3, the spec says rms=4": the parameters whose (JSON) values differ, or None.
    Both `check` (a stale committed counterexample) and `replay` (a trace against a spec) say it so."""
    keys = sorted(k for k in {*recorded, *have} if recorded.get(k, ...) != have.get(k, ...))
    if not keys:
        return None

    def show(params: dict[str, Any]) -> str:
        return ", ".join(f"{k}={json.dumps(params[k])}" if k in params else f"no {k}" for k in keys)

    return f"recorded for {show(recorded)}, {says} {show(have)}"


def _judge(spec: Spec, model: Model, system: TransitionSystem, invs: list[Predicate], result: SearchResult,
           out: str | os.PathLike | None, update: bool, committed: Path | None,
           declared: dict[str, Any]) -> CheckResult:
    trace = None
    written = None
    v = result.verdict
    if result.path is not None:
        trace = build_trace(
            system, result.path, protocol=spec.protocol, property=result.property, verdict=result.verdict.value,
            spec=str(spec.path) if spec.path else None, reason=result.reason, permutations=result.permutations,
        )
        why = _violation_core(invs, result.property, result.path[-1]) if v is Verdict.VIOLATED else None
        if why:
            trace.extra["violation_core"] = why
        if result.loop is not None:
            trace.extra["loop"] = result.loop
        if out is not None:
            written = str(trace.save(Path(out) / f"{spec.name}.json"))
    common = dict(spec=spec.where, verdict=v, expected=spec.expected, stats=result.stats, property=result.property,
                  trace=trace, reason=result.reason, error=result.error, params=dict(model.params), written=written)
    shown = str(spec.counterexample) if committed is not None else written

    def done(ok: bool, code: int, message: str, counterexample: str | None = shown) -> CheckResult:
        return CheckResult(ok=ok, exit_code=code, message=message, counterexample=counterexample, **common)

    if v is Verdict.ERROR:
        return done(False, EXIT_ERROR, f"error: {result.reason}" + (f" (trace: {written})" if written else ""))
    if v is Verdict.UNDETERMINED:
        if spec.accept_bounds and spec.expected == "holds" and not result.reason.startswith("interrupted"):
            return done(True, EXIT_OK, f"nothing violated within the bounds ({result.reason}); accept_bounds = true")
        return done(False, EXIT_UNDETERMINED, f"undetermined: {result.reason}")
    never = v is Verdict.VIOLATED and result.path is None  # a reachability property no state satisfies
    if spec.expected == "holds":
        if v is Verdict.HOLDS:
            return done(True, EXIT_OK, "holds, as expected")
        if never:
            return done(False, EXIT_UNEXPECTED, f"violated {result.property}: {result.reason} (expected to hold)")
        return done(False, EXIT_UNEXPECTED, f"violated {result.property} (expected to hold); trace: {written or 'not written'}")
    # expected a violation
    if v is Verdict.HOLDS:
        return done(False, EXIT_UNEXPECTED, f"holds, but {spec.violates} was expected to be violated")
    if result.property != spec.violates:
        return done(False, EXIT_UNEXPECTED, f"violated {result.property}, but {spec.violates} was expected to be")
    if never:
        return done(True, EXIT_OK, f"violated {result.property}, as expected ({result.reason})")
    assert trace is not None
    if committed is None:
        return done(True, EXIT_OK, f"violated {result.property}, as expected ({len(trace)} steps)")
    return _against_committed(spec, model, system, trace, committed, update, done, declared)


def _against_committed(spec, model, system, trace, committed: Path, update: bool, done,
                       declared: dict[str, Any]) -> CheckResult:
    """The regression check: the committed counterexample must be recorded for the spec's protocol and
    parameters, replay to the same violation and be no longer than the one just found. `update`
    rewrites it only when it fails that, only with a trace of the spec's own parameters, and only
    over a faultcheck trace."""
    rel = str(spec.counterexample)
    problem = None
    overridden = _as_json(trace.params) != declared  # --set: this run's trace is for other parameters
    if not committed.exists() and not committed.is_symlink():
        problem = f"counterexample {rel} is missing"
    else:
        try:
            old = Trace.load(committed)
            stale = _stale(old, spec, declared)
            if stale is not None:
                raise TraceError(f"counterexample {rel} is stale: {stale}")
            if overridden:
                return done(True, EXIT_OK, f"violated {spec.violates}, as expected ({len(trace)} steps; {rel} is for "
                            f"params {old.params}, not compared)")
            r = reproduce(system, old, replay_properties(spec, model, system))
            if not r.ok and r.step is not None:
                problem = f"counterexample {rel} no longer replays: {r.message}"
            elif old.property != spec.violates or not r.ok:
                problem = (f"counterexample {rel} replays but no longer ends in a violation of {spec.violates}"
                           + (f": {r.message}" if not r.ok else f" (it records {old.property})"))
            elif len(trace) < len(old):
                problem = f"counterexample {rel} has {len(old)} steps; a shorter one ({len(trace)}) exists"
        except TraceError as e:
            problem = str(e)
    if problem is None:
        return done(True, EXIT_OK, f"violated {spec.violates}, as expected; {rel} replays ({len(trace)} steps)")
    if update:
        if overridden:
            return done(False, EXIT_UNEXPECTED, f"{problem}; not rewritten: this run's params {trace.params} are not "
                        "the spec's (--update rewrites it without --set)")
        why = _not_a_trace(committed)
        if why is not None:
            raise SpecError(_why_not_overwritten(spec, committed, why))
        trace.save(committed)
        return done(True, EXIT_OK, f"{problem}; rewritten with the new {len(trace)}-step trace (--update)")
    return done(False, EXIT_UNEXPECTED, f"{problem} (rerun with --update to rewrite it)")


def _violation_core(invs: list[Predicate], name: str | None, raw: tuple) -> dict[str, Any] | None:
    """For a formula: the failing quantifier instance, and a minimal set of fields whose values already
    make it false (Z3's unsat core, shrunk one field at a time)."""
    pred = next((p for p in invs if p.name == name), None)
    if pred is not None and getattr(pred, "history", None) is not None:  # a history: why it is not consistent
        jepsen, check_fn, model, initial = pred.history  # type: ignore[attr-defined]
        r = check_fn(jepsen(raw), model, initial, shrink_seconds=10.0)
        return {"property": name, "explanation": r.message, "history": r.explanation}
    if pred is None or pred.formula is None:
        return None
    out: dict[str, Any] = {"property": name, "instance": pred.explain(raw)}
    try:
        from ..logic.smt import core, sigint_held

        with sigint_held():  # Z3 would swallow a Ctrl-C: it is raised once the query returns
            atoms = core(pred.formula, pred.schema, raw)
    except Exception:  # the core is an explanation; a solver problem must not hide the violation
        atoms = None
    if atoms is not None:
        out["fields"] = [{"field": a.label, "value": a.value(raw)} for a in atoms]
    return out
