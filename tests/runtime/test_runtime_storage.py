"""checker/runtime/storage.py: durable state round-trips, is validated on load, holds no volatile
field, and a SIGKILL at any moment leaves the old state or the new one."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from checker.model import Int, Seq
from checker.runtime.cluster import Cluster
from checker.runtime.storage import DurableStore, StorageError
from protocols.primary_backup import PrimaryBackup

ROOT = Path(__file__).resolve().parents[2]


def test_only_durable_fields_are_written_and_they_round_trip(tmp_path):
    cluster = Cluster(PrimaryBackup(servers=2))
    values = cluster.initial_values("server1")
    values.update(log=(1, 2), epoch=2, pending=1)
    store = DurableStore(tmp_path / "server1.json", cluster.durable_types("server1"), node="server1")
    store.save({f: values[f] for f in cluster.durable_types("server1")})
    saved = json.loads((tmp_path / "server1.json").read_text())["fields"]
    assert set(saved) == {"epoch", "primary", "backups", "log"}  # pending and applied_by are volatile
    assert store.load() == {"epoch": 2, "primary": "server1", "backups": frozenset(), "log": (1, 2)}
    with pytest.raises(StorageError, match="is not a durable field"):
        store.save(values)


@pytest.mark.parametrize(
    "edit, error",
    [
        (lambda d: d.update(crc32=1), "checksum"),
        (lambda d: d["fields"].update(n=99), "checksum|n"),
        (lambda d: d.update(node="other"), "node"),
        (lambda d: d.update(format=7), "format"),
        (lambda d: d["fields"].pop("n"), "checksum|missing"),
    ],
)
def test_a_damaged_file_is_refused(tmp_path, edit, error):
    store = DurableStore(tmp_path / "a.json", {"n": Int(0, 9), "log": Seq(Int(0, 3), 2)}, node="a")
    store.save({"n": 3, "log": (1,)})
    doc = json.loads(store.path.read_text())
    edit(doc)
    store.path.write_text(json.dumps(doc))
    with pytest.raises(StorageError, match=error):
        store.load()
    store.path.write_text('{"format": 1, "fie')
    with pytest.raises(StorageError, match="not a durable-state file"):
        store.load()


def test_a_value_out_of_its_type_is_refused_on_load(tmp_path):
    store = DurableStore(tmp_path / "a.json", {"n": Int(0, 9)}, node="a")
    wide = DurableStore(tmp_path / "a.json", {"n": Int(0, 99)}, node="a")
    wide.save({"n": 50})
    with pytest.raises(StorageError, match="n"):
        store.load()


WRITER = """
import sys
from checker.model import Int, Seq
from checker.runtime.storage import DurableStore
store = DurableStore(sys.argv[1], {"k": Int(0, 10**9), "pad": Seq(Int(0, 10**9), 64)}, node="w")
k = 0
while True:
    k += 1
    store.save({"k": k, "pad": tuple([k] * 64)})
    print(k, flush=True)
"""


def test_sigkill_at_random_moments_leaves_the_old_or_the_new_state(tmp_path):
    rng = random.Random(7)
    store = DurableStore(tmp_path / "w.json", {"k": Int(0, 10**9), "pad": Seq(Int(0, 10**9), 64)}, node="w")
    for _ in range(10):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(store.path)], stdout=subprocess.PIPE, cwd=ROOT, start_new_session=True
        )
        try:
            first = proc.stdout.readline()  # it has started saving in a loop
            time.sleep(rng.uniform(0, 0.05))
            os.killpg(proc.pid, signal.SIGKILL)
            out = [first, *proc.communicate(timeout=10)[0].split()]
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        last = int(out[-1])
        saved = store.load()  # always parseable and valid
        assert saved is not None
        assert saved["k"] in (last, last + 1)  # the last save it reported, or the one it was making
        assert saved["pad"] == (saved["k"],) * 64  # never a mix of two states
        store.path.unlink()
