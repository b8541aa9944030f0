#!/usr/bin/env bash
# What ships is what is tested: install the package as the Dockerfile does (a bare `pip install .`,
# no extras, in a fresh virtualenv) and start each entry point the image runs. Fails on any import
# that only the dev extras bring, and on an operator that cannot say why it does not start.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check . 2>&1 | grep -v "^WARNING: Location" || true
"$work/venv/bin/pip" show modelmonitor >/dev/null
bin=$work/venv/bin
"$bin/modelmonitor" --version
"$bin/modelmonitor" run --help >/dev/null
"$bin/modelmonitor" sidecar --help >/dev/null
"$bin/modelmonitor" validate examples/minimal.yaml >/dev/null
# Every module of the package imports (the demo needs the dev extras and says so).
"$bin/python" - <<'PY'
import importlib, pkgutil, modelmonitor
skipped = ("modelmonitor.demo",)
names = [m.name for m in pkgutil.walk_packages(modelmonitor.__path__, "modelmonitor.")]
for name in names:
    if not name.startswith(skipped):
        importlib.import_module(name)
print(f"install check: {len(names)} modules, all importable from a bare install")
PY
# No credentials: one clear line and a non-zero exit, not a retry loop.
set +e
out=$(cd "$work" && env -u KUBECONFIG -u KUBERNETES_SERVICE_HOST HOME="$work" timeout 60 "$bin/modelmonitor" run --metrics '' 2>&1)
code=$?
set -e
if [ "$code" = 0 ] || [ "$code" = 124 ] || [ "$(printf '%s\n' "$out" | grep -c .)" != 1 ]; then
  echo "install check: modelmonitor run without credentials exited $code with:" >&2
  printf '%s\n' "$out" >&2
  exit 1
fi
echo "install check: without credentials, exit $code: $out"
