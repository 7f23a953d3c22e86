#!/bin/sh
# Remove a per-user Inspector install made by install.sh (this folder, its launcher, menu entry, icon).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
PREFIX=${PREFIX:-$HOME/.local}
if [ "$(readlink "$PREFIX/bin/inspector" 2>/dev/null || true)" = "$HERE/inspector" ]; then
    rm -f "$PREFIX/bin/inspector" "$PREFIX/share/applications/inspector.desktop" \
          "$PREFIX/share/icons/hicolor/256x256/apps/inspector.png"
fi
case "$HERE" in
    "$PREFIX"/opt/inspector-*) rm -rf "$HERE" ;;
    *) echo "Not removing $HERE (not an install under $PREFIX/opt)"; exit 0 ;;
esac
echo "Removed $HERE"
