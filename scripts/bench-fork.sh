#!/usr/bin/env bash
# bench-fork: a running VM checkpointed once and FORKS (default 10) VMs
# started from it, each timed to a working exec, side by side with new
# VMs of the same image (restored from the boot snapshot); the source's
# frozen time; the VMM memory (RSS, PSS) of the forks against the
# source's. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/fixtures.sh
. scripts/lib/fixtures.sh
[[ $(id -u) -eq 0 ]] || { echo "bench-fork: run as root (VMs need taps and nftables)" >&2; exit 1; }
deb=$(kernel_deb)
img=$(busybox_tar)
go run ./internal/tools/benchboot -fork "${FORKS:-10}" -banger "${BANGER:-bin/banger}" -kernel-deb "$deb" -image-tar "$img"
