"""The ``kubelet`` fixture: the stand-in kubelet (tests/helpers/kubelet.py) for the test's namespace.

Import it into a conftest with ``from tests.cluster.kubelet_fixture import kubelet  # noqa: F401``.
Every process it started is stopped after the test; on failure, its journal is in the test's output.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.helpers.kubelet import Kubelet

if TYPE_CHECKING:
    from tests.cluster.conftest import K8s


@pytest.fixture
def kubelet(k8s: K8s, namespace: str, tmp_path: Path) -> Iterator[Kubelet]:
    """Runs the Pods of ``namespace`` as local processes on their own 127.x.y.z until the test ends."""
    with Kubelet(k8s.kubeconfig, namespace, tmp_path / "kubelet") as node:
        yield node
        print(f"--- kubelet journal ({node.workdir}):\n{node.journal()[-6000:]}")
