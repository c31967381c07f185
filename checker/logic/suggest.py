"""Strengthening lemmas for an invariant that is not inductive (`faultcheck induct --suggest`), in the way of
DistAI and IC3PO, bounded: candidate clauses from a small grammar over the state's fields (up to three
literals such as `a.state == "committed"`, `s.msgs.contains(make(self.Commit))`, quantified over the nodes of
symmetric roles), kept only where they hold on every state a bounded search reaches; then Houdini with Z3
over the transition relation's kinds (`relation.kinds`): drop every candidate some step can falsify, to a
fixpoint; then keep only what the user's invariants need. Imports model, semantics and logic (Z3: only the
command that asks for suggestions loads this module).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import combinations, permutations, product
from typing import Any

import z3

from ..model import Bag, Bool, Enum, Int, Map, NodeId, OneOf, Option, Record, Set, StateSchema
from ..semantics import TransitionSystem
from . import Predicate, PropertyError, relation, smt
from .formula import FormulaError, State, Term, conj, exists, forall, iff, implies, make, show
from .pycode import compile_term

MAX_LITERALS = 3  # literals per clause (AbortedAlone in TwoPhase.tla needs three)
MAX_STATES = 20_000  # states the bounded search reaches before candidates are filtered
MAX_CANDIDATES = 1_000  # candidates given to Houdini (the first found)
SMALL = 8  # an Enum or Int field with at most this many values is compared with each of them
INSTANCES = 16  # record values built per set element type (`make(self.Prepared, rm=a)` for each variable)
DEPTH = 4  # records, maps and options descended into


@dataclass(frozen=True)
class Lemma:
    """A suggested lemma: the formula, its text (`show`), and Python the user can paste into an @formula
    method (`s` the state argument, `self` the model or protocol)."""

    term: Term
    text: str
    source: str


@dataclass
class SuggestResult:
    """What `suggest` found. `inductive`: the user's invariants with `lemmas` are inductive (every step of
    every kind keeps their conjunction, and it holds initially); otherwise `reason` says why none were found."""

    inductive: bool
    lemmas: tuple[Lemma, ...] = ()
    states: int = 0  # states the bounded search reached (the filter's evidence)
    exhaustive: bool = False  # the search reached every reachable state
    generated: int = 0  # candidate clauses of the grammar tried on the states reached
    holding: int = 0  # of those, the ones true on every state reached (given to Houdini, up to max_candidates)
    kept: int = 0  # the ones Houdini kept (an inductive conjunction with the invariants), before minimising
    rounds: int = 0  # Houdini's passes over the kinds of steps
    queries: int = 0  # Z3 queries
    seconds: float = 0.0
    reason: str = ""
    kinds: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"inductive": self.inductive, "lemmas": [{"text": x.text, "source": x.source} for x in self.lemmas],
                "reason": self.reason, "states": self.states, "exhaustive": self.exhaustive,
                "generated": self.generated, "holding": self.holding, "kept": self.kept, "rounds": self.rounds,
                "queries": self.queries, "kinds": self.kinds, "seconds": round(self.seconds, 3)}

    def lines(self) -> list[str]:
        """The result as text: the lemmas, ready to paste, or why there are none."""
        if not self.inductive:
            return [f"no strengthening found: {self.reason}"]
        if not self.lemmas:
            return ["the invariants are inductive as they are: nothing to add"]
        out = [f"these {len(self.lemmas)} lemma(s) make the conjunction inductive; to keep them, paste into the "
               "model (and name them in the spec's invariants):"]
        for i, lemma in enumerate(self.lemmas, 1):
            out += ["", "@formula(symmetric=True)", f"def Lemma{i}(self, s):"]
            if len(lemma.text) <= 160 and '"""' not in lemma.text:
                out.append(f'    """{lemma.text}"""')
            out.append(f"    return {lemma.source}")
        return out


@dataclass(frozen=True)
class _Sort:
    """Nodes of a symmetric role that clauses quantify over."""

    role: str
    type: NodeId
    domain: str  # its source: `s.role("rm")` (a protocol's nodes, which have fields) or `self.RM`
    nodes: Record | None  # the node record (a protocol's role), read as `a.state`

    @property
    def names(self) -> str:
        """The source of its nodes' names, for a `for` over them."""
        return f"{self.domain}.elem.names" if self.nodes is not None else f"{self.domain}.names"


@dataclass(frozen=True)
class _Atom:
    """One atom's source over the variables `_v0`, `_v1`, ..., each a node's name (`s[_v0].state`, as a
    `for` over the role's names would bind it); `named`: it needs those names (`s.in_flight(Prepared(), _v0,
    "tm1")`), where others read as well with bound variables (`_v0.state`, inside `forall`)."""

    source: str
    key: str = ""  # a field compared with constants (`key == value`): two values exclude each other
    value: str = ""
    card: int = 0  # how many values the field compared has
    named: bool = False

    @property
    def bound(self) -> str:
        return _NODE.sub(r"\1", self.source)


@dataclass
class _Grammar:
    """Candidates of one set of variables: atoms, their truth over (state, binding) pairs, clauses."""

    vars: list[tuple[str, _Sort]]
    atoms: list[_Atom] = field(default_factory=list)
    masks: list[int] = field(default_factory=list)
    size: int = 0  # (state, binding) pairs: the bits of each mask
    named: set[str] = field(default_factory=set)  # the sources of atoms that need node names


_VAR = re.compile(r"\b_v(\d+)\b")
_NODE = re.compile(r"\bs\[(_v\d+)\]")
_SAME = re.compile(r"^_v\d+ == _v\d+$")


def suggest(system: TransitionSystem, invariants: Sequence[Predicate], *, budget_seconds: float = 60.0,
            max_candidates: int = MAX_CANDIDATES, max_states: int = MAX_STATES, max_literals: int = MAX_LITERALS,
            model: Any = None, sample: TransitionSystem | None = None,
            progress: Callable[[str], None] | None = None) -> SuggestResult:
    """Lemmas that, with the conjunction of `invariants` (formulas), make an inductive invariant.

    Candidates are clauses of up to `max_literals` atoms over the fields (a node's Enum or small Int field
    equal to a value, a set holding a node or a record such as a message, a Bool, a message in flight),
    quantified over at most two nodes of the symmetric roles; those false on some state of a bounded search
    (`max_states`) are dropped; Houdini over `relation.kinds(system)` drops the rest that some step falsifies.
    When the invariants survive, the candidates kept make their conjunction inductive, and are minimised.
    `budget_seconds` counts once the kinds of steps are built: a fifth at most for the search, half for the
    candidates, the rest for Z3 (what minimising has left when it runs out is inductive all the same).

    With `sample`, a smaller instance of the same model (fewer nodes), candidates are generated and filtered
    there (all its reachable states are found sooner) and checked on `system`: the lemmas' source names no
    instance (`forall(s.role("rm"), ...)`), as DistAI and IC3PO generalise from small instances. `model` (or
    `system.model`) names the record and node types in the lemmas' source (`self.Prepared`). Ctrl-C is held
    while Z3 works and raised between queries.

    >>> r = suggest(system, [tc_consistent])                          # doctest: +SKIP
    >>> r.inductive, [lemma.text for lemma in r.lemmas][:1]           # doctest: +SKIP
    (True, ["forall a in ids rm: rmState[a] == 'committed' implies msgs.contains(Commit())"])
    """
    start = time.perf_counter()
    say = progress or (lambda line: None)
    schema = system.schema
    for p in invariants:
        if p.formula is None:
            raise PropertyError(f"{p.name} is a Python predicate, not a formula: Z3 cannot reason about it "
                                "(declare it with @formula)")
    result = SuggestResult(False)

    def done(reason: str = "", inductive: bool = False, lemmas: tuple[Lemma, ...] = ()) -> SuggestResult:
        result.inductive, result.lemmas, result.reason = inductive, lemmas, reason
        result.seconds = time.perf_counter() - start
        return result

    for raw in system.initial:
        bad = next((p for p in invariants if not p.check(raw)), None)
        if bad is not None:
            return done(f"an initial state violates {bad.name}: no lemma can help")
    try:
        kinds = relation.kinds(system)
    except FormulaError as e:  # SymbolicUnsupported, smt.Unsupported: one clear line
        return done(f"its steps cannot be given to Z3: {e}")
    result.kinds = len(kinds)
    begun = time.perf_counter()  # the budget counts from here: the kinds are the system's, however long they took
    deadline = begun + budget_seconds

    small = sample if sample is not None else system
    states, result.exhaustive = _sample(small, max_states, begun + budget_seconds / 5)
    result.states = len(states)
    where = f" of {small.name} with {_params(small)}" if sample is not None else ""
    say(f"suggest: {len(states):,} states{where} reached by a bounded search"
        + (" (all of them)" if result.exhaustive else f" (stopped at {max_states:,})"))
    if sample is None:
        for raw in states:
            bad = next((p for p in invariants if not p.check(raw)), None)
            if bad is not None:
                return done(f"{bad.name} is false in a reachable state (the search shows how): no lemma can help")
    namer, small_namer = _Namer(system, model), _Namer(small, model if sample is None else None)
    s, small_s = State(schema), State(small.schema)
    sorts = _sorts(small.schema, small_s, small_namer)
    candidates: list[tuple[Term, str]] = []
    seen: set[tuple] = set()
    generating = begun + budget_seconds / 2  # then Houdini gets what is found by then
    for g in _grammars(sorts):
        if time.perf_counter() > generating:
            say("suggest: half the budget spent generating candidates: going on with those found")
            break
        _fill(g, small.schema, small_s, sorts, small_namer, states)
        found, tried = _clauses(g, max_literals, seen, generating)
        result.generated += tried
        for src in map(_nice, found):
            try:  # the source is the same for every instance of the model: built for `system`
                candidates.append((_build(src, s, namer), src))
            except FormulaError:
                continue
    result.holding = len(candidates)
    say(f"suggest: {result.generated:,} candidate clauses, {len(candidates):,} hold on every state reached")
    if len(candidates) > max_candidates:
        candidates = candidates[:max_candidates]
        say(f"suggest: the first {max_candidates:,} found are given to Houdini")

    try:
        h = _Houdini(system, kinds, [p.formula for p in invariants], [t for t, _ in candidates], deadline)
    except _OutOfBudget:
        return done(f"the budget ran out while giving {len(candidates):,} candidates and {len(kinds):,} kinds of "
                    "step to Z3")
    try:
        kept, why = h.fixpoint(set(range(len(candidates))), say)
    finally:
        result.rounds, result.queries = h.rounds, h.queries
    if kept is None:
        return done(why)
    result.kept = len(kept)
    say(f"suggest: Houdini kept {len(kept):,} candidates: with them the invariants are inductive; minimising")
    needed = h.minimise(kept, [len(src) for _, src in candidates], say)
    result.rounds, result.queries = h.rounds, h.queries
    lemmas = tuple(Lemma(candidates[i][0], show(candidates[i][0]), candidates[i][1]) for i in sorted(needed))
    return done("", True, lemmas)


def _params(system: TransitionSystem) -> str:
    return ", ".join(f"{k} = {v}" for k, v in system.params.items()) or "its parameters"


# -- the bounded search ----------------------------------------------------------------------------------------


def _sample(system: TransitionSystem, max_states: int, deadline: float) -> tuple[list[tuple], bool]:
    """States reachable from the initial ones (and whether that is all of them): breadth first up to half of
    `max_states`, then, when there are more, random walks (seeded: the same every run) to the end of the paths
    for the rest, so that deep states (a decision taken, a message delivered late) are among them. A step
    whose code raises is skipped here: the search reports it; the filter only needs true states."""
    seen = dict.fromkeys(system.initial)
    order = list(seen)
    i = 0
    while i < len(order):
        if len(order) >= max_states // 2 or (i % 256 == 0 and time.perf_counter() > deadline):
            break
        for t in _successors(system, order[i]):
            if t not in seen:
                seen[t] = None
                order.append(t)
        i += 1
    else:
        return order, True
    rng = random.Random(0)
    walks = 0
    while len(seen) < max_states and walks < 4 * max_states and time.perf_counter() < deadline:
        walks += 1
        s = rng.choice(system.initial)
        for _ in range(1000):
            succs = _successors(system, s)
            if not succs:
                break
            s = rng.choice(succs)
            if s not in seen:
                seen[s] = None
                if len(seen) >= max_states:
                    break
    return list(seen), False


def _successors(system: TransitionSystem, s: tuple) -> list[tuple]:
    out: list[tuple] = []
    for a in system.actions:
        try:
            out += a.successors(s)
        except Exception:
            continue
    return out


# -- the grammar -------------------------------------------------------------------------------------------------


class _Namer:
    """How the lemmas' source names the model's types: `self.RM`, `self.Prepared` (the model's attributes
    where it has them; otherwise a guess by the type's name, given to `eval` all the same)."""

    def __init__(self, system: TransitionSystem, model: Any):
        if model is None:
            model = getattr(system, "model", None) or getattr(getattr(system, "semantics", None), "protocol", None)
        self.attrs: dict[str, Any] = {}
        self.messages: dict[str, Any] = {}  # a protocol's Message classes by name: `Prepared()`
        if model is not None:
            for k, v in sorted(vars(model).items()):
                if isinstance(v, (NodeId, Record)) and not k.startswith("_"):
                    self.attrs.setdefault(k, v)
            for cls in getattr(type(model), "messages", ()) or ():
                self.messages[cls.__name__] = cls

    def name(self, t: Any) -> str:
        if isinstance(t, Record) and t.name in self.messages:
            return t.name
        for k, v in self.attrs.items():
            if v == t and type(v) is type(t):
                return f"self.{k}"
        guess = t.role.upper() if isinstance(t, NodeId) else t.name
        if guess.isidentifier() and guess not in self.attrs:
            self.attrs[guess] = t
            return f"self.{guess}"
        return ""

    def namespace(self) -> Any:
        return type("Self", (), dict(self.attrs))()


def _sorts(schema: StateSchema, s: State, namer: _Namer) -> list[_Sort]:
    """The roles with two nodes or more: a protocol's roles (their nodes have fields), then node-id types
    appearing in the state (a low-level model's `NodeId("rm", 3)`)."""
    out: dict[str, _Sort] = {}
    roles = s._ctx.roles
    for role, (ids, rec, _) in roles.items():
        if ids.count >= 2:
            out[role] = _Sort(role, ids, f"s.role({role!r})", rec)
    for t in schema.variables.values():
        for ids in _node_ids(t):
            if ids.role not in out and ids.count >= 2 and (dom := namer.name(ids)):
                out[ids.role] = _Sort(ids.role, ids, dom, None)
    return list(out.values())


def _node_ids(t: Any) -> list[NodeId]:
    if isinstance(t, NodeId):
        return [t]
    if isinstance(t, OneOf):
        return [x for v in t.variants for x in _node_ids(v)]
    if isinstance(t, Record):
        return [x for ft in t.fields.values() for x in _node_ids(ft)]
    if isinstance(t, Map):
        return _node_ids(t.key) + _node_ids(t.value)
    if isinstance(t, (Set, Bag)):
        return _node_ids(t.elem)
    if isinstance(t, Option):
        return _node_ids(t.inner)
    return []


def _grammars(sorts: list[_Sort]) -> list[_Grammar]:
    """The sets of quantified variables: two nodes of one role, one node each of two roles (none when there
    are no roles). Every clause over fewer variables (none, one) is found within one of these."""
    if not sorts:
        return [_Grammar([])]
    out = [_Grammar([("_v0", x), ("_v1", x)]) for x in sorts]
    out += [_Grammar([("_v0", x), ("_v1", y)]) for x, y in combinations(sorts, 2)]
    return out


def _fill(g: _Grammar, schema: StateSchema, s: State, sorts: list[_Sort], namer: _Namer, states: list[tuple]) -> None:
    """The atoms over `g`'s variables, and each one's truth on every (state, binding) as a bit mask."""
    symmetric = {n for x in sorts for n in x.type.names}
    sources: list[_Atom] = []
    nodes = {n for x in sorts if x.nodes is not None for n in schema.groups.get(x.role, ())}
    protocol = bool(s._ctx.roles)
    for name, t in schema.variables.items():
        if name not in nodes and not (protocol and name == "network"):
            root = f"s.{name}" if name.isidentifier() and not name.startswith("_") else f"s[{name!r}]"
            _descend(root, t, g.vars, symmetric, namer, sources, 0)
    for v, sort in g.vars:
        if sort.nodes is not None:
            _descend(f"s[{v}]", sort.nodes, g.vars, symmetric, namer, sources, 0)
    if protocol:
        sources += _in_flight(schema, s, g.vars, symmetric, namer)
    for (v, x), (w, y) in combinations(g.vars, 2):
        if x == y:
            sources.append(_Atom(f"{v} == {w}"))
    bound = {v: Term("bound", (object(), v), x.type, s._ctx) for v, x in g.vars}
    base = _namespace(s, namer)
    free = [(bound[v], 1) for v, _ in g.vars]
    bindings = list(product(*(range(x.type.count) for _, x in g.vars)))
    g.size = len(states) * len(bindings)
    unique: dict[str, _Atom] = {}
    for a in sources:
        unique.setdefault(a.source, a)
    for a in unique.values():
        used = [k for k, (v, _) in enumerate(g.vars) if re.search(rf"\b{v}\b", a.source)]
        subs = list(product(*(range(g.vars[k][1].type.count) for k in used)))
        try:
            if a.named:  # one formula per binding of its variables to node names
                fns = []
                for sub in subs:
                    names = {g.vars[k][0]: g.vars[k][1].type.names[x] for k, x in zip(used, sub)}
                    fn = compile_term(eval(a.source, base | names), schema)  # noqa: S307 (built here)
                    fns.append(lambda raw, *args, fn=fn: fn(raw))
            else:  # one formula over bound variables, given their values
                fn = compile_term(eval(a.bound, base | bound), schema, free)  # noqa: S307 (built here)
                fns = [fn] * len(subs)
        except FormulaError:
            continue
        g.atoms.append(a)
        g.masks.append(_mask(fns, used, subs, g, states, bindings))
    for a in g.atoms:
        if a.named:  # and its renamings (the canonical form of a clause renames its variables)
            for perm in permutations([v for v, _ in g.vars]):
                rename = dict(zip([v for v, _ in g.vars], perm))
                g.named.add(_VAR.sub(lambda m, r=rename: r[m.group(0)], a.source))


def _in_flight(schema: StateSchema, s: State, variables: list[tuple[str, _Sort]], symmetric: set[str],
               namer: _Namer) -> list[_Atom]:
    """A protocol's envelopes in flight: `s.in_flight(Prepared(), _v0, "tm1") > 0`, each message (its fields
    as `_values` gives them) between the variables' nodes and the nodes of one-node roles."""
    net = schema.variables.get("network")
    if not isinstance(net, (Set, Bag)) or not isinstance(net.elem, Record) or "msg" not in net.elem.fields:
        return []
    ends = [v for v, x in variables if x.nodes is not None]
    ends += [repr(n) for role, names in schema.groups.items() if len(names) == 1 for n in names]
    out = []
    for msg in _values(net.elem.fields["msg"], variables, symmetric, namer):
        for src, dst in product(ends, ends):
            if src != dst:
                out.append(_Atom(f"s.in_flight({msg}, {src}, {dst}) > 0", named=True))
    return out


def _mask(fns: list[Callable[..., bool]], used: list[int], subs: list[tuple], g: _Grammar, states: list[tuple],
          bindings: list[tuple]) -> int:
    """Bit i of the mask (the first the highest): the atom's truth on the i-th (state, binding) pair. The
    atom is evaluated once per binding of the variables it reads (`subs`; `fns[j]` for the j-th)."""
    where = {sub: i for i, sub in enumerate(subs)}
    pick = [where[tuple(b[k] for k in used)] for b in bindings]
    args = []
    for sub in subs:
        full = [0] * len(g.vars)
        for k, x in zip(used, sub):
            full[k] = x
        args.append(full)
    bits = bytearray()
    for raw in states:
        vals = [b"1" if fn(raw, *full) else b"0" for fn, full in zip(fns, args)]
        bits += b"".join([vals[i] for i in pick])
    return int(bits, 2) if bits else 0


def _namespace(s: State, namer: _Namer) -> dict[str, Any]:
    return {"__builtins__": {}, "s": s, "self": namer.namespace(), "forall": forall, "exists": exists,
            "implies": implies, "iff": iff, "conj": conj, "make": make, "NodeId": NodeId, **namer.messages}


def _descend(src: str, t: Any, variables: list[tuple[str, _Sort]], symmetric: set[str], namer: _Namer,
             out: list[_Atom], depth: int) -> None:
    """Atoms about the value `src` of type `t` and what it contains."""
    if depth > DEPTH:
        return
    if isinstance(t, Record) and not isinstance(t, OneOf):
        for f, ft in t.fields.items():
            sub = f"{src}.{f}" if f.isidentifier() and not hasattr(Term, f) else f"{src}.field({f!r})"
            _descend(sub, ft, variables, symmetric, namer, out, depth + 1)
    elif isinstance(t, Map):
        for k in _values(t.key, variables, symmetric, namer):
            _descend(f"{src}[{k}]", t.value, variables, symmetric, namer, out, depth + 1)
    elif isinstance(t, Option):
        out.append(_Atom(f"{src}.is_some()"))
        _descend(f"{src}.value()", t.inner, variables, symmetric, namer, out, depth + 1)
    elif isinstance(t, Bool):
        out.append(_Atom(src))
    elif isinstance(t, (Enum, Int)):
        values = _values(t, variables, symmetric, namer)
        for k in values:
            out.append(_Atom(f"{src} == {k}", src if not k.startswith("_v") else "", k, t.cardinality))
    elif isinstance(t, (Set, Bag)):
        for k in _values(t.elem, variables, symmetric, namer):
            out.append(_Atom(f"{src}.contains({k})"))


def _values(t: Any, variables: list[tuple[str, _Sort]], symmetric: set[str], namer: _Namer) -> list[str]:
    """Sources of the values of type `t` worth naming: the variables of its role (a node id), each value of a
    small type but the nodes of symmetric roles (a lemma naming `rm1` would not be symmetric), and the
    records built from those (`make(self.Prepared, rm=_v0)`), at most `INSTANCES` of them."""
    if isinstance(t, NodeId) and any(x.type == t for _, x in variables):
        return [v for v, x in variables if x.type == t]
    if isinstance(t, OneOf):
        return [k for v in t.variants for k in _values(v, variables, symmetric, namer)][:INSTANCES]
    if isinstance(t, Record):
        name = namer.name(t)
        if not name or not all(f.isidentifier() for f in t.fields):
            return []
        choices = [_values(ft, variables, symmetric, namer) for ft in t.fields.values()]
        n = 1
        for c in choices:
            n *= len(c)
        if n == 0 or n > INSTANCES:
            return []
        if name in namer.messages:  # a protocol's message: `Prepared()`, `Vote(rm=_v0)`
            return [f"{name}(" + ", ".join(f"{f}={v}" for f, v in zip(t.fields, vs)) + ")" for vs in product(*choices)]
        return [f"make({name}" + "".join(f", {f}={v}" for f, v in zip(t.fields, vs)) + ")" for vs in product(*choices)]
    if isinstance(t, Bool):
        return ["True", "False"]
    if isinstance(t, Enum):
        names = [n for n in t.names if n not in symmetric]
        return [repr(n) for n in names] if 0 < len(names) <= SMALL else []
    if isinstance(t, Int):
        return [str(v) for v in range(t.lo, t.hi + 1)] if t.hi - t.lo < SMALL else []
    return []


# -- clauses ------------------------------------------------------------------------------------------------------


def _clauses(g: _Grammar, max_literals: int, seen: set[tuple], deadline: float) -> tuple[list[str], int]:
    """The sources of the clauses of up to `max_literals` (at most 3) literals over `g`'s atoms that hold on
    every (state, binding), minimal ones only (no sub-clause holds), one per renaming of the variables (`seen`
    across grammars); and how many were tried. A literal never true on the sample, or true everywhere, takes
    part in no longer clause (it adds nothing, or the clause is not minimal)."""
    if not g.masks:
        return [], 0
    full = (1 << g.size) - 1
    lits = [(i, pos) for i in range(len(g.atoms)) for pos in (True, False)]
    lmask = [g.masks[i] if pos else full ^ g.masks[i] for i, pos in lits]
    found: list[str] = []
    tried = 0

    def emit(combo: tuple[int, ...]) -> None:
        chosen = [lits[j] for j in combo]
        if _covers(g, chosen):
            return
        canon = _canonical(g, chosen)
        if canon not in seen:
            seen.add(canon)
            found.append(_render(g, canon))

    live = []
    for j, (i, pos) in enumerate(lits):
        if lmask[j] == 0 or (not pos and _SAME.match(g.atoms[i].source)):  # adds nothing; `a == b implies ...`
            continue
        tried += 1
        if lmask[j] == full:
            emit((j,))
        else:
            live.append(j)
    partners: dict[int, set[int]] = {j: set() for j in live}  # k > j: (j, k) neither useless nor holding
    if max_literals >= 2:
        for x, j in enumerate(live):
            if time.perf_counter() > deadline:
                return found, tried
            for k in live[x + 1:]:
                if _useless(g, lits[j], lits[k]):
                    continue
                tried += 1
                if lmask[j] | lmask[k] == full:
                    emit((j, k))
                else:
                    partners[j].add(k)
    if max_literals >= 3:
        for i in live:
            if time.perf_counter() > deadline:
                return found, tried
            for j in sorted(partners[i]):
                m = lmask[i] | lmask[j]
                for k in sorted(partners[i] & partners[j]):
                    tried += 1
                    if m | lmask[k] == full:
                        emit((i, j, k))
    return found, tried


def _useless(g: _Grammar, x: tuple[int, bool], y: tuple[int, bool]) -> bool:
    """Two literals no clause should hold together: one atom twice; one field compared with two values where
    one literal implies the other (`x == 1 or x != 2` is `x != 2`) or both cannot be false (`x != 1 or
    x != 2`); `a == b` beside an atom that needs node names (between names it is no formula)."""
    (i, p), (j, q) = x, y
    if i == j:
        return True
    a, b = g.atoms[i], g.atoms[j]
    if a.key and a.key == b.key and a.value != b.value and not (p and q):
        return True
    return (a.named and _SAME.match(b.source) is not None) or (b.named and _SAME.match(a.source) is not None)


def _covers(g: _Grammar, lits: list[tuple[int, bool]]) -> bool:
    """Whether the clause's positive literals name every value of one field (`x == 1 or x == 2`, x in 1..2)."""
    keys = [g.atoms[i] for i, p in lits if p and g.atoms[i].key]
    return any(sum(1 for b in keys if b.key == a.key) == a.card for a in keys)


def _canonical(g: _Grammar, lits: list[tuple[int, bool]]) -> tuple:
    """The clause as sorted (atom source, sign) pairs under the renaming of its variables that sorts first,
    variables of one role renamed among themselves, and those it uses first (`_v1` alone reads `_v0`)."""
    names = [v for v, _ in g.vars]
    sorts = [x for _, x in g.vars]
    best = None
    for perm in permutations(range(len(names))):
        if any(sorts[k] != sorts[perm[k]] for k in range(len(names))):
            continue
        rename = {names[k]: names[perm[k]] for k in range(len(names))}
        out = tuple(sorted((_VAR.sub(lambda m, r=rename: r[m.group(0)], g.atoms[i].source), p) for i, p in lits))
        used = {m.group(0) for src, _ in out for m in _VAR.finditer(src)}
        order = (_gap([k for k, v in enumerate(names) if v in used], sorts), out)
        if best is None or order < best[0]:
            best = (order, out)
    return (tuple(x.role for x in sorts),) + best[1]


def _gap(rank: list[int], sorts: list[_Sort]) -> bool:
    """Whether a variable is used while an earlier one of its role is not (`_v1` without `_v0`)."""
    for k in rank:
        if k > 0 and sorts[k - 1] == sorts[k] and (k - 1) not in rank:
            return True
    return False


def _render(g: _Grammar, canon: tuple) -> str:
    """The clause as formula source: `implies(premises, conclusions)` inside one `forall` per role used."""
    lits = canon[1:]
    named = any(src in g.named for src, _ in lits)
    if not named:  # inside forall: `_v0.state`
        lits = tuple((_NODE.sub(r"\1", src), p) for src, p in lits)
    neg = [_paren(src) for src, p in lits if not p]
    pos = [_paren(src) for src, p in lits if p]
    if not neg:
        body = " | ".join(pos)
    elif not pos:
        body = f"~{neg[0]}" if len(neg) == 1 and neg[0].startswith("(") else f"~({' & '.join(neg)})"
    else:
        body = f"implies({' & '.join(neg)}, {' | '.join(pos)})"
    used = {m.group(0) for src, _ in lits for m in _VAR.finditer(src)}
    groups: list[tuple[_Sort, list[str]]] = []
    for v, x in g.vars:
        if v in used:
            if groups and groups[-1][0] == x:
                groups[-1][1].append(v)
            else:
                groups.append((x, [v]))
    if named:  # a conjunction over the nodes' names: `conj(*(... for _v0 in s.role("rm").elem.names))`
        loops = " ".join(f"for {v} in {x.names}" for x, vs in groups for v in vs)
        return f"conj(*({body} {loops}))" if loops else body
    for x, vs in reversed(groups):
        body = f"forall({x.domain}, lambda {', '.join(vs)}: {body})"
    return body


def _paren(src: str) -> str:
    """A comparison in parentheses (`&` and `|` bind tighter than `==` and `>` in Python)."""
    return f"({src})" if " == " in src or " > " in src else src


def _build(src: str, s: State, namer: _Namer) -> Term:
    term = eval(src, _namespace(s, namer))  # noqa: S307 (source built here, from the schema)
    if not isinstance(term, Term):
        raise FormulaError(f"{src} is no formula")
    return term


_NICE = "abcdefghijklmnopqrtuvwxyz"  # `s` is the state


def _nice(src: str) -> str:
    """The source with the variables named a, b, c... in order of appearance."""
    names: dict[str, str] = {}

    def rename(m: re.Match) -> str:
        return names.setdefault(m.group(0), _NICE[len(names)])

    return _VAR.sub(rename, src)


# -- Houdini ---------------------------------------------------------------------------------------------------------


class _Houdini:
    """One solver per kind of step, over a pre and a post state: the kind's relation, the invariants on pre,
    and each candidate on pre under an assumption literal (`lemma#i`) that switches it on; one more over pre
    alone for the steps that raise. (One solver with a selector per kind was measured: twice as slow.)"""

    def __init__(self, system: TransitionSystem, kinds: Sequence[relation.Kind], invariants: Sequence[Term],
                 candidates: Sequence[Term], deadline: float):
        self.kinds, self.deadline = kinds, deadline
        self.rounds = self.queries = 0
        pre, post = relation.state(system, "pre_"), relation.state(system, "post_")
        self.inv_post = [smt.to_z3(t, post) for t in invariants]
        self.post = [self._in_time(smt.to_z3(t, post)) for t in candidates]
        self.on = [z3.Bool(f"lemma#{i}") for i in range(len(candidates))]
        self.index = {str(a): i for i, a in enumerate(self.on)}
        self.solvers = []
        assumed = [smt.to_z3(t, pre) for t in invariants]
        lemmas = [z3.Implies(a, self._in_time(smt.to_z3(t, pre))) for a, t in zip(self.on, candidates)]
        self.raises: list[tuple[str, str, Any]] = []  # (kind, error, guard): a step the model's own code raises on
        for k in kinds:
            self._in_time(None)
            sv = smt.solver()
            sv.add(*pre.constraints(), *post.constraints(), *assumed, *lemmas)
            atoms = k.atoms(pre) if k.atoms is not None else None
            if atoms is None:
                sv.add(k.relation(pre, post))
            else:
                sv.add(relation.atoms_relation([a for a in atoms if a.error is None], pre, post))
                self.raises += [(k.name, a.error, z3.And(*a.guard)) for a in atoms if a.error is not None]
            self.solvers.append(sv)
        self.refuted = [0] * len(self.solvers)  # when each kind last refuted a trial (`inductive`)
        self.errors = smt.solver()  # a state satisfying everything kept on which some step raises: no lemma helps
        self.errors.add(*pre.constraints(), *assumed, *lemmas)
        self.raising = z3.Or([g for _, _, g in self.raises]) if self.raises else None

    def _in_time(self, x: Any) -> Any:
        if time.perf_counter() > self.deadline:
            raise _OutOfBudget
        return x

    def _check(self, sv: z3.Solver, goal: Any, kept: set[int]) -> Any:
        if time.perf_counter() > self.deadline:
            raise _OutOfBudget
        sv.push()
        sv.add(goal)
        try:
            with smt.sigint_held():
                self.queries += 1
                r = sv.check(*[self.on[i] if i in kept else z3.Not(self.on[i]) for i in range(len(self.on))])
            return r, (sv.model() if r == z3.sat else sv.unsat_core() if r == z3.unsat else sv.reason_unknown())
        finally:
            sv.pop()

    def fixpoint(self, kept: set[int], say: Callable[[str], None]) -> tuple[set[int] | None, str]:
        """The largest subset of `kept` that, with the invariants, no step falsifies; (None, why) when some
        step falsifies an invariant from a state satisfying all of them (no subset can help then)."""
        kept = set(kept)
        try:
            changed = True
            while changed:
                changed = False
                self.rounds += 1
                before = len(kept)
                for k, sv in zip(self.kinds, self.solvers):
                    while True:
                        goal = z3.Or([z3.Not(x) for x in self.inv_post]
                                     + [z3.And(self.on[i], z3.Not(self.post[i])) for i in sorted(kept)])
                        r, m = self._check(sv, goal, kept)
                        if r == z3.unknown:
                            return None, f"Z3 gave up on {k.name}: {m}"
                        if r == z3.unsat:
                            break
                        if any(z3.is_false(m.eval(x, model_completion=True)) for x in self.inv_post):
                            return None, (f"{k.name} breaks the invariants even from states satisfying every "
                                          f"candidate kept ({len(kept):,}): the grammar has no lemma that helps")
                        dropped = {i for i in kept if z3.is_false(m.eval(self.post[i], model_completion=True))}
                        kept -= dropped
                        changed = True
                say(f"suggest: Houdini round {self.rounds}: {len(kept):,} of {before:,} candidates kept")
            if self.raising is not None:
                r, m = self._check(self.errors, self.raising, kept)
                if r != z3.unsat:
                    name, error = next(((k, e) for k, e, g in self.raises
                                        if r == z3.sat and z3.is_true(m.eval(g, model_completion=True))), ("", ""))
                    return None, (f"{name} raises ({error}) in a state satisfying the invariants and every "
                                  f"candidate kept ({len(kept):,}): the grammar has no lemma that rules it out"
                                  if name else f"Z3 gave up on the steps that raise: {m}")
        except _OutOfBudget:
            return None, f"the budget ran out in Houdini's round {self.rounds} ({len(kept):,} candidates left)"
        return kept, ""

    def _support(self, kept: set[int], goals: Sequence[Any]) -> set[int] | None:
        """Candidates of `kept` that suffice, with the invariants, to prove `goals` and themselves preserved by
        every step: the unsat cores of each kind's query, grown until they prove their own members too (None
        when some query is not unsat: `kept` was not inductive)."""
        need: set[int] = set()
        while True:
            wanted = [*goals, *(self.post[i] for i in sorted(need))]
            grown = set(need)
            queries = [(sv, z3.Not(z3.And(wanted))) for sv in self.solvers]
            if self.raising is not None:
                queries.append((self.errors, self.raising))
            for sv, goal in queries:
                r, core = self._check(sv, goal, kept)
                if r != z3.unsat:
                    return None
                grown.update(self.index[str(c)] for c in core if str(c) in self.index)
            if grown == need:
                return need
            need = grown

    def inductive(self, kept: set[int]) -> bool:
        """Whether no step falsifies the invariants or a candidate of `kept` from a state satisfying them all."""
        goal = z3.Or([z3.Not(x) for x in self.inv_post] + [z3.Not(self.post[i]) for i in sorted(kept)])
        for k in sorted(range(len(self.solvers)), key=lambda k: -self.refuted[k]):  # the kind that refuted last first
            if self._check(self.solvers[k], goal, kept)[0] != z3.unsat:
                self.refuted[k] = self.queries
                return False
        return self.raising is None or self._check(self.errors, self.raising, kept)[0] == z3.unsat

    def minimise(self, kept: set[int], cost: Sequence[int], say: Callable[[str], None]) -> set[int]:
        """A small subset of `kept` that still makes the invariants inductive: what the unsat cores use, then
        one lemma dropped at a time (the longest first) while the rest stay inductive, then the cores again;
        within the budget (what is left when it runs out is inductive all the same)."""
        need = kept
        try:
            core = self._support(kept, self.inv_post)
            need = kept if core is None else core
            say(f"suggest: the invariants' proofs use {len(need):,} of them")
            order = sorted(need, key=lambda i: (-cost[i], -i))
            chunk = max(1, len(order) // 4)
            while True:  # drop chunks while the rest stays inductive, then smaller chunks, down to single lemmas
                for k in range(0, len(order), chunk):
                    part = set(order[k:k + chunk]) & need
                    if part and self.inductive(need - part):
                        need = need - part
                if chunk == 1:
                    break
                order = [i for i in order if i in need]
                chunk = max(1, chunk // 2)
            core = self._support(need, self.inv_post)
            need = need if core is None else core
        except _OutOfBudget:
            say("suggest: the budget ran out while minimising")
        return need


class _OutOfBudget(Exception):
    pass


__all__ = ["Lemma", "SuggestResult", "suggest"]
