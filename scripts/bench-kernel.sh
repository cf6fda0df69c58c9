#!/usr/bin/env bash
# bench-kernel: `banger kernel import` of the Debian cloud kernel .deb against
# doing the same work by hand with the standard tools: dpkg-deb -x, the
# vmlinux out of the bzImage (lz4 -dc of the payload), and an lz4 newc
# initramfs of the same modules (cpio | lz4 -l). Prints hyperfine's ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "bench-kernel: hyperfine missing (make deps)" >&2; exit 1; }
# shellcheck source=scripts/lib/fixtures.sh
. scripts/lib/fixtures.sh
deb=$(kernel_deb)
work=$(mktemp -d /tmp/bgbench.XXXXXX)
pid=""
cleanup() {
	if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
agent=$(command -v busybox)
BANGER_AGENT=$agent bin/banger daemon --root "$work/root" >"$work/daemon.log" 2>&1 &
pid=$!
host="unix://$work/root/run/banger.sock"
for _ in $(seq 100); do bin/banger --host "$host" info >/dev/null 2>&1 && break; sleep 0.05; done

rel=$(basename "$deb"); rel=${rel#linux-image-}; rel=${rel%%_*}
mods="kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko kernel/drivers/block/virtio_blk.ko
kernel/drivers/virtio/virtio_mmio.ko kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko
kernel/drivers/virtio/virtio_pci.ko kernel/net/core/failover.ko kernel/drivers/net/net_failover.ko kernel/drivers/net/virtio_net.ko
kernel/drivers/char/virtio_console.ko kernel/drivers/char/hw_random/virtio-rng.ko kernel/net/vmw_vsock/vsock.ko
kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko"
mods=${mods//$'\n'/ }
cat >"$work/by-hand.sh" <<SH
set -e
rm -rf "$work/x" && mkdir -p "$work/x/initrd/lib/modules/$rel" && cd "$work/x"
dpkg-deb -x "$deb" pkg
bz=pkg/boot/vmlinuz-$rel
# payload_offset/length from the setup header, then lz4 -dc (Debian's codec)
sects=\$(od -An -tu1 -j $((0x1f1)) -N1 "\$bz" | tr -d ' ')
off=\$(od -An -tu4 -j $((0x248)) -N4 "\$bz" | tr -d ' ')
len=\$(od -An -tu4 -j $((0x24c)) -N4 "\$bz" | tr -d ' ')
tail -c +\$(( (sects + 1) * 512 + off + 1 )) "\$bz" | head -c "\$len" | lz4 -dc > vmlinux 2>/dev/null || true
cp "$agent" initrd/init
for m in $mods; do mkdir -p "initrd/lib/modules/$rel/\$(dirname "\$m")"; cp "pkg/lib/modules/$rel/\$m" "initrd/lib/modules/$rel/\$m"; done
(cd initrd && find . | cpio -o -H newc --quiet | lz4 -l -9 -q > ../initrd.img)
SH
bash "$work/by-hand.sh" || { echo "bench-kernel: the by-hand baseline failed" >&2; exit 1; }
hyperfine --warmup 1 --runs 5 \
	--prepare "bin/banger --host $host kernel rm bench >/dev/null 2>&1 || true" \
	-n "banger kernel import" "bin/banger --host $host kernel import $deb --name bench" \
	-n "by hand (dpkg-deb, lz4, cpio)" "bash $work/by-hand.sh"
