#!/usr/bin/env bash
# The real Kubernetes control plane for tests, on loopback: etcd, kube-apiserver and
# kube-controller-manager (namespace, garbage-collector and service-account controllers), built
# from their Go modules by build.sh.
#
#   tests/cluster/cluster.sh up DIR     build what is missing, start, wait for /readyz; prints
#                                       "cluster ready: DIR/admin.kubeconfig"
#   tests/cluster/cluster.sh down DIR   stop every process `up` started and remove its data
#
# DIR receives admin.kubeconfig (system:masters), operator.kubeconfig (the ServiceAccount
# zis-system/zis-operator, bound only by deploy/rbac.yaml), kubectl (the same release), the
# apiserver's audit log (audit.log) and the logs of every process (*.log).
#
# Environment:
#   ZIS_CLUSTER_OWNER_PID    tear the cluster down by itself once this process has exited (test
#                            binaries set it, so a failing or killed test leaves nothing running)
#   ZIS_CLUSTER_PORT         the apiserver's port (default: a free one); refused if taken
#   ZIS_CLUSTER_BIN_DIR      use binaries from here instead of the build cache
#
# Exit codes: 0 ready (or stopped); non-zero with a one-line reason on stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

die() { echo "cluster: $*" >&2; exit 1; }

# Prints N free loopback ports, distinct, from below the kernel's ephemeral range: a port the
# kernel handed out (bind to port 0, an outgoing connection of a test running meanwhile) can be
# taken again before etcd or the apiserver binds it, which made `up` fail now and then.
free_ports() {
    python3 - "$1" <<'PY'
import random, socket, sys
wanted = int(sys.argv[1])
with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
    ephemeral_low = int(f.read().split()[0])
low = 10000 if ephemeral_low > 11000 else 1024
ports = []
for candidate in random.sample(range(low, ephemeral_low), min(2000, ephemeral_low - low)):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", candidate))
        except OSError:
            continue
    ports.append(candidate)
    if len(ports) == wanted:
        print(*ports)
        sys.exit(0)
sys.exit("no free port below the ephemeral range")
PY
}

port_taken() {
    python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(0)
sys.exit(1)
PY
}

# Starts "$@" in a session of its own (so `down` can stop it with everything it spawned), its
# output to DIR/NAME.log, its pid to DIR/pids/NAME.
start() {
    local name=$1; shift
    setsid "$@" >"$dir/$name.log" 2>&1 </dev/null &
    echo $! >"$dir/pids/$name"
}

alive() { [ -f "$dir/pids/$1" ] && kill -0 "$(cat "$dir/pids/$1")" 2>/dev/null; }

# Waits until URL answers 200 (curl-free: python's urllib with the cluster's CA and admin cert).
wait_ready() {
    local what=$1 url=$2 seconds=$3 process=$4
    local deadline=$((SECONDS + seconds))
    until python3 - "$url" "$dir/pki" <<'PY' 2>/dev/null
import ssl, sys, urllib.request
url, pki = sys.argv[1], sys.argv[2]
context = ssl.create_default_context(cafile=f"{pki}/ca.crt")
context.load_cert_chain(f"{pki}/admin.crt", f"{pki}/admin.key")
with urllib.request.urlopen(url, context=context, timeout=2) as answer:
    sys.exit(0 if answer.status == 200 else 1)
PY
    do
        alive "$process" || die "$process exited while starting; last lines of $dir.failed/$process.log: $(tail -n 3 "$dir/$process.log" | tr '\n' ' ')"
        [ $SECONDS -lt $deadline ] || die "$what did not answer $url within ${seconds}s (see $dir.failed/$process.log)"
        sleep 0.5
    done
}

certificates() {
    local pki=$dir/pki
    mkdir -p "$pki"
    (
        cd "$pki"
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=zis-test-ca" \
            -keyout ca.key -out ca.crt 2>/dev/null
        # X.509 v3 with key usages: rustls (the operator's TLS) refuses v1 certificates.
        sign() { # name subject extensions
            openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
            openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
                -extfile <(printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n%s\n' "$3") \
                -out "$1.crt" 2>/dev/null
        }
        sign apiserver "/CN=kube-apiserver" "extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc,IP:10.0.0.1"
        sign admin "/O=system:masters/CN=zis-test-admin" "extendedKeyUsage=clientAuth"
        sign controller-manager "/CN=system:kube-controller-manager" "extendedKeyUsage=clientAuth"
        openssl genrsa -out service-account.key 2048 2>/dev/null
        openssl rsa -in service-account.key -pubout -out service-account.pub 2>/dev/null
    )
}

# kubeconfig NAME USER-ENTRY-YAML
kubeconfig() {
    cat >"$dir/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: zis-test
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority-data: $(base64 -w0 <"$dir/pki/ca.crt")
users:
- name: $1
  user:
$2
contexts:
- name: zis-test
  context: {cluster: zis-test, user: $1}
current-context: zis-test
EOF
}

up() {
    [ -e "$dir/pids" ] && alive kube-apiserver && die "a cluster already runs in $dir (run: $0 down $dir)"
    command -v openssl >/dev/null || die "openssl not found (needed to generate the test certificates)"
    command -v python3 >/dev/null || die "python3 not found (needed to pick ports and probe /readyz)"
    local bin
    if [ -n "${ZIS_CLUSTER_BIN_DIR:-}" ]; then
        bin=$ZIS_CLUSTER_BIN_DIR
        for b in etcd kube-apiserver kube-controller-manager kubectl; do
            [ -x "$bin/$b" ] || die "$bin/$b is missing (ZIS_CLUSTER_BIN_DIR); build it with tests/cluster/build.sh"
        done
    else
        bin=$("$here/build.sh") || die "building the control plane failed (see the messages above; tests/cluster/build.sh)"
    fi
    rm -rf "$dir"
    mkdir -p "$dir/pids" "$dir/etcd-data"
    dir=$(cd "$dir" && pwd)
    # Whatever goes wrong from here on, nothing started is left running (the logs are kept for
    # the message, in DIR.failed).
    trap 'failed_up' EXIT
    ln -s "$bin/kubectl" "$dir/kubectl"

    local ports etcd_port etcd_peer_port kcm_port free_api_port
    ports=$(free_ports 4) || die "no free loopback ports below the ephemeral range"
    read -r free_api_port etcd_port etcd_peer_port kcm_port <<<"$ports"
    api_port=${ZIS_CLUSTER_PORT:-$free_api_port}
    if port_taken "$api_port"; then die "port $api_port is taken (ZIS_CLUSTER_PORT)"; fi
    certificates

    start etcd "$bin/etcd" --name zis-test --data-dir "$dir/etcd-data" \
        --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
        --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" \
        --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
        --initial-cluster "zis-test=http://127.0.0.1:$etcd_peer_port" \
        --unsafe-no-fsync --quota-backend-bytes 4294967296 --log-level warn

    cat >"$dir/audit-policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
# Only who asked for what and the answer: never request or response bodies (they hold Secrets).
- level: Metadata
EOF
    start kube-apiserver "$bin/kube-apiserver" \
        --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
        --etcd-servers "http://127.0.0.1:$etcd_port" \
        --cert-dir "$dir/pki" --tls-cert-file "$dir/pki/apiserver.crt" --tls-private-key-file "$dir/pki/apiserver.key" \
        --client-ca-file "$dir/pki/ca.crt" \
        --service-account-issuer https://kubernetes.default.svc \
        --service-account-key-file "$dir/pki/service-account.pub" \
        --service-account-signing-key-file "$dir/pki/service-account.key" \
        --api-audiences https://kubernetes.default.svc \
        --authorization-mode Node,RBAC --endpoint-reconciler-type none \
        --service-cluster-ip-range 10.0.0.0/24 \
        --audit-policy-file "$dir/audit-policy.yaml" --audit-log-path "$dir/audit.log" \
        --audit-log-format json --audit-log-mode blocking \
        --allow-privileged=false --v 1
    kubeconfig admin "    client-certificate-data: $(base64 -w0 <"$dir/pki/admin.crt")
    client-key-data: $(base64 -w0 <"$dir/pki/admin.key")"
    kubeconfig controller-manager "    client-certificate-data: $(base64 -w0 <"$dir/pki/controller-manager.crt")
    client-key-data: $(base64 -w0 <"$dir/pki/controller-manager.key")"
    wait_ready kube-apiserver "https://127.0.0.1:$api_port/readyz" 120 kube-apiserver

    start kube-controller-manager "$bin/kube-controller-manager" \
        --kubeconfig "$dir/controller-manager.kubeconfig" \
        --authentication-kubeconfig "$dir/controller-manager.kubeconfig" \
        --authorization-kubeconfig "$dir/controller-manager.kubeconfig" \
        --bind-address 127.0.0.1 --secure-port "$kcm_port" --cert-dir "$dir/pki/kcm" \
        --controllers namespace-controller,garbage-collector-controller,serviceaccount-controller \
        --service-account-private-key-file "$dir/pki/service-account.key" \
        --root-ca-file "$dir/pki/ca.crt" \
        --use-service-account-credentials --leader-elect=false --concurrent-namespace-syncs 10 --v 1

    local kubectl=("$dir/kubectl" --kubeconfig "$dir/admin.kubeconfig")
    "${kubectl[@]}" apply -f "$repo/deploy/rbac.yaml" >"$dir/rbac-apply.log" 2>&1 ||
        die "applying deploy/rbac.yaml failed: $(tail -n 2 "$dir/rbac-apply.log" | tr '\n' ' ')"
    local token
    token=$("${kubectl[@]}" create token zis-operator -n zis-system --duration 48h 2>"$dir/token.log") ||
        die "TokenRequest for zis-system/zis-operator failed: $(tr '\n' ' ' <"$dir/token.log")"
    kubeconfig operator "    token: $token"
    alive kube-controller-manager || die "kube-controller-manager exited; see $dir.failed/kube-controller-manager.log"

    if [ -n "${ZIS_CLUSTER_OWNER_PID:-}" ]; then
        # Tears the cluster down once the owner is gone, whatever way it ended.
        setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; exec "$2" down "$3"' \
            watchdog "$ZIS_CLUSTER_OWNER_PID" "$here/cluster.sh" "$dir" >/dev/null 2>&1 </dev/null &
        echo $! >"$dir/pids/watchdog"
    fi
    trap - EXIT
    echo "cluster ready: $dir/admin.kubeconfig"
}

failed_up() {
    rm -rf "$dir.failed"
    mkdir -p "$dir.failed"
    cp "$dir"/*.log "$dir.failed/" 2>/dev/null || true
    down
}

down() {
    [ -d "$dir/pids" ] || { rm -rf "$dir"; return 0; }
    local name pid
    # The watchdog last: it may be what runs this.
    for name in kube-controller-manager kube-apiserver etcd watchdog; do
        [ -f "$dir/pids/$name" ] || continue
        pid=$(cat "$dir/pids/$name")
        [ "$pid" = "$$" ] && continue
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
    for _ in $(seq 1 50); do
        local left=0
        for name in kube-controller-manager kube-apiserver etcd; do
            alive "$name" && left=1
        done
        [ $left = 0 ] && break
        sleep 0.1
    done
    for name in kube-controller-manager kube-apiserver etcd; do
        alive "$name" && kill -KILL -- "-$(cat "$dir/pids/$name")" 2>/dev/null
    done
    rm -rf "$dir"
}

[ $# -eq 2 ] || die "usage: $0 up DIR | down DIR"
dir=$2
case $1 in
    up) up ;;
    down) down ;;
    *) die "usage: $0 up DIR | down DIR" ;;
esac
