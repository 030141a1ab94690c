#!/bin/sh
# Builds a small machine to network-boot, for the README walkthrough and the
# e2e tests: Debian's kernel (from the linux-image-amd64 package, downloaded,
# not installed) and a busybox initramfs whose /init (machine-init.sh) gets an
# address by DHCP and phones home with homeport's own scripts/ clients, then
# powers off. The names are the ones the shipped linux-initramfs profile boots:
#   scripts/lab/build-machine-image.sh OUTDIR   -> OUTDIR/vmlinuz, OUTDIR/initramfs.gz
# e.g. OUTDIR=data/assets/linux. The kernel .deb is cached in .cache/e2e so
# reruns do not download it again.
set -eu
out=${1:?usage: build-machine-image.sh OUTDIR}
repo=$(cd "$(dirname "$0")/../.." && pwd)
cache="$repo/.cache/e2e"
mkdir -p "$cache" "$out"

kernel_pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[ -n "$kernel_pkg" ] || { echo "cannot resolve linux-image-amd64 (run apt-get update)" >&2; exit 1; }
deb=$(ls "$cache/${kernel_pkg}"_*.deb 2>/dev/null | head -n 1 || true)
if [ -z "$deb" ]; then
  (cd "$cache" && apt-get download "$kernel_pkg" >/dev/null 2>&1) || { echo "apt-get download $kernel_pkg failed" >&2; exit 1; }
  deb=$(ls "$cache/${kernel_pkg}"_*.deb | head -n 1)
fi
kroot="$cache/kernel-$kernel_pkg"
[ -d "$kroot" ] || { mkdir -p "$kroot.tmp" && dpkg-deb -x "$deb" "$kroot.tmp" && mv "$kroot.tmp" "$kroot"; }
cp "$kroot"/boot/vmlinuz-* "$out/vmlinuz"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/lib/modules" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/etc" "$root/run"
cp /bin/busybox "$root/bin/busybox"
for applet in sh mkdir chmod mount insmod ip udhcpc wget cat sed tr awk mktemp rm sleep basename hostname head printf poweroff echo ls dmesg uname route; do
  ln -s busybox "$root/bin/$applet"
done
# virtio-net is a module in Debian's kernel; insmod order from `modprobe --show-depends`.
for module in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net; do
  file=$(find "$kroot/lib/modules" -name "$module.ko" | head -n 1)
  [ -n "$file" ] || { echo "module $module.ko not found in $kernel_pkg" >&2; exit 1; }
  cp "$file" "$root/lib/modules/"
done
cp "$repo/scripts/homeport-client" "$root/bin/homeport-client"
ln -s homeport-client "$root/bin/homeport-register"
ln -s homeport-client "$root/bin/homeport-phase"
cp "$repo/scripts/lab/machine-init.sh" "$root/init"
cp "$repo/scripts/lab/udhcpc-script.sh" "$root/etc/udhcpc.script"
chmod +x "$root/init" "$root/etc/udhcpc.script"
(cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1 > "$out/initramfs.gz")
echo "built $out/vmlinuz ($kernel_pkg) and $out/initramfs.gz"
