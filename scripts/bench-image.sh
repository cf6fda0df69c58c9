#!/usr/bin/env bash
# make bench-image: convert one image two ways in one run and compare.
#
#   banger    `banger image pull` through the real CLI and daemon, with a warm
#             blob cache, from a registry this script starts on loopback;
#   baseline  `tar -x` of the identical layer blob, then `mkfs.ext4 -d` of
#             the extracted tree at the size banger chose.
#
# Workload: a Debian bookworm minbase made with debootstrap (cached under
# $BANGER_TEST_CACHE, default /var/cache/banger-test, and made once). Prints
# each side's median over ROUNDS rounds (default 5) and the ratio; the target
# is banger <= 1.0x. Run as root (debootstrap; mkfs.ext4 -d keeps owners).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

rounds=${ROUNDS:-5}
cache=${BANGER_TEST_CACHE:-/var/cache/banger-test}
[[ $(id -u) -eq 0 ]] || { echo "bench-image: run as root (debootstrap, mkfs.ext4 -d with owners)" >&2; exit 1; }

mkdir -p bin
go build -o bin/testimage ./internal/testutil/testimages/cmd/testimage
go build -o bin/benchregistry ./internal/imagepull/cmd/benchregistry
tarball=$(bin/testimage minbase "$cache/debian-minbase")

work=$(mktemp -d /tmp/banger-bench.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

bin/benchregistry -tar "$tarball" >"$work/registry.out" 2>"$work/registry.err" &
pids+=($!)
for _ in $(seq 600); do [[ -s $work/registry.out ]] && break; sleep 0.1; done
ref=$(head -n1 "$work/registry.out")
[[ -n $ref ]] || { cat "$work/registry.err" >&2; exit 1; }

export BANGER_HOST="unix://$work/root/run/banger.sock"
bin/banger daemon --root "$work/root" >"$work/daemon.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do bin/banger info >/dev/null 2>&1 && break; sleep 0.1; done

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { print b - a }'; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "bench-image: $ref from $tarball ($(du -h "$tarball" | cut -f1) tarball), $rounds rounds"
bin/banger image pull "$ref" >/dev/null 2>&1 # warm the blob cache
size=$(bin/banger image inspect "$ref" --format json | sed -n 's/.*"size_bytes": \([0-9]*\).*/\1/p')
blob=$(find "$work/root/cache/oci/blobs/sha256" -type f -size +1M | head -n1)
bin/banger image rm "$ref" >/dev/null

: >"$work/banger.times"
: >"$work/baseline.times"
for i in $(seq "$rounds"); do
	t0=$(now)
	bin/banger image pull "$ref" >/dev/null 2>&1
	t1=$(now)
	bin/banger image rm "$ref" >/dev/null
	elapsed "$t0" "$t1" >>"$work/banger.times"

	rm -rf "$work/tree" "$work/base.ext4"
	mkdir "$work/tree"
	: >"$work/base.ext4"
	t0=$(now)
	tar --numeric-owner --xattrs --xattrs-include='*' -xzf "$blob" -C "$work/tree"
	mkfs.ext4 -q -F -d "$work/tree" "$work/base.ext4" "$((size / 1024))k"
	t1=$(now)
	elapsed "$t0" "$t1" >>"$work/baseline.times"
	printf 'round %d: banger %.2fs  baseline %.2fs\n' "$i" "$(tail -n1 "$work/banger.times")" "$(tail -n1 "$work/baseline.times")"
done

b=$(median <"$work/banger.times")
base=$(median <"$work/baseline.times")
printf 'banger (pull, warm cache, CLI+daemon):  median %.2fs\n' "$b"
printf 'baseline (tar -x + mkfs.ext4 -d):        median %.2fs\n' "$base"
printf 'ratio banger/baseline: %.2fx (target <= 1.0x)\n' "$(awk -v a="$b" -v b="$base" 'BEGIN { print a / b }')"
