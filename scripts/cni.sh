#!/usr/bin/env bash
# Build the CNI plugins the CRI pod-network test uses (bridge, host-local,
# loopback, from github.com/containernetworking/plugins) into
# .tools/cni-VERSION, once, and print that directory. containerd's CRI
# plugin runs them to give a non-host-network pod its network namespace's
# veth and address, which the pod's VM then takes over.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# The version is containerdrun.CNIPluginsVersion's, where the tests look.
# shellcheck source=scripts/lib/pinned.sh
. scripts/lib/pinned.sh
version=$(pinned_version internal/testutil/containerdrun/cni.go CNIPluginsVersion)
dir="$root/.tools/cni-$version"
plugins=(main/bridge main/loopback ipam/host-local)
if [[ -x $dir/bridge && -x $dir/loopback && -x $dir/host-local ]]; then
	echo "$dir"
	exit 0
fi
echo "cni: building the CNI plugins ${plugins[*]} $version into $dir (a minute, once)" >&2
mkdir -p "$dir"
pkgs=()
for p in "${plugins[@]}"; do
	pkgs+=("github.com/containernetworking/plugins/plugins/$p@$version")
done
GOBIN=$dir CGO_ENABLED=0 go install -trimpath "${pkgs[@]}"
echo "$dir"
