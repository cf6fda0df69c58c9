#!/usr/bin/env bash
# Build containerd and ctr at the release go.mod pins for the shim
# (github.com/containerd/containerd/v2) into .tools/containerd-VERSION,
# once, and print that directory. The shim's tests run this containerd.
#
# Why not Debian 12's containerd (1.6.20): a shim built with containerd
# v2's shim package answers `start` only through the bootstrap protocol
# of containerd 2.3+ (1.6 gets "shim was started through the deprecated
# API but was built against the new API"), and serves the task API v3,
# which 1.6 does not speak (it calls containerd.task.v2.Task).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
version=$(go list -m -f '{{.Version}}' github.com/containerd/containerd/v2)
dir="$root/.tools/containerd-$version"
if [[ -x $dir/containerd && -x $dir/ctr ]]; then
	echo "$dir"
	exit 0
fi
echo "containerd: building containerd and ctr $version into $dir (a few minutes, once)" >&2
mkdir -p "$dir"
# Static, without cgo: the btrfs, zfs and devmapper snapshotters (cgo or
# host libraries) are left out; the shim's tests use overlayfs.
GOBIN=$dir CGO_ENABLED=0 go install -trimpath -tags 'no_btrfs no_zfs no_devmapper' \
	"github.com/containerd/containerd/v2/cmd/containerd@$version" \
	"github.com/containerd/containerd/v2/cmd/ctr@$version"
echo "$dir"
