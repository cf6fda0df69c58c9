#!/usr/bin/env bash
# The README's quick start: start a daemon on a scratch root and show it.
# Run as root after `make build` (make demo does both).
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
