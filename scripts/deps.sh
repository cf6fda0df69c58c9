#!/usr/bin/env bash
# Install what banger's build, tests and benchmarks need on Debian 12:
# Debian packages (QEMU, e2fsprogs, debootstrap, nftables, ...) and a Go
# toolchain check. Idempotent: it installs only what is missing.
set -euo pipefail

packages=(
	qemu-system-x86 qemu-utils   # the VMM the tests boot guests with; virtiofsd comes with it (qemu-system-common)
	e2fsprogs                    # mkfs.ext4, debugfs, e2fsck, tune2fs, resize2fs
	debootstrap                  # a Debian root file system for tests and benchmarks
	busybox-static               # a tiny static root file system for fast VM tests
	nftables iproute2 kmod       # host networking and module tools
	xfsprogs                     # a loop-mounted XFS gives reflinks in root tests
	dmsetup                      # dm-snapshot disks (used where device-mapper exists)
	cpio zstd xz-utils lz4 gzip bzip2 # initramfs and kernel payload formats
	openssh-client rsync         # real SSH clients against the guest agent
	wget                         # an HTTP client in a test-made network namespace (the netns attach test)
	shellcheck                   # make lint-shell
	hyperfine                    # benchmarks
	systemd man-db               # systemd-analyze verify (which looks up the units' man pages) and systemd-socket-activate: the service tests
	ca-certificates git make gcc # building (gcc for go test -race)
	python3                      # runs the unpacked docker-compose (scripts/compose.sh) in the compose test
)
# util-linux (setpriv drops QEMU's privileges; fallocate fills a disk in
# the crash tests) is essential on Debian: always there.

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

if ((${#missing[@]} > 0)); then
	echo "deps: installing ${missing[*]}"
	sudo=()
	if [[ $(id -u) -ne 0 ]]; then
		command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
		sudo=(sudo)
	fi
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get update -qq
	"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v go >/dev/null; then
	if [[ -x /usr/local/go/bin/go ]]; then
		echo "deps: Go is at /usr/local/go/bin but not in PATH; run: export PATH=\$PATH:/usr/local/go/bin" >&2
	else
		echo "deps: Go 1.26 or newer is needed (https://go.dev/doc/install)" >&2
	fi
	exit 1
fi

# containerd and ctr for the containerd shim's tests: built at the
# release go.mod pins (Debian's 1.6 cannot run a v2 shim; see the script).
"$(dirname "$0")/containerd.sh" >/dev/null
# crictl for the CRI test (containerd's CRI plugin driven like kubelet).
"$(dirname "$0")/crictl.sh" >/dev/null
# CNI plugins for the CRI pod-network test (a non-host-network pod).
"$(dirname "$0")/cni.sh" >/dev/null
# Debian's docker client (no dockerd) for the Docker Engine API tests.
"$(dirname "$0")/dockercli.sh" >/dev/null
# docker-compose (Debian's 1.29.2, unpacked) for the compose test.
"$(dirname "$0")/compose.sh" >/dev/null
