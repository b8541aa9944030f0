"""`make demo` end to end: the story on a real API server, read from its real kubectl output; Ctrl-C in
the middle stops every process of it; the emulated walk-through still runs where the binaries are
missing. The demo's wall time is printed (``-s`` shows it), never asserted."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelmonitor.api.crd import PRINTER_COLUMNS
from modelmonitor.demo.cluster import find_parts

pytestmark = pytest.mark.integration

DEMO = [sys.executable, "-m", "modelmonitor.cli", "demo"]
WORKDIR = re.compile(r"every process of the demo runs under (\S+);")
HEADER = re.compile(
    r"^\s+NAME\s+" + r"\s+".join(re.escape(c["name"].upper()) for c in PRINTER_COLUMNS) + r"$"
)
MM_ROW = re.compile(r"^\s+credit-scoring\s+credit-scoring\s+(\w+)\s")


def needs_cluster_parts() -> None:
    parts, missing = find_parts()
    if parts is None:
        pytest.fail(f"the demo's real cluster needs {missing} (`make setup` installs them)")


def processes_under(folder: str) -> list[str]:
    """Every process (but this one) whose command line, working directory or environment names
    ``folder``: the demo starts each of its processes there, or hands them a file from there."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            seen = folder in cmdline
            if not seen:
                seen = (
                    folder in os.readlink(entry / "cwd")
                    or folder.encode() in (entry / "environ").read_bytes()
                )
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if seen:
            found.append(f"{entry.name}: {cmdline[:200]}")
    return found


def lines_after(out: list[str], marker: str) -> list[str]:
    start = next(i for i, line in enumerate(out) if marker in line)
    return out[start:]


def test_the_story_on_a_real_api_server_in_real_kubectl_output() -> None:
    needs_cluster_parts()
    started = time.monotonic()
    run = subprocess.run(DEMO, capture_output=True, text=True, timeout=300)
    print(f"demo wall time: {time.monotonic() - started:.1f}s")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert "Traceback" not in run.stdout + run.stderr
    out = run.stdout.splitlines()
    assert out[0].startswith("ModelMonitor demo, on a real Kubernetes API server"), out[0]
    # `kubectl get mm`'s own header: the CRD's printer columns, as kubectl prints them.
    assert any(HEADER.match(line) for line in out), "no `kubectl get mm` header"

    # The phases, in the order of the story, from the rows kubectl printed.
    phases = [match.group(1) for line in out if (match := MM_ROW.match(line))]
    firsts = [phases.index(p) for p in ("Healthy", "Drifting", "Degraded", "Breached")]
    assert firsts == sorted(firsts), phases

    # 2. Drifting: exactly the two shifted features, each with its statistic.
    step2 = lines_after(out, "== 2.")
    table = [line.split("\t") for line in step2 if line.count("\t") == 3]
    drifted = {row[0].strip() for row in table if row[3] == "true"}
    assert drifted == {"income", "debt_ratio"}, table
    assert len(table) == 10 and all(float(row[2]) >= 0 for row in table), table
    assert any(re.match(r"\s+DataDrift\tDriftDetected\t2 of 10 features drift", line) for line in step2), (
        step2
    )

    # 3. FairnessViolated, naming the group, and no drift then.
    step3 = lines_after(out, "== 3.")
    unfair = [line for line in step3 if "\tGroupBelowRatio\t" in line]
    assert unfair and "approval_rate of applicant_group=B is " in unfair[0], step3[:20]

    # 4. SLOBreached, then the rollback seen in the ReplicaSets: the first revision's ReplicaSet (of
    # the pod listed in step 1) goes from 0 replicas back to 1.
    pod = next(
        line.split()[0]
        for line in out
        if re.match(r"\s+credit-scoring-\w+-\w+\s+model,modelmonitor-sidecar", line)
    )
    first_rs = pod.rsplit("-", 1)[0]
    step4 = lines_after(out, "== 4.")
    breached = next(i for i, line in enumerate(step4) if "\tObjectiveBreached\tlatencyP95Ms" in line)
    rows = [line.split() for line in step4[breached:] if line.split()[:1] == [first_rs]]
    assert [r[1] for r in rows][:2] == ["0", "1"], rows
    assert any(line.startswith("   rollback: rolled back to revision") for line in step4), step4

    # 5. The A/B test: won, approved, promoted; the champion runs the challenger's model.
    step5 = lines_after(out, "== 5.")
    assert any("waiting for approval: kubectl annotate mm credit-scoring modelmonitor.io/promote=approved" in line
               for line in step5)  # fmt: skip
    assert "     modelmonitor.modelmonitor.io/credit-scoring annotated" in step5
    assert any(line.split()[:1] == ["PromoteDone"] for line in step5), step5
    champion = next(line for line in step5 if re.match(r"\s+credit-scoring\s+1\s+\[demo-model", line))
    assert "--version 2.0.0" in champion and "--flip-rate" not in champion, champion

    # 6. The report step is there, whether or not this build has the command; then the summary.
    step6 = lines_after(out, "== 6.")
    assert step6[1].startswith(("   $ modelmonitor report credit-scoring", "   report: not available")), (
        step6[:3]
    )
    assert "== What happened" in out and "== Try next" in out
    assert any(
        "income (KS D" in line and "debt_ratio (KS D" in line for line in out if line.startswith("   2.")
    )
    workdir = WORKDIR.search(run.stdout)
    assert workdir is not None
    assert processes_under(workdir.group(1)) == []
    assert not Path(workdir.group(1)).exists()


def test_ctrl_c_in_the_middle_stops_every_process_with_one_line_and_130() -> None:
    needs_cluster_parts()
    proc = subprocess.Popen(DEMO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 200
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "the demo ended before step 2:\n" + "".join(seen) + proc.stderr.read()
            seen.append(line)
            # as soon as every process of the story runs (in step 1, once the sidecar is in)
            workdir = WORKDIR.search("".join(seen))
            running = processes_under(workdir.group(1)) if workdir else []
            if line.startswith("== 2.") or (len(running) >= 7 and any(" sidecar " in p for p in running)):
                break
        workdir = WORKDIR.search("".join(seen))
        assert workdir is not None, seen
        running = processes_under(workdir.group(1))
        # The API server, etcd, the controller manager, Prometheus, the operator, the model and the sidecar.
        assert len(running) >= 7 and any(" sidecar " in p for p in running), running
        proc.send_signal(signal.SIGINT)
        rest, errors = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, rest + errors
    assert errors == "", errors
    # After the signal: maybe the end of what the story was printing (indented), then the one line.
    said = [line for line in rest.splitlines() if line.strip()]
    assert said[-1].startswith("interrupted: stopped the operator, the pods"), said
    assert all(line.startswith("   ") for line in said[:-1]), said
    assert processes_under(workdir.group(1)) == []
    assert not Path(workdir.group(1)).exists()


def test_the_emulated_walk_through_still_runs() -> None:
    run = subprocess.run(
        [*DEMO, "--emulated", "--timeout", "60"], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert out.startswith("ModelMonitor demo, on the emulated Kubernetes API (--emulated)")
    assert "minimal.yaml                     valid" in out
    assert "spec.slos.latencyP95Ms: must be >= 0, got -5" in out
    assert "condition Ready=False TargetNotFound: Deployment default/credit-scoring not found" in out
    assert "containers now: ['model', 'modelmonitor-sidecar']" in out
    assert "Service credit-scoring now targets port" in out and "targets port http " not in out
    assert "condition SLOBreached=False WithinObjectives" in out
    assert "condition DataDrift=False NoDatasetDrift" in out
    assert "condition DataDrift=True DriftDetected" in out
    assert "action: retrain Observed: DataDrift is True; would start a retraining Job (observe mode)" in out
    assert "inputs[0].ssn='sha256:" in out and "123-45-" not in out
    assert "containers: ['model']; Service targetPort back to 'http'" in out
    assert "runs on a real API server" in out
