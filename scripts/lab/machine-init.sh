#!/bin/sh
# /init of the machine scripts/lab/build-machine-image.sh builds: a stand-in
# for an OS installer that phones home exactly as a real one does, with
# homeport's own clients. Booted with the shipped linux-initramfs profile it
# fetches homeport.script (the profile's install script) and runs it with sh;
# the e2e profile instead passes homeport.config, a list of phases to report.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "homeport-e2e: init started"
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net; do
  insmod "/lib/modules/$m.ko" || echo "homeport-e2e: insmod $m failed"
done
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    homeport.url=*) HOMEPORT_URL=${arg#*=} ;;
    homeport.token=*) HOMEPORT_TOKEN=${arg#*=} ;;
    homeport.mac=*) HOMEPORT_MAC=${arg#*=} ;;
    homeport.hostname=*) HOMEPORT_HOSTNAME=${arg#*=} ;;
    homeport.config=*) CONFIG_URL=${arg#*=} ;;
    homeport.script=*) SCRIPT_URL=${arg#*=} ;;
  esac
done
export HOMEPORT_URL HOMEPORT_TOKEN HOMEPORT_MAC HOMEPORT_HOSTNAME HOMEPORT_HTTP_CLIENT=wget HOMEPORT_RETRY_DELAY=1
ip link set lo up
iface=eth0
ip link set "$iface" up
tries=0
until udhcpc -i "$iface" -n -q -t 5 -T 2 -s /etc/udhcpc.script; do
  tries=$((tries + 1))
  [ "$tries" -ge 3 ] && { echo "homeport-e2e: no DHCP lease"; poweroff -f; }
done
HOMEPORT_IP=$(cat /tmp/leased-ip 2>/dev/null)
export HOMEPORT_IP
if [ -n "${SCRIPT_URL:-}" ]; then
  if wget -q -O /tmp/install.sh "$SCRIPT_URL" && sh /tmp/install.sh; then
    echo "homeport-e2e: install script done"
  else
    echo "homeport-e2e: install script failed"
  fi
  echo "homeport-e2e: done, powering off"
  poweroff -f
fi
# The install config lists the phases this "installer" reports.
if wget -q -O /tmp/phases "$CONFIG_URL"; then
  echo "homeport-e2e: config downloaded"
else
  echo "homeport-e2e: config download failed"
fi
homeport-register && echo "homeport-e2e: registered"
for phase in $(cat /tmp/phases 2>/dev/null); do
  homeport-phase "$phase" completed "reported by the e2e machine" && echo "homeport-e2e: reported $phase"
done
echo "homeport-e2e: done, powering off"
poweroff -f
