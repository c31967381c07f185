"""The same `Node` classes as real processes: one OS process per node on 127.0.0.1.

`codec` frames messages with the typed schema, `storage` keeps a node's durable fields in a file
that a kill at any moment leaves whole, `host` runs one node (`python -m checker.runtime.host`),
`controller` starts a cluster, drives a client workload, injects real faults and records the
history. Standard library and `checker.model` only, so the runtime can be exported and run
without faultcheck installed; the consistency checks of a recorded history are the caller's.
"""

from .codec import Codec, CodecError
from .storage import DurableStore, StorageError

__all__ = ["Codec", "CodecError", "DurableStore", "StorageError"]
