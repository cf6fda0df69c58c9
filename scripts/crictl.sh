#!/usr/bin/env bash
# Build crictl (Kubernetes' CRI client) into .tools/crictl-VERSION, once,
# and print that directory. The CRI test drives the test's containerd
# through it, as kubelet would through the CRI.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# The version is containerdrun.CrictlVersion's, where the tests look.
# shellcheck source=scripts/lib/pinned.sh
. scripts/lib/pinned.sh
version=$(pinned_version internal/testutil/containerdrun/cri.go CrictlVersion)
dir="$root/.tools/crictl-$version"
if [[ -x $dir/crictl ]]; then
	echo "$dir"
	exit 0
fi
echo "crictl: building crictl $version into $dir (a minute, once)" >&2
mkdir -p "$dir"
GOBIN=$dir CGO_ENABLED=0 go install -trimpath "sigs.k8s.io/cri-tools/cmd/crictl@$version"
echo "$dir"
