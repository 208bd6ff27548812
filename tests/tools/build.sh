#!/usr/bin/env bash
# Builds one of the Go tools the chart's tests drive, from the pinned module in tests/tools/NAME,
# into an ignored cache folder keyed by the Go version and a hash of the module's files, and prints
# the binary's path. A binary already built is reused as is: only a change of a pin rebuilds.
#
#   tests/tools/build.sh helm       # helm.sh/helm/v4 (a `tool` line in tests/tools/helm/go.mod)
#   tests/tools/build.sh kstatus    # tests/tools/kstatus/main.go: kstatus of objects on stdin
#   tests/tools/build.sh promrules  # tests/tools/promrules/main.go: Prometheus's rule loader
#
# Needs `go` (1.26 or newer) and the Go module proxy (exit 3 without go). Progress on stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

[ $# -eq 1 ] && [ -f "$here/$1/go.mod" ] || { echo "usage: $0 helm|kstatus|promrules" >&2; exit 2; }
name=$1
module=$here/$name
if ! command -v go >/dev/null 2>&1; then
    echo "go not found: $name is built from its Go module (Go 1.26 or newer)" >&2
    exit 3
fi
hash=$(cd "$module" && cat "$here/build.sh" go.mod go.sum $(ls *.go 2>/dev/null) | sha256sum | cut -c1-8)
out=$repo/.cache/tools/$name-$(go env GOVERSION)-$hash
if [ -x "$out/$name" ]; then
    echo "$out/$name"
    exit 0
fi
mkdir -p "$out"
start=$SECONDS
echo "building $name (first time only; a few minutes on 2 cores)" >&2
# A module with a `tool` line builds that tool; one with a main.go builds itself.
package=$(sed -n 's/^tool \(.*\)$/\1/p' "$module/go.mod" | head -n 1)
ldflags="-s -w"
if [ "$name" = helm ]; then
    # `helm version` then names the pinned release rather than its minor version only.
    version=$(awk '$1 == "helm.sh/helm/v4" { print $2 }' "$module/go.mod")
    ldflags="$ldflags -X helm.sh/helm/v4/internal/version.version=$version"
fi
(cd "$module" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/$name.partial" "${package:-.}")
mv "$out/$name.partial" "$out/$name"
echo "$name built in $((SECONDS - start)) s into $out" >&2
echo "$out/$name"
