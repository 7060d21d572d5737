#!/bin/bash
# Thumbnail batch, run by sfn-agent as the container's command.
#
# Converts every PNG in IN_DIR to a JPEG thumbnail in OUT_DIR and writes what it made, as JSON, to
# $SFN_OUTPUT: the file sfn-agent gives every command for its result and sends to Step Functions as
# the task's output when this script exits 0.  Its stdout stays a plain log.
#
# Configuration (the task definition's environment):
#   IN_DIR       the images to convert (*.png)
#   OUT_DIR      where the thumbnails go (created if missing)
#   THUMB_SIZE   the box a thumbnail fits in, ImageMagick geometry (default 128x128)
set -euo pipefail

: "${IN_DIR:?set IN_DIR to the directory of images to convert}"
: "${OUT_DIR:?set OUT_DIR to the directory the thumbnails go to}"
size=${THUMB_SIZE:-128x128}
mkdir -p "$OUT_DIR"

files=()
for src in "$IN_DIR"/*.png; do
	[ -e "$src" ] || continue
	dst="$OUT_DIR/$(basename "${src%.png}").jpg"
	# -thumbnail: resize to fit the box, keeping the aspect ratio, and drop the metadata.
	convert "$src" -thumbnail "$size" -quality 85 "$dst"
	echo "image-convert: $(basename "$src") $(identify -format '%wx%h' "$src") -> $dst $(identify -format '%wx%h' "$dst")"
	files+=("$dst")
done
echo "image-convert: converted ${#files[@]} images"

{
	printf '{"converted": %d, "files": [' "${#files[@]}"
	sep=""
	for f in "${files[@]}"; do
		printf '%s"%s"' "$sep" "$f"
		sep=", "
	done
	printf ']}\n'
} > "$SFN_OUTPUT"
