#!/usr/bin/env bash
# The README's quick start: start a daemon on a scratch root, import a tiny
# busybox root file system (made from the host's busybox-static, the same
# way the tests make it) and show the image. Run as root after `make build`
# (make demo does both).
set -euo pipefail
cd "$(dirname "$0")/.."

root=$(mktemp -d /tmp/banger-demo.XXXXXX)
sock="$root/run/banger.sock"
export BANGER_HOST="unix://$sock"

bin/banger daemon --root "$root" >"$root/daemon.log" 2>&1 &
daemon=$!
cleanup() {
	kill "$daemon" 2>/dev/null || true
	wait "$daemon" 2>/dev/null || true
	rm -rf "$root"
}
trap cleanup EXIT

for _ in $(seq 100); do
	[[ -S $sock ]] && bin/banger info >/dev/null 2>&1 && break
	sleep 0.1
done
bin/banger info
echo

export PATH="$PATH:/usr/local/go/bin"
go build -o "$root/testimage" ./internal/testutil/testimages/cmd/testimage
"$root/testimage" busybox "$root/busybox.tar"
echo "+ banger image import busybox.tar --name busybox:demo"
bin/banger image import "$root/busybox.tar" --name busybox:demo
echo "+ banger image ls"
bin/banger image ls
echo "+ banger image inspect busybox:demo"
bin/banger image inspect busybox:demo
