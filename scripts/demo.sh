#!/usr/bin/env bash
# The README's main job: start a daemon on a scratch root, get the Debian
# cloud kernel from the kernel catalog (`banger kernel pull debian-cloud`,
# apt-get underneath), import a Debian bookworm root file system made with
# debootstrap (cached after the first run; no registry needed), boot a
# microVM from it and print its /etc/os-release — then remove everything.
# Run as root after `make build` (make demo does both).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
[[ $(id -u) -eq 0 ]] || { echo "demo: run as root (the daemon needs taps, nftables and loop devices)" >&2; exit 1; }

root=$(mktemp -d /tmp/banger-demo.XXXXXX)
sock="$root/run/banger.sock"
export BANGER_HOST="unix://$sock"
# The demo's own bridge, subnet and table, so it never disturbs a real banger.
cat >"$root/config.toml" <<TOML
[network]
bridge = "bgdemo0"
subnet = "10.217.0.0/24"
nft_table = "banger_demo"
TOML

# As an install does: the user QEMU runs as, the socket group, the directories.
bin/banger setup --root "$root" --config "$root/config.toml"
bin/banger daemon --root "$root" --config "$root/config.toml" >"$root/daemon.log" 2>&1 &
daemon=$!
cleanup() {
	bin/banger network teardown >/dev/null 2>&1 || true
	kill "$daemon" 2>/dev/null || true
	wait "$daemon" 2>/dev/null || true
	rm -rf "$root"
}
trap cleanup EXIT
for _ in $(seq 100); do
	bin/banger info >/dev/null 2>&1 && break
	sleep 0.1
done

step() { echo; echo "+ banger $*"; bin/banger "$@"; }
step info
step kernel pull debian-cloud
minbase=$(go run ./internal/testutil/testimages/cmd/testimage minbase "${BANGER_TEST_CACHE:-/var/cache/banger-test}/debian-minbase")
step image import "$minbase" --name debian:bookworm
step image ls
step run --rm debian:bookworm -- cat /etc/os-release
step doctor
