#!/usr/bin/env bash
# bench-start: `banger run --rm IMG -- true` restored from its boot
# snapshot, the same with --cold, and a bare qemu-system-x86_64 boot of the
# same guest; interleaved rounds, medians, ratios, each way's phases, and
# the VMM memory (RSS, PSS) of 5 VMs started each way. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/fixtures.sh
. scripts/lib/fixtures.sh
[[ $(id -u) -eq 0 ]] || { echo "bench-start: run as root (VMs need taps and nftables)" >&2; exit 1; }
deb=$(kernel_deb)
img=$(busybox_tar)
go run ./internal/tools/benchboot -start -banger "${BANGER:-bin/banger}" -kernel-deb "$deb" -image-tar "$img" -rounds "${ROUNDS:-7}"
