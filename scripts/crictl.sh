#!/usr/bin/env bash
# Build crictl (Kubernetes' CRI client) into .tools/crictl-VERSION, once,
# and print that directory. The CRI test drives the test's containerd
# through it, as kubelet would through the CRI.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# The version is containerdrun.CrictlVersion's, where the tests look.
version=$(sed -n 's/^const CrictlVersion = "\(v[0-9.]*\)"$/\1/p' internal/testutil/containerdrun/cri.go)
[[ -n $version ]] || { echo "crictl: no CrictlVersion in internal/testutil/containerdrun/cri.go" >&2; exit 1; }
dir="$root/.tools/crictl-$version"
if [[ -x $dir/crictl ]]; then
	echo "$dir"
	exit 0
fi
echo "crictl: building crictl $version into $dir (a minute, once)" >&2
mkdir -p "$dir"
GOBIN=$dir CGO_ENABLED=0 go install -trimpath "sigs.k8s.io/cri-tools/cmd/crictl@$version"
echo "$dir"
