#!/usr/bin/env bash
# bench-containerd: containers through containerd's banger runtime
# (containerd-shim-banger-v2) against banger's own CLI on one daemon:
# ROUNDS (default 5) alternated rounds of `ctr run --rm --runtime
# io.containerd.banger.v2 IMG ID true` vs `banger run --rm IMG -- true`
# (medians, min/max, ratio), then N (default 6) containers started back
# to back each way (containers per minute, ratio). MODE=cri (make
# bench-cri): containerd's CRI plugin on, N pods started back to back
# through crictl (runp, create, start of `sleep 300`) vs N `banger run -d`
# (pods per minute, ratio, median runp/create/start); with NET=cni too
# (make bench-cri NET=cni) the pods are on a CNI bridge network of the
# bench's own (each container's VM in its pod's network namespace)
# instead of the host's. Its containerd is its own (scripts/containerd.sh,
# scripts/crictl.sh, scripts/cni.sh build them once).
# Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/fixtures.sh
. scripts/lib/fixtures.sh
[[ $(id -u) -eq 0 ]] || { echo "bench-containerd: run as root (VMs need taps and nftables; containerd mounts)" >&2; exit 1; }
deb=$(kernel_deb)
img=$(busybox_tar)
ctrd=$(scripts/containerd.sh)
mode=${MODE:-ctr}
crictl=()
[[ $mode == cri ]] && crictl=(-crictl "$(scripts/crictl.sh)/crictl")
[[ $mode == cri && ${NET:-host} == cni ]] && crictl+=(-cni "$(scripts/cni.sh)")
helper=$(mktemp -d)/benchcontainerd
trap 'rm -rf "$(dirname "$helper")"' EXIT
CGO_ENABLED=0 go build -o "$helper" ./internal/tools/benchcontainerd
# Not exec'd through go run: Ctrl-C reaches the helper itself, which
# removes what it started.
"$helper" -banger "${BANGER:-bin/banger}" -shim-dir "${SHIM_DIR:-bin}" -containerd-dir "$ctrd" \
	-kernel-deb "$deb" -image-tar "$img" -rounds "${ROUNDS:-5}" -n "${N:-6}" -mode "$mode" "${crictl[@]}"
