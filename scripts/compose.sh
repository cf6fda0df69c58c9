#!/usr/bin/env bash
# Put Debian 12's docker-compose (1.29.2, Python, on docker-py) into
# .tools/compose/, once, and print the directory holding its
# `docker-compose` wrapper. Nothing is installed system-wide: the
# packages are unpacked with dpkg-deb and run with PYTHONPATH pointing
# at them. The compose e2e test drives banger's Docker socket with it.
# Chosen over building compose v5 from the Go module proxy: this takes
# about 4 s; that is a build of 126 modules (buildkit, containerd,
# docker/cli) on the cores the tests share (docs/architecture.md).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/.tools/compose"
want=1.29.2
if [[ -x $dir/docker-compose ]] && [[ $(cat "$dir/VERSION" 2>/dev/null) == "$want"* ]]; then
	echo "$dir"
	exit 0
fi
[[ -x /usr/bin/python3 ]] || { echo "compose: Debian's /usr/bin/python3 is needed (apt-get install python3)" >&2; exit 1; }
echo "compose: unpacking Debian's docker-compose $want and its Python dependencies into $dir (once)" >&2
# docker-compose and what it imports that a minimal Debian lacks.
pkgs=(docker-compose python3-docker python3-dockerpty python3-docopt python3-dotenv
	python3-jsonschema python3-attr python3-pyrsistent python3-texttable python3-websocket
	python3-requests python3-urllib3 python3-idna python3-certifi python3-chardet
	python3-charset-normalizer python3-yaml python3-distro)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download "${pkgs[@]}" >/dev/null 2>&1) || { echo "compose: apt-get download ${pkgs[*]} failed (run apt-get update?)" >&2; exit 1; }
got=$(dpkg-deb -f "$tmp"/docker-compose_*.deb Version)
if [[ $got != "$want"* ]]; then
	echo "compose: Debian's docker-compose is $got, this script pins $want" >&2
	exit 1
fi
rm -rf "$dir.new"
mkdir -p "$dir.new"
for deb in "$tmp"/*.deb; do
	dpkg-deb -x "$deb" "$dir.new/root"
done
cat >"$dir.new/docker-compose" <<'WRAP'
#!/bin/sh
# docker-compose from the unpacked Debian packages beside this file.
here=$(dirname "$(readlink -f "$0")")
PYTHONPATH="$here/root/usr/lib/python3/dist-packages${PYTHONPATH:+:$PYTHONPATH}" exec /usr/bin/python3 "$here/root/usr/bin/docker-compose" "$@"
WRAP
chmod 0755 "$dir.new/docker-compose"
echo "$got" >"$dir.new/VERSION"
"$dir.new/docker-compose" version --short >/dev/null || { echo "compose: the unpacked docker-compose does not run" >&2; exit 1; }
rm -rf "$dir"
mv "$dir.new" "$dir"
echo "compose: docker-compose $got" >&2
echo "$dir"
