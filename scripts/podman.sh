#!/usr/bin/env bash
# Run podman with this repository's private configuration: `scripts/podman.sh images`, etc.
#
# Images and layers live under <repo>/.cache/containers (gitignored), so warm builds reuse
# layers; runtime state (locks, container state, overlay mounts) lives on tmpfs under /dev/shm,
# which a reboot clears. The config files come from scripts/podman/*.conf with their @...@
# placeholders filled in, and are passed through CONTAINERS_CONF, CONTAINERS_STORAGE_CONF and
# CONTAINERS_REGISTRIES_CONF: nothing global is read or changed.
#
# Env: CONTAINERS_CACHE_DIR (default <repo>/.cache/containers), PODMAN (default: podman on PATH).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${CONTAINERS_CACHE_DIR:-$repo_root/.cache/containers}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
key="$(printf '%s' "$cache" | md5sum | cut -c1-10)"
shm=/dev/shm
[[ -d "$shm" && -w "$shm" ]] || shm="${TMPDIR:-/tmp}"
run_root="$shm/podman-$(id -u)-$key"
mkdir -p "$run_root/storage" "$run_root/libpod"

# ulimits at or below the host's hard limits (runc cannot raise them).
cap() { local want=$1 have=$2; if [[ "$have" == unlimited || "$have" -ge "$want" ]]; then echo "$want"; else echo "$have"; fi; }
nofile="$(cap 20000 "$(ulimit -Hn)")"
nproc="$(cap 32768 "$(ulimit -Hu)")"

render() {  # render TEMPLATE OUT: fill in the placeholders; rewrite only when the result changed
    local out="$cache/$2" text
    text="$(sed -e "s|@CACHE@|$cache|g" -e "s|@RUN_ROOT@|$run_root/storage|g" -e "s|@TMP_DIR@|$run_root/libpod|g" \
                -e "s|@NOFILE@|$nofile|g" -e "s|@NPROC@|$nproc|g" "$repo_root/scripts/podman/$1")"
    if [[ ! -f "$out" || "$(cat "$out")" != "$text" ]]; then
        printf '%s\n' "$text" >"$out.tmp.$$" && mv -f "$out.tmp.$$" "$out"
    fi
}
render containers.conf containers.conf
render storage.conf storage.conf
render registries.conf registries.conf

export CONTAINERS_CONF="$cache/containers.conf"
export CONTAINERS_STORAGE_CONF="$cache/storage.conf"
export CONTAINERS_REGISTRIES_CONF="$cache/registries.conf"
exec "${PODMAN:-podman}" "$@"
