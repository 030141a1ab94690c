#!/bin/sh
# Installs the Debian packages homeport needs, idempotently.
#   scripts/setup/debian-packages.sh run   -> what `make run` needs
#   scripts/setup/debian-packages.sh test  -> what `make test` needs
# Daemons in these packages (tftpd-hpa, atftpd, postgresql, ssh, nginx) must not
# start in the root namespace on a real interface: a policy-rc.d that denies every
# service start is in place while apt runs, and tests start their own copies on
# loopback or inside their own network namespaces.
set -eu
set_dir=$(dirname "$0")
kind=${1:-run}
list="$set_dir/packages-$kind.txt"
[ -f "$list" ] || { echo "no package list $list" >&2; exit 2; }
pkgs=$(grep -v '^#' "$list" | tr '\n' ' ')
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "need root to install Debian packages:$missing (run: sudo $0 $kind)" >&2; exit 1
fi
echo "installing Debian packages:$missing"
policy=/usr/sbin/policy-rc.d
own_policy=no
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"; own_policy=yes
fi
trap '[ "$own_policy" = yes ] && rm -f "$policy"' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || apt-get update
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
# DHCP servers and relays used only as references inside test namespaces: never enabled at boot.
for svc in kea-dhcp4-server isc-dhcp-relay; do
  if dpkg-query -W -f='${Status}' "$svc" 2>/dev/null | grep -q 'install ok installed'; then
    systemctl disable "$svc" >/dev/null 2>&1 || true
  fi
done
# prometheus is installed for promtool only: its server is not enabled at boot either.
case " $missing " in *" prometheus "*) systemctl disable prometheus.service >/dev/null 2>&1 || true ;; esac
