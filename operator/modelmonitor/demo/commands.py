"""``modelmonitor demo``: a walk-through of what ModelMonitor does, for real, on this machine.

No cluster is needed: the Kubernetes API is emulated in-process (the same emulator the tests use,
from the source tree), and everything else is a real process on 127.0.0.1 — the operator
(``modelmonitor run``), and the parts each step names. Every figure printed is measured, not canned.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]


def register(subparsers: Any) -> None:
    demo = subparsers.add_parser("demo", help="run the local demo (needs the source tree and the dev extras)")
    demo.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each step")
    demo.set_defaults(func=run_demo)


def say(text: str = "") -> None:
    print(text, flush=True)


def mm_table(objects: list[dict[str, Any]]) -> str:
    """The ModelMonitor rows as `kubectl get mm` prints them, from the CRD's printer columns."""
    from modelmonitor.api.crd import PRINTER_COLUMNS

    def pick(obj: dict[str, Any], path: str) -> str:
        node: Any = obj
        for part in path.strip(".").split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return ""
        if path == ".metadata.creationTimestamp":
            created = datetime.datetime.fromisoformat(str(node).replace("Z", "+00:00"))
            return f"{int((datetime.datetime.now(tz=datetime.UTC) - created).total_seconds())}s"
        return f"{node:.3g}" if isinstance(node, float) else str(node)

    header = ["NAME", *(c["name"].upper() for c in PRINTER_COLUMNS)]
    rows = [[o["metadata"]["name"], *(pick(o, c["jsonPath"]) for c in PRINTER_COLUMNS)] for o in objects]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "   ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]
    )


def step_validate() -> None:
    import yaml

    from modelmonitor.api.validation import validate_manifest

    say("== 1. The contract: every example validates; a broken manifest is refused naming its fields")
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "ModelMonitor":
                problems = validate_manifest(doc)
                say(f"   {path.name:32} {problems if problems else 'valid'}")
    broken = {
        "apiVersion": "modelmonitor.io/v1alpha1",
        "kind": "ModelMonitor",
        "metadata": {"name": "typo"},
        "spec": {"target": {"deployment": "credit-scoring"}, "slos": {"latencyP95Ms": -5}, "interval": "1d"},
    }
    say("   a broken one:")
    for problem in validate_manifest(broken):
        say(f"     {problem}")
    say()


async def step_operator(timeout: float) -> None:
    sys.path.insert(0, str(ROOT))
    try:
        import aiohttp
        import kmock
        import yaml

        from tests.conftest import Api
        from tests.emulator import MODELMONITORS, ClusterEmulator
    except ImportError as exc:
        say(f"   (skipped: the emulated cluster needs the source tree and `pip install -e '.[dev]'`: {exc})")
        return

    say("== 2. The operator: a real `modelmonitor run` against an emulated Kubernetes API")
    examples = {
        doc["kind"]: doc
        for name in ("minimal.yaml", "demo-model.yaml")
        for doc in yaml.safe_load_all((ROOT / "examples" / name).read_text())
        if doc
    }
    async with (
        ClusterEmulator() as emulator,
        kmock.Server(emulator) as server,
        aiohttp.ClientSession() as session,
    ):
        api = Api(str(server.url), session)
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "kubeconfig"
            config.write_text(
                yaml.safe_dump(
                    {
                        "apiVersion": "v1",
                        "kind": "Config",
                        "clusters": [{"name": "demo", "cluster": {"server": str(server.url)}}],
                        "users": [{"name": "demo", "user": {"token": "demo"}}],
                        "contexts": [{"name": "demo", "context": {"cluster": "demo", "user": "demo"}}],
                        "current-context": "demo",
                    }
                )
            )
            log = Path(tmp) / "operator.log"
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "modelmonitor.cli", "run", "--standalone", "--tick", "1s",
                "--log-format", "plain", "--liveness", "",
                env={**os.environ, "KUBECONFIG": str(config)},
                stdout=log.open("wb"), stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            try:
                say("   $ kubectl apply -f examples/minimal.yaml      # the model is not deployed yet")
                await api.create(MODELMONITORS, "default", examples["ModelMonitor"])
                await _wait_reason(api, MODELMONITORS, "TargetNotFound", timeout)
                await _show(api, MODELMONITORS)
                say("   $ kubectl apply -f examples/demo-model.yaml   # now it is")
                await api.create("apps/v1/deployments", "default", examples["Deployment"])
                await _wait_reason(api, MODELMONITORS, "TargetFound", timeout)
                await _show(api, MODELMONITORS)
            finally:
                proc.terminate()
                await proc.wait()
    say()


async def _wait_reason(api: Any, resource: str, reason: str, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        obj = await api.get(resource, "default", "credit-scoring")
        if any(c.get("reason") == reason for c in (obj.get("status") or {}).get("conditions") or []):
            return
        await asyncio.sleep(0.2)
    raise SystemExit(f"demo: no condition with reason {reason} after {timeout}s")


async def _show(api: Any, resource: str) -> None:
    obj = await api.get(resource, "default", "credit-scoring")
    say("   $ kubectl get mm")
    for line in mm_table([obj]).splitlines():
        say(f"   {line}")
    for cond in obj["status"]["conditions"]:
        say(f"   condition {cond['type']}={cond['status']} {cond['reason']}: {cond['message']}")


def run_demo(args: argparse.Namespace) -> int:
    say("ModelMonitor demo — everything below runs for real on 127.0.0.1\n")
    step_validate()
    asyncio.run(step_operator(args.timeout))
    say("Done.")
    return 0
