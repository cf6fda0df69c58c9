#!/usr/bin/env bash
# bench-volume: write and read back 200 MiB, as one file and as 2,000 small
# files, through a shared directory (run -v, virtio-fs) and on the guest's
# own disk, timed in the guest; prints each throughput and the ratio
# volume/disk. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/fixtures.sh
. scripts/lib/fixtures.sh
[[ $(id -u) -eq 0 ]] || { echo "bench-volume: run as root (VMs need taps and nftables)" >&2; exit 1; }
deb=$(kernel_deb)
img=$(busybox_tar)
helper=$(mktemp -d)/benchio
trap 'rm -rf "$(dirname "$helper")"' EXIT
CGO_ENABLED=0 go build -o "$helper" ./internal/tools/benchvolume
go run ./internal/tools/benchvolume -banger "${BANGER:-bin/banger}" -helper "$helper" -kernel-deb "$deb" -image-tar "$img" -rounds "${ROUNDS:-3}"
