"""hypofuzz_nb.identity: the identity a worker registers."""

from __future__ import annotations

import os

from hypofuzz_nb import records
from hypofuzz_nb.identity import worker_identity


def test_worker_identity_round_trips_and_names_our_version(monkeypatch):
    monkeypatch.setenv("POD_NAME", "fuzzer-0")
    monkeypatch.delenv("POD_IP", raising=False)
    identity = worker_identity("abc123")
    assert identity.hypofuzz_version.startswith("hypofuzz_nb-")
    assert identity.pid == os.getpid()
    assert identity.pod_name == "fuzzer-0" and identity.pod_ip is None
    assert records.WorkerIdentity.from_bytes(identity.to_bytes()) == identity
