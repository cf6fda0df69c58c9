#!/usr/bin/env bash
# bench-stop: the time `banger stop` takes for a VM whose main process exits
# on SIGTERM, against `banger kill` of one (both end the process, then the
# guest syncs and powers off); interleaved rounds, medians and the ratio.
# Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/fixtures.sh
. scripts/lib/fixtures.sh
[[ $(id -u) -eq 0 ]] || { echo "bench-stop: run as root (VMs need taps and nftables)" >&2; exit 1; }
deb=$(kernel_deb)
img=$(busybox_tar)
go run ./internal/tools/benchboot -banger "${BANGER:-bin/banger}" -kernel-deb "$deb" -image-tar "$img" -rounds 0 -stop-rounds "${ROUNDS:-7}"
