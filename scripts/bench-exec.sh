#!/usr/bin/env bash
# bench-exec: where the time of `banger exec VM true` goes: the real CLI
# against `banger --version` (process start), `banger inspect` (an API round
# trip), an exec on an open connection (in-process) and the guest's own
# spawn, with the breakdown `exec --timings` measures inside; medians, p90
# and ratios. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/fixtures.sh
. scripts/lib/fixtures.sh
[[ $(id -u) -eq 0 ]] || { echo "bench-exec: run as root (VMs need taps and nftables)" >&2; exit 1; }
deb=$(kernel_deb)
img=$(busybox_tar)
helper=$(mktemp -d)/benchexec
trap 'rm -rf "$(dirname "$helper")"' EXIT
CGO_ENABLED=0 go build -o "$helper" ./internal/tools/benchexec
go run ./internal/tools/benchexec -banger "${BANGER:-bin/banger}" -helper "$helper" -kernel-deb "$deb" -image-tar "$img" -rounds "${ROUNDS:-30}"
