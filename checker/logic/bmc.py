"""Bounded model checking: is a state violating an invariant reachable in at most K steps? The transition
relation (`relation.kinds`) is unrolled K times over fresh copies of the state's constants and Z3 is
asked, depth after depth, for a path from an initial state to a violation; no state is enumerated.

One incremental solver: Init(s0) is asserted once; at depth j the negated invariants of s_j are asked
in a push/pop frame, and when no violation is found there the invariants of s_j (which now hold in
every state reachable in j steps) and the step s_j -> s_{j+1} are asserted for the next depth. The first
depth with a model is the length of the shortest violation, as a breadth-first search finds it.
Imports semantics and logic only; Z3 is loaded by the caller's first query (`smt`, `relation`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..semantics import Step, TransitionSystem
from . import NotABool, Predicate, PropertyError

DEPTH_TIMEOUT = 600.0  # seconds one depth's query may take, unless a shorter `timeout` or `max_seconds` is given


class BmcInternalError(RuntimeError):
    """Z3's path and the explicit semantics disagree: a bug in the transition relation (the message says
    at which depth), never a verdict."""


@dataclass(frozen=True)
class BmcResult:
    """What `bmc` found.

    verdict: "violated" (a path of `len(path) - 1` steps ends in a state violating `invariant`) or
    "undetermined" (no violation up to `depth` steps, or the solver gave up: `reason` says which).
    `seconds[j]` is the time spent on depth j (encoding the step into s_j, and the query); `steps[i]`
    labels the step from `path[i]` to `path[i + 1]` as the explicit search names it."""

    verdict: str
    depth: int  # the deepest depth whose query was answered (the violation's length when violated)
    seconds: tuple[float, ...]
    kinds: int  # how many kinds of step the relation has
    path: tuple[tuple[int, ...], ...] | None = None
    steps: tuple[Step, ...] = ()
    invariant: str | None = None  # the invariant the path's last state violates
    reason: str = ""
    instance: list[str] = field(default_factory=list)  # the failing quantifier instance, for a violation
    setup_seconds: float = 0.0  # building the kinds of step and the initial states, before depth 0

    @property
    def total_seconds(self) -> float:
        """The whole run: the set-up and every depth."""
        return self.setup_seconds + sum(self.seconds)

    def depth_lines(self) -> list[str]:
        """One line per depth answered: "depth 3: no violation (0.41 s)"."""
        def outcome(j: int) -> str:
            if j > self.depth:
                return "no answer"
            return "violation" if self.path is not None and j == self.depth else "no violation"

        return [depth_line(j, t, outcome(j)) for j, t in enumerate(self.seconds)]


def depth_line(j: int, seconds: float, outcome: str) -> str:
    """How a depth's answer is shown: "depth 3: no violation (0.41 s)"."""
    return f"depth {j}: {outcome} ({seconds:.2f} s)"


def refuse(invariants: Sequence[Predicate], constraints: Sequence[Predicate]) -> None:
    """Raise PropertyError (one line naming the predicate) when something cannot be given to Z3."""
    for p in invariants:
        if p.formula is None:
            what = "a consistency check of the history" if p.history is not None else "a Python predicate"
            raise PropertyError(f"invariant {p.name} is {what}, not a formula: bmc gives the invariants to Z3 "
                                "(declare it with @formula)")
    for c in constraints:
        if c.formula is None:
            raise PropertyError(f"constraint {c.name} is a Python predicate, not a formula: bmc cannot keep its "
                                "paths inside it (declare it with @formula)")


def bmc(system: TransitionSystem, invariants: Sequence[Predicate], depth: int, *,
        constraints: Sequence[Predicate] = (), progress: Callable[[int, float, str], None] | None = None,
        max_seconds: float | None = None, timeout: float | None = None) -> BmcResult:
    """Look for a violation of `invariants` (formulas) within `depth` steps of an initial state.

    `constraints` (formula @constraint predicates, TLC's CONSTRAINT) keep the paths where a search goes: a
    state outside one is not left by a step, but its invariants are checked. `progress(j, seconds, outcome)`
    is called after each depth j ("no violation", "violation", or "no answer" when the solver gave up). `max_seconds` bounds the whole run,
    `timeout` each depth's query (default `DEPTH_TIMEOUT`); a query the solver gives up on makes the result
    undetermined, with Z3's reason. Raises PropertyError for what Z3 cannot be given (a Python predicate),
    `relation.SymbolicUnsupported` for steps it cannot be given, and `BmcInternalError` when the path Z3
    finds is not one the explicit semantics takes.

    >>> from checker.spec.run import prepare
    >>> system, invs = prepare("specs/two_phase_commit_early_commit.toml")
    >>> r = bmc(system, invs, 6)
    >>> r.verdict, len(r.path) - 1, r.invariant, [j for j, _ in enumerate(r.seconds)]
    ('violated', 4, 'Consistent', [0, 1, 2, 3, 4])
    """
    import z3

    from . import smt
    from .relation import initial, kinds, state, step

    if depth < 0:
        raise ValueError(f"depth must be >= 0, got {depth}")
    refuse(invariants, constraints)
    start = time.perf_counter()
    ks = kinds(system)
    solver = z3.Solver()
    states = [state(system, "s0_")]
    solver.add(*states[0].constraints())
    solver.add(initial(system, states[0]))
    seconds: list[float] = []
    setup = time.perf_counter() - start

    def result(verdict: str, answered: int, reason: str, **kw) -> BmcResult:
        return BmcResult(verdict, answered, tuple(seconds), len(ks), reason=reason, setup_seconds=setup, **kw)

    holds: list = []
    for j in range(depth + 1):
        t0 = time.perf_counter()
        if max_seconds is not None and t0 - start >= max_seconds:
            return result("undetermined", j - 1, f"no violation up to depth {j - 1}; stopped after {max_seconds:g} s "
                          "(max_seconds)")
        if j > 0:  # what holds in every state reachable in j - 1 steps, and one more step from there
            pre = states[-1]
            solver.add(*holds)
            solver.add(*(smt.to_z3(c.formula, pre) for c in constraints))
            nxt = state(system, f"s{j}_")
            solver.add(*nxt.constraints())
            solver.add(step(ks, pre, nxt, tag=f"#{j}"))
            states.append(nxt)
        per_query = timeout if timeout is not None else DEPTH_TIMEOUT
        if max_seconds is not None:
            per_query = max(0.001, min(per_query, max_seconds - (time.perf_counter() - start)))
        solver.set("timeout", max(1, int(per_query * 1000)))
        holds = [smt.to_z3(p.formula, states[j]) for p in invariants]
        solver.push()
        solver.add(z3.Not(z3.And(holds)) if holds else z3.BoolVal(False))
        with smt.sigint_held():  # Z3 would swallow a Ctrl-C: it is raised once the query returns
            answer = solver.check()
        if answer == z3.sat:
            model = solver.model()
            path = tuple(x.state_of(model) for x in states)
            solver.pop()
            seconds.append(time.perf_counter() - t0)
            failing, steps = _confirm(system, invariants, path)
            if progress is not None:
                progress(j, seconds[-1], "violation")
            return result("violated", j, f"{failing.name} violated after {j} steps", path=path, steps=steps,
                          invariant=failing.name, instance=failing.explain(path[-1]))
        reason = solver.reason_unknown() if answer == z3.unknown else ""
        solver.pop()
        seconds.append(time.perf_counter() - t0)
        if answer == z3.unknown:
            cut = "time limit" if reason in ("timeout", "canceled") else "solver gave up"
            if progress is not None:
                progress(j, seconds[-1], "no answer")
            return result("undetermined", j - 1, f"no violation up to depth {j - 1}; Z3 could not answer depth {j} "
                          f"({cut}: {reason})")
        crash = _raising(solver, states, j, ks)  # a state whose step the model's own code raises on
        if crash is not None:
            path, name, error = crash
            steps = _confirm_path(system, path)
            if progress is not None:
                progress(j, seconds[-1], "error")
            return result("error", j, f"after {j} steps, {name} raises: {error}", path=path, steps=steps)
        if progress is not None:
            progress(j, seconds[-1], "no violation")
    return result("undetermined", depth, f"no violation up to depth {depth}")


def _raising(solver, states: list, j: int, ks) -> tuple[tuple, str, str] | None:
    """Whether some step the model's code raises on is enabled in a state reachable in j steps: the path
    to it, the step's kind and the error (the explicit search stops with that error there)."""
    import z3

    from . import smt
    from .relation import errors

    found = errors(ks, states[j])
    if not found:
        return None
    solver.push()
    solver.add(z3.Or([g for g, _, _ in found]))
    with smt.sigint_held():
        answer = solver.check()
    out = None
    if answer == z3.sat:
        model = solver.model()
        path = tuple(x.state_of(model) for x in states)
        name, error = next(((n, e) for g, n, e in found if z3.is_true(model.eval(g, model_completion=True))),
                           (found[0][1], found[0][2]))
        out = (path, name, error)
    solver.pop()
    return out


def _confirm_path(system: TransitionSystem, path: tuple[tuple[int, ...], ...]) -> tuple[Step, ...]:
    """Each step of the path by the explicit semantics, and the model's code raising in its last state."""
    steps = []
    for i, (s, t) in enumerate(zip(path, path[1:])):
        found = system.find_step(s, t)
        if found is None:
            raise BmcInternalError(f"bmc: the step from depth {i} to depth {i + 1} of the path Z3 found is no step "
                                   "of the model (a bug in the transition relation)")
        steps.append(found)
    for a in system.actions:
        try:
            a.successors(path[-1])
        except Exception:
            return tuple(steps)
    raise BmcInternalError("bmc: Z3 says a step raises in the last state of its path, but the model's code does not")


def _confirm(system: TransitionSystem, invariants: Sequence[Predicate],
             path: tuple[tuple[int, ...], ...]) -> tuple[Predicate, tuple[Step, ...]]:
    """The invariant the path's last state fails (the first, in the order given, as a search reports it)
    and each step's label by the explicit semantics; BmcInternalError where they disagree with Z3."""
    if path[0] not in system.initial:
        raise BmcInternalError("bmc: the path Z3 found starts in a state that is not initial (a bug in "
                               "relation.initial)")
    steps = []
    for i, (s, t) in enumerate(zip(path, path[1:])):
        found = system.find_step(s, t)
        if found is None:
            raise BmcInternalError(f"bmc: the step from depth {i} to depth {i + 1} of the path Z3 found is no step "
                                   "of the model (a bug in the transition relation)")
        steps.append(found)
    for p in invariants:
        try:
            ok = p.check(path[-1])
        except NotABool as e:
            raise PropertyError(str(e)) from None
        if not ok:
            return p, tuple(steps)
    raise BmcInternalError(f"bmc: Z3 says an invariant fails after {len(path) - 1} steps, but every one holds there "
                           "when evaluated in Python (a bug in the translation to Z3)")


__all__ = ["DEPTH_TIMEOUT", "BmcInternalError", "BmcResult", "bmc", "depth_line", "refuse"]
