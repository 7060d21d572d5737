#!/bin/sh
# make layers: every file includes only from its own folder or a layer below it.
#   src/              the program (main, subcommands, CLI helper)    layer 2
#   agent/  wrapper/  the AWS client and the command, side by side   layer 1
#   base/             what every layer uses                          layer 0
# agent/ and wrapper/ never include each other; base/ includes only base/.
# Prints one line per wrong include and exits 1; silent and 0 when the tree is clean.
set -u
cd "$(dirname "$0")/.." || exit 2

rank() {
	case $1 in
	base) echo 0 ;;
	agent | wrapper) echo 1 ;;
	src) echo 2 ;;
	*) echo x ;;
	esac
}

bad=0
for f in $(git ls-files 'src/*.[ch]' 'agent/*.[ch]' 'wrapper/*.[ch]' 'base/*.[ch]' 2>/dev/null ||
	find src agent wrapper base -name '*.[ch]'); do
	own=${f%%/*}
	own_rank=$(rank "$own")
	# Quoted includes only: <...> are the system's and the libraries'.
	for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
		top=${inc%%/*}
		r=$(rank "$top")
		if [ "$inc" = "$top" ] || [ "$r" = x ]; then
			echo "layers: $f includes \"$inc\": write project includes from the root (base/, agent/, wrapper/, src/)"
			bad=1
		elif [ "$top" != "$own" ] && [ "$r" -ge "$own_rank" ]; then
			echo "layers: $f ($own/, layer $own_rank) includes \"$inc\" ($top/, layer $r): an arrow that does not point down"
			bad=1
		fi
	done
done
[ "$bad" = 0 ] && echo "layers: ok"
exit "$bad"
