"""``modelmonitor report``: one self-contained HTML file of a monitor, from a cluster or a directory.

``report NAME`` reads with the user's own credentials (as ``modelmonitor run`` loads them): the
ModelMonitor, its reference profile (``spec.drift.reference.configMapRef``, else the ConfigMap the
operator captured) and the captured window of the target's ready pods, through the API server's pod
proxy (the admin token in ``X-ModelMonitor-Token``: commands/report_cluster.py). What the user may
not read is said in the report, which is then written from what was read (the status alone, at
worst). ``--save DIR`` writes what was read in the ``--from`` format: ``monitor.json``,
``window.jsonl``, ``reference.json``.

Exit codes: 0 written, 2 bad input (no such monitor or directory, no credentials, cannot write).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from modelmonitor.report import Bundle

EXIT_OK = 0
EXIT_INPUT = 2
WINDOW_FILES = ("window.parquet", "window.csv", "window.jsonl")


class ReportError(Exception):
    """The report cannot be made; the message names what is missing and the fix."""


def register(subparsers: Any) -> None:
    """Add the ``report`` sub-command to the CLI."""
    p = subparsers.add_parser(
        "report",
        help="one self-contained HTML report of a monitor: status, drift, performance, segments, A/B test",
        description="Read a ModelMonitor, its reference and its captured window from the cluster (NAME) or "
        "from a directory (--from DIR) and write one HTML file (inline SVG, no JavaScript). See docs/report.md.",
    )
    p.add_argument("name", nargs="?", help="the ModelMonitor to read from the cluster")
    p.add_argument(
        "-n", "--namespace", help="its namespace (default: the kubeconfig context's, else default)"
    )
    p.add_argument(
        "--kubeconfig", help="kubeconfig file (default: in-cluster, else KUBECONFIG / ~/.kube/config)"
    )
    p.add_argument(
        "--from", dest="source", metavar="DIR", help="read monitor.json, window.* and reference.json"
    )
    p.add_argument(
        "--save", metavar="DIR", help="also write what was read from the cluster to DIR (--from format)"
    )
    p.add_argument("-o", "--output", default="report.html", help="the HTML file (default: report.html)")
    p.set_defaults(func=run_report)


def _fail(message: str) -> int:
    sys.stderr.write(f"modelmonitor report: error: {message}\n")
    return EXIT_INPUT


def run_report(args: argparse.Namespace) -> int:
    """Read the bundle (cluster or directory), render it and write ``args.output``."""
    if (args.name is None) == (args.source is None):
        return _fail("pass either NAME (read the cluster) or --from DIR, not both or neither")
    if args.source is not None and args.save:
        return _fail(
            "--save writes what was read from the cluster; with --from the directory is already that"
        )
    from modelmonitor.report import render

    try:
        bundle = (
            read_dir(Path(args.source))
            if args.source
            else _read_cluster(args.name, args.namespace, args.kubeconfig)
        )
        if args.save:
            save_dir(bundle, Path(args.save))
        text = render(bundle)
    except ReportError as exc:
        return _fail(str(exc))
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as exc:
        return _fail(f"{args.output}: cannot write: {exc.strerror}")
    for line in bundle.notes:
        sys.stderr.write(f"modelmonitor report: note: {line}\n")
    sys.stdout.write(f"{args.output}: {len(text.encode()):,} bytes\n")
    return EXIT_OK


# --- the --from directory ------------------------------------------------------------------------


def read_dir(folder: Path) -> Bundle:
    """The bundle a ``--from`` directory holds; a missing or damaged piece becomes a note."""
    from modelmonitor.drift.profile import Profile
    from modelmonitor.report import Bundle

    if not folder.is_dir():
        raise ReportError(f"--from {folder}: no such directory")
    notes: list[str] = []
    monitor: dict[str, Any] = {"metadata": {"name": folder.name}}
    found = _json_file(folder / "monitor.json", notes)
    if isinstance(found, dict):
        monitor = found
    elif found is not None:
        notes.append(f"{folder / 'monitor.json'}: not a JSON object")
    window = None
    path = next((folder / n for n in WINDOW_FILES if (folder / n).is_file()), None)
    if path is None:
        notes.append(f"no captured window in {folder} (window.parquet, window.csv or window.jsonl)")
    else:
        try:
            window = read_window(path)
        except (OSError, ValueError, ImportError) as exc:
            notes.append(f"{path}: cannot read: {str(exc)[:200]}")
    reference = None
    data = _json_file(folder / "reference.json", notes)
    if data is None and not (folder / "reference.json").is_file():
        notes.append(f"no reference.json in {folder} (a profile from `modelmonitor profile`)")
    elif data is not None:
        try:
            reference = Profile.from_dict(data)
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            notes.append(f"{folder / 'reference.json'}: not a drift profile: {str(exc)[:200]}")
    return Bundle(monitor, window, reference, notes)


def _json_file(path: Path, notes: list[str]) -> Any:
    if not path.is_file():
        if path.name == "monitor.json":
            notes.append(f"no monitor.json in {path.parent}: no spec and no status")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        notes.append(f"{path}: not valid JSON: {str(exc)[:200]}")
        return None


def read_window(path: Path) -> pd.DataFrame:
    """Captured rows from Parquet, CSV or JSON lines; lists written as JSON text (CSV) are read back."""
    import pandas as pd

    name = path.name.lower()
    if name.endswith(".parquet"):
        frame = pd.read_parquet(path)
    elif name.endswith(".csv"):
        frame = pd.read_csv(path)
    else:
        lines = path.read_text(encoding="utf-8").splitlines()
        frame = pd.DataFrame([json.loads(line) for line in lines if line.strip()])
    for column in ("__probabilities", "__prediction", "__label"):
        if column in frame.columns:
            frame[column] = [_value(v) for v in frame[column].tolist()]
    return frame


def _value(value: Any) -> Any:
    """A cell as the sidecar's JSON had it: a list (not a NumPy array or JSON text), None for NaN."""
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def save_dir(bundle: Bundle, folder: Path) -> None:
    """Write ``bundle`` as a ``--from`` directory: monitor.json, window.jsonl, reference.json."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "monitor.json").write_text(json.dumps(bundle.monitor, indent=2) + "\n", encoding="utf-8")
        if bundle.window is not None:
            with (folder / "window.jsonl").open("w", encoding="utf-8") as fh:
                for row in bundle.window.to_dict(orient="records"):
                    fh.write(json.dumps({str(k): _value(v) for k, v in row.items()}, default=_plain) + "\n")
        if bundle.reference is not None:
            (folder / "reference.json").write_text(bundle.reference.to_json() + "\n", encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"--save {folder}: cannot write: {exc.strerror}") from exc


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _read_cluster(name: str, namespace: str | None, kubeconfig: str | None) -> Bundle:
    from modelmonitor.commands.report_cluster import read_cluster

    return read_cluster(name, namespace, kubeconfig)
