"""``modelmonitor demo`` without a control plane: the short walk-through on the in-process emulator.

Used when the Kubernetes binaries (or etcd, kubectl, Prometheus) are not installed, or with
``--emulated``. Step 2: the real processes and the emulated cluster the walk-through runs in.

Starts the demo model, the sidecar in front of it and (when installed) Prometheus on 127.0.0.1,
the in-process Kubernetes API emulator of the source tree's tests, and a real ``modelmonitor run``
against it; hands them to :func:`modelmonitor.demo.walkthrough.walkthrough`, and stops them all after.
The emulator, kmock, aiohttp and the test helpers are imported only here, inside the step, so the
command degrades to a note without the source tree and the dev extras.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from modelmonitor.demo.walkthrough import ROOT, say, walkthrough


async def step_operator(timeout: float) -> None:
    sys.path.insert(0, str(ROOT))
    try:
        import aiohttp
        import kmock
        import yaml

        from tests.conftest import Api
        from tests.emulator import MODELMONITORS, ClusterEmulator, kubeconfig_for
        from tests.helpers.processes import free_port, python_module, start_process
    except ImportError as exc:
        say(f"   (skipped: the emulated cluster needs the source tree and `pip install -e '.[dev]'`: {exc})")
        return

    examples = {
        doc["kind"]: doc
        for name in ("minimal.yaml", "demo-model.yaml")
        for doc in yaml.safe_load_all((ROOT / "examples" / name).read_text())
        if doc
    }
    say("== 2. Real processes on 127.0.0.1: the demo model, the sidecar in front of it, Prometheus")
    model_port, listen, admin = free_port(), free_port(), free_port()
    procs = [
        start_process(
            python_module(
                "modelmonitor.cli", "demo-model", "--port", str(model_port), "--name", "credit-scoring"
            ),
            ready_url=f"http://127.0.0.1:{model_port}/healthz",
        ),
        start_process(
            python_module(
                "modelmonitor.cli",
                "sidecar",
                "--listen",
                f"127.0.0.1:{listen}",
                "--upstream",
                f"http://127.0.0.1:{model_port}",
                "--admin",
                f"127.0.0.1:{admin}",
                "--model-name",
                "credit-scoring",
                "--model-version",
                "1.0.0",
                "--redact",
                "ssn",
                "--log-payloads",  # off by default; the demo shows what redaction leaves on a log line
                "true",
            ),
            ready_url=f"http://127.0.0.1:{admin}/healthz",
        ),
    ]
    tmp = tempfile.TemporaryDirectory()
    work = Path(tmp.name)
    prom_url = _start_prometheus(work, admin, procs, start_process, free_port)
    say(
        f"   model :{model_port}   sidecar :{listen} (admin :{admin})   Prometheus {prom_url or '(not installed)'}"
    )
    try:
        async with (
            ClusterEmulator() as emulator,
            kmock.Server(emulator) as server,
            aiohttp.ClientSession() as session,
        ):
            api = Api(str(server.url), session)
            config = work / "kubeconfig"
            config.write_text(yaml.safe_dump(kubeconfig_for(str(server.url))))
            operator = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "modelmonitor.cli", "run", "--standalone", "--tick", "1s",
                "--log-format", "plain", "--liveness", "", "--metrics", "",
                env={**os.environ, "KUBECONFIG": str(config)},
                stdout=(work / "operator.log").open("wb"), stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            try:
                await walkthrough(
                    api, MODELMONITORS, examples, model_port, listen, admin, prom_url, timeout, procs[1]
                )
            finally:
                operator.terminate()
                await operator.wait()
    finally:
        for proc in procs:
            proc.stop()
        tmp.cleanup()
    say()


def _start_prometheus(
    work: Path, admin: int, procs: list[Any], start_process: Any, free_port: Any
) -> str | None:
    import shutil

    import yaml

    binary = shutil.which("prometheus")
    if binary is None:
        return None
    port = free_port()
    config = work / "prometheus.yml"
    target = {"targets": [f"127.0.0.1:{admin}"], "labels": {"namespace": "default"}}
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s"},
                "scrape_configs": [{"job_name": "sidecars", "static_configs": [target]}],
            }
        )
    )
    procs.append(
        start_process(
            [
                binary,
                f"--config.file={config}",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--storage.tsdb.path={work / 'tsdb'}",
            ],
            ready_url=f"http://127.0.0.1:{port}/-/ready",
            timeout=30,
        )
    )
    return f"http://127.0.0.1:{port}"
