#!/bin/sh
# udhcpc event script: configure the leased address and default route.
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "${router:-}" ] && ip route add default via "${router%% *}" dev "$interface"
    echo "$ip" > /tmp/leased-ip
    echo "udhcpc: $interface bound to $ip"
    ;;
esac
exit 0
