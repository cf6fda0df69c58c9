# shellcheck shell=bash
# Fixtures the benchmarks and the demo share, cached where the tests cache
# them (testutil.CacheDir as root: /var/cache/banger-test).

cache=${BANGER_TEST_CACHE:-/var/cache/banger-test}

# kernel_deb prints the path of the Debian cloud kernel package (the
# versioned linux-image-*-cloud-amd64), downloading it with apt-get once.
kernel_deb() {
	local dir="$cache/debian-kernel" debs dep
	mkdir -p "$dir"
	shopt -s nullglob
	debs=("$dir"/linux-image-[0-9]*-cloud-amd64_*.deb)
	shopt -u nullglob
	if ((${#debs[@]} == 0)); then
		dep=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/{print $2; exit}')
		[[ -n $dep ]] || { echo "cannot resolve linux-image-cloud-amd64 with apt-cache" >&2; return 1; }
		(cd "$dir" && apt-get download -q linux-image-cloud-amd64 "$dep" >/dev/null 2>&1) ||
			{ echo "apt-get download $dep failed (is Debian's archive reachable?)" >&2; return 1; }
		shopt -s nullglob
		debs=("$dir"/linux-image-[0-9]*-cloud-amd64_*.deb)
		shopt -u nullglob
	fi
	echo "${debs[-1]}"
}

# busybox_tar prints the path of a busybox root file system tarball built
# from Debian's busybox-static (the same one the tests use).
busybox_tar() {
	local out="$cache/busybox-rootfs.tar"
	mkdir -p "$cache"
	if [[ ! -s $out ]]; then
		go run ./internal/testutil/testimages/cmd/testimage busybox "$out.tmp" && mv "$out.tmp" "$out"
	fi
	echo "$out"
}
