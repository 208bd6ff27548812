#!/usr/bin/env bash
# Builds the pinned control plane (kube-apiserver, kube-controller-manager, kubectl, etcd) from
# their Go modules into an ignored cache folder keyed by the pins, and prints that folder.
# A folder that is already complete is reused as is: only a change of a pin rebuilds.
#
#   tests/cluster/build.sh          # prints e.g. /repo/.cache/cluster/v1.37.2-etcd-v3.6.16-go1.26.8-1a2b3c4d
#
# Needs `go` (1.26 or newer) and the Go module proxy. Writes progress to stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
source "$here/versions.env"

if ! command -v go >/dev/null 2>&1; then
    echo "go not found: the test control plane is built from Go modules (Go 1.26 or newer)" >&2
    exit 3
fi
grep -q "go.etcd.io/etcd/server/v3 ${ETCD_VERSION}\b" "$here/etcd/go.mod" ||
    { echo "etcd/go.mod does not require etcd ${ETCD_VERSION} (versions.env): edit one to match" >&2; exit 2; }

go_version=$(go env GOVERSION)
pins_hash=$(cat "$here"/go.mod "$here"/go.sum "$here"/etcd/go.mod "$here"/etcd/go.sum |
    sha256sum | cut -c1-8)
out="${ZIS_CLUSTER_BIN_DIR:-$repo/.cache/cluster/${KUBE_VERSION}-etcd-${ETCD_VERSION}-${go_version}-${pins_hash}}"
binaries=(kube-apiserver kube-controller-manager kubectl etcd)

complete() { for b in "${binaries[@]}"; do [ -x "$out/$b" ] || return 1; done; }
if complete; then
    echo "$out"
    exit 0
fi

mkdir -p "$out"
minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=${KUBE_VERSION} -X $pkg.gitMajor=1 -X $pkg.gitMinor=${minor}
 -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
start=$SECONDS
for cmd in kube-apiserver kube-controller-manager kubectl; do
    [ -x "$out/$cmd" ] && continue
    echo "building $cmd ${KUBE_VERSION} (first time only; minutes on 2 cores)" >&2
    (cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/$cmd.partial" "k8s.io/kubernetes/cmd/$cmd")
    mv "$out/$cmd.partial" "$out/$cmd"
done
if [ ! -x "$out/etcd" ]; then
    echo "building etcd ${ETCD_VERSION}" >&2
    (cd "$here/etcd" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/etcd.partial" go.etcd.io/etcd/server/v3)
    mv "$out/etcd.partial" "$out/etcd"
fi
echo "control plane built in $((SECONDS - start)) s into $out" >&2
echo "$out"
