#!/bin/sh
# homeport post-install for {{line node.mac}}, profile {{line profile.name}}: installs the
# homeport clients, reports its phases and marks the node deployed, after which
# homeport turns its netboot off (boot-once) until it is reprovisioned.
#
# Every \{{value}} below is single-quoted for sh by the template engine. Values go
# into variables and are used as "$VAR"; never into a heredoc, where a value holding
# a newline and the end marker would end it early.
set -eu

HOMEPORT_URL={{server.baseUrl}}
HOMEPORT_MAC={{node.mac}}
HOMEPORT_TOKEN={{token}}
NODE_HOSTNAME={{node.hostname}}
PROFILE={{profile.name}}
export HOMEPORT_URL HOMEPORT_MAC HOMEPORT_TOKEN
BIN=/usr/local/bin

fetch() { # URL FILE
  if command -v curl >/dev/null 2>&1; then
    curl -fsS --retry 5 --retry-delay 2 -o "$2" "$1"
  else
    wget -q -O "$2" "$1"
  fi
}

mkdir -p "$BIN"
for client in homeport-register homeport-phase; do
  fetch "$HOMEPORT_URL/clients/$client" "$BIN/$client"
  chmod 0755 "$BIN/$client"
done
PATH="$BIN:$PATH"

# Later tools on this machine (cluster formation, health checks) read the same settings.
umask 077
printf 'HOMEPORT_URL=%s\nHOMEPORT_MAC=%s\nHOMEPORT_TOKEN=%s\n' "$HOMEPORT_URL" "$HOMEPORT_MAC" "$HOMEPORT_TOKEN" > /etc/homeport.env

homeport-phase post_install in_progress "post-install of $NODE_HOSTNAME ($PROFILE)"
# Register under homeport's name for this node; a discovered node (no name yet) sends
# the machine's own, which a minimal initramfs may not have.
if [ -n "$NODE_HOSTNAME" ]; then HOMEPORT_HOSTNAME=$NODE_HOSTNAME; export HOMEPORT_HOSTNAME; fi
homeport-register
homeport-phase post_install completed "post-install of $NODE_HOSTNAME done"
homeport-phase deployed completed "installed with profile $PROFILE"
