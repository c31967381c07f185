"""A test protocol for the runtime: three nodes pass a token around on a timer; a node's handler
raises on the third token it sees (a bug), and the node must keep running."""

from checker import Int, Message, Node, Protocol, Role, durable, timer, volatile


class Token(Message):
    hop = Int(0, 7)


class Peer(Node):
    seen = durable(Int(0, 1000), initial=0)
    ticks = volatile(Int(0, 1000), initial=0)

    def on_start(self):
        self.set_timer("tick")

    @timer
    def tick(self):
        self.ticks = min(self.ticks + 1, 1000)
        nxt = self.peers()[0]
        self.send(nxt, Token(self.ticks % 8))
        self.set_timer("tick")

    def on_token(self, msg, src):
        self.seen = min(self.seen + 1, 1000)
        if self.seen == 3 and self.id == "peer2":
            raise RuntimeError("the third token")  # its changes are discarded: peer2 sees it again next time


class Ring(Protocol):
    peer = Role(Peer, 3)
    messages = (Token,)
