#!/usr/bin/env bash
# fuzz: run every fuzz target in the tree (every `func Fuzz...` in a test
# file under internal/ and pkg/) for FUZZTIME each, one after another, so CI
# exercises their invariants on new inputs and not only on the seed
# corpora `go test` replays. A failing input is written to the package's
# testdata/fuzz/ by go test; commit it as a regression seed.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-3s}
start=$SECONDS
# engineTimeout: go's fuzzing engine itself gave up ("context deadline
# exceeded" when -fuzztime ends while a worker is busy, on a loaded host)
# and found no input: no "Failing input written". Such a run is tried
# once more; a real failure never is.
engineTimeout() {
	grep -q 'context deadline exceeded' <<<"$1" && ! grep -q 'Failing input written' <<<"$1"
}
n=0
while IFS=: read -r file _ decl; do
	name=${decl#func }
	name=${name%%(*}
	pkg=./$(dirname "$file")
	if ! out=$(go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" 2>&1) &&
		! { engineTimeout "$out" && out=$(go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" 2>&1); }; then
		echo "$out"
		echo "fuzz: $name in $pkg failed" >&2
		exit 1
	fi
	printf 'fuzz %-28s %-40s %s\n' "$name" "$pkg" "$(grep -Eo 'execs: [0-9]+' <<<"$out" | tail -1)"
	n=$((n + 1))
done < <(grep -rn --include='*_test.go' '^func Fuzz' internal pkg | sort)
echo "fuzz: $n targets, ${fuzztime} each, $((SECONDS - start))s in all"
