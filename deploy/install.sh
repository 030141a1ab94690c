#!/bin/sh
# Installs homeport as a system service; `make install` runs it. Starts nothing.
#   code        PREFIX (/opt/homeport): dist/ compiled here, owned by root, read-only to the service
#   command     BINDIR/homeport (/usr/local/bin) -> PREFIX/bin/homeport
#   config      /etc/homeport/homeport.yaml (the example, only when there is none yet)
#   state       /var/lib/homeport, owned by the homeport user
#   unit        UNITDIR/homeport.service (/etc/systemd/system)
#   user        homeport (system user, no login, no home of its own)
# DESTDIR=/some/dir stages the whole tree there instead (no user, no chown, no
# systemctl): what packagers and the tests use.
set -eu
src=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/opt/homeport}
BINDIR=${BINDIR:-/usr/local/bin}
UNITDIR=${UNITDIR:-/etc/systemd/system}
# Fixed: the unit's StateDirectory=homeport and ExecStart name them.
CONFDIR=/etc/homeport
STATEDIR=/var/lib/homeport
SERVICE_USER=homeport

staged=""
[ -n "$DESTDIR" ] && staged=yes
if [ -z "$staged" ] && [ "$(id -u)" != 0 ]; then
  echo "make install needs root (or DESTDIR=DIR to stage the files)" >&2; exit 1
fi

app="$DESTDIR$PREFIX"
echo "installing homeport into $app"
mkdir -p "$(dirname "$app")"
rm -rf "$app.new"
mkdir -p "$app.new"
# The code compiled to JavaScript (dist/, run by plain node; no TypeScript sources are
# installed), what it reads at run time beside it (boot-templates/, scripts/, package.json),
# and node_modules as built by `npm ci` (native modules compiled for this machine), then
# without the development tools.
(cd "$src" && cp -a bin boot-templates scripts docs package.json package-lock.json README.md "$app.new/")
# node_modules/. : its contents also when node_modules is a symlink (a git worktree sharing one).
cp -a "$src/node_modules/." "$app.new/node_modules"
sh "$src/scripts/setup/build.sh" "$app.new/dist"
(cd "$app.new" && npm prune --omit=dev --no-audit --no-fund >/dev/null)
chmod -R u+rwX,go+rX,go-w "$app.new"
rm -rf "$app"
mv "$app.new" "$app"

mkdir -p "$DESTDIR$BINDIR"
ln -sfn "$PREFIX/bin/homeport" "$DESTDIR$BINDIR/homeport"

if [ -z "$staged" ] && ! getent passwd "$SERVICE_USER" >/dev/null; then
  useradd --system --user-group --home-dir "$STATEDIR" --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
fi

install -d -m 0750 "$DESTDIR$STATEDIR"
install -d -m 0755 "$DESTDIR$CONFDIR"
config="$DESTDIR$CONFDIR/homeport.yaml"
if [ -e "$config" ]; then
  echo "keeping the existing $CONFDIR/homeport.yaml"
else
  install -m 0640 "$src/deploy/homeport.yaml" "$config"
fi
if [ -z "$staged" ]; then
  chown "$SERVICE_USER:$SERVICE_USER" "$STATEDIR"
  chgrp "$SERVICE_USER" "$config"
fi

install -d -m 0755 "$DESTDIR$UNITDIR"
sed "s|/opt/homeport|$PREFIX|g" "$src/deploy/homeport.service" > "$DESTDIR$UNITDIR/homeport.service"
chmod 0644 "$DESTDIR$UNITDIR/homeport.service"

# Only a running systemd is told; nothing is enabled or started.
if [ -z "$staged" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi

cat <<NEXT
installed. Next:
  edit $CONFDIR/homeport.yaml (dhcp.mode, interface, serverIp)
  sudo -u $SERVICE_USER $BINDIR/homeport doctor --config $CONFDIR/homeport.yaml
  systemctl enable --now homeport
NEXT
