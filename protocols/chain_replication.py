"""Chain replication of a register (van Renesse & Schneider, "Chain Replication for Supporting High
Throughput and Availability", OSDI 2004).

The servers form a chain, server1 the head and the last server the tail. As in the paper's section 2:
- Update processing: each update is directed to the head, processed there, and the state change is
  forwarded along a reliable FIFO link to the next server of the chain, where it is processed and
  forwarded, and so on until the tail processes it;
- Reply generation: the reply to every request is sent by the tail;
- Query processing: each query is directed to the tail and answered from the tail's copy.

Each server keeps `hist`, the updates it has processed, in order. Client i issues one request, a
read or a write of the value i (distinct values, as Jepsen's register tests use, so a history names
each write).

Promises, on a network with FIFO channels (`[network] ordering = "fifo"`: the paper's reliable FIFO
links) that delays but does not lose messages, without crashes:
- `UpdatePropagation` (the paper's Update Propagation Invariant): for servers i <= j of the chain,
  Hist_j is a prefix of Hist_i: a server has processed a prefix of what its predecessor processed;
- `Linearizable` (spec `[consistency] history = "linearizable"`, model "register"): the tail holds
  exactly the updates it has acknowledged or is about to, and every query is answered there, so the
  tail is the one copy the clients see.

Broken on purpose: `HeadReads` lets a client read at either end of the chain (at the head too, to
spread the load). The head has processed updates the tail has not yet acknowledged, so a read at the
head can return a write that a later read at the tail has not seen. Shortest counterexample (8 steps,
two servers): client1's write of 1 reaches the head (which forwards it); client2 reads at the head
and gets 1; then client3 reads at the tail, before the update arrives there, and gets nothing (the
initial value): after a read has seen 1, a read that began later returns an older value, so no
linearization exists. (Reads served only at the head would be linearizable without failures, the head
being one copy too; what breaks is two copies answering reads at different points of the update's
way down the chain.)

Not modelled: the master's reconfiguration of the chain after a server crash (section 3).
"""

from checker import History, Int, Message, Node, Option, Param, Protocol, Role, Seq, durable, invariant, request

MAX_CLIENTS = 3
Value = Int(1, MAX_CLIENTS)  # client i writes the value i


class Write(Message):  # client -> head
    value = Value


class Update(Message):  # server i -> server i + 1, on the FIFO link between them
    value = Value


class Ack(Message):  # tail -> client: the write is done
    value = Value


class Read(Message):  # client -> tail
    pass


class ReadOk(Message):  # tail -> client
    value = Option(Value)  # none: never written


class Server(Node):
    value = durable(Option(Value), initial=None)  # the replica of the register
    hist = durable(Seq(Value, max_len=MAX_CLIENTS), initial=())  # Hist: the updates processed, in order

    def successor(self):
        chain = self.nodes("server")
        i = chain.index(self.id)
        return chain[i + 1] if i + 1 < len(chain) else None

    def on_write(self, msg, src):  # at the head
        self.process(msg.value)

    def on_update(self, msg, src):
        self.process(msg.value)

    def process(self, value):
        self.value, self.hist = value, self.hist + (value,)
        nxt = self.successor()
        if nxt is not None:
            self.send(nxt, Update(value))  # forward the state change down the chain
        else:
            self.send(f"client{value}", Ack(value))  # the tail replies: client i wrote i

    def on_read(self, msg, src):  # at the tail (or, broken, at the head)
        self.send(src, ReadOk(self.value))


class Client(Node):
    waiting = durable(Int(0, 1), initial=0)
    done = durable(Int(0, 1), initial=0)  # one request per client: the history stays small

    def me(self):
        return self.nodes("client").index(self.id) + 1

    def idle(self):
        return not self.waiting and not self.done

    def head(self):
        return self.nodes("server")[0]

    def tail(self):
        return self.nodes("server")[-1]

    @request
    def write(self):
        if self.idle():
            self.invoke("write", self.me())
            self.send(self.head(), Write(self.me()))
            self.waiting = 1

    @request
    def read(self):
        if self.idle():
            self.invoke("read")
            self.send(self.read_at(), Read())
            self.waiting = 1

    def read_at(self):
        return self.tail()

    def on_ack(self, msg, src):
        self.complete("ok", "write", msg.value)
        self.waiting, self.done = 0, 1

    def on_read_ok(self, msg, src):
        self.complete("ok", "read", msg.value)
        self.waiting, self.done = 0, 1


class HeadReadsClient(Client):
    def read_at(self):
        return self.choose([self.head(), self.tail()])  # broken: the head is ahead of the tail


class ChainReplication(Protocol):
    """A chain of `servers` servers (server1 the head) and `clients` clients, one request each."""

    servers = Param(2, "number of servers in the chain", lo=1, hi=4)
    clients = Param(3, "number of clients", lo=1, hi=MAX_CLIENTS)
    server = Role(Server, "servers")
    client = Role(Client, "clients")
    messages = (Write, Update, Ack, Read, ReadOk)
    history = History(values=Value, max_events=2 * MAX_CLIENTS, ops=("read", "write"))

    @invariant
    def UpdatePropagation(self, state):
        """For i <= j in the chain, Hist_j is a prefix of Hist_i (van Renesse & Schneider, section 3)."""
        hists = [s.hist for s in state.role("server")]
        return all(later == earlier[: len(later)] for earlier, later in zip(hists, hists[1:]))


class HeadReads(ChainReplication):
    client = Role(HeadReadsClient, "clients")
