"""The low-level model form: typed variables, initial states, guarded actions over flat tuples.

For what is not message passing (TLA+-style specs, shared-memory algorithms,
puzzles). An action receives a raw state tuple and, for each declared
parameter, the codes to try, and returns every successor in one call, guards
first. Invariants receive a readable `StateView`. An action may instead be a
formula (`@action(formula=True)`): this layer only marks it; checker.logic
builds and compiles it (`install_formula_compiler`). Standard library only.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from .schema import SchemaError, Type
from .state import StateSchema, StateView


class ModelError(Exception):
    """A model is defined or instantiated wrongly; the message names the fix."""


@dataclass(frozen=True)
class Param:
    """A model parameter settable from a spec's `[params]`.

    `default` fixes the parameter's Python type (int, bool, str or float);
    `lo`/`hi` bound ints, `choices` lists allowed values.
    """

    default: Any
    doc: str = ""
    lo: int | None = None
    hi: int | None = None
    choices: tuple | None = None

    def check(self, name: str, value: Any) -> Any:
        want = type(self.default)
        if want is float and type(value) is int:
            value = float(value)
        if type(value) is not want:
            raise ModelError(f"params.{name}: must be {want.__name__}, got {value!r}")
        if self.lo is not None and value < self.lo:
            raise ModelError(f"params.{name}: must be >= {self.lo}, got {value!r}")
        if self.hi is not None and value > self.hi:
            raise ModelError(f"params.{name}: must be <= {self.hi}, got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise ModelError(f"params.{name}: must be one of {', '.join(map(repr, self.choices))}, got {value!r}")
        return value


@dataclass(frozen=True)
class ActionDef:
    name: str
    over: tuple[str, ...]  # names of model attributes holding each parameter's finite type
    formula: bool = False  # the method returns guarded updates in the formula language of checker.logic


@dataclass(frozen=True)
class PredicateDef:
    name: str
    kind: str  # "invariant" | "constraint" | "terminal" | "liveness" | "action_constraint" | "view" | "reachable"
    formula: bool = False  # the method returns a formula of checker.logic, built once from a symbolic state
    symmetric: bool = False  # declared unchanged by renaming the nodes of a symmetric role (see `symmetry`)


def action(fn: Callable | None = None, *, over: tuple[str, ...] | str = (), name: str | None = None,
           formula: bool = False):
    """Declare a method as an action: `(self, s, *domains) -> successors`.

    `over` names model attributes holding finite schema types, one per
    parameter; the method receives, for each, an iterable of codes to try,
    and returns every successor for all of them (an empty sequence when
    disabled). Trace labels name the parameter values that fired.

        @action(over="RM")
        def RMPrepare(self, s, rms):
            return [prepare(s, r) for r in rms if s[self.RM0 + r] == WORKING]

    With `formula=True` the method is a formula instead, as in TLA+: `(self, s, *params)` is called once
    with the symbolic state `s` and, per `over` domain, a parameter (bound as a quantifier's variable is),
    and returns `when(guard, var=new value, ...)` (or a list of them: a choice); variables not named are
    unchanged. It is compiled to Python for the search and given to Z3 for `induct` and `bmc`
    (`checker.logic.actions`).

        @action(over="RM", formula=True)
        def RMPrepare(self, s, rm):
            return when(s.rmState[rm] == "working", rmState={rm: "prepared"})
    """
    over_t = (over,) if isinstance(over, str) else tuple(over)

    def mark(f: Callable) -> Callable:
        f._fc_action = ActionDef(name or f.__name__, over_t, formula)  # type: ignore[attr-defined]
        return f

    return mark(fn) if fn is not None else mark


def _predicate(kind: str, is_formula: bool = False):
    def deco(fn: Callable | None = None, *, name: str | None = None, symmetric: bool = False):
        def mark(f: Callable) -> Callable:
            f._fc_predicate = PredicateDef(name or f.__name__, kind, is_formula, symmetric)  # type: ignore[attr-defined]
            return f

        return mark(fn) if fn is not None else mark

    deco.__name__ = kind
    deco.__doc__ = (f"Declare a method `(self, state: StateView) -> bool` as a {kind}; `symmetric=True` says "
                    "renaming the nodes of a symmetric role never changes its value, which symmetry reduction needs.")
    return deco


invariant = _predicate("invariant")
constraint = _predicate("constraint")
constraint.__doc__ = """Declare a method `(self, state: StateView) -> bool` as a state constraint, TLC's CONSTRAINT: a
state that fails it (initial or successor) counts as generated and has its invariants checked, but it is not
stored, not counted as distinct, not expanded and given no level."""
terminal = _predicate("terminal")  # states where having no successor is not a deadlock
action_constraint = _predicate("action_constraint")
action_constraint.__doc__ = """Declare a method `(self, state: StateView, next_state: StateView) -> bool` as an action
constraint, TLC's ACTION_CONSTRAINT: a step that fails it counts as generated (its successor's invariants are
checked) but is not followed; deadlock is decided before it filters, so a state whose every step fails it is
no deadlock."""
view = _predicate("view")
view.__doc__ = """Declare a method `(self, state: StateView) -> hashable` as the view, TLC's VIEW: states with equal
views are one state for the visited store (the first one reached is expanded). At most one per model."""
reachable = _predicate("reachable")
reachable.__doc__ = """Declare a method `(self, state: StateView) -> bool` that some reachable state must satisfy
(Stateright's "sometimes"): an exhaustive search in which no stored state satisfies it is a violation
("never reached"); when one does, the shortest trace to it is the property's witness."""
liveness = _predicate("liveness")
liveness.__doc__ = """Declare a method `(self, s) -> eventually(P) | leads_to(P, Q) | always_eventually(P)` as a
liveness property (checker.logic.temporal), checked under the spec's fairness."""
formula = _predicate("invariant", True)
formula.__name__ = "formula"
formula.__doc__ = """Declare a method `(self, s) -> formula` as an invariant in the formula language of
`checker.logic`: called once with the symbolic state `s`, compiled for the search and translatable
to Z3 (`faultcheck induct`, `faultcheck lint`, the core of a violation)."""


@dataclass(frozen=True)
class BoundAction:
    """An action of an instantiated model, ready for the engine.

    `fn(s)` gives every successor: each domain parameter defaults to all of its
    codes (a plain one-argument call is the fastest call CPython makes).
    `formula`: for an `@action(formula=True)`, the built action (`checker.logic.actions.ActionFormula`),
    from which `fn` was compiled; None for Python code on tuples.
    """

    name: str
    fn: Callable[..., Iterable[tuple]]
    domains: tuple[Type, ...]
    formula: Any = None

    def instances(self, s: tuple) -> Iterable[tuple[tuple[str, ...], tuple]]:
        """Each (parameter names, successor) pair: slow, for labelling trace steps."""
        import itertools

        ranges = [range(d.cardinality) for d in self.domains]  # type: ignore[arg-type]
        for codes in itertools.product(*ranges):
            for t in self.fn(s, *((c,) for c in codes)):  # one instance at a time
                yield tuple(d.format(d.unrank(c)) for d, c in zip(self.domains, codes)), t


class Model:
    """Base class of low-level models. Subclasses define:

    - class attributes of type `Param` (set from a spec's `[params]`);
    - `variables(self) -> dict[str, Type]`: the state's variables, in order;
    - `init(self) -> dict | list[dict]`: initial state(s), readable values;
    - optionally `setup(self)`: compute constants once parameters are set;
    - methods decorated `@action`, `@invariant`, `@constraint`, `@terminal`, `@action_constraint`,
      `@reachable`, and at most one `@view`;
    - optionally `symmetry = ("rm",)`: roles (the `NodeId` roles of the state) whose ids are
      interchangeable, as TLC's SYMMETRY declares them; used by `check --symmetry`.
    """

    symmetry: ClassVar[tuple[str, ...]] = ()
    check_deadlock: ClassVar[bool | None] = None  # False: a state without successors is an end (a spec's setting wins)
    _actions: ClassVar[dict[str, str]] = {}  # action name -> method name
    _predicates: ClassVar[dict[str, tuple[str, str]]] = {}  # name -> (kind, method name)
    _symmetric: ClassVar[frozenset[str]] = frozenset()  # predicates declared symmetric
    _params: ClassVar[dict[str, Param]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        collect_declarations(cls)

    def __init__(self, **params: Any):
        cls = type(self)
        set_params(self, params)
        try:
            self.schema = StateSchema(self.variables())
        except SchemaError as e:
            raise ModelError(f"{cls.__name__}.variables(): {e}") from None
        self.at = self.schema.at  # slot indices by name (checker.model.fields): s[self.at.rmState[r]]
        self.setup()
        self.actions = [self._bind(name, meth) for name, meth in cls._actions.items()]
        if not self.actions:
            raise ModelError(f"{cls.__name__} declares no @action")

    # -- to override ------------------------------------------------------------------
    def variables(self) -> Mapping[str, Type]:
        raise ModelError(f"{type(self).__name__} must define variables(self) -> dict of name to schema type")

    def init(self) -> Mapping[str, Any] | Iterable[Mapping[str, Any]]:
        raise ModelError(f"{type(self).__name__} must define init(self) returning the initial state(s)")

    def setup(self) -> None:
        """Compute constants (slot offsets, codes) once the parameters are set."""

    # -- for the checker ------------------------------------------------------------------
    @property
    def name(self) -> str:
        return type(self).__name__

    def offset(self, variable: str) -> int:
        """Index of `variable`'s first slot in the state tuple."""
        try:
            return self.schema.offsets[variable]
        except KeyError:
            raise ModelError(f"{self.name} has no variable {variable!r}") from None

    def initial_states(self) -> list[tuple]:
        init = self.init()
        states = [init] if isinstance(init, Mapping) else list(init)
        if not states:
            raise ModelError(f"{self.name}.init() returned no initial state")
        out = []
        for i, st in enumerate(states):
            try:
                out.append(self.schema.encode(st, where=f"{self.name}.init()[{i}]" if len(states) > 1 else f"{self.name}.init()"))
            except SchemaError as e:
                raise ModelError(str(e)) from None
        return out

    def predicates(self, kind: str) -> dict[str, Callable[[StateView], bool]]:
        """Bound predicate methods of one kind, by name, in declaration order."""
        return {n: getattr(self, m) for n, (k, m) in type(self)._predicates.items() if k == kind}

    def _bind(self, name: str, meth: str) -> BoundAction:
        fn = getattr(self, meth)
        domains = []
        for o in fn._fc_action.over:
            d = getattr(self, o, None)
            if not isinstance(d, Type) or d.cardinality is None:
                raise ModelError(
                    f"{self.name}.{meth}: over={o!r} must name an attribute holding a finite schema type "
                    f"(set it in setup(), e.g. self.{o} = NodeId(...)); got {d!r}"
                )
            domains.append(d)
        if fn._fc_action.formula:
            if _formula_compiler is None:
                raise ModelError(f"{self.name}.{meth}: a formula action needs checker.logic (import `when` "
                                 "from checker where the model is defined)")
            return _formula_compiler(self, name, fn, tuple(domains))
        if domains:  # the domains become the parameters' defaults: fn(s) covers every instance
            f = fn.__func__
            g = types.FunctionType(f.__code__, f.__globals__, f.__name__, None, f.__closure__)
            g.__defaults__ = tuple(range(d.cardinality) for d in domains)  # type: ignore[arg-type]
            g.__kwdefaults__, g.__qualname__, g.__doc__ = f.__kwdefaults__, f.__qualname__, f.__doc__
            g.__dict__.update(f.__dict__)
            fn = types.MethodType(g, self)
        return BoundAction(name, fn, tuple(domains))


# How an `@action(formula=True)` becomes a BoundAction: the formula language and its compiler live in
# checker.logic, above this layer, which imports nothing of ours; checker.logic.actions installs its compiler
# here when checker.logic is imported (as it is wherever `when` is).
_formula_compiler: Callable[[Model, str, Callable, tuple[Type, ...]], BoundAction] | None = None


def install_formula_compiler(compile_action: Callable[[Model, str, Callable, tuple[Type, ...]], BoundAction]) -> None:
    """Called once by checker.logic.actions: `compile_action(model, name, method, domains)` builds a formula
    action and compiles it to a BoundAction (raising ModelError with one clear line when it is wrong)."""
    global _formula_compiler
    _formula_compiler = compile_action


def collect_declarations(cls: type) -> None:
    """Gather a class's Params, @action and predicate methods; validate names and arities."""
    actions: dict[str, str] = {}
    preds: dict[str, tuple[str, str]] = {}
    symmetric: set[str] = set()
    params: dict[str, Param] = {}
    for klass in reversed(cls.__mro__):
        for attr, v in vars(klass).items():
            if isinstance(v, Param):
                params[attr] = v
    seen_methods: set[str] = set()
    for klass in cls.__mro__:  # most derived first: an override replaces its base's method
        for attr, v in vars(klass).items():
            if attr in seen_methods or not callable(v):
                continue
            seen_methods.add(attr)
            a = getattr(v, "_fc_action", None)
            p = getattr(v, "_fc_predicate", None)
            if a is None and p is None:
                a, p = _inherit_declaration(cls, klass, attr, v)
            if a is not None:
                if a.name in actions and actions[a.name] != attr:
                    raise ModelError(f"{cls.__name__}: two methods declare action {a.name!r}; rename one")
                plural = "" if a.formula else "s"  # a formula action takes one parameter, a Python one its codes
                what = "formula action" if a.formula else "action"
                _check_arity(cls, attr, v, 2 + len(a.over),
                             f"{what} (self, s{''.join(', ' + o.lower() + plural for o in a.over)})")
                actions[a.name] = attr
            if p is not None:
                if p.name in preds and preds[p.name][1] != attr:
                    raise ModelError(f"{cls.__name__}: {p.name!r} is declared twice; names must be unique")
                if p.kind == "action_constraint":
                    _check_arity(cls, attr, v, 3, "action_constraint (self, state, next_state)")
                else:
                    _check_arity(cls, attr, v, 2, f"{p.kind} (self, state)")
                preds[p.name] = (p.kind, attr)
                if p.symmetric:
                    symmetric.add(p.name)
    views = sorted(n for n, (k, _) in preds.items() if k == "view")
    if len(views) > 1:
        raise ModelError(f"{cls.__name__}: two methods declare @view ({views[0]}, {views[1]}); a model has one view")
    clash = set(actions) & set(preds)
    if clash:
        raise ModelError(f"{cls.__name__}: {sorted(clash)[0]!r} names both an action and a predicate; rename one")
    # keep declaration order of the most basic class first
    order = {n: i for i, n in enumerate(_declaration_order(cls))}
    cls._actions = dict(sorted(actions.items(), key=lambda kv: order.get(kv[1], 1 << 30)))
    cls._predicates = dict(sorted(preds.items(), key=lambda kv: order.get(kv[1][1], 1 << 30)))
    cls._params = params
    cls._symmetric = frozenset(symmetric)



def _inherit_declaration(cls: type, klass: type, attr: str, v: Any) -> tuple[ActionDef | None, PredicateDef | None]:
    """An override that does not repeat its base's decorator keeps the base's role (an invariant stays
    an invariant): the declaration is copied onto the overriding function."""
    mro = cls.__mro__
    for base in mro[mro.index(klass) + 1:]:
        b = vars(base).get(attr)
        a, p = getattr(b, "_fc_action", None), getattr(b, "_fc_predicate", None)
        if a is None and p is None:
            continue
        if not isinstance(v, types.FunctionType):
            kind = "action" if a is not None else p.kind  # type: ignore[union-attr]
            raise ModelError(f"{cls.__name__}.{attr} overrides {base.__name__}'s @{kind} with a "
                             f"{type(v).__name__}; define it as a method and repeat @{kind} on it")
        if a is not None:
            v._fc_action = a
        if p is not None:
            v._fc_predicate = p
        return a, p
    return None, None


def set_params(obj: Any, params: Mapping[str, Any]) -> None:
    """Check `params` against the class's Params and set each (or its default) on `obj`."""
    cls = type(obj)
    for name in params:
        if name not in cls._params:
            known = ", ".join(cls._params) or "none"
            raise ModelError(f"params: {cls.__name__} has no parameter {name!r} (parameters: {known})")
    obj.params = {}
    for name, p in cls._params.items():
        value = p.check(name, params.get(name, p.default))
        obj.params[name] = value
        setattr(obj, name, value)


def _check_arity(cls: type, attr: str, fn: Callable, n: int, what: str) -> None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    params = list(sig.parameters.values())
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return
    if len(params) != n:
        raise ModelError(f"{cls.__name__}.{attr}: a {what} takes {n} arguments, this one takes {len(params)}")


def _declaration_order(cls: type) -> list[str]:
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        for attr in vars(klass):
            if attr not in names:
                names.append(attr)
    return names
