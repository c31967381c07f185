"""Spec files: one TOML file per check, loaded and validated once, with one-line errors.

Format 1 (every key but `protocol` and `expected` optional; unknown keys are errors):

    format = 1
    protocol = "protocols.two_phase_commit_tla:TwoPhase"   # module:Class
    kind = "search"          # or "induct": is the conjunction of the invariants inductive?
    description = "..."
    invariants = ["TypeOK", "TCConsistent"]                # default: every @invariant
    expected = "holds"       # or "violated"; for kind = "induct": "inductive" or "not_inductive"
    violates = "TCConsistent"                              # with expected = "violated"
    counterexample = "counterexamples/<spec-stem>.json"    # committed trace, relative to the project;
                             # it must lie inside the project (spec/paths.py): --update writes it
    check_deadlock = true    # default: true for low-level models, false for protocols
    slow = false             # true: a long exploration; the pytest plugin marks it `slow`
    accept_bounds = false    # true: a bounded search that finds nothing (induct: undetermined) counts as expected
    [consistency]            # protocols with a client history: history = "linearizable" | "sequential",
                             # model = "register" | "kv", initial = value; converges = "role.field"
    symmetry = ["rm"]        # induct: roles whose node ids are interchangeable (one state per class)
    method = "auto"          # induct: "symbolic" (one Z3 query per kind of step), "explicit" (Z3 enumerates
                             # the states satisfying the invariant), "auto": symbolic where the steps allow
    liveness = ["Decides"]   # @liveness properties to check (default: none), under [fairness]
    reachable = ["CanCommit"]  # @reachable properties some state must satisfy (default: every @reachable)
    [fairness]               # per step kind (or low-level action name): "weak", "strong" or "none"
    deliver = "weak"         # defaults: deliver, timer, detect, tick and low-level actions weak; the rest none
    [params]                 # the model's parameters
    rms = 3
    [bounds]                 # max_states, max_depth, max_seconds
    max_states = 1000000
    [network]                # protocols only: ordering = "unordered" (default) or "fifo" (per channel;
                             # capacity = N messages, default 4); in_flight = "multiset" (default) or "set";
                             # loss = N, duplication = N: budgets of dropped and duplicated messages;
                             # lose_on_crash = true: messages to a node are lost when it crashes
    [faults]                 # protocols only: crashes = N, restarts = true, max_down = N,
                             # crashable = ["role" or "node", ...], partitions = N,
                             # splits = [[["p"], ["b1", "b2"]], ...] (default: every two-sided split),
                             # timer_firings = N (timer firings in all; default unbounded),
                             # detector = "perfect" (default: on_peer_crash only about crashed peers) or
                             # "partition" (also, once per partition, about each live peer it cuts off)
    [time]                   # protocols only: tick = 1 (units per tick step), max_skew = N (clocks within N
                             # units of global time), max_delay = N (delivery within N units; omit:
                             # asynchronous), horizon = "abstract" (default) or N (times kept exact N units back);
                             # [faults] clock_jumps = N, jump = N; [network] overflow = "error" | "drop" | "block"
    [runtime]                # `faultcheck run` only, in seconds: timer = 0.2 (every timer's duration),
                             # timers = { suspect = 0.5 } (per timer), request_interval = 0.1 (per client),
                             # tick_seconds = 0.05 (one time unit, for timers armed with after=)

The module is imported with the spec's folder and the project root (the
nearest folder above holding pyproject.toml, else the spec folder's parent)
importable, so users' own packages work. Imports `checker.model`.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..model import Model, ModelError, SchemaError
from ..model.faults import FaultError, Faults
from ..model.node import Protocol
from ..model.time import TimeSettings
from .paths import PathError, inside, write_root

SPEC_FORMAT = 1
KINDS = ("search", "induct")
EXPECTED = {"search": ("holds", "violated"), "induct": ("inductive", "not_inductive")}
TOP_KEYS = {
    "format", "protocol", "kind", "description", "invariants", "expected", "violates", "counterexample",
    "check_deadlock", "accept_bounds", "symmetry", "liveness", "fairness", "consistency", "params", "bounds",
    "network", "faults", "runtime", "reachable", "time", "slow", "method",
}
# Elle's transactional models (checker.logic.elle) judge a History(transactions=True)
ELLE_PROPERTIES = {"serializable": "Serializable", "strict-serializable": "StrictSerializable",
                   "strong-session-serializable": "StrongSessionSerializable",
                   "snapshot-isolation": "SnapshotIsolation", "repeatable-read": "RepeatableRead",
                   "read-committed": "ReadCommitted", "read-uncommitted": "ReadUncommitted"}
CONSISTENCY_KEYS = {"history": ("linearizable", "sequential", *ELLE_PROPERTIES),
                    "model": ("register", "kv", "counter", "queue", "mutex", "multi-register",
                              "list-append", "rw-register"), "initial": None, "converges": str}
CONSISTENCY_PROPERTIES = {"linearizable": "Linearizable", "sequential": "SequentiallyConsistent", **ELLE_PROPERTIES}
FAIRNESS = ("weak", "strong", "none")
STEP_KINDS = ("action", "deliver", "timer", "request", "detect", "crash", "restart", "partition", "heal", "drop",
              "duplicate", "tick", "clock", "clock_jump")
SEARCH_ONLY = ("violates", "counterexample", "check_deadlock")
INDUCT_METHODS = ("auto", "symbolic", "explicit")
NETWORK_KEYS = {"in_flight": ("multiset", "set"), "ordering": ("unordered", "fifo"), "capacity": int, "loss": int,
                "duplication": int, "lose_on_crash": (True, False), "overflow": ("error", "drop", "block")}
FAULT_KEYS = {"crashes": int, "restarts": bool, "max_down": int, "crashable": list, "partitions": int, "splits": list,
              "timer_firings": int, "detector": str, "clock_jumps": int, "jump": int}
TIME_KEYS = ("tick", "max_skew", "max_delay", "horizon")
BOUND_KEYS = {"max_states": int, "max_depth": int, "max_seconds": (int, float)}
RUNTIME_KEYS = ("timer", "timers", "request_interval", "tick_seconds")  # `faultcheck run`: seconds


class SpecError(Exception):
    """Bad input: a spec file, a field, what was wrong — one line, no traceback."""


@dataclass(frozen=True, kw_only=True)
class Spec:
    """A loaded spec. `path` is None for a model checked directly from Python."""

    path: Path | None
    root: Path  # what relative paths (counterexample) are resolved against
    protocol: str
    model_class: type[Model] | type[Protocol]
    kind: str = "search"
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    invariants: tuple[str, ...] | None = None  # None: every invariant the model declares
    expected: str = "holds"
    violates: str | None = None
    counterexample: str | None = None
    check_deadlock: bool | None = None  # None: on for low-level models; off for protocols (quiescence is an end)
    accept_bounds: bool = False
    method: str = "auto"  # induct: symbolic, explicit, or auto (symbolic where the steps can be given to Z3)
    slow: bool = False  # a long exploration: the pytest plugin marks it `slow`
    symmetry: tuple[str, ...] = ()
    liveness: tuple[str, ...] | None = None  # the @liveness properties checked (none unless listed)
    reachable: tuple[str, ...] | None = None  # the @reachable properties checked (None: every one declared)
    fairness: dict[str, str] = field(default_factory=dict)  # step kind or action name -> weak | strong | none
    consistency: dict[str, Any] = field(default_factory=dict)  # [consistency]: history, model, initial, converges

    def reachable_properties(self) -> tuple[str, ...]:
        """The @reachable properties checked: those listed, else every one the model declares."""
        if self.reachable is not None:
            return self.reachable
        return tuple(n for n, (k, _) in getattr(self.model_class, "_predicates", {}).items() if k == "reachable")

    def consistency_properties(self) -> tuple[str, ...]:
        """The properties [consistency] adds: Linearizable or SequentiallyConsistent, and Converges."""
        out = []
        if "history" in self.consistency:
            out.append(CONSISTENCY_PROPERTIES[self.consistency["history"]])
        if "converges" in self.consistency:
            out.append("Converges")
        return tuple(out)
    bounds: dict[str, Any] = field(default_factory=dict)
    network: dict[str, Any] = field(default_factory=dict)  # [network]: in_flight, loss, duplication
    faults: Faults = field(default_factory=Faults)  # [faults] and the network's loss and duplication
    runtime: dict[str, Any] = field(default_factory=dict)  # [runtime]: timer, timers, request_interval
    time: TimeSettings | None = None  # [time]: None for an untimed (asynchronous) protocol

    @property
    def name(self) -> str:
        return self.path.stem if self.path is not None else self.model_class.__name__

    @property
    def where(self) -> str:
        return str(self.path) if self.path is not None else f"model {self.model_class.__name__}"

    def counterexample_path(self) -> Path | None:
        return None if self.counterexample is None else self.root / self.counterexample

    def with_params(self, overrides: Mapping[str, Any]) -> Spec:
        return replace(self, params={**self.params, **overrides})

    def instantiate(self) -> Model | Protocol:
        """The model with this spec's parameters; a bad parameter is a SpecError."""
        try:
            return self.model_class(**self.params)
        except ModelError as e:
            raise SpecError(f"{self.where}: {e}") from None
        except Exception as e:  # the model's own code raised while being set up
            raise SpecError(f"{self.where}: {self.protocol}: setting up the model raised {type(e).__name__}: {e}") from None


def project_root(folder: Path) -> Path:
    for p in [folder, *folder.parents]:
        if (p / "pyproject.toml").is_file():
            return p
    return folder.parent


def _forget_if_shadowed(mod_name: str, search_paths: list[Path]) -> None:
    """If this spec's folders hold a module of this name other than the one imported already (a
    spec elsewhere with a same-named module), drop the old one so this spec gets its own."""
    top = mod_name.split(".")[0]
    loaded = sys.modules.get(top)
    if loaded is None:
        return
    found = importlib.machinery.PathFinder.find_spec(top, [str(p) for p in search_paths])
    if found is None or found.origin is None:
        return
    # where each lives, as real paths: an editable install's finder may load a package with no __file__
    # (forgetting it then would re-import every protocol module, and classes would exist twice)
    here = {os.path.realpath(x) for x in [getattr(loaded, "__file__", None),
                                          getattr(getattr(loaded, "__spec__", None), "origin", None),
                                          *getattr(loaded, "__path__", ())] if isinstance(x, str)}
    there = {os.path.realpath(x) for x in [found.origin, *(found.submodule_search_locations or ())]}
    if not here & there:
        for name in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
            del sys.modules[name]


def _refuse_unless_inside(mod_name: str, where: str, search_paths: list[Path], roots: list[Path]) -> None:
    top = mod_name.split(".")[0]
    if not top.isidentifier():
        raise SpecError(f"{where}: protocol: {mod_name!r} is not a module name")
    found = importlib.machinery.PathFinder.find_spec(top, [str(p) for p in search_paths] + sys.path)
    origin = None if found is None else found.origin or next(iter(found.submodule_search_locations or []), None)
    if origin is None:
        raise SpecError(f"{where}: protocol: no module named {mod_name!r}")
    shipped = Path(__file__).resolve().parents[2] / "protocols"  # the library installed beside checker
    here = Path(origin).resolve()
    if not any(here == r or r in here.parents for r in [*(Path(r).resolve() for r in roots), shipped]):
        raise SpecError(f"{where}: protocol: module {top!r} is {here}, outside this project; a trace only names "
                        "a protocol, it cannot choose code from elsewhere (pass --spec)")


def resolve_protocol(ref: str, where: str, search_paths: list[Path],
                     only_from: list[Path] | None = None) -> type[Model] | type[Protocol]:
    """Import `module:Class` (with `search_paths` importable) and check it is a Model or Protocol class.
    With `only_from` (a trace names the module: data choosing code), the module's top-level package must
    be a file inside one of those folders or faultcheck's own `protocols`, found before anything runs."""
    if not isinstance(ref, str) or ref.count(":") != 1 or not all(ref.split(":")):
        raise SpecError(f"{where}: protocol: expected \"module:Class\", got {ref!r}")
    mod_name, cls_name = ref.split(":")
    if only_from is not None:
        _refuse_unless_inside(mod_name, where, search_paths, only_from)
    added = [str(p) for p in search_paths if str(p) not in sys.path]
    sys.path[:0] = added
    _forget_if_shadowed(mod_name, search_paths)
    try:
        module = importlib.import_module(mod_name)
    except ModuleNotFoundError as e:
        if e.name and (e.name == mod_name or mod_name.startswith(e.name + ".")):
            raise SpecError(f"{where}: protocol: no module named {mod_name!r}") from None
        raise SpecError(f"{where}: protocol: importing {mod_name!r} failed: {e}") from None
    except ModelError as e:
        raise SpecError(f"{where}: protocol: {mod_name}: {e}") from None
    except Exception as e:  # the user's module raised while importing
        raise SpecError(f"{where}: protocol: importing {mod_name!r} raised {type(e).__name__}: {e}") from None
    finally:
        for p in added:
            if p in sys.path:
                sys.path.remove(p)
    cls = getattr(module, cls_name, None)
    if cls is None:
        raise SpecError(f"{where}: protocol: module {mod_name!r} has no {cls_name!r}")
    if not (isinstance(cls, type) and issubclass(cls, (Model, Protocol))):
        raise SpecError(f"{where}: protocol: {ref} is not a faultcheck Model or Protocol class")
    return cls


def load_spec(path: str | Path) -> Spec:
    """Read and validate a spec file.

    >>> spec = load_spec("specs/two_phase_commit_tla.toml")
    >>> spec.expected, spec.params, spec.model_class.__name__
    ('holds', {'rms': 3}, 'TwoPhase')
    """
    from ..model.inputs import SPEC_LIMIT, InputError, read_toml

    path = Path(path)
    where = str(path)
    try:  # a regular file of at most SPEC_LIMIT bytes, UTF-8, TOML nested a sane depth
        data = read_toml(path, SPEC_LIMIT, "spec")
    except InputError as e:
        raise SpecError(str(e)) from None

    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise SpecError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(TOP_KEYS))})")
    fmt = data.get("format", SPEC_FORMAT)
    if fmt != SPEC_FORMAT:
        raise SpecError(f"{where}: format: this faultcheck reads spec format {SPEC_FORMAT}, got {fmt!r}")

    def get(key: str, types: Any, default: Any) -> Any:
        if key not in data:
            return default
        v = data[key]
        if not isinstance(v, types) or (isinstance(v, bool) and bool not in (types if isinstance(types, tuple) else (types,))):
            tname = types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
            raise SpecError(f"{where}: {key}: expected {tname}, got {v!r}")
        return v

    if "protocol" not in data:
        raise SpecError(f"{where}: protocol: missing (e.g. protocol = \"protocols.two_phase_commit_tla:TwoPhase\")")
    kind = get("kind", str, "search")
    if kind not in KINDS:
        raise SpecError(f"{where}: kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    choices = " or ".join(f'"{e}"' for e in EXPECTED[kind])
    if "expected" not in data:
        raise SpecError(f"{where}: expected: missing ({choices})")
    expected = get("expected", str, "holds")
    if expected not in EXPECTED[kind]:
        raise SpecError(f"{where}: expected: must be {choices} for kind = \"{kind}\", got {expected!r}")
    if kind == "induct":
        extra = [k for k in SEARCH_ONLY if k in data]
        if extra:
            raise SpecError(f"{where}: {extra[0]}: only for kind = \"search\"")
    method = get("method", str, "auto")
    if "method" in data and kind != "induct":
        raise SpecError(f"{where}: method: only for kind = \"induct\"")
    if method not in INDUCT_METHODS:
        raise SpecError(f"{where}: method: expected one of {', '.join(INDUCT_METHODS)}, got {method!r}")
    symmetry = get("symmetry", list, [])
    if not all(isinstance(r, str) for r in symmetry) or len(set(symmetry)) != len(symmetry):
        raise SpecError(f"{where}: symmetry: expected a list of distinct role names, got {symmetry!r}")
    violates = get("violates", str, None)
    if expected == "violated" and violates is None:
        raise SpecError(f"{where}: violates: required with expected = \"violated\" (the property that must fail)")
    if expected == "holds" and violates is not None:
        raise SpecError(f"{where}: violates: only allowed with expected = \"violated\"")
    invariants = get("invariants", list, None)
    if invariants is not None:
        if not all(isinstance(i, str) for i in invariants):
            raise SpecError(f"{where}: invariants: expected a list of names")
        dup = sorted({i for i in invariants if invariants.count(i) > 1})
        if dup:
            raise SpecError(f"{where}: invariants: {dup[0]!r} is listed twice")
    liveness = get("liveness", list, None)
    if liveness is not None and (not all(isinstance(n, str) for n in liveness) or len(set(liveness)) != len(liveness)):
        raise SpecError(f"{where}: liveness: expected a list of distinct property names")
    reachable = get("reachable", list, None)
    if reachable is not None and (not all(isinstance(n, str) for n in reachable)
                                  or len(set(reachable)) != len(reachable)):
        raise SpecError(f"{where}: reachable: expected a list of distinct property names")
    fairness = get("fairness", dict, {})
    for k, v in fairness.items():
        if v not in FAIRNESS:
            raise SpecError(f"{where}: fairness.{k}: expected one of {', '.join(map(repr, FAIRNESS))}, got {v!r}")
    consistency = get("consistency", dict, {})
    for k, v in consistency.items():
        if k not in CONSISTENCY_KEYS:
            raise SpecError(f"{where}: consistency: unknown key {k!r} (known: {', '.join(CONSISTENCY_KEYS)})")
        want = CONSISTENCY_KEYS[k]
        if isinstance(want, tuple) and v not in want:
            raise SpecError(f"{where}: consistency.{k}: expected one of {', '.join(map(repr, want))}, got {v!r}")
        if want is str and (not isinstance(v, str) or "." not in v):
            raise SpecError(f"{where}: consistency.{k}: expected \"role.field\" (the replicas' field), got {v!r}")
    if "model" in consistency and "history" in consistency and \
            (consistency["model"] in ("list-append", "rw-register")) != (consistency["history"] in ELLE_PROPERTIES):
        raise SpecError(f"{where}: consistency.model: {consistency['model']!r} does not go with history = "
                        f"{consistency['history']!r} (transactional models: list-append, rw-register, with "
                        f"{', '.join(map(repr, ELLE_PROPERTIES))})")
    params = get("params", dict, {})
    bounds = get("bounds", dict, {})
    for k, v in bounds.items():
        if k not in BOUND_KEYS:
            raise SpecError(f"{where}: bounds: unknown key {k!r} (known: {', '.join(BOUND_KEYS)})")
        if not isinstance(v, BOUND_KEYS[k]) or isinstance(v, bool) or v <= 0:
            raise SpecError(f"{where}: bounds.{k}: expected a positive number, got {v!r}")
    counterexample = get("counterexample", str, None)
    network = get("network", dict, {})
    for k, v in network.items():
        if k not in NETWORK_KEYS:
            raise SpecError(f"{where}: network: unknown key {k!r} (known: {', '.join(NETWORK_KEYS)})")
        want = NETWORK_KEYS[k]
        if isinstance(want, tuple) and (v not in want or type(v) is not type(want[0])):
            raise SpecError(f"{where}: network.{k}: expected one of {', '.join(map(repr, want))}, got {v!r}")
        if want is int and (type(v) is not int or v < (1 if k == "capacity" else 0)):
            raise SpecError(f"{where}: network.{k}: expected a whole number >= {1 if k == 'capacity' else 0}, got {v!r}")
    if network.get("ordering") == "fifo" and "in_flight" in network:
        raise SpecError(f"{where}: network.in_flight: FIFO channels are queues; in_flight is for unordered networks")
    if "capacity" in network and network.get("ordering") != "fifo":
        raise SpecError(f"{where}: network.capacity: only FIFO channels have a capacity (ordering = \"fifo\")")
    if "overflow" in network and network.get("ordering") != "fifo":
        raise SpecError(f"{where}: network.overflow: only FIFO channels fill up (ordering = \"fifo\")")
    time_table = get("time", dict, None)
    time_settings = None
    if time_table is not None:
        for k in time_table:
            if k not in TIME_KEYS:
                raise SpecError(f"{where}: time: unknown key {k!r} (known: {', '.join(TIME_KEYS)})")
        horizon = time_table.get("horizon", "abstract")
        try:
            time_settings = TimeSettings(tick=time_table.get("tick", 1), max_skew=time_table.get("max_skew", 0),
                                         max_delay=time_table.get("max_delay"),
                                         horizon=None if horizon == "abstract" else horizon)
        except SchemaError as e:
            raise SpecError(f"{where}: time.{e}") from None
    fault_table = get("faults", dict, {})
    for k, v in fault_table.items():
        if k not in FAULT_KEYS:
            raise SpecError(f"{where}: faults: unknown key {k!r} (known: {', '.join(FAULT_KEYS)})")
        if type(v) is not FAULT_KEYS[k]:
            raise SpecError(f"{where}: faults.{k}: expected {FAULT_KEYS[k].__name__}, got {v!r}")
    runtime = get("runtime", dict, {})
    for k, v in runtime.items():
        if k not in RUNTIME_KEYS:
            raise SpecError(f"{where}: runtime: unknown key {k!r} (known: {', '.join(RUNTIME_KEYS)})")
        for name, sec in (v.items() if k == "timers" and isinstance(v, dict) else [(None, v)]):
            if k == "timers" and not isinstance(v, dict):
                raise SpecError(f"{where}: runtime.timers: expected a table of timer = seconds, got {v!r}")
            if not isinstance(sec, (int, float)) or isinstance(sec, bool) or not sec > 0:
                what = f"runtime.{k}" + (f".{name}" if name else "")
                raise SpecError(f"{where}: {what}: expected a positive number of seconds, got {sec!r}")
    try:
        splits = fault_table.get("splits")
        if splits is not None and not all(
            isinstance(sp, list) and len(sp) == 2 and all(isinstance(side, list) for side in sp) for sp in splits
        ):
            raise FaultError("splits: expected a list of [[side], [side]] pairs of node ids")
        faults = Faults(
            crashes=fault_table.get("crashes", 0),
            restarts=fault_table.get("restarts", False),
            max_down=fault_table.get("max_down"),
            crashable=tuple(fault_table["crashable"]) if "crashable" in fault_table else None,
            partitions=fault_table.get("partitions", 0),
            splits=tuple((tuple(a), tuple(b)) for a, b in splits) if splits is not None else None,
            loss=network.get("loss", 0),
            duplication=network.get("duplication", 0),
            timer_firings=fault_table.get("timer_firings"),
            detector=fault_table.get("detector", "perfect"),
            lose_on_crash=network.get("lose_on_crash", False),
            clock_jumps=fault_table.get("clock_jumps", 0),
            jump=fault_table.get("jump", 1),
        )
        if faults.clock_jumps and time_settings is None:
            raise FaultError("clock_jumps: clocks need time: add a [time] section")
    except FaultError as e:
        raise SpecError(f"{where}: faults: {e}") from None

    root = project_root(path.resolve().parent)
    if counterexample is not None:
        try:
            inside(root / counterexample, write_root(path), where=where, field="counterexample", shown=counterexample)
        except PathError as e:
            raise SpecError(str(e)) from None
    model_class = resolve_protocol(data["protocol"], where, [path.resolve().parent, root])
    spec = Spec(
        path=path,
        root=root,
        protocol=data["protocol"],
        model_class=model_class,
        kind=kind,
        description=get("description", str, ""),
        params=dict(params),
        invariants=tuple(invariants) if invariants is not None else None,
        expected=expected,
        violates=violates,
        counterexample=counterexample,
        check_deadlock=get("check_deadlock", bool, None),
        accept_bounds=get("accept_bounds", bool, False),
        method=method,
        slow=get("slow", bool, False),
        symmetry=tuple(symmetry),
        liveness=tuple(liveness) if liveness is not None else None,
        reachable=tuple(reachable) if reachable is not None else None,
        fairness=dict(fairness),
        consistency=dict(consistency),
        bounds=dict(bounds),
        network=dict(network),
        faults=faults,
        runtime=dict(runtime),
        time=time_settings,
    )
    if network and not issubclass(model_class, Protocol):
        raise SpecError(f"{where}: network: only message-passing protocols have a network; {spec.protocol} is a low-level Model")
    if fault_table and not issubclass(model_class, Protocol):
        raise SpecError(f"{where}: faults: only message-passing protocols have nodes to fail; {spec.protocol} is a low-level Model")
    if time_table is not None and not issubclass(model_class, Protocol):
        raise SpecError(f"{where}: time: only message-passing protocols have clocks; {spec.protocol} is a low-level Model")
    if runtime and not issubclass(model_class, Protocol):
        raise SpecError(f"{where}: runtime: only message-passing protocols run as processes; {spec.protocol} is a low-level Model")
    known = set(model_class._predicates)
    lively = [n for n, (k, _) in model_class._predicates.items() if k == "liveness"]
    for name in spec.liveness or ():
        if name not in lively:
            raise SpecError(f"{where}: liveness: unknown property {name!r} for {spec.protocol} (liveness properties: "
                            f"{', '.join(lively) or 'none'})")
    for k in fairness:
        if k not in STEP_KINDS and k not in getattr(model_class, "_actions", {}):
            raise SpecError(f"{where}: fairness: {k!r} is neither a step kind ({', '.join(STEP_KINDS)}) nor an action "
                            f"of {spec.protocol}")
    if "history" in consistency and getattr(model_class, "history", None) is None:
        raise SpecError(f"{where}: consistency.history: {spec.protocol} records no history (declare history = "
                        "History(...) and call self.invoke / self.complete in its clients)")
    reachables = [n for n, (k, _) in model_class._predicates.items() if k == "reachable"]
    for name in spec.reachable or ():
        if name not in reachables:
            raise SpecError(f"{where}: reachable: unknown property {name!r} for {spec.protocol} (reachable "
                            f"properties: {', '.join(reachables) or 'none'})")
    checked_live = (spec.liveness or ()) + spec.consistency_properties() + spec.reachable_properties()
    for name in (spec.invariants or ()) + ((violates,) if violates and violates != "deadlock"
                                           and violates not in checked_live else ()):
        if name not in known or model_class._predicates[name][0] != "invariant":
            have = ", ".join(n for n, (k, _) in model_class._predicates.items() if k == "invariant") or "none"
            raise SpecError(f"{where}: unknown invariant {name!r} for {spec.protocol} (invariants: {have})")
    if violates and spec.invariants is not None and violates != "deadlock" and violates not in spec.invariants \
            and violates not in checked_live:
        raise SpecError(f"{where}: violates: {violates!r} is not among the invariants checked")
    for k in params:
        if k not in model_class._params:
            raise SpecError(f"{where}: params: {spec.protocol} has no parameter {k!r} (parameters: {', '.join(model_class._params) or 'none'})")
    return spec


def spec_for_model(model: Model | Protocol | type[Model] | type[Protocol]) -> Spec:
    """A spec for a model given directly from Python (expected: holds, every invariant)."""
    cls = model if isinstance(model, type) else type(model)
    if not issubclass(cls, (Model, Protocol)):
        raise SpecError(f"{model!r} is neither a spec path nor a faultcheck Model")
    params = {} if isinstance(model, type) else dict(model.params)
    return Spec(path=None, root=Path.cwd(), protocol=f"{cls.__module__}:{cls.__qualname__}", model_class=cls, params=params)
