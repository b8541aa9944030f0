#!/usr/bin/env bash
# The cluster test tier's copy of ../shared/k8s/up.sh; the binaries come from $KUBEBUILDER_ASSETS or $K8S_ARCHIVES.
# Starts a real, pod-less Kubernetes 1.36 control plane on 127.0.0.1 only:
#   etcd (fresh data dir every start)  -> http://127.0.0.1:$ETCD_PORT   (default 12379; peer port ETCD_PORT+1)
#   kube-apiserver (secure port)       -> https://127.0.0.1:$API_PORT   (default 16443), RBAC on
#   kube-controller-manager            -> unless NO_KCM=1 (Deployments -> ReplicaSets -> Pods, GC, Jobs, ...)
# No kubelet and no scheduler: Pods are created but never run (see README.md beside this file).
# State (certificates, tokens, logs, unpacked binaries, pids) lives in $K8S_STATE
# (default ${TMPDIR:-/tmp}/modelmonitor-k8s-$API_PORT); this folder itself is never written.
# Writes $K8S_STATE/kubeconfig (cluster-admin: a static token in group system:masters, CA as a file
# path), records the pids in $K8S_STATE/pids, waits for /readyz, prints the kubeconfig path last, exits 0.
# Stop with down.sh (same environment): it kills exactly the recorded pids.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ETCD_PORT=${ETCD_PORT:-12379}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-$((ETCD_PORT + 1))}
API_PORT=${API_PORT:-16443}
NO_KCM=${NO_KCM:-0}
R=${K8S_STATE:-${TMPDIR:-/tmp}/modelmonitor-k8s-$API_PORT}
ETCD_BIN=${ETCD_BIN:-$(command -v etcd || echo /usr/bin/etcd)}
mkdir -p "$R/bin"
# Binaries: $KUBEBUILDER_ASSETS (the envtest convention) when it holds them, else unpacked from bin/*.xz here.
# K8S_ARCHIVES: a folder of kube-apiserver.xz and kube-controller-manager.xz (the team's ../shared/k8s/bin).
K8S_ARCHIVES=${K8S_ARCHIVES:-$HERE/bin}
for b in kube-apiserver kube-controller-manager; do
  if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/$b" ]; then ln -sf "$KUBEBUILDER_ASSETS/$b" "$R/bin/$b"
  elif [ ! -x "$R/bin/$b" ] && [ -f "$K8S_ARCHIVES/$b.xz" ]; then xz -dc "$K8S_ARCHIVES/$b.xz" >"$R/bin/$b.tmp" && chmod +x "$R/bin/$b.tmp" && mv "$R/bin/$b.tmp" "$R/bin/$b"
  fi
done
KAS=$R/bin/kube-apiserver
KCM=$R/bin/kube-controller-manager
PKI=$R/pki
LOGS=$R/logs
if [ -z "${ETCD_DATA_DIR:-}" ]; then
  if [ -d /dev/shm ] && [ -w /dev/shm ]; then ETCD_DATA_DIR=/dev/shm/modelmonitor-etcd-$ETCD_PORT; else ETCD_DATA_DIR=$R/data/etcd-$ETCD_PORT; fi
fi
t0=$(date +%s.%N)
say() { echo "up.sh: $*" >&2; }
elapsed() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
die() { echo "up.sh: FAIL: $*" >&2; [ -n "${started:-}" ] && "$HERE/down.sh" >/dev/null 2>&1; exit 1; }

for b in "$ETCD_BIN" "$KAS"; do [ -x "$b" ] || die "missing binary $b (etcd: apt-get install etcd-server; Kubernetes: set KUBEBUILDER_ASSETS to a folder holding kube-apiserver and kube-controller-manager v1.36, e.g. from setup-envtest)"; done
[ "$NO_KCM" = 1 ] || [ -x "$KCM" ] || die "missing binary $KCM"

# A previous cluster of ours still recorded? Stop it first (by its recorded pids only).
if [ -s "$R/pids" ]; then "$HERE/down.sh" >/dev/null 2>&1 || true; fi

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$ETCD_PORT" "$ETCD_PEER_PORT" "$API_PORT"; do
  port_busy "$p" && die "port $p on 127.0.0.1 is already in use (not by a process recorded in $R/pids)"
done

mkdir -p "$PKI" "$LOGS"
umask 077

# ---- certificates, keys and tokens: generated once, kept in $R/pki ----
if [ ! -s "$PKI/tokens.csv" ] || [ ! -s "$PKI/apiserver.crt" ] || [ ! -s "$PKI/sa.pub" ]; then
  say "generating CA, serving cert, service-account key and tokens in $PKI"
  cat >"$PKI/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = local-k8s
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[v3_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
subjectAltName = DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.0.0.1
EOF
  openssl req -x509 -new -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=local-k8s-ca" \
    -config "$PKI/openssl.cnf" -extensions v3_ca -keyout "$PKI/ca.key" -out "$PKI/ca.crt" 2>/dev/null
  openssl req -new -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -config "$PKI/openssl.cnf" \
    -keyout "$PKI/apiserver.key" -out "$PKI/apiserver.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/apiserver.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -sha256 -days 3650 \
    -extfile "$PKI/openssl.cnf" -extensions v3_server -out "$PKI/apiserver.crt" 2>/dev/null
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  admin_tok=$(openssl rand -hex 24); kcm_tok=$(openssl rand -hex 24)
  {
    echo "$admin_tok,admin,uid-admin,\"system:masters\""
    echo "$kcm_tok,system:kube-controller-manager,uid-kcm"
  } >"$PKI/tokens.csv"
  chmod 644 "$PKI/ca.crt"
fi
admin_tok=$(sed -n '1s/,.*//p' "$PKI/tokens.csv")
kcm_tok=$(sed -n '2s/,.*//p' "$PKI/tokens.csv")

kubeconfig() { # $1 = user name, $2 = token
  cat <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local-k8s
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: $1
  user:
    token: $2
contexts:
- name: local-k8s
  context:
    cluster: local-k8s
    user: $1
current-context: local-k8s
EOF
}
kubeconfig admin "$admin_tok" >"$R/kubeconfig"
kubeconfig kube-controller-manager "$kcm_tok" >"$PKI/kcm.kubeconfig"
chmod 600 "$R/kubeconfig"
umask 022

: >"$R/pids"
started=1
record() { echo "$1" >>"$R/pids"; }

# ---- etcd: fresh data dir every start ----
rm -rf "$ETCD_DATA_DIR"; mkdir -p "$ETCD_DATA_DIR"; chmod 700 "$ETCD_DATA_DIR"
# etcd reads ETCD_* environment variables as flags: drop the caller's (e.g. ETCD_PORT)
etcd_env=(); for v in $(compgen -e | grep '^ETCD_' || true); do etcd_env+=(-u "$v"); done
setsid env "${etcd_env[@]}" "$ETCD_BIN" --name local-k8s --data-dir "$ETCD_DATA_DIR" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "local-k8s=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state new \
  --initial-cluster-token "local-k8s-$ETCD_PORT" --logger zap --log-level warn \
  </dev/null >"$LOGS/etcd.log" 2>&1 &
ETCD_PID=$!; record $ETCD_PID
for i in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"' && break
  kill -0 $ETCD_PID 2>/dev/null || die "etcd exited: $(tail -n 5 "$LOGS/etcd.log")"
  sleep 0.1
done
curl -sf "http://127.0.0.1:$ETCD_PORT/health" >/dev/null || die "etcd not healthy: $(tail -n 5 "$LOGS/etcd.log")"

# ---- kube-apiserver ----
setsid "$KAS" \
  --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
  --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --client-ca-file="$PKI/ca.crt" --token-auth-file="$PKI/tokens.csv" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --service-cluster-ip-range=10.0.0.0/24 --endpoint-reconciler-type=none \
  --authorization-mode=Node,RBAC --allow-privileged=true \
  --profiling=false --enable-logs-handler=false \
  --cert-dir="$PKI/apiserver-generated" \
  </dev/null >"$LOGS/kube-apiserver.log" 2>&1 &
KAS_PID=$!; record $KAS_PID

ready=""
for i in $(seq 1 250); do
  if [ "$(curl -s --max-time 2 --cacert "$PKI/ca.crt" -H "Authorization: Bearer $admin_tok" "https://127.0.0.1:$API_PORT/readyz" 2>/dev/null)" = ok ]; then ready=1; break; fi
  kill -0 $KAS_PID 2>/dev/null || die "kube-apiserver exited: $(tail -n 5 "$LOGS/kube-apiserver.log")"
  sleep 0.1
done
[ -n "$ready" ] || die "kube-apiserver /readyz not ok after 25 s: $(tail -n 5 "$LOGS/kube-apiserver.log")"
say "kube-apiserver ready on https://127.0.0.1:$API_PORT after $(elapsed) s"

# ---- kube-controller-manager ----
if [ "$NO_KCM" != 1 ]; then
  setsid "$KCM" \
    --kubeconfig="$PKI/kcm.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=0 \
    --leader-elect=false --controllers='*' \
    --use-service-account-credentials=true \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --profiling=false \
    </dev/null >"$LOGS/kube-controller-manager.log" 2>&1 &
  KCM_PID=$!; record $KCM_PID
  # Usable = its service-account controller has created default/default (controllers are running).
  for i in $(seq 1 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$PKI/ca.crt" -H "Authorization: Bearer $admin_tok" \
      "https://127.0.0.1:$API_PORT/api/v1/namespaces/default/serviceaccounts/default" 2>/dev/null || true)
    [ "$code" = 200 ] && break
    kill -0 $KCM_PID 2>/dev/null || die "kube-controller-manager exited: $(tail -n 5 "$LOGS/kube-controller-manager.log")"
    sleep 0.1
  done
  [ "$code" = 200 ] || say "warning: kube-controller-manager started but default/default service account not seen yet"
fi
say "up in $(elapsed) s; pids: $(tr '\n' ' ' <"$R/pids")"
echo "$R/kubeconfig"
