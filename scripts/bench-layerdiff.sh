#!/usr/bin/env bash
# make bench-layerdiff: find and write one disk's changes two ways.
#
#   banger    layerdiff.Diff of an ext4 image against a changed copy (what
#             `banger commit` and a build's RUN step do): both mounted
#             read-only, walked together, the layer written (and counted);
#   baseline  the same two images mounted the same way and compared by
#             rsync -a --dry-run --delete --itemize-changes, a metadata-only
#             double walk that writes nothing.
#
# Workload: a Debian bookworm minbase (cached under $BANGER_TEST_CACHE,
# default /var/cache/banger-test, made once with debootstrap) converted to
# ext4, and a copy with 500 files written, /usr/share/doc deleted and a few
# modes changed. Prints each side's median over ROUNDS rounds (default 5)
# and the ratio. Run as root (loop mounts).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

rounds=${ROUNDS:-5}
cache=${BANGER_TEST_CACHE:-/var/cache/banger-test}
[[ $(id -u) -eq 0 ]] || { echo "bench-layerdiff: run as root (loop mounts)" >&2; exit 1; }
command -v rsync >/dev/null || { echo "bench-layerdiff: the baseline needs rsync (apt-get install rsync)" >&2; exit 1; }

mkdir -p bin
go build -o bin/testimage ./internal/testutil/testimages/cmd/testimage
go build -o bin/benchlayerdiff ./internal/tools/benchlayerdiff
tarball=$(bin/testimage minbase "$cache/debian-minbase")
echo "bench-layerdiff: $tarball ($(du -h "$tarball" | cut -f1)), $rounds rounds"
bin/benchlayerdiff -tar "$tarball" -rounds "$rounds"
