#!/usr/bin/env bash
# bench-boot: `banger run --rm --cold IMG -- true` (warm: image and kernel present)
# against a bare qemu-system-x86_64 boot of the same kernel, initramfs and
# disk to power-off; several interleaved rounds, medians, the ratio, and
# the median of each phase `banger run --timings` reports. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/fixtures.sh
. scripts/lib/fixtures.sh
[[ $(id -u) -eq 0 ]] || { echo "bench-boot: run as root (VMs need taps and nftables)" >&2; exit 1; }
deb=$(kernel_deb)
img=$(busybox_tar)
go run ./internal/tools/benchboot -banger "${BANGER:-bin/banger}" -kernel-deb "$deb" -image-tar "$img" -rounds "${ROUNDS:-7}"
