#!/usr/bin/env bash
# Renders the plain manifests from the Helm chart's default values (release `zis-operator` in
# namespace `zis-system`), so that they never drift from the chart:
#
#   deploy/install.yaml   the namespace (Pod Security `restricted` enforced), the CRDs, the
#                         ServiceAccount, the RBAC and the Deployment: `kubectl apply -f` it
#   deploy/rbac.yaml      the namespace, the ServiceAccount and the RBAC only (what the tests' real
#                         API server binds the operator's ServiceAccount with)
#
#   deploy/render.sh [OUTDIR]     writes into OUTDIR (default: deploy/)
#
# tests/chart.rs renders them again into a temporary folder and fails when they differ: run this
# after changing the chart. Needs helm (tests/tools/build.sh helm builds it; HELM overrides).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
out=${1:-$here}
helm=${HELM:-$("$repo/tests/tools/build.sh" helm)}
chart=$repo/charts/zis-operator
release=(zis-operator "$chart" --namespace zis-system)

namespace() {
    cat <<'YAML'
apiVersion: v1
kind: Namespace
metadata:
  name: zis-system
  labels:
    # The operator's pod passes the restricted profile (tests/chart_real.rs checks it).
    pod-security.kubernetes.io/enforce: restricted
YAML
}

{
    echo "# zis-operator: everything to run it, rendered from charts/zis-operator with its default values"
    echo "# by deploy/render.sh (do not edit; edit the chart and run it). Set the Zendesk account, then"
    echo "# create the credentials Secret (README.md, \"Install with kubectl\"):"
    echo "#   kubectl apply --server-side -f deploy/install.yaml"
    echo "#   kubectl -n zis-system set env deployment/zis-operator ZIS_SUBDOMAIN=your-subdomain"
    echo "#   kubectl -n zis-system create secret generic zis-credentials --from-literal=access-token=..."
    echo "---"
    namespace
    "$helm" template "${release[@]}" --include-crds
} >"$out/install.yaml.partial"
mv "$out/install.yaml.partial" "$out/install.yaml"

{
    echo "# The operator's identity and permissions, cluster-wide: exactly the calls it makes, nothing more."
    echo "# Rendered from charts/zis-operator/templates/rbac.yaml by deploy/render.sh (do not edit). The"
    echo "# tests' real API server binds the operator's ServiceAccount with it, and tests/rbac_real.rs"
    echo "# removes each verb in turn and shows that something breaks."
    echo "---"
    namespace
    "$helm" template "${release[@]}" --show-only templates/serviceaccount.yaml --show-only templates/rbac.yaml
} >"$out/rbac.yaml.partial"
mv "$out/rbac.yaml.partial" "$out/rbac.yaml"
