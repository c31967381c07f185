"""Sanity of a set of invariants, by Z3: does each one check anything, is it true at the start, does
it add anything to the others? And the cache that lets `check` ask only when a formula changed.

Findings, per invariant:
- "initial" (warning): false in an initial state: every search fails at once;
- "guaranteed" (note): true in every state the schema allows, so it checks nothing beyond the types
  (a TLA+-style TypeOK is this, and harmless);
- "implied" (warning): follows from the other invariants listed (named, fewest first): redundant,
  or a sign that one of them is stronger than meant;
- "predicate" (note): a plain Python predicate, which Z3 cannot read;
- "unknown" (note): the solver gave up.
Every question to Z3 is asked with SIGINT held (`smt.sigint_held`), so that Ctrl-C is never lost.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ..model.inputs import CACHE_LIMIT, InputError, read_json
from ..semantics import TransitionSystem
from . import Predicate
from .formula import show

LINT_VERSION = 1


@dataclass(frozen=True)
class Finding:
    property: str
    kind: str  # "initial" | "guaranteed" | "implied" | "predicate" | "unknown"
    message: str

    @property
    def warning(self) -> bool:
        return self.kind in ("initial", "implied")

    def __str__(self) -> str:
        return f"{'warning' if self.warning else 'note'}: {self.property}: {self.message}"


def lint(system: TransitionSystem, invariants: Sequence[Predicate]) -> list[Finding]:
    """Every finding about `invariants`, in their order."""
    from . import smt  # the solver, only now

    schema = system.schema

    def entails(premises: list, conclusion) -> bool | None:
        with smt.sigint_held():  # a Ctrl-C while Z3 works is raised when it returns
            return smt.entails(schema, premises, conclusion)

    out: list[Finding] = []
    formulas = [p for p in invariants if p.formula is not None]
    guaranteed: set[str] = set()
    for p in invariants:
        if p.formula is None:
            out.append(Finding(p.name, "predicate", "a Python predicate: not analysed (write it with @formula)"))
            continue
        bad = [i for i, raw in enumerate(system.initial) if not p.check(raw)]
        if bad:
            which = "the initial state" if len(system.initial) == 1 else f"initial state {bad[0] + 1} of {len(system.initial)}"
            out.append(Finding(p.name, "initial", f"false in {which}: every search stops at once"))
        valid = entails([], p.formula)
        if valid is None:
            out.append(Finding(p.name, "unknown", "the solver gave up deciding whether the schema implies it"))
        elif valid:
            guaranteed.add(p.name)
            out.append(Finding(p.name, "guaranteed", "the schema's types already guarantee it: it checks nothing "
                                                     "beyond them"))
    for p in formulas:
        if p.name in guaranteed:
            continue
        others = [q for q in formulas if q is not p and q.name not in guaranteed]
        if not others or not entails([q.formula for q in others], p.formula):
            continue
        needed = list(others)
        for q in list(needed):  # the fewest others that still imply it
            trial = [r for r in needed if r is not q]
            if trial and entails([r.formula for r in trial], p.formula):
                needed = trial
        out.append(Finding(p.name, "implied", f"implied by {', '.join(q.name for q in needed)}: it adds nothing "
                                              "to them"))
    return out


def fingerprint(system: TransitionSystem, invariants: Sequence[Predicate]) -> str:
    """A hash of what lint's answer depends on: the formulas, the schema, the initial states."""
    h = hashlib.sha256(f"lint/{LINT_VERSION}".encode())
    h.update(repr(system.schema.variables).encode())
    h.update(repr(sorted(system.initial)).encode())
    for p in invariants:
        h.update(f"\n{p.name}=".encode())
        h.update((show(p.formula) if p.formula is not None else "<predicate>").encode())
    return h.hexdigest()


def cached_lint(system: TransitionSystem, invariants: Sequence[Predicate], cache: Path | None) -> list[Finding]:
    """`lint`, asked of Z3 only when this set of formulas is not in the cache file (a JSON object of
    fingerprint -> findings); no formulas, no solver."""
    if not any(p.formula is not None for p in invariants):
        return []
    key = fingerprint(system, invariants)
    table: dict = {}
    if cache is not None and cache.is_file():
        try:
            table = read_json(cache, CACHE_LIMIT, "lint cache")
        except InputError:  # a cache that cannot be read is asked again, and rewritten
            table = {}
        if isinstance(table, dict) and isinstance(table.get(key), list):
            try:
                return [Finding(**f) for f in table[key]]
            except TypeError:
                pass
    findings = lint(system, invariants)
    if cache is not None:
        table = table if isinstance(table, dict) else {}
        table[key] = [asdict(f) for f in findings]
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(table, indent=0), encoding="utf-8")
            os.replace(tmp, cache)
        except OSError:
            pass  # a cache that cannot be written only costs time
    return findings


__all__ = ["Finding", "cached_lint", "fingerprint", "lint"]
