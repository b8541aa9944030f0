"""The Dockerfile: hadolint clean, multi-stage, non-root, and its commands exist in the package.

No Docker engine runs here, so the image is not built: the test checks what the build relies on.
"""

from __future__ import annotations

import json
import re
import subprocess
from importlib import metadata

from modelmonitor.cli import build_parser
from modelmonitor.workload import injection
from tests.unit.chart.conftest import ROOT, only, render, tool

DOCKERFILE = ROOT / "Dockerfile"
COMPILERS = ("gcc", "g++", "clang", "build-essential", "make", "cc ")


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (k, _) in enumerate(steps) if k == "FROM")
    return steps[last_from:]


def test_hadolint_is_clean() -> None:
    proc = subprocess.run(
        [tool("hadolint"), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_multi_stage_on_slim_python_without_compilers() -> None:
    steps = instructions()
    froms = [rest for k, rest in steps if k == "FROM"]
    assert len(froms) >= 2, "the build runs in its own stage"
    base = dict(re.findall(r"ARG (\w+)=(\S+)", DOCKERFILE.read_text()))
    image = froms[-1].split()[0]
    image = base.get(image.strip("${}"), image)
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", image), image
    final = final_stage()
    assert not [rest for k, rest in final if k == "RUN"], "the final stage installs nothing"
    copies = [rest for k, rest in final if k == "COPY"]
    assert copies and all(c.startswith("--from=build") for c in copies), "it only copies the built venv"
    text = " ".join(rest for _, rest in final)
    assert not [c for c in COMPILERS if c in text]


def test_runs_as_the_non_root_user_of_the_chart_and_sidecar() -> None:
    users = [rest for k, rest in final_stage() if k == "USER"]
    assert users == [f"{injection.SIDECAR_USER}:{injection.SIDECAR_USER}"]  # numeric: runAsNonRoot can check
    pod = only(render(), "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == injection.SIDECAR_USER


def test_entrypoint_and_commands_exist_in_the_installed_package() -> None:
    final = dict(final_stage())
    entrypoint = json.loads(final["ENTRYPOINT"])
    assert entrypoint == ["modelmonitor"]
    scripts = {ep.name: ep.value for ep in metadata.entry_points(group="console_scripts")}
    assert scripts.get("modelmonitor") == "modelmonitor.cli:main"
    parser = build_parser()
    # CMD, the chart's operator args and the injected sidecar's args all parse with the real CLI.
    cmd = json.loads(final["CMD"])
    assert parser.parse_args(cmd).command == "run"
    deployment = only(render(), "Deployment")
    assert parser.parse_args(deployment["spec"]["template"]["spec"]["containers"][0]["args"]).command == "run"
    assert parser.parse_args(["sidecar", "--upstream", "http://127.0.0.1:8081"]).command == "sidecar"


def test_sidecar_container_runs_from_the_operator_image() -> None:
    from modelmonitor.api.spec import ModelMonitorSpec

    spec = ModelMonitorSpec.model_validate({"target": {"deployment": "m"}})
    deployment = {
        "metadata": {"name": "m"},
        "spec": {
            "template": {"spec": {"containers": [{"name": "model", "ports": [{"containerPort": 8080}]}]}}
        },
    }
    side = injection.sidecar_container(spec, deployment, image="IMAGE", monitor="m")
    assert side["args"][0] == "sidecar" and "command" not in side  # the image's ENTRYPOINT runs it
    assert side["securityContext"]["runAsUser"] == injection.SIDECAR_USER
    ports = {p["name"]: p["containerPort"] for p in side["ports"]}
    exposed = {int(p) for rest in (r for k, r in final_stage() if k == "EXPOSE") for p in rest.split()}
    assert set(ports.values()) <= exposed


def test_build_context_holds_what_the_build_copies() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*") + 1 :][:3] == ["!pyproject.toml", "!README.md", "!operator/"]
    copies = [
        rest.split()[:-1] for k, rest in instructions() if k == "COPY" and not rest.startswith("--from")
    ]
    for sources in copies:
        for source in sources:
            assert (ROOT / source).exists(), source
            assert f"!{source}" in ignore, f"{source} is copied but left out of the build context"
