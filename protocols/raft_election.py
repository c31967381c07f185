"""Raft's leader election (Ongaro & Ousterhout, "In Search of an Understandable Consensus
Algorithm", USENIX ATC 2014, §5.2 and Figure 2).

Each server is a follower, a candidate or a leader, and keeps `currentTerm` and
`votedFor` in stable storage (Figure 2, "Persistent state on all servers"). A
follower whose election timeout fires (a `@timer`: the checker fires it at any
moment, so every timing is covered) becomes a candidate: it increments
currentTerm, votes for itself and sends RequestVote to every other server; a
candidate whose timeout fires starts the next term the same way (a split vote).
A server receiving RequestVote (Figure 2, "RequestVote RPC, receiver
implementation") first adopts a higher term and steps down to follower
("Rules for Servers": if term > currentTerm, set currentTerm = term, convert to
follower), then grants its vote if the request's term is its current term and
it has not voted for anyone else in that term (votedFor is null or the
candidate). A candidate that collects votes from a majority becomes leader of
its term. A reply with a higher term makes a candidate or leader step down.
The log comparison of §5.4.1 is left out: there are no logs here.

`won` is a ghost: the terms in which a server became leader. The protocol
never reads it; it survives crashes only so that the invariant can read the
history of elections.

Promise — `ElectionSafety` (Figure 3): at most one leader is elected in a
given term — with servers that crash and restart (`[faults] crashes`,
`restarts`), on a network that delays and reorders messages. It holds because
a server votes at most once per term, *even across a crash*: votedFor is
durable, written before the vote is sent.

Broken on purpose: `VolatileVote`, whose servers keep votedFor in volatile
memory. A server that votes, crashes and restarts has forgotten its vote but
not its term, so it votes again in the same term, for another candidate, and
two leaders are elected in one term. The shortest counterexample (8 steps) has
the first leader itself vote twice: server1 times out (term 1, voting for
itself), server2 grants its request and server1 becomes leader of term 1;
server3 times out in term 1 too; server1 crashes and restarts, having
forgotten its vote for itself, and grants server3's request: server3 is a
second leader of term 1. (A lower bound, by hand: two timeouts, a request and
a reply for each leader's second vote, and a crash and restart: 8.)

Bounds in the specs: 3 servers, terms up to MAX_TERM = 2, two election
timeouts in all (`timer_firings`), one crash (of any server) and its restart.
"""

from checker import (
    Bool,
    Enum,
    Ids,
    Int,
    Message,
    Node,
    Option,
    Param,
    Protocol,
    Role,
    Set,
    durable,
    invariant,
    timer,
    volatile,
)

MAX_TERM = 2
Term = Int(0, MAX_TERM)


class RequestVote(Message):  # RequestVote RPC, sent by candidates to gather votes
    term = Term


class RequestVoteReply(Message):
    term = Term  # the voter's currentTerm, for the candidate to update itself
    granted = Bool()


class Server(Node):
    currentTerm = durable(Term, initial=0)  # latest term this server has seen
    votedFor = durable(Option(Ids("server")), initial=None)  # candidate that received its vote in currentTerm
    state = volatile(Enum("follower", "candidate", "leader"), initial="follower")  # every server restarts a follower
    votes = volatile(Set(Ids("server")), initial=frozenset())  # votes granted to this candidate in currentTerm
    won = durable(Set(Int(1, MAX_TERM)), initial=frozenset())  # ghost: terms in which this server became leader

    def on_start(self):
        self.set_timer("election_timeout")

    def majority(self, voters):
        return 2 * len(voters) > len(self.nodes("server"))

    @timer
    def election_timeout(self):  # "If election timeout elapses ...: convert to candidate"
        if self.state == "leader" or self.currentTerm == MAX_TERM:
            return
        self.currentTerm += 1  # "On conversion to candidate, start election: increment currentTerm,
        self.state = "candidate"  # vote for self, reset election timer, send RequestVote RPCs to all other servers"
        self.votedFor, self.votes = self.id, frozenset({self.id})
        self.set_timer("election_timeout")
        self.broadcast(RequestVote(self.currentTerm))

    def step_down_if_newer(self, term):
        """Figure 2: if an RPC request or response contains term T > currentTerm, adopt T and become a follower."""
        if term > self.currentTerm:
            self.currentTerm, self.votedFor = term, None
            self.state, self.votes = "follower", frozenset()
            self.set_timer("election_timeout")

    def on_request_vote(self, msg, src):
        self.step_down_if_newer(msg.term)
        granted = msg.term == self.currentTerm and self.votedFor in (None, src)
        if granted:
            self.votedFor = src  # recorded (in stable storage) before the reply goes out
        self.send(src, RequestVoteReply(self.currentTerm, granted))

    def on_request_vote_reply(self, msg, src):
        self.step_down_if_newer(msg.term)
        if self.state != "candidate" or msg.term != self.currentTerm or not msg.granted:
            return
        self.votes = self.votes | {src}
        if self.majority(self.votes):  # "If votes received from majority of servers: become leader"
            self.state = "leader"
            self.won = self.won | {self.currentTerm}
            self.cancel_timer("election_timeout")


class RaftElection(Protocol):
    """`servers` servers electing leaders for terms 1..MAX_TERM."""

    servers = Param(3, "number of servers", lo=1, hi=5)
    server = Role(Server, "servers")
    messages = (RequestVote, RequestVoteReply)
    symmetry = ("server",)  # the servers are interchangeable: `faultcheck check --symmetry`

    @invariant(symmetric=True)
    def ElectionSafety(self, state):
        """At most one leader can be elected in a given term (Figure 3)."""
        terms = [t for s in state.role("server") for t in s.won]
        return len(terms) == len(set(terms))


class ForgetfulServer(Server):
    """Broken on purpose: votedFor is kept in volatile memory, so a restart forgets the vote."""

    votedFor = volatile(Option(Ids("server")), initial=None)


class VolatileVote(RaftElection):
    server = Role(ForgetfulServer, "servers")
