"""`induct` on a timed protocol (issue 17): the Time field, `clocks`, `jumps`, `due_in` and the message `age`
reach Z3 as bounded int slots, and "tick" / "clock_jump" are steps like any other. Expected counts come from
brute force over the schema's values here, never from the code under test."""

from __future__ import annotations

from itertools import product

import pytest

from checker.spec import check
from checker.spec.run import prepare

PROTOCOL = '''
from checker import Message, Node, Protocol, Role, Time, constraint, forall, formula, implies, timer, volatile


class Ping(Message):
    """h1 -> h1, sent only by the Pinging holder."""


class Holder(Node):
    lease_until = volatile(Time(), initial=0)

    def on_start(self):
        self.set_timer("renew", after=2)

    @timer
    def renew(self):
        self.lease_until = self.now() + 2
        self.set_timer("renew", after=2)

    def on_ping(self, msg, src):
        pass


class Lease(Protocol):
    h = Role(Holder, count=1)
    messages = (Ping,)

    @formula
    def Quiet(self, s):
        return s.network.card() == 0

    @formula
    def Skew(self, s):
        return (s.clocks["h1"] <= 1) & (s.clocks["h1"] >= -1)

    @formula
    def Band(self, s):
        return implies(s.jumps == 0, (s.clocks["h1"] <= 1) & (s.clocks["h1"] >= -1))

    @formula
    def AllFresh(self, s):
        return forall(s.network, lambda e: e.age == 0)


class Spent(Lease):
    @constraint
    def JumpSpent(self, state):
        return state.jumps == 1


class PingingHolder(Holder):
    @timer
    def renew(self):
        self.lease_until = self.now() + 2
        self.send("h1", Ping())
        self.set_timer("renew", after=2)


class Pinging(Lease):
    h = Role(PingingHolder, count=1)
'''

JUMPY = '[time]\nmax_skew = 1\n[faults]\nclock_jumps = 1\njump = 2\n'


def spec_of(tmp_path, cls: str, invariants: list[str], expected: str, time: str = JUMPY):
    (tmp_path / "lease_i17t.py").write_text(PROTOCOL)
    spec = tmp_path / f"{cls}_{'_'.join(invariants)}.toml"
    spec.write_text(f'protocol = "lease_i17t:{cls}"\nkind = "induct"\nexpected = "{expected}"\n'
                    f'invariants = {invariants!r}\n'.replace("'", '"') + '[network]\nin_flight = "set"\n' + time)
    return spec


def quiet_states(spec) -> list[dict]:
    """Every state the schema allows with an empty network, decoded (brute force over the other variables)."""
    system, _ = prepare(spec)
    schema = system.schema
    names = [n for n in schema.variables if n != "network"]
    out = []
    for values in product(*(list(schema.variables[n].values()) for n in names)):
        out.append({**dict(zip(names, values)), "network": frozenset()})
    return out


def test_the_schema_of_a_timed_protocol_has_the_time_variables(tmp_path):
    system, _ = prepare(spec_of(tmp_path, "Lease", ["Quiet"], "inductive"))
    assert {"clocks", "jumps", "due_in"} <= set(system.schema.variables)
    assert {"tick", "clock_jump"} <= {a.name for a in system.actions}


def test_a_true_inductive_invariant_of_a_timed_protocol(tmp_path):
    """Band: until the one clock jump is spent, h1's clock stays within max_skew of global time. A tick keeps
    it there; the jump spends the budget."""
    spec = spec_of(tmp_path, "Lease", ["Quiet", "Band"], "inductive")
    r = check(spec, out=None)
    assert r.ok and r.outcome == "inductive", r.message
    want = [s for s in quiet_states(spec) if s["jumps"] == 1 or -1 <= s["clocks"]["h1"] <= 1]
    assert r.stats.distinct == len(want)


def test_a_clock_jump_is_a_counterexample_to_induction(tmp_path):
    spec = spec_of(tmp_path, "Lease", ["Quiet", "Skew"], "not_inductive")
    r = check(spec, out=None)
    assert r.ok and r.outcome == "not_inductive" and r.property == "Skew"
    (step,) = [line for line in r.details if line.startswith("step: ")]
    assert step.startswith("step: clock of h1 jumps ")
    jump = int(step.split()[-1])
    (changed,) = [line for line in r.details if line.strip().startswith("clocks:")]
    before, after = (int(part.split("h1: ")[1].split("}")[0]) for part in changed.split("->"))
    assert abs(before) <= 1 and after == before + jump and abs(after) > 1  # the jump left the band


def test_a_constraint_on_the_jump_budget_excludes_that_cti(tmp_path):
    spec = spec_of(tmp_path, "Spent", ["Quiet", "Skew"], "inductive")
    r = check(spec, out=None)
    assert r.ok and r.outcome == "inductive", r.message
    skew = [s for s in quiet_states(spec) if -1 <= s["clocks"]["h1"] <= 1]
    spent = [s for s in skew if s["jumps"] == 1]
    assert r.stats.distinct == len(spent)
    assert f"{len(skew) - len(spent):,} states satisfying the invariant excluded by JumpSpent" in r.message


@pytest.mark.parametrize("time", ["[time]\nmax_delay = 1\n", "[time]\nmax_delay = 2\nmax_skew = 1\n"])
def test_a_tick_ageing_a_message_is_a_counterexample_to_induction(tmp_path, time):
    spec = spec_of(tmp_path, "Pinging", ["AllFresh"], "not_inductive", time)
    system, _ = prepare(spec)
    assert "age" in system.schema.variables["network"].elem.fields
    r = check(spec, out=None)
    assert r.ok and r.outcome == "not_inductive" and r.property == "AllFresh"
    (step,) = [line for line in r.details if line.startswith("step: ")]
    assert step.startswith("step: tick")
    (changed,) = [line for line in r.details if line.strip().startswith("network:")]
    assert "age=1" in changed.split("->")[1]
