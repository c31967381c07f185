"""The replicated register and consistency checking of the history its clients record."""

from __future__ import annotations

from pathlib import Path

import pytest

from checker import History, Int, Message, Node, Protocol, Role, durable, request
from checker.spec import SpecError, check
from protocols.replicated_register import AnyReplicaRegister, Replica

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"


def test_reads_at_the_primary_are_linearizable_and_replicas_converge():
    r = check(SPECS / "replicated_register_primary.toml", out=None)
    assert r.ok and r.verdict.value == "holds"


def test_reads_at_any_replica_can_miss_an_acknowledged_write(tmp_path):
    r = check(SPECS / "replicated_register_any_replica.toml", out=tmp_path)
    assert r.ok and r.property == "Linearizable"
    history = r.trace.steps[-1].state["history"]
    # the story the history tells: a write acknowledged, then a later read that returns nothing
    acked = [i for i, e in enumerate(history) if e["kind"] == "ok" and e["f"] == "write"]
    stale = [i for i, e in enumerate(history) if e["kind"] == "ok" and e["f"] == "read" and e["value"] is None]
    assert acked and stale
    read_invoke = max(i for i, e in enumerate(history[:stale[-1]]) if e["kind"] == "invoke" and e["f"] == "read")
    assert acked[0] < read_invoke  # the write completed before the read began
    why = r.trace.extra["violation_core"]
    assert "no linearization" in why["explanation"] and len(why["history"]) == 4


def test_the_same_register_converges_and_is_sequentially_consistent():
    assert check(SPECS / "replicated_register_any_replica_converges.toml", out=None).ok


class Forgetful(Replica):
    def on_replicate(self, msg, src):  # broken: no versions, so an older write may land last
        self.value = msg.value


class ForgetfulRegister(AnyReplicaRegister):
    replica = Role(Forgetful, "replicas")


def test_replicas_that_apply_writes_out_of_order_do_not_converge(tmp_path, monkeypatch):
    import protocols.replicated_register as rr

    monkeypatch.setattr(rr, "ForgetfulRegister", ForgetfulRegister, raising=False)
    spec = tmp_path / "f.toml"
    spec.write_text('protocol = "protocols.replicated_register:ForgetfulRegister"\nexpected = "violated"\n'
                    'violates = "Converges"\n[params]\nreplicas = 3\nclients = 2\n[consistency]\n'
                    'converges = "replica.value"\n')
    r = check(spec, out=None)
    assert r.ok and r.property == "Converges"
    last = r.trace.steps[-1].state
    assert len({last[n]["value"] for n in ("replica1", "replica2", "replica3")}) > 1
    assert last["network"] == []  # quiescent: nothing left in flight


class Chatty(Node):
    n = durable(Int(0, 5), initial=0)

    @request
    def go(self):
        self.n = min(self.n + 1, 5)
        self.invoke("write", 1)


class Ping(Message):
    pass


class NoHistory(Protocol):
    c = Role(Chatty, 1)
    messages = (Ping,)


class ShortHistory(Protocol):
    c = Role(Chatty, 1)
    messages = (Ping,)
    history = History(values=Int(1, 1), max_events=2, ops=("write",))


@pytest.mark.parametrize("cls, want", [(NoHistory, "declares no history"), (ShortHistory, "holds 2 events already")])
def test_a_history_that_is_not_declared_or_overflows_is_an_error_naming_the_fix(cls, want):
    r = check(cls(), out=None)
    assert r.verdict.value == "error" and want in r.reason


def test_consistency_needs_a_history(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('protocol = "protocols.two_phase_commit:TwoPhaseCommit"\nexpected = "holds"\n'
                    '[consistency]\nhistory = "linearizable"\n')
    with pytest.raises(SpecError, match="consistency.history: protocols.two_phase_commit:TwoPhaseCommit records no "
                                        "history"):
        check(spec, out=None)
    spec.write_text('protocol = "protocols.replicated_register:PrimaryRegister"\nexpected = "holds"\n'
                    '[consistency]\nhistory = "serializable"\n')
    with pytest.raises(SpecError, match=r"consistency.history = 'serializable': .* History\(transactions=True\)"):
        check(spec, out=None)


# -- a key-value store's history ----------------------------------------------------------------------------------

from checker import Enum  # noqa: E402

Key, Val = Enum("x", "y"), Enum("empty", "a", "b")  # Enum names are not empty: "empty" stands for ""


class Put(Message):
    key = Key
    value = Val


class Get(Message):
    key = Key


class Got(Message):
    key = Key
    value = Val


class Done(Message):
    key = Key
    value = Val


class Store(Node):
    x = durable(Val, initial="empty")
    y = durable(Val, initial="empty")

    def on_put(self, msg, src):
        setattr(self, msg.key, msg.value)
        self.send(src, Done(msg.key, msg.value))

    def on_get(self, msg, src):
        self.send(src, Got(msg.key, getattr(self, msg.key)))


class KVClient(Node):
    busy = durable(Int(0, 2), initial=0)  # 0 idle, 1 waiting, 2 done

    @request(over=Key)
    def put(self, k):
        if self.busy == 0:
            self.invoke("put", (k, "a" if self.id == "client1" else "b"))
            self.send("store1", Put(k, "a" if self.id == "client1" else "b"))
            self.busy = 1

    @request(over=Key)
    def get(self, k):
        if self.busy == 0:
            self.invoke("get", k)
            self.send(self.target(), Get(k))
            self.busy = 1

    def target(self):
        return "store1"

    def on_done(self, msg, src):
        self.complete("ok", "put", (msg.key, msg.value))
        self.busy = 2

    def on_got(self, msg, src):
        self.complete("ok", "get", (msg.key, msg.value))
        self.busy = 2


class KV(Protocol):
    store = Role(Store, 1)
    client = Role(KVClient, 2)
    messages = (Put, Get, Got, Done)
    history = History(values=Val, keys=Key, max_events=4, ops=("get", "put", "append"))


class LaggyClient(KVClient):
    def on_got(self, msg, src):  # broken: reports the empty value whatever the store said
        self.complete("ok", "get", (msg.key, "empty"))
        self.busy = 2


class LaggyKV(KV):
    client = Role(LaggyClient, 2)


def test_a_key_value_history_is_recorded_as_key_value_pairs_and_judged(tmp_path, monkeypatch):
    import protocols.replicated_register as rr

    monkeypatch.setattr(rr, "KV", KV, raising=False)
    monkeypatch.setattr(rr, "LaggyKV", LaggyKV, raising=False)
    spec = tmp_path / "kv.toml"
    initial = 'initial = { x = "empty", y = "empty" }\n'
    spec.write_text('protocol = "protocols.replicated_register:KV"\nexpected = "holds"\n'
                    '[consistency]\nhistory = "linearizable"\nmodel = "kv"\n' + initial)
    assert check(spec, out=None).ok
    spec.write_text('protocol = "protocols.replicated_register:LaggyKV"\nexpected = "violated"\n'
                    'violates = "Linearizable"\n[consistency]\nhistory = "linearizable"\nmodel = "kv"\n' + initial)
    r = check(spec, out=None)
    assert r.ok
    events = r.trace.steps[-1].state["history"]
    # the shortest story: one client's put of a key completes, the other's get of that key then says ""
    assert [e["f"] for e in events] == ["put", "put", "get", "get"]
    put_key = events[0]["key"]
    assert events[-1]["key"] == put_key and events[-1]["value"] == "empty"
