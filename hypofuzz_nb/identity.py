"""Who a worker is: the identity it registers in the database when it starts.

The git commit of the working directory is looked up once per directory (a
subprocess with a time limit) and cached for the life of the process.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess

from hypofuzz_nb import records

__all__ = ["worker_identity"]

#: Seconds ``git rev-parse`` may take before the commit is reported as unknown.
GIT_TIMEOUT_S = 2

_GIT_HASH: dict[str, str | None] = {}


def _git_hash(directory: str) -> str | None:
    """The commit checked out in ``directory``, or ``None`` (no git, not a repo, slow)."""
    if directory not in _GIT_HASH:
        try:
            out = subprocess.run(
                ["git", "rev-parse", "HEAD"],
                cwd=directory,
                capture_output=True,
                text=True,
                timeout=GIT_TIMEOUT_S,
                check=False,
            )
            text = out.stdout.strip()
            _GIT_HASH[directory] = text if out.returncode == 0 and text else None
        except (OSError, subprocess.SubprocessError):
            _GIT_HASH[directory] = None
    return _GIT_HASH[directory]


def worker_identity(worker_uuid: str) -> records.WorkerIdentity:
    """Where this worker runs, including the Kubernetes downward-API variables if set."""
    import hypothesis

    from hypofuzz_nb import __version__

    env = os.environ.get
    return records.WorkerIdentity(
        uuid=worker_uuid,
        operating_system=platform.platform(),
        python_version=platform.python_version(),
        hypothesis_version=hypothesis.__version__,
        hypofuzz_version=f"hypofuzz_nb-{__version__}",
        pid=os.getpid(),
        hostname=socket.gethostname(),
        pod_name=env("POD_NAME"),
        pod_namespace=env("POD_NAMESPACE"),
        node_name=env("NODE_NAME"),
        pod_ip=env("POD_IP"),
        container_id=env("CONTAINER_ID"),
        git_hash=_git_hash(os.getcwd()),
    )
