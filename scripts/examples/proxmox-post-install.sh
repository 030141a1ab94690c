#!/bin/sh
# Proxmox VE post-install (seed 000's proxmox-post-install.sh): runs once on the
# freshly installed node, reports its phases to homeport, and registers the node
# as post-install-complete so the watcher can cluster it.
#
# Needs HOMEPORT_URL and HOMEPORT_TOKEN (rendered into the node's answer file by
# homeport), and homeport-register / homeport-phase on PATH or beside this script.
set -eu
here=$(dirname "$0")
PATH="$PATH:$here:$here/.."
export HOMEPORT_TYPE=${HOMEPORT_TYPE:-proxmox}

fail() {
  homeport-phase post_install failed "$1" || true
  exit 1
}

# Register first: a node installed from media (not PXE) is not known yet.
homeport-register
homeport-phase post_install in_progress "post-install started on $(hostname)"

if command -v pveversion >/dev/null 2>&1; then
  # Proxmox-specific steps; each failure is reported with its reason.
  pveversion >/dev/null || fail "pveversion failed: Proxmox VE is not healthy"
  if [ -f /etc/apt/sources.list.d/pve-enterprise.list ]; then
    # Without a subscription the enterprise repository makes apt fail.
    sed -i 's/^deb/# deb/' /etc/apt/sources.list.d/pve-enterprise.list || fail "cannot disable the enterprise repository"
  fi
  systemctl is-active --quiet pveproxy || fail "pveproxy is not running"
else
  echo "not a Proxmox VE host (no pveversion): skipping Proxmox steps" >&2
fi

homeport-phase post_install completed "post-install finished"
homeport-register --complete
