"""Generated ModelMonitor specs on the real API server, with the operator running: each one ends refused
by the server, reported in status (a reason, and the field or object it is about), or evaluated; the
operator never crashes nor stops evaluating the other monitors.

Specs come from the CRD's own openAPIV3Schema (crds/modelmonitor.yaml), through hypothesis: schema-valid
ones (which the CEL rules may still refuse) and mutated ones (a wrong type, a number out of range, a
value outside its enum, a required field removed, a bad duration, an unknown field). Strings the
operator would use to reach something (URLs, queries, object names) are drawn from small pools of
local, fast-failing or existing values, so that a generated spec exercises the operator rather than
this machine's network timeouts.

1,000 specs go to the server as a dry run (``dryRun=All``, strict field validation), and its verdict is
compared with ``modelmonitor validate`` (api/validation.py) on the same manifest. Then up to 60 of the
accepted ones are created for real in one namespace with the operator running as the chart's
ServiceAccount, beside one known-good monitor whose target exists; every one of them must end with a
status, and the known-good one must go on being evaluated.
"""

from __future__ import annotations

import concurrent.futures
import copy
import json
import re
import threading
import time
from collections import Counter
from typing import Any

import pytest
import requests
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from modelmonitor.api import validate_manifest
from modelmonitor.api.durations import DURATION_PATTERN
from tests.cluster.conftest import ROOT, K8s

pytestmark = pytest.mark.cluster

GENERATED = 1000
CREATED = 60
API = "modelmonitor.io/v1alpha1"
SCHEMA = yaml.safe_load((ROOT / "crds" / "modelmonitor.yaml").read_text())["spec"]["versions"][0]["schema"][
    "openAPIV3Schema"
]["properties"]["spec"]
DURATION = DURATION_PATTERN
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception): ")
# Specs the generator found that once broke an evaluation (Ready=InternalError without the field):
# the smallest spec showing each, created beside the generated ones, and what is expected of it now.
REPORTED = {  # created: reported in status, naming the field
    "ContainerNotFound": {"target": {"deployment": "fz-target", "container": "absent"}},
}
REFUSED = {  # refused by the server's rules, the message naming the field (it overflowed the query timeout)
    "prometheus.timeout must be": {
        "target": {"deployment": "fz-target"},
        "prometheus": {"url": "http://127.0.0.1:1", "timeout": "9" * 30 + "h"},
    },
}
# Deployments in the test's namespace: one opted in (the fuzzed monitors fight over it), one not.
OPEN, CLOSED, GOOD = "fz-target", "fz-closed", "good-target"

# Most monitors aim at the opted-in Deployment, so that many get as far as an evaluation.
known_names = st.sampled_from([OPEN, OPEN, OPEN, OPEN, CLOSED, "missing-model"])
any_name = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,12}[a-z0-9])?", fullmatch=True)
names = st.one_of(known_names, known_names, known_names, any_name)
# The model container: the demo's own, mostly.
containers = st.one_of(st.just("model"), st.just("model"), st.from_regex(r"[a-z0-9]{1,3}", fullmatch=True))
# Durations (a 30-digit one included: it matches the pattern, and CEL cannot read it) and URLs that
# fail at once on this machine.
DURATIONS = ["5s", "10s", "1s", "0s", "1ms", "0.5s", "90m", "1h30m", "5m", "24h", "99999h", "9" * 30 + "h"]
URLS = ["http://127.0.0.1:1", "https://127.0.0.1:1/x", "http://localhost:1/a?b=c"]
POOLS: dict[str, st.SearchStrategy[Any]] = {
    DURATION: st.sampled_from(DURATIONS),
    "^https?://": st.sampled_from(URLS),
}
QUERIES = st.sampled_from(["up", "sum(rate(x[5m]))", "1/0", "vector(1)", "{", "absent(nothing)"])


def from_schema(node: dict[str, Any], name: str = "") -> st.SearchStrategy[Any]:
    """Values the schema ``node`` allows (its CEL rules aside)."""
    if "enum" in node:
        return st.sampled_from(node["enum"])
    if node.get("x-kubernetes-int-or-string") or "anyOf" in node:
        return st.one_of(st.integers(0, 4096), st.sampled_from(["100m", "64Mi", "1", "0.5", "2Gi"]))
    kind = node.get("type")
    if kind == "object" and "properties" not in node:
        if node.get("x-kubernetes-preserve-unknown-fields"):  # a Job template: kept small
            return st.just({"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                {"name": "train", "image": "busybox"}]}}}})  # fmt: skip
        values = from_schema(node.get("additionalProperties") or {"type": "string"})
        return st.dictionaries(st.sampled_from(["cpu", "memory", "x"]), values, max_size=2)
    if kind == "object":
        return some_fields(node)
    if kind == "array":
        items = from_schema(node.get("items") or {"type": "string"}, name)
        low = node.get("minItems", 0)
        return st.lists(items, min_size=low, max_size=max(low, min(node.get("maxItems", 3), 3)))
    if kind == "integer":
        return st.integers(node.get("minimum", -(2**40)), node.get("maximum", 2**62))
    if kind == "number":
        low, high = node.get("minimum"), node.get("maximum")
        return st.floats(
            low, high, exclude_min=bool(node.get("exclusiveMinimum")) and low is not None,
            allow_nan=False, allow_infinity=False,
        )  # fmt: skip
    if kind == "boolean":
        return st.booleans()
    pattern = node.get("pattern")
    if pattern in POOLS:
        return POOLS[pattern]
    if name in ("deployment", "name", "championBackend", "challengerBackend", "serviceAccountName"):
        return names
    if name == "container":
        return containers
    if name == "query":
        return QUERIES
    if pattern:
        return st.from_regex(pattern.replace("*", "{0,12}"), fullmatch=True).filter(
            lambda s: len(s) <= node.get("maxLength", 253)
        )
    return st.text(min_size=node.get("minLength", 0), max_size=min(node.get("maxLength", 20), 20))


def some_fields(node: dict[str, Any], most: int = 4) -> st.SearchStrategy[dict[str, Any]]:
    """An object of ``node``'s schema: its required fields and up to ``most`` optional ones (a spec with
    every section at once is slow to generate and nearly always breaks some cross-field rule)."""
    props = node["properties"]
    required = sorted(set(node.get("required") or []))
    fields = {k: from_schema(v, k) for k, v in props.items()}
    optional = sorted(k for k in props if k not in required)

    choose = st.lists(st.sampled_from(optional), max_size=most, unique=True) if optional else st.just([])

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        return {k: draw(fields[k]) for k in [*required, *draw(choose)]}

    return build()


valid_specs = from_schema(SCHEMA)


def schema_at(path: tuple[Any, ...]) -> dict[str, Any]:
    node: dict[str, Any] = SCHEMA
    for step in path:
        node = (
            node.get("items", {}) if isinstance(step, int) else (node.get("properties") or {}).get(step, {})
        )
    return node


def paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into ``value`` (objects and lists), the root's included."""
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, (*path, i))
    return out


HOW = st.sampled_from(["type", "range", "enum", "required", "duration", "unknown"])
UNKNOWN_FIELDS = st.sampled_from(["bogus", "Target", "intervalSeconds"])
BAD_TARGETS: st.SearchStrategy[Any] = st.sampled_from(["credit", 7, None, []])
OUT_OF_RANGE = st.sampled_from([-1, -(2**63), 2**63, 2**64, 1e300, -1e-9, 1.5, 0])
BAD_DURATIONS = st.sampled_from(["5 minutes", "10", "-1s", "1d", "1h 30m", "s", "1e3s", "", "1" * 40 + "s"])
WRONG_TYPES = st.sampled_from(["x", 1, 1.5, True, None, [], {}, [1, 2], {"a": 1}, "", "1" * 300])


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """A schema-valid spec with one thing wrong, at a drawn place."""
    spec: dict[str, Any] = copy.deepcopy(draw(valid_specs))
    path = draw(st.sampled_from(paths(spec)))
    node = schema_at(path)
    parent: Any = spec
    for step in path[:-1]:
        parent = parent[step]
    how = draw(HOW)
    here = parent[path[-1]] if path else spec
    wrong: Any
    if how == "required" and node.get("required") and isinstance(here, dict):
        here.pop(draw(st.sampled_from(sorted(node["required"]))), None)
        return spec
    if how == "unknown" and isinstance(here, dict) and "properties" in node:
        here[draw(UNKNOWN_FIELDS)] = 1
        return spec
    if not path:
        return {"target": draw(BAD_TARGETS)}
    kind = node.get("type")
    if how == "range" and kind in ("integer", "number"):
        wrong = draw(OUT_OF_RANGE)
    elif how == "enum" and "enum" in node:
        wrong = draw(st.sampled_from(["nope", "", node["enum"][0].upper(), " " + node["enum"][0]]))
    elif how == "duration" and node.get("pattern") == DURATION:
        wrong = draw(BAD_DURATIONS)
    else:
        wrong = draw(WRONG_TYPES)
    parent[path[-1]] = wrong
    return spec


specs = st.one_of(valid_specs, mutated())


def manifest(name: str, spec: Any) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "ModelMonitor", "metadata": {"name": name}, "spec": spec}


def ready(mm: dict[str, Any]) -> dict[str, Any]:
    conditions = (mm.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == "Ready"), {})


def outcome(mm: dict[str, Any]) -> str | None:
    """``evaluated``, ``reported`` (Ready not True, with a reason naming the field or the object), or
    None while the operator has not said anything yet."""
    status = mm.get("status") or {}
    if status.get("lastEvaluation"):
        return "evaluated"
    cond = ready(mm)
    if cond.get("status") in ("False", "Unknown") and cond.get("reason") and cond.get("message"):
        return "reported"
    return None


def names_what_is_wrong(mm: dict[str, Any]) -> bool:
    """A reported monitor's message names the field (InvalidSpec) or the object it is about."""
    cond = ready(mm)
    target = ((mm.get("spec") or {}).get("target") or {}).get("deployment", "")
    if cond["reason"] == "InvalidSpec":
        return "spec." in cond["message"]
    return (bool(target) and target in cond["message"]) or "spec." in cond["message"]


def demo_deployment(name: str, opted_in: bool) -> dict[str, Any]:
    docs = list(yaml.safe_load_all((ROOT / "examples" / "demo-model.yaml").read_text()))
    deployment: dict[str, Any] = next(d for d in docs if d["kind"] == "Deployment")
    deployment["metadata"]["name"] = name
    if not opted_in:
        deployment["metadata"]["labels"].pop("modelmonitor.io/enabled")
    return deployment


def test_generated_specs_are_refused_reported_or_evaluated(
    k8s: K8s, namespace: str, start_operator: Any
) -> None:
    t0 = time.monotonic()
    url = f"{k8s.server}/apis/modelmonitor.io/v1alpha1/namespaces/{namespace}/modelmonitors"
    local = threading.local()

    def post(doc: dict[str, Any], **params: str) -> requests.Response:
        """Create as kubectl does (strict field validation), one kept-alive session per thread."""
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.headers.update(
                {"Authorization": f"Bearer {k8s.token}", "Content-Type": "application/json"}
            )
        # verify on each call: a session's own is overridden by $REQUESTS_CA_BUNDLE
        resp: requests.Response = local.session.post(
            url,
            params={"fieldValidation": "Strict", **params},
            data=json.dumps(doc),
            verify=str(k8s.ca),
            timeout=30,
        )
        return resp

    def release(operator: Any) -> None:
        """Stop the operator, then take the monitors' finalizers off and delete them all in a few API
        calls (the namespace fixture would otherwise run one kubectl per monitor)."""
        operator.stop()
        listed = session_get().json()["items"]
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda m: unfinalize(m["metadata"]["name"]), listed))
        requests.delete(url, headers={"Authorization": f"Bearer {k8s.token}"}, verify=str(k8s.ca), timeout=30)

    def session_get() -> requests.Response:
        resp: requests.Response = requests.get(
            url, headers={"Authorization": f"Bearer {k8s.token}"}, verify=str(k8s.ca), timeout=30
        )
        return resp

    def unfinalize(name: str) -> None:
        requests.patch(
            f"{url}/{name}", data='{"metadata":{"finalizers":null}}', verify=str(k8s.ca), timeout=30,
            headers={"Authorization": f"Bearer {k8s.token}", "Content-Type": "application/merge-patch+json"},
        )  # fmt: skip

    # The operator and the known-good monitor first: they start while the specs are generated.
    k8s.apply([demo_deployment(OPEN, True), demo_deployment(CLOSED, False), demo_deployment(GOOD, True)],
              namespace)  # fmt: skip
    operator = start_operator()
    good = {"target": {"deployment": GOOD, "port": 8080}, "interval": "5s",
            "prometheus": {"url": "http://127.0.0.1:1", "timeout": "1s"}}  # fmt: skip
    k8s.apply(manifest("known-good", good), namespace)

    def dry_run(spec: Any) -> tuple[Any, int, str, list[str]]:
        doc = manifest("fz-dry", spec)
        resp = post(doc, dryRun="All")
        return spec, resp.status_code, resp.text, [str(p) for p in validate_manifest(doc)]

    # All specs first, then the dry runs in a few threads (generating while sending is slower: the
    # generator and the senders contend for this process's interpreter).
    generated: list[Any] = []

    @settings(max_examples=GENERATED, phases=[Phase.generate], database=None, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(spec=specs)
    def generate(spec: Any) -> None:
        generated.append(copy.deepcopy(spec))

    t_start = time.monotonic()
    generate()
    t_gen = time.monotonic() - t_start
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        verdicts = list(pool.map(dry_run, generated))
    t_dry = time.monotonic() - t_start - t_gen
    accepted = [spec for spec, code, _, _ in verdicts if code == 201]
    refused = Counter(code for _, code, _, _ in verdicts if code != 201)
    print(f"\n{len(generated)} specs generated in {t_gen:.1f} s, sent as dry runs in {t_dry:.1f} s: "
          f"{len(accepted)} accepted, refused {dict(refused)}")  # fmt: skip
    assert len(generated) == GENERATED
    assert set(refused) <= {400, 422}, [
        text[:300] for _, code, text, _ in verdicts if code not in (201, 400, 422)
    ]
    disagreements = [
        f"server {code} {text[:300]}\nvalidate {problems[:5]}\nspec {json.dumps(spec)[:1500]}"
        for spec, code, text, problems in verdicts
        if (code == 201) != (not problems)
    ]
    assert not disagreements, "validate and the server disagree:\n" + "\n\n".join(disagreements[:5])
    assert len(accepted) >= CREATED and sum(refused.values()) >= GENERATED // 5

    first = k8s.wait_for(lambda: k8s.get("mm", "-n", namespace, "known-good").get("status", {}).get("lastEvaluation"),
                         timeout=60, what="the known-good monitor's first evaluation")  # fmt: skip
    for field, spec in REFUSED.items():
        resp = post(manifest("fz-refused", spec), dryRun="All")
        assert resp.status_code == 422 and field in resp.text, resp.text[:500]
    # Beside the generated ones, the smallest spec of each case that once broke an evaluation.
    chosen = [*accepted[: CREATED - len(REPORTED)], *REPORTED.values()]
    for i, spec in enumerate(chosen):
        resp = post(manifest(f"fz-{i:03d}", spec))
        assert resp.status_code == 201, resp.text[:500]
    created_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    t_created = time.monotonic()

    def settled() -> dict[str, dict[str, Any]] | None:
        items = {m["metadata"]["name"]: m for m in k8s.get("mm", "-n", namespace)["items"]}
        fuzzed = {n: m for n, m in items.items() if n.startswith("fz-")}
        if len(fuzzed) == CREATED and all(outcome(m) for m in fuzzed.values()):
            return items
        return None

    try:
        items = k8s.wait_for(settled, timeout=60, interval=1, what="a status on every generated monitor")
        moved = k8s.wait_for(
            lambda: (s := k8s.get("mm", "-n", namespace, "known-good")["status"]).get("lastEvaluation", "")
            > max(first, created_at) and s,
            timeout=30, what="the known-good monitor evaluated after the generated ones arrived",
        )  # fmt: skip
    except BaseException:
        left = {m["metadata"]["name"]: m.get("status") for m in k8s.get("mm", "-n", namespace)["items"]}
        print(json.dumps({n: s for n, s in left.items() if n == "known-good" or not outcome({"status": s})},
                         indent=1)[:6000])  # fmt: skip
        raise
    finally:
        alive = operator.alive()
        release(operator)
    assert alive, operator.output()[-4000:]
    assert moved["phase"] != "Error" and ready(items["known-good"]).get("status") == "True"
    fuzzed = [m for n, m in items.items() if n.startswith("fz-")]
    outcomes = Counter(outcome(m) for m in fuzzed)
    reasons = Counter(ready(m).get("reason") for m in fuzzed if outcome(m) == "reported")
    targets = Counter((ready(m).get("reason"), m["spec"]["target"]["deployment"]) for m in fuzzed)
    print("Ready reasons by target:", dict(targets.most_common(8)))
    vague = [
        (m["metadata"]["name"], ready(m))
        for m in fuzzed
        if outcome(m) == "reported" and not names_what_is_wrong(m)
    ]
    log = operator.output().splitlines()
    crashed = [line for line in log if "failed with an exception" in line]  # a Kopf handler raised
    # What the operator's own catch-all logged (a traceback ends with the exception's line).
    raised = Counter(line.split(":", 1)[0] for line in log if EXCEPTION_LINE.match(line))
    print("exceptions in the operator's log:", dict(raised))
    print(
        f"refused by the server {sum(refused.values())}, accepted {len(accepted)}; "
        f"of {CREATED} created: reported in status {outcomes['reported']} {dict(reasons)}, evaluated "
        f"{outcomes['evaluated']} (settled {time.monotonic() - t_created:.1f} s; total {time.monotonic() - t0:.1f} s)"
    )
    assert not crashed, crashed[:5]
    assert not raised, raised
    for reason in REPORTED:
        name = f"fz-{CREATED - len(REPORTED) + list(REPORTED).index(reason):03d}"
        assert ready(items[name]).get("reason") == reason, items[name].get("status")
    assert not vague, vague[:5]
