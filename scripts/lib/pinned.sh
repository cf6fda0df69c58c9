# shellcheck shell=bash
# pinned_version prints the version the Go constant NAME holds in FILE
# (`const NAME = "vX.Y.Z"`): the tests look for a tool built at that
# version, so the build scripts read it there and it is bumped in one
# place.
pinned_version() {
	local file=$1 name=$2 version
	version=$(sed -n "s/^const $name = \"\(v[0-9.]*\)\"\$/\1/p" "$file")
	[[ -n $version ]] || { echo "no $name in $file" >&2; return 1; }
	echo "$version"
}
