#!/usr/bin/env bash
# Make a local stand-in for the Dockerfile's base image, with no container registry.
#
# Builds Debian bookworm (`mmdebstrap --variant=minbase`, merged /usr) with python3.11, venv,
# pip and CA certificates, caches it as a tarball, and `podman import`s it into the private
# storage of scripts/podman.sh under the exact name the generated Dockerfile's FROM uses.
# Cold: ~25 s for mmdebstrap; afterwards the tarball (or the image itself) is reused.
#
# Usage: scripts/base-image.sh [PYTHON_VERSION]   (default 3.11, the only Python bookworm ships)
# Prints the image name. Env: BASE_IMAGE (the name to import as), BASE_IMAGE_CACHE_DIR,
# DEBIAN_MIRROR (default: the mirror of the host's bookworm sources, else deb.debian.org).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
podman="$repo_root/scripts/podman.sh"
version="${1:-3.11}"
if [[ "$version" != 3.11 ]]; then
    echo "base-image.sh: Debian bookworm ships Python 3.11 only, not $version" >&2
    exit 2
fi
image="${BASE_IMAGE:-docker.io/library/python:$version-slim-bookworm}"
cache="${BASE_IMAGE_CACHE_DIR:-$repo_root/.cache/base-image}"
packages="python$version,python$version-venv,python3-pip,python-is-python3,ca-certificates"
# The tarball's name changes with what goes into it, so a new package list rebuilds it.
tarball="$cache/bookworm-minbase-$(printf '%s' "$packages" | md5sum | cut -c1-8).tar"

if "$podman" image exists "$image"; then
    echo "$image"
    exit 0
fi

if [[ ! -s "$tarball" ]]; then
    command -v mmdebstrap >/dev/null || { echo "base-image.sh: mmdebstrap is missing (apt-get install mmdebstrap)" >&2; exit 1; }
    mkdir -p "$cache"
    mirror="${DEBIAN_MIRROR:-}"
    if [[ -z "$mirror" ]]; then
        mirror="$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
                  | grep -v security | head -n 1 | tr -d ' ' || true)"
    fi
    mirror="${mirror:-http://deb.debian.org/debian}"
    aptopts=()
    # The host's apt proxy and certificate settings, if any, so apt inside reaches the mirror the same way.
    while IFS= read -r line; do
        aptopts+=(--aptopt="$line")
    done < <(apt-config dump 2>/dev/null | grep -iE '^Acquire::(https?::Proxy|https?::Verify|https::CaInfo|Check-Valid-Until)' || true)
    started=$SECONDS
    partial="$tarball.partial.$$"
    trap 'rm -f "$partial"' EXIT
    # Docs, man pages and locales are not part of the official slim image either.
    mmdebstrap --quiet --variant=minbase --include="$packages" \
        --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-exclude=/usr/share/info/*' \
        "${aptopts[@]}" --format=tar bookworm "$partial" "$mirror" >"$cache/mmdebstrap.log" 2>&1 \
        || { tail -n 40 "$cache/mmdebstrap.log" >&2; exit 1; }
    mv -f "$partial" "$tarball"
    echo "base-image.sh: built $(basename "$tarball") ($(du -m "$tarball" | cut -f1) MB) in $((SECONDS - started)) s" >&2
fi

"$podman" import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'LABEL org.opencontainers.image.description=local stand-in built by scripts/base-image.sh' \
    --change 'CMD ["python3"]' \
    "$tarball" "$image" >/dev/null
echo "$image"
