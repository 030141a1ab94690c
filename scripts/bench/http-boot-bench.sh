#!/bin/bash
# HTTP boot benchmark: per-MAC iPXE script requests to homeport next to nginx
# serving a static 1 KiB file, same machine, same run, same wrk settings.
#
#   scripts/bench/http-boot-bench.sh [NODES] [SECONDS]
#
# homeport runs from this checkout on SQLite (synchronous=FULL, the default) in a
# temp data dir; NODES machines (default 3000) are seeded through the admin API
# with the generic profile, and wrk asks for a random one's script on each
# request. A node's first fetch binds its install round and records ipxe_boot
# (group-committed writes); its later fetches are the same boot attempt (no
# new row) and are served from the node cache (database.nodeCacheMs) and the
# script rendered for that node row. nginx gets its own temp
# config on another loopback port, one worker (homeport is one Node process).
# Targets: homeport >= 0.5 x nginx req/s, homeport p99 < 10 ms.
# Needs: wrk, nginx (scripts/setup/packages-test.txt), curl, node.
set -euo pipefail
cd "$(dirname "$0")/../.."
NODES=${1:-3000}
SECONDS_PER_RUN=${2:-10}
CONNECTIONS=50
THREADS=2

for tool in wrk nginx curl node; do
  command -v "$tool" >/dev/null || { echo "need $tool (bash scripts/setup/debian-packages.sh test)" >&2; exit 2; }
done

work=$(mktemp -d /tmp/homeport-bench.XXXXXX)
chmod 755 "$work" # nginx workers run as nobody and read the static file from here
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
wait_http() { # URL
  for _ in $(seq 1 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.2; done
  echo "no answer from $1" >&2; exit 1
}

# --- homeport
hp_port=$(free_port)
HOMEPORT_CONFIG='' HOMEPORT_DATADIR="$work/data" HOMEPORT_HTTP__HOST=127.0.0.1 HOMEPORT_HTTP__PORT="$hp_port" \
  HOMEPORT_LOG__LEVEL=warn HOMEPORT_BOOT__DEFAULTPROFILE=linux-initramfs \
  bin/homeport serve >"$work/homeport.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$hp_port/healthz"
admin=$(cat "$work/data/admin.token")

echo "seeding $NODES nodes through the admin API..."
NODES=$NODES PORT=$hp_port ADMIN=$admin node -e '
const n = Number(process.env.NODES), base = `http://127.0.0.1:${process.env.PORT}`;
const mac = (i) => `52:54:00:${((i >> 16) & 255).toString(16).padStart(2, "0")}:${((i >> 8) & 255).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`;
(async () => {
  for (let i = 0; i < n; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, n - i) }, async (_, j) => {
      const r = await fetch(`${base}/api/nodes`, { method: "POST", headers: { authorization: `Bearer ${process.env.ADMIN}`, "content-type": "application/json" },
        body: JSON.stringify({ mac: mac(i + j), hostname: `node${i + j}`, profile: "linux-initramfs" }) });
      if (r.status !== 201) throw new Error(`seed ${mac(i + j)}: ${r.status} ${await r.text()}`);
    }));
  }
})().catch((e) => { console.error(e.message); process.exit(1); });'

cat >"$work/per-mac.lua" <<EOF
-- A random seeded machine per request, as iPXE asks after the entry script.
local nodes = $NODES
request = function()
  local i = math.random(0, nodes - 1)
  -- wrk runs LuaJIT (Lua 5.1): no bit operators.
  local path = string.format("/boot/52-54-00-%02x-%02x-%02x.ipxe?uuid=&arch=x86_64&platform=pcbios", math.floor(i / 65536) % 256, math.floor(i / 256) % 256, i % 256)
  return wrk.format("GET", path)
end
EOF
sample=$(curl -fs -D - -o /dev/null "http://127.0.0.1:$hp_port/boot/52-54-00-00-00-00.ipxe?uuid=&arch=x86_64&platform=pcbios" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-homeport-boot"{print $2}')
[ "$sample" = install ] || { echo "expected an install script, got: $sample" >&2; exit 1; }

# --- nginx, static 1 KiB
ng_port=$(free_port)
mkdir -p "$work/www" "$work/nginx"
head -c 1024 /dev/zero | tr '\0' 'x' >"$work/www/static.txt"
chmod 644 "$work/www/static.txt"; chmod 755 "$work/www"
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server {
    listen 127.0.0.1:$ng_port;
    root $work/www;
  }
}
EOF
nginx -c "$work/nginx.conf" -g 'daemon off;' &
pids+=($!)
wait_http "http://127.0.0.1:$ng_port/static.txt"

# --- the ceiling for any single Node process here: bare node:http answering the same 1 KiB
# (no framework, no rendering, no database). If this is under 0.5 x nginx, no Node server
# can meet the target on this machine with one process.
bare_port=$(free_port)
BODY="$work/www/static.txt" PORT=$bare_port node -e '
const body = require("fs").readFileSync(process.env.BODY);
require("http").createServer((q, r) => { r.writeHead(200, { "content-type": "text/plain", "content-length": body.length }); r.end(body); }).listen(Number(process.env.PORT), "127.0.0.1");' &
pids+=($!)
wait_http "http://127.0.0.1:$bare_port/"

# --- runs: a short warm-up each, then the measured run
run_wrk() { # NAME URL [SCRIPT]
  local script=()
  [ -n "${3:-}" ] && script=(-s "$3")
  wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "${script[@]}" "$2" >/dev/null
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency "${script[@]}" "$2" >"$work/$1.out"
}
to_ms() { awk '{ v=$1; if (v ~ /us$/) { sub(/us$/,"",v); print v/1000 } else if (v ~ /ms$/) { sub(/ms$/,"",v); print v } else { sub(/s$/,"",v); print v*1000 } }'; }
rps() { awk '/^Requests\/sec:/{print $2}' "$work/$1.out"; }
p99() { awk '$1=="99%"{print $2}' "$work/$1.out" | to_ms; }
errors() { awk '/Non-2xx|Socket errors/' "$work/$1.out"; }

echo "wrk: $THREADS threads, $CONNECTIONS connections, ${SECONDS_PER_RUN}s per run"
run_wrk homeport "http://127.0.0.1:$hp_port/" "$work/per-mac.lua"
run_wrk nginx "http://127.0.0.1:$ng_port/static.txt"
run_wrk entry "http://127.0.0.1:$hp_port/boot.ipxe"
run_wrk bare "http://127.0.0.1:$bare_port/"

hp_rps=$(rps homeport); ng_rps=$(rps nginx); hp_p99=$(p99 homeport); ng_p99=$(p99 nginx)
ratio=$(awk -v a="$hp_rps" -v b="$ng_rps" 'BEGIN { printf "%.3f", a / b }')
printf '%-34s %12s %10s\n' '' 'req/s' 'p99 (ms)'
printf '%-34s %12s %10s\n' "homeport per-MAC script (+write)" "$hp_rps" "$hp_p99"
printf '%-34s %12s %10s\n' "nginx static 1 KiB" "$ng_rps" "$ng_p99"
printf '%-34s %12s %10s\n' "homeport /boot.ipxe (no database)" "$(rps entry)" "$(p99 entry)"
printf '%-34s %12s %10s\n' "bare node:http 1 KiB (ceiling)" "$(rps bare)" "$(p99 bare)"
echo "ratio bare node:http/nginx: $(awk -v a="$(rps bare)" -v b="$ng_rps" 'BEGIN { printf "%.3f", a / b }')"
echo "ratio homeport/nginx: $ratio (target >= 0.5)   homeport p99: ${hp_p99} ms (target < 10)"
errors homeport; errors nginx
history=$(curl -fs "http://127.0.0.1:$hp_port/api/status/summary" >/dev/null && curl -fs "http://127.0.0.1:$hp_port/api/status/history/52-54-00-00-00-00?limit=1" | node -e 'let s="";process.stdin.on("data",c=>s+=c).on("end",()=>console.log(JSON.parse(s).total))')
echo "history rows of one sample node after the runs: $history (one ipxe_boot per boot attempt)"
awk -v r="$ratio" -v p="$hp_p99" 'BEGIN { ok = (r >= 0.5 && p < 10); print ok ? "targets met" : "targets missed"; exit ok ? 0 : 3 }'
