#!/bin/sh
# Per-user install of an unpacked Inspector bundle (no root needed):
#   tar xzf inspector-<version>-linux-x86_64.tar.gz && ./inspector-<version>-linux-x86_64/install.sh
# puts the bundle in ~/.local/opt/inspector-<version>, a launcher in ~/.local/bin, an icon and an
# application-menu entry in ~/.local/share. PREFIX=/some/where ./install.sh installs elsewhere.
# Undo with ~/.local/opt/inspector-<version>/uninstall.sh.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
VERSION=$(cat "$HERE/VERSION")
PREFIX=${PREFIX:-$HOME/.local}
DEST="$PREFIX/opt/inspector-$VERSION"
if [ "$HERE" != "$DEST" ]; then
    rm -rf "$DEST"
    mkdir -p "$PREFIX/opt"
    cp -a "$HERE" "$DEST"
fi
mkdir -p "$PREFIX/bin" "$PREFIX/share/applications" "$PREFIX/share/icons/hicolor/256x256/apps"
ln -sf "$DEST/inspector" "$PREFIX/bin/inspector"
cp "$DEST/inspector.png" "$PREFIX/share/icons/hicolor/256x256/apps/inspector.png"
sed -e "s|^Exec=.*|Exec=\"$DEST/inspector\"|" -e "s|^Icon=.*|Icon=$DEST/inspector.png|" \
    "$DEST/inspector.desktop" > "$PREFIX/share/applications/inspector.desktop"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$PREFIX/share/applications" || true
echo "Installed Inspector $VERSION in $DEST"
echo "Start it from the application menu or with: $PREFIX/bin/inspector   (check: inspector --self-test)"
