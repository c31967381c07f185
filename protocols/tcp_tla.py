"""TCP's connection state machine at the abstraction of Markus Kuppe's tcp.tla (RFC 9293's state
diagram; tlaplus Examples, specifications/tcp/tcp.tla at commit
869336be99c5f50da500fcdd72f190c0bc37cbf0, checked by MCtcp.tla at 43b4c93a64ca74ec3a18ffc355b22f38f9808286
with MCtcp.cfg at 33ff1af2b766d2c8583ca1fbf53871454176d04c). The project's copies are in bench/tla/.

Two peers, A and B, each with a TCB flag (tcb), a connection state (connstate: CLOSED, LISTEN,
SYN-SENT, ..., TIME-WAIT) and an incoming FIFO queue of segments (network[p]: SYN, SYN,ACK, ACK,
RST, FIN, ACKofFIN). User commands (ACTIVE_OPEN, PASSIVE_OPEN, SEND, the CLOSEs) and the protocol's
reactions to the segment at the head of the queue move each peer along the diagram; either peer may
send a RST from any state while it has a TCB (Note3), and a received RST sends it to LISTEN or CLOSED.

Variables and actions are the TLA+ module's, one for one, each over `local, remote \\in Peers` with
local # remote, with every disjunct that fires giving its own successor, so states generated are
TLC's too. As in MCtcp: the initial states are MCInit's (one peer has actively opened, SYN-SENT, the
other passively, LISTEN, with the SYN in its queue); `NoRetransmission` (no segment directly
followed by an equal one in a queue) is TLC's CONSTRAINT, and `SingleActiveOpen` (no step is an
ACTIVE_OPEN, PASSIVE_OPEN or SEND of any peer) is TLC's ACTION_CONSTRAINT, evaluated on the two
states of a step exactly as the TLA+ definition reads. A transition that fails it is generated and
not followed, and a state whose only moves are such opens is not a deadlock (TLC decides deadlock
before the constraints filter). TLC 2.15 reports 1,182 distinct states, 6,322 generated, depth 14,
the counts of the tlaplus Examples manifest (bench/tla/README.md).

Mapping to the schema: Peers is `Enum("A", "B")` (MCtcp's model values); tcb is `Map(Peer, Bool())`,
connstate `Map(Peer, State)`; network is `Map(Peer, Seq(Segment, 5))`. tcp.tla's queues are
unbounded: under the two constraints no reachable queue holds more than 4 segments, and a step
appends at most one, so 5 holds every successor TLC generates (a longer one would be a schema error,
never a silent cut). Slots: each map keeps its peers in order (A, B); a Seq is a length slot, then
5 element slots (zeros past the length).

Promises, with segments delivered in order and never lost (the spec models no loss):
- `TypeOK`: the variables stay in their types (guaranteed by the schema; the TLA+ module states it);
- `Inv`: when both queues are empty, one peer is ESTABLISHED exactly when the other is.
Not ported: the liveness property Prop (SYN-SENT leads to ESTABLISHED, LISTEN or CLOSED), which
needs weak fairness of the whole System disjunction, not of each action.

`TcpOpensRemoved` shows why the action constraint is not the same as deleting the actions: without
ACTIVE_OPEN, PASSIVE_OPEN and SEND, the state after CLOSE_SYN_SENT and CLOSE_LISTEN has no
successor at all, a deadlock after 2 steps that TLC, with the action constraint, does not report.
"""

from checker import Bool, Enum, Map, Model, Seq, action, action_constraint, constraint, invariant

Peer = Enum("A", "B")
State = Enum("LISTEN", "CLOSED", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED", "FIN-WAIT-1", "FIN-WAIT-2", "CLOSING",
             "CLOSE-WAIT", "LAST-ACK", "TIME-WAIT")
Segment = Enum("SYN", "SYN,ACK", "ACK", "RST", "FIN", "ACKofFIN")
(LISTEN, CLOSED, SYN_SENT, SYN_RECEIVED, ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, CLOSING, CLOSE_WAIT, LAST_ACK,
 TIME_WAIT) = State.codes
SYN, SYN_ACK, ACK, RST, FIN, ACK_OF_FIN = Segment.codes
QUEUE = 5  # room in each network[p]: the longest reachable queue (4) plus the segment a step appends


class Tcp(Model):
    """MCtcp: tcp.tla with Peers = {A, B}, Init <- MCInit, CONSTRAINT NoRetransmission,
    ACTION_CONSTRAINT SingleActiveOpen."""

    def variables(self):
        self.Peer = Peer
        return {"tcb": Map(Peer, Bool()), "connstate": Map(Peer, State), "network": Map(Peer, Seq(Segment, QUEUE))}

    def init(self):
        """MCInit: \\E node \\in Peers: every tcb TRUE; node SYN-SENT with an empty queue; the other LISTEN
        with <<"SYN">> in its queue."""
        return [
            {
                "tcb": {p: True for p in Peer.names},
                "connstate": {p: "SYN-SENT" if p == node else "LISTEN" for p in Peer.names},
                "network": {p: () if p == node else ("SYN",) for p in Peer.names},
            }
            for node in Peer.names
        ]

    def setup(self):
        self.TCB, self.CS, self.NET = self.offset("tcb"), self.offset("connstate"), self.offset("network")
        self.QW = 1 + QUEUE  # slots of one peer's queue

    # -- slot helpers: the TLA+ operators on one peer's queue or fields ----------------------------

    def q(self, p):
        """The slot of network[p]'s length; its segments follow."""
        return self.NET + p * self.QW

    def head_is(self, s, p, *segs):
        """IsPrefix(<<segs>>, network[p])"""
        o = self.q(p)
        return s[o] >= len(segs) and all(s[o + 1 + i] == g for i, g in enumerate(segs))

    def step(self, s, local, state, *, drop=0, send=None, tcb=None):
        """connstate' = [@ EXCEPT ![local] = state], network[local] without its first `drop` segments,
        network[remote] with `send` appended (remote: the other peer), tcb[local] set when given."""
        t = list(s)
        t[self.CS + local] = state
        if tcb is not None:
            t[self.TCB + local] = tcb
        if drop:
            o = self.q(local)
            n = s[o]
            t[o + 1:o + self.QW] = list(s[o + 1 + drop:o + 1 + n]) + [0] * (QUEUE - n + drop)
            t[o] = n - drop
        if send is not None:
            o = self.q(1 - local)
            n = t[o]
            if n == QUEUE:
                raise ValueError(f"network[{Peer.names[1 - local]}] would hold more than {QUEUE} segments")
            t[o] = n + 1
            t[o + 1 + n] = send
        return tuple(t)

    def pairs(self, locals_, remotes):
        return [(loc, r) for loc in locals_ for r in remotes if loc != r]

    # -- User: actions triggered by user commands ------------------------------------------------

    @action(over=("Peer", "Peer"))
    def ACTIVE_OPEN(self, s, locals_, remotes):
        """connstate[local] = "CLOSED" /\\ network[remote] ++ SYN /\\ SYN-SENT /\\ tcb[local] = TRUE"""
        return [self.step(s, loc, SYN_SENT, send=SYN, tcb=1) for loc, _ in self.pairs(locals_, remotes)
                if s[self.CS + loc] == CLOSED]

    @action(over=("Peer", "Peer"))
    def PASSIVE_OPEN(self, s, locals_, remotes):
        """connstate[local] = "CLOSED" /\\ LISTEN /\\ tcb[local] = TRUE"""
        return [self.step(s, loc, LISTEN, tcb=1) for loc, _ in self.pairs(locals_, remotes) if s[self.CS + loc] == CLOSED]

    @action(over=("Peer", "Peer"))
    def CLOSE_SYN_SENT(self, s, locals_, remotes):
        """connstate[local] = "SYN-SENT" /\\ CLOSED /\\ tcb[local] = FALSE"""
        return [self.step(s, loc, CLOSED, tcb=0) for loc, _ in self.pairs(locals_, remotes) if s[self.CS + loc] == SYN_SENT]

    @action(over=("Peer", "Peer"))
    def CLOSE_SYN_RECEIVED(self, s, locals_, remotes):
        """connstate[local] = "SYN-RECEIVED" /\\ network[remote] ++ FIN /\\ FIN-WAIT-1"""
        return [self.step(s, loc, FIN_WAIT_1, send=FIN) for loc, _ in self.pairs(locals_, remotes)
                if s[self.CS + loc] == SYN_RECEIVED]

    @action(over=("Peer", "Peer"))
    def CLOSE_LISTEN(self, s, locals_, remotes):
        """connstate[local] = "LISTEN" /\\ CLOSED /\\ tcb[local] = FALSE"""
        return [self.step(s, loc, CLOSED, tcb=0) for loc, _ in self.pairs(locals_, remotes) if s[self.CS + loc] == LISTEN]

    @action(over=("Peer", "Peer"))
    def CLOSE_ESTABLISHED(self, s, locals_, remotes):
        """connstate[local] = "ESTABLISHED" /\\ network[remote] ++ FIN /\\ FIN-WAIT-1"""
        return [self.step(s, loc, FIN_WAIT_1, send=FIN) for loc, _ in self.pairs(locals_, remotes)
                if s[self.CS + loc] == ESTABLISHED]

    @action(over=("Peer", "Peer"))
    def CLOSE_CLOSE_WAIT(self, s, locals_, remotes):
        """connstate[local] = "CLOSE-WAIT" /\\ network[remote] ++ FIN /\\ LAST-ACK"""
        return [self.step(s, loc, LAST_ACK, send=FIN) for loc, _ in self.pairs(locals_, remotes)
                if s[self.CS + loc] == CLOSE_WAIT]

    @action(over=("Peer", "Peer"))
    def SEND(self, s, locals_, remotes):
        """connstate[local] = "LISTEN" /\\ network[remote] ++ SYN /\\ SYN-SENT"""
        return [self.step(s, loc, SYN_SENT, send=SYN) for loc, _ in self.pairs(locals_, remotes) if s[self.CS + loc] == LISTEN]

    # -- System: the protocol's reactions to the segment at the head of network[local] ------------

    @action(over=("Peer", "Peer"))
    def SynSent(self, s, locals_, remotes):
        """SYN-SENT: on SYN send SYN,ACK and go SYN-RECEIVED; on SYN,ACK send ACK and go ESTABLISHED"""
        out = []
        for loc, _ in self.pairs(locals_, remotes):
            if s[self.CS + loc] == SYN_SENT:
                if self.head_is(s, loc, SYN):
                    out.append(self.step(s, loc, SYN_RECEIVED, drop=1, send=SYN_ACK))
                if self.head_is(s, loc, SYN_ACK):
                    out.append(self.step(s, loc, ESTABLISHED, drop=1, send=ACK))
        return out

    @action(over=("Peer", "Peer"))
    def SynReceived(self, s, locals_, remotes):
        """SYN-RECEIVED: on RST go LISTEN; on ACK go ESTABLISHED"""
        out = []
        for loc, _ in self.pairs(locals_, remotes):
            if s[self.CS + loc] == SYN_RECEIVED:
                if self.head_is(s, loc, RST):
                    out.append(self.step(s, loc, LISTEN, drop=1))
                if self.head_is(s, loc, ACK):
                    out.append(self.step(s, loc, ESTABLISHED, drop=1))
        return out

    @action(over=("Peer", "Peer"))
    def Listen(self, s, locals_, remotes):
        """LISTEN: on SYN send SYN,ACK and go SYN-RECEIVED"""
        return [self.step(s, loc, SYN_RECEIVED, drop=1, send=SYN_ACK) for loc, _ in self.pairs(locals_, remotes)
                if s[self.CS + loc] == LISTEN and self.head_is(s, loc, SYN)]

    @action(over=("Peer", "Peer"))
    def Established(self, s, locals_, remotes):
        """ESTABLISHED: on FIN send ACKofFIN and go CLOSE-WAIT"""
        return [self.step(s, loc, CLOSE_WAIT, drop=1, send=ACK_OF_FIN) for loc, _ in self.pairs(locals_, remotes)
                if s[self.CS + loc] == ESTABLISHED and self.head_is(s, loc, FIN)]

    @action(over=("Peer", "Peer"))
    def FinWait1(self, s, locals_, remotes):
        """FIN-WAIT-1: on FIN send ACKofFIN and go CLOSING; on ACKofFIN go FIN-WAIT-2"""
        out = []
        for loc, _ in self.pairs(locals_, remotes):
            if s[self.CS + loc] == FIN_WAIT_1:
                if self.head_is(s, loc, FIN):
                    out.append(self.step(s, loc, CLOSING, drop=1, send=ACK_OF_FIN))
                if self.head_is(s, loc, ACK_OF_FIN):
                    out.append(self.step(s, loc, FIN_WAIT_2, drop=1))
        return out

    @action(over=("Peer", "Peer"))
    def FinWait2(self, s, locals_, remotes):
        """FIN-WAIT-2: on FIN send ACKofFIN and go TIME-WAIT"""
        return [self.step(s, loc, TIME_WAIT, drop=1, send=ACK_OF_FIN) for loc, _ in self.pairs(locals_, remotes)
                if s[self.CS + loc] == FIN_WAIT_2 and self.head_is(s, loc, FIN)]

    @action(over=("Peer", "Peer"))
    def Closing(self, s, locals_, remotes):
        """CLOSING: on ACKofFIN go TIME-WAIT"""
        return [self.step(s, loc, TIME_WAIT, drop=1) for loc, _ in self.pairs(locals_, remotes)
                if s[self.CS + loc] == CLOSING and self.head_is(s, loc, ACK_OF_FIN)]

    @action(over=("Peer", "Peer"))
    def LastAck(self, s, locals_, remotes):
        """LAST-ACK: on ACKofFIN go CLOSED"""
        return [self.step(s, loc, CLOSED, drop=1) for loc, _ in self.pairs(locals_, remotes)
                if s[self.CS + loc] == LAST_ACK and self.head_is(s, loc, ACK_OF_FIN)]

    @action(over=("Peer", "Peer"))
    def TimeWait(self, s, locals_, remotes):
        """TIME-WAIT with a TCB: go CLOSED and delete the TCB"""
        return [self.step(s, loc, CLOSED, tcb=0) for loc, _ in self.pairs(locals_, remotes)
                if s[self.CS + loc] == TIME_WAIT and s[self.TCB + loc]]

    @action(over=("Peer", "Peer"))
    def Note2(self, s, locals_, remotes):
        """FIN-WAIT-1 with <<FIN, ACKofFIN>> at the head: take both, send ACKofFIN, go TIME-WAIT"""
        return [self.step(s, loc, TIME_WAIT, drop=2, send=ACK_OF_FIN) for loc, _ in self.pairs(locals_, remotes)
                if s[self.CS + loc] == FIN_WAIT_1 and self.head_is(s, loc, FIN, ACK_OF_FIN)]

    # -- Reset --------------------------------------------------------------------------------------

    @action(over=("Peer", "Peer"))
    def Note3(self, s, locals_, remotes):
        """With a TCB: send RST and go TIME-WAIT; on RST: go LISTEN, or CLOSED (two successors)"""
        out = []
        for loc, _ in self.pairs(locals_, remotes):
            if s[self.TCB + loc]:
                out.append(self.step(s, loc, TIME_WAIT, send=RST))
            if self.head_is(s, loc, RST):
                out.append(self.step(s, loc, LISTEN, drop=1))
                out.append(self.step(s, loc, CLOSED, drop=1))
        return out

    # -- MCtcp's constraints and the invariants ------------------------------------------------------

    @constraint
    def NoRetransmission(self, state):
        """\\A p \\in Peers : \\A i \\in 1..Len(network[p]) - 1 : network[p][i] # network[p][i + 1]"""
        return all(q[i] != q[i + 1] for q in state.network.values() for i in range(len(q) - 1))

    @action_constraint
    def SingleActiveOpen(self, state, next_state):
        """~ \\E local, remote \\in Peers : ACTIVE_OPEN(local, remote) \\/ PASSIVE_OPEN(local, remote) \\/ SEND(local, remote)"""
        return not any(
            opens(state, next_state, local, remote)
            for local in Peer.names for remote in Peer.names for opens in (active_open, passive_open, send)
        )

    @invariant
    def TypeOK(self, state):
        """tcb \\in [Peers -> BOOLEAN] /\\ connstate \\in [Peers -> States] /\\ network \\in [Peers -> Seq(Segments)]"""
        return (
            all(isinstance(state.tcb[p], bool) for p in Peer.names)
            and all(state.connstate[p] in State.names for p in Peer.names)
            and all(g in Segment.names for p in Peer.names for g in state.network[p])
        )

    @invariant
    def Inv(self, state):
        """\\A local, remote \\in {p \\in Peers : network[p] = <<>>} :
        connstate[local] = "ESTABLISHED" <=> connstate[remote] = "ESTABLISHED" """
        idle = [p for p in Peer.names if state.network[p] == ()]
        return all((state.connstate[a] == "ESTABLISHED") == (state.connstate[b] == "ESTABLISHED")
                   for a in idle for b in idle)


# The user commands SingleActiveOpen excludes, as predicates of a step (state, next_state), read as
# TLA+ reads an action: the guard on the unprimed state and every primed variable's new value.

def _except(m, key, value):
    return {**m, key: value}


def active_open(state, nxt, local, remote):
    """ACTIVE_OPEN(local, remote)"""
    return (local != remote and state.connstate[local] == "CLOSED"
            and nxt.network == _except(state.network, remote, state.network[remote] + ("SYN",))
            and nxt.connstate == _except(state.connstate, local, "SYN-SENT")
            and nxt.tcb == _except(state.tcb, local, True))


def passive_open(state, nxt, local, remote):
    """PASSIVE_OPEN(local, remote)"""
    return (local != remote and state.connstate[local] == "CLOSED" and nxt.network == state.network
            and nxt.connstate == _except(state.connstate, local, "LISTEN")
            and nxt.tcb == _except(state.tcb, local, True))


def send(state, nxt, local, remote):
    """SEND(local, remote)"""
    return (local != remote and state.connstate[local] == "LISTEN"
            and nxt.network == _except(state.network, remote, state.network[remote] + ("SYN",))
            and nxt.connstate == _except(state.connstate, local, "SYN-SENT") and nxt.tcb == state.tcb)


class TcpOpensRemoved(Tcp):
    """Not MCtcp: ACTIVE_OPEN, PASSIVE_OPEN and SEND deleted instead of excluded by the action constraint."""

    @action(over=("Peer", "Peer"))
    def ACTIVE_OPEN(self, s, locals_, remotes):
        return ()

    @action(over=("Peer", "Peer"))
    def PASSIVE_OPEN(self, s, locals_, remotes):
        return ()

    @action(over=("Peer", "Peer"))
    def SEND(self, s, locals_, remotes):
        return ()
