#!/bin/sh
# make mutants: break the code on purpose, one way at a time, and check that the test named for
# that promise fails.  Each tests/mutants/NAME.patch is a unified diff against the tree (as
# `git diff` writes it), preceded by two header lines:
#     # catches: PATTERN      the tests/run.py -k pattern of the test(s) that must fail
#     # why: one sentence     the promise the mutation breaks
#     # bin: static            (optional) run the tests against the tree's `make static` binary,
#                              for tests that need it (the real-container ones)
# The tree is copied once into a scratch folder and built; each mutant is applied, the binary and
# unit tests rebuilt (only what changed), the named tests run, the mutant reverted.  One line a
# mutant, then a summary.  Exit 1 when a mutant survives or no longer applies.
#   scripts/mutants.sh [NAME...]     only these mutants (file names without .patch)
#   scripts/mutants.sh --check       only check that each one still applies
set -u
cd "$(dirname "$0")/.." || exit 2
root=$(pwd)

# --check: only that every mutant still has its header and applies to the tree as it is (part of
# make test, so that a change which moves the code a mutant breaks cannot leave it behind).
if [ "${1:-}" = --check ]; then
	bad=0 n=0
	for p in tests/mutants/*.patch; do
		n=$((n + 1))
		if ! grep -q '^# catches: ' "$p"; then
			echo "mutants: $p has no '# catches:' line"
			bad=1
		elif ! git apply --check "$p" 2>/dev/null; then
			echo "mutants: $p no longer applies: make the same breakage on today's code and write it again"
			bad=1
		fi
	done
	[ "$bad" = 0 ] && echo "mutants: all $n apply"
	exit "$bad"
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/sfn-mutants.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT INT TERM
tree=$work/tree
mkdir -p "$tree"
git ls-files | tar -cf - -T - | tar -xf - -C "$tree" || exit 2
[ -d ../shared ] && ln -s "$root/../shared" "$work/shared"

echo "mutants: building the unmutated tree in $tree"
make -C "$tree" -s -j"$(nproc)" sfn-agent unit >"$work/build.log" 2>&1 || {
	cat "$work/build.log"
	echo "mutants: the unmutated tree does not build" >&2
	exit 2
}

if [ $# -gt 0 ]; then
	set -- $(for n in "$@"; do printf 'tests/mutants/%s.patch\n' "$n"; done)
else
	set -- tests/mutants/*.patch
fi

caught=0 survived=0 broken=0
for p in "$@"; do
	name=$(basename "$p" .patch)
	pattern=$(sed -n 's/^# catches: *//p' "$p" | head -n 1)
	if [ -z "$pattern" ]; then
		printf '%-40s NO "# catches:" LINE\n' "$name"
		broken=$((broken + 1))
		continue
	fi
	if ! git -C "$tree" apply "$root/$p" 2>"$work/apply.log"; then
		printf '%-40s DOES NOT APPLY: %s\n' "$name" "$(head -n 1 "$work/apply.log")"
		broken=$((broken + 1))
		continue
	fi
	bin=$tree/sfn-agent
	if grep -q '^# bin: static' "$p"; then
		bin=$tree/dist/sfn-agent
	fi
	if ! { make -C "$tree" -s -j"$(nproc)" sfn-agent unit >"$work/build.log" 2>&1 &&
		{ [ "$bin" = "$tree/sfn-agent" ] || make -C "$tree" -s static >>"$work/build.log" 2>&1; }; }; then
		# A breakage the compiler refuses tests nothing: write it so that it builds.
		printf '%-40s DOES NOT BUILD: %s\n' "$name" "$(grep -m1 error "$work/build.log")"
		broken=$((broken + 1))
	elif (cd "$tree" && python3 tests/run.py --bin "$bin" --unit-dir "$tree/build/dev/tests" \
		-k "$pattern") >"$work/run.log" 2>&1; then
		printf '%-40s SURVIVED: %s passed with the mutant (%s)\n' "$name" "$pattern" "$(tail -n 1 "$work/run.log")"
		survived=$((survived + 1))
	else
		printf '%-40s caught by %s (%s)\n' "$name" "$(grep -m1 '^FAIL' "$work/run.log" | cut -d' ' -f2)" \
			"$(tail -n 1 "$work/run.log")"
		caught=$((caught + 1))
	fi
	git -C "$tree" apply -R "$root/$p" || { echo "mutants: cannot revert $name" >&2; exit 2; }
done
echo "mutants: $caught caught, $survived survived, $broken broken"
[ "$survived" = 0 ] && [ "$broken" = 0 ]
