#!/usr/bin/env bash
# bench-build: a 5-step Dockerfile on the busybox image (three RUNs) built
# cold (--no-cache) and cached, and the median RUN step against
# `banger run --rm` of the same command; medians and the ratio. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/fixtures.sh
. scripts/lib/fixtures.sh
[[ $(id -u) -eq 0 ]] || { echo "bench-build: run as root (VMs need taps and nftables)" >&2; exit 1; }
deb=$(kernel_deb)
img=$(busybox_tar)
go run ./internal/tools/benchbuild -banger "${BANGER:-bin/banger}" -kernel-deb "$deb" -image-tar "$img" -rounds "${ROUNDS:-3}"
