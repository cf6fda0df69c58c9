#!/usr/bin/env bash
# Put Debian's docker CLI (package docker.io; only its client binary,
# never dockerd) into .tools/docker-cli/docker, once, and print that
# directory. The Docker Engine API tests drive banger's Docker socket
# with it, as users' scripts do. Debian 12's is Docker 20.10, API 1.41.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/.tools/docker-cli"
if [[ -x $dir/docker ]]; then
	echo "$dir"
	exit 0
fi
echo "dockercli: extracting the docker client from Debian's docker.io into $dir (once)" >&2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# apt-get download writes to the current directory; _apt cannot write a
# mktemp directory, which apt only warns about.
(cd "$tmp" && apt-get download docker.io >/dev/null 2>&1) || { echo "dockercli: apt-get download docker.io failed (run apt-get update?)" >&2; exit 1; }
dpkg-deb -x "$tmp"/docker.io_*.deb "$tmp/x"
bin="$tmp/x/usr/bin/docker"
# The client, not the daemon: it says it is the client and which API.
api=$("$bin" version --format '{{.Client.APIVersion}}' 2>/dev/null || true)
if [[ -z $api ]]; then
	echo "dockercli: $bin is not the docker client (no Client.APIVersion)" >&2
	exit 1
fi
mkdir -p "$dir"
install -m 0755 "$bin" "$dir/docker"
dpkg-deb -f "$tmp"/docker.io_*.deb Version >"$dir/VERSION"
echo "dockercli: docker $(cat "$dir/VERSION"), Engine API $api" >&2
echo "$dir"
