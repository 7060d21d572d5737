#!/bin/sh
# Installs what examples/image-convert needs: ImageMagick's convert and identify, from Debian's
# packages.  Only as root; otherwise it says what to run.
set -eu
if convert -version 2>/dev/null | grep -q ImageMagick && identify -version >/dev/null 2>&1; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "examples/image-convert needs ImageMagick (convert, identify): as root, run" >&2
	echo "  apt-get install -y --no-install-recommends imagemagick" >&2
	exit 1
fi
echo "examples/image-convert: installing imagemagick" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends imagemagick >&2 ||
	{ apt-get update >&2 && apt-get install -y --no-install-recommends imagemagick >&2; }
