#!/usr/bin/env bash
# Starts a small real Kubernetes control plane on 127.0.0.1 for the Kubernetes rollback (by hand or from
# test/helpers/kube-cluster.ts): etcd (Debian's), kube-apiserver and kube-controller-manager v1.34.0 (built by
# scripts/provision-systems.sh k8s), and kwok playing the kubelet of one fake node. Everything lives in one
# directory (default: a new temp dir): certificates, keys, data, logs and the admin kubeconfig.
#
# What is simulated: only the kubelet. kwok marks pods Running/Ready (no container runs); a pod whose template
# carries the label `cortex-rollback.test/ready: never` is Running but never Ready (a broken release).
# No scheduler runs: pods must name the node (spec.nodeName: kwok-node-0), which skips only the binding step.
#
# Usage: scripts/kube-up.sh [DIR]
#   prints `KUBECONFIG=<DIR>/kubeconfig` and then `ready` once /readyz answers ok and the node is Ready; runs in the
#   foreground until SIGINT/SIGTERM, then stops what it started (and removes DIR if it made it).
# Binaries: $KUBE_BIN (default /var/cache/cortex-rollback/bin), etcd and kubectl from PATH.
set -euo pipefail
BIN=${KUBE_BIN:-${CORTEX_CACHE:-/var/cache/cortex-rollback}/bin}
NODE=kwok-node-0
for b in "$BIN/kube-apiserver" "$BIN/kube-controller-manager" "$BIN/kwok"; do
  [ -x "$b" ] || { echo "kube-up: $b missing: run scripts/provision-systems.sh k8s" >&2; exit 2; }
done
command -v etcd >/dev/null || { echo "kube-up: etcd not on PATH (apt-get install etcd-server)" >&2; exit 2; }
command -v kubectl >/dev/null || { echo "kube-up: kubectl not on PATH" >&2; exit 2; }
command -v openssl >/dev/null || { echo "kube-up: openssl not on PATH" >&2; exit 2; }

if [ $# -ge 1 ]; then DIR=$1; mkdir -p "$DIR"; OWN_DIR=0; else DIR=$(mktemp -d /tmp/kube-up.XXXXXX); OWN_DIR=1; fi
DIR=$(cd "$DIR" && pwd)
chmod 700 "$DIR"
pids=()
stop() {
  local rc=$?
  trap - EXIT INT TERM
  # reverse start order, each gone before the next: the API server stops in a second with etcd still up, but
  # takes half a minute once etcd is gone; whatever has not stopped within 10 s is killed
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    local p=${pids[i]} n=0
    kill "$p" 2>/dev/null || continue
    while kill -0 "$p" 2>/dev/null && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  [ "$OWN_DIR" = 1 ] && rm -rf "$DIR"
  exit "$rc"
}
trap stop EXIT
trap 'exit 0' INT TERM

# Free ports on 127.0.0.1, chosen by the kernel (several helpers may run clusters side by side).
read -r ETCD_PORT PEER_PORT API_PORT < <(node -e '
  const net = require("node:net");
  const one = () => new Promise((r) => { const s = net.createServer(); s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => r(p)); }); });
  (async () => { const ps = []; while (ps.length < 3) { const p = await one(); if (!ps.includes(p)) ps.push(p); } console.log(ps.join(" ")); })();')

# Service-account signing key and the admin's bearer token (static token file: group system:masters).
openssl genrsa -out "$DIR/sa.key" 2048 2>/dev/null
openssl rsa -in "$DIR/sa.key" -pubout -out "$DIR/sa.pub" 2>/dev/null
TOKEN=$(openssl rand -hex 24)
echo "$TOKEN,admin,admin,system:masters" >"$DIR/tokens.csv"
chmod 600 "$DIR/sa.key" "$DIR/tokens.csv"

etcd --name kube-up --data-dir "$DIR/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$PEER_PORT" \
  --initial-cluster "kube-up=http://127.0.0.1:$PEER_PORT" >"$DIR/etcd.log" 2>&1 &
pids+=($!)

"$BIN/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" \
  --cert-dir "$DIR/certs" \
  --token-auth-file "$DIR/tokens.csv" --authorization-mode RBAC \
  --service-account-issuer https://kubernetes.default.svc \
  --service-account-key-file "$DIR/sa.pub" --service-account-signing-key-file "$DIR/sa.key" \
  --service-cluster-ip-range 10.96.0.0/16 \
  --feature-gates WatchList=false \
  >"$DIR/kube-apiserver.log" 2>&1 &
pids+=($!)

# The self-signed serving certificate carries its CA in the same file: trust exactly that.
cat >"$DIR/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kube-up
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: $DIR/certs/apiserver.crt
users:
- name: admin
  user:
    token: $TOKEN
contexts:
- name: kube-up
  context: {cluster: kube-up, user: admin}
current-context: kube-up
EOF
chmod 600 "$DIR/kubeconfig"
export KUBECONFIG="$DIR/kubeconfig"

alive() { for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || { echo "kube-up: a process exited; logs in $DIR" >&2; tail -20 "$DIR"/*.log >&2; return 1; }; done; }
# Poll readiness (the API server takes a few seconds to load its post-start hooks).
for i in $(seq 1 600); do
  alive || exit 1
  [ "$(kubectl get --raw /readyz 2>/dev/null)" = ok ] && break
  [ "$i" = 600 ] && { echo "kube-up: /readyz not ok after 60 s" >&2; exit 1; }
  sleep 0.1
done

"$BIN/kube-controller-manager" --kubeconfig "$DIR/kubeconfig" \
  --controllers deployment,replicaset,garbagecollector,serviceaccount \
  --leader-elect=false --bind-address 127.0.0.1 --secure-port 0 \
  >"$DIR/kube-controller-manager.log" 2>&1 &
pids+=($!)

# kwok's default pod stages, with pod-ready skipping pods labelled never-ready and a stage making those Running
# but not Ready (what a kubelet reports for a container whose readiness probe never passes).
cat >"$DIR/kwok.yaml" <<'EOF'
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: pod-ready}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: '.metadata.deletionTimestamp', operator: DoesNotExist}
    - {key: '.status.podIP', operator: DoesNotExist}
    - {key: '.metadata.labels["cortex-rollback.test/ready"]', operator: NotIn, values: ['never']}
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Initialized}
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Ready}
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: ContainersReady}
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        restartCount: 0
        started: true
        state: {running: {startedAt: {{ $now | Quote }}}}
      {{ end }}
      hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
      podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
      phase: Running
      startTime: {{ $now | Quote }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: pod-never-ready}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: '.metadata.deletionTimestamp', operator: DoesNotExist}
    - {key: '.status.podIP', operator: DoesNotExist}
    - {key: '.metadata.labels["cortex-rollback.test/ready"]', operator: In, values: ['never']}
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Initialized}
      - {lastTransitionTime: {{ $now | Quote }}, status: "False", type: Ready, reason: ContainersNotReady}
      - {lastTransitionTime: {{ $now | Quote }}, status: "False", type: ContainersReady, reason: ContainersNotReady}
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        restartCount: 0
        started: true
        state: {running: {startedAt: {{ $now | Quote }}}}
      {{ end }}
      hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
      podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
      phase: Running
      startTime: {{ $now | Quote }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: pod-delete}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: '.metadata.deletionTimestamp', operator: Exists}
  next:
    finalizers: {empty: true}
    delete: true
EOF

"$BIN/kwok" --kubeconfig "$DIR/kubeconfig" -c "$DIR/kwok.yaml" \
  --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
  --node-ip 10.0.0.1 --cidr 10.0.0.1/24 >"$DIR/kwok.log" 2>&1 &
pids+=($!)

kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $NODE
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {type: kwok, kubernetes.io/hostname: $NODE}
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
EOF
alive || exit 1
kubectl wait --for=condition=Ready "node/$NODE" --timeout=60s >/dev/null
echo "KUBECONFIG=$DIR/kubeconfig"
echo ready
wait -n "${pids[@]}" || true
echo "kube-up: a process exited; logs in $DIR" >&2
tail -20 "$DIR"/*.log >&2
exit 1
