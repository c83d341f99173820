#!/usr/bin/env bash
# Steps the publish rate against peyk: for each protocol and rate, a fresh
# `peyk serve --threads 1` pinned to one core and peyk-loadgen pinned to another, then
# one summary line per run (results as JSON in --out). Loopback only; every run is
# bounded by `timeout`, and the server is stopped by its own pid.
#
#   tools/loadgen/bench_steps.sh [--viewers 1000] [--rates "1000 5000 10000 20000"]
#       [--protocols "echo v1"] [--couriers 1000] [--duration 10] [--warmup 2]
#       [--server-core 0] [--loadgen-core 1] [--port 18190] [--out /tmp/peyk-steps]
#       [--http-connections 64] [--quiet-max 10] [--quiet-wait 300]
# Before each run it waits (up to --quiet-wait s) until the machine is under --quiet-max %
# busy, since other work on the cores would show up as the server's slowness.
set -euo pipefail
cd "$(dirname "$0")/../.."

viewers=1000 rates="1000 5000 10000 20000" protocols="echo v1" couriers=1000
duration=10 warmup=2 server_core=0 loadgen_core=1 port=18190 out=/tmp/peyk-steps
quiet_max=10 quiet_wait=300 http_connections=64
while [ $# -gt 0 ]; do
  case "$1" in
    --viewers) viewers=$2; shift 2 ;;
    --rates) rates=$2; shift 2 ;;
    --protocols) protocols=$2; shift 2 ;;
    --couriers) couriers=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --server-core) server_core=$2; shift 2 ;;
    --loadgen-core) loadgen_core=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --http-connections) http_connections=$2; shift 2 ;;
    --quiet-max) quiet_max=$2; shift 2 ;;
    --quiet-wait) quiet_wait=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x build/peyk ] && [ -x build/peyk-loadgen ] || { echo "build first: cmake --build build" >&2; exit 1; }
mkdir -p "$out"
PEYK_JWT_SECRET=$(head -c 24 /dev/urandom | base64)
export PEYK_JWT_SECRET

# Percent of all cores busy over one second (what else is running on the machine).
machine_busy() {
  local a b
  a=($(head -1 /proc/stat)); sleep 1; b=($(head -1 /proc/stat))
  local busy=0 total=0 i d
  for i in 1 2 3 4 5 6 7 8; do
    d=$(( b[i] - a[i] )); total=$(( total + d ))
    [ "$i" -ne 4 ] && [ "$i" -ne 5 ] && busy=$(( busy + d ))
  done
  echo $(( total > 0 ? 100 * busy / total : 0 ))
}

server_pid=
stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$server_pid" 2>/dev/null && kill -KILL "$server_pid"
  fi
  server_pid=
}
trap stop_server EXIT

printf '%-5s %7s | %12s %10s %10s %10s | %6s %6s | %s\n' proto rate deliv/s pub/s p50_ms \
  p99_ms srvCPU lgCPU "cores busy (machine busy before; other processes during)"
for proto in $protocols; do
  for rate in $rates; do
    busy_before=$(machine_busy)
    waited=0
    while [ "$busy_before" -gt "$quiet_max" ] && [ "$waited" -lt "$quiet_wait" ]; do
      sleep 4; waited=$(( waited + 5 )); busy_before=$(machine_busy)
    done
    taskset -c "$server_core" ./build/peyk serve --listen "127.0.0.1:$port" --threads 1 \
      --rate-limit 0 --log-level warn >"$out/server-$proto-$rate.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 50); do curl -fs "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
    json="$out/$proto-$rate.json"
    timeout $(( duration + warmup + 60 )) taskset -c "$loadgen_core" ./build/peyk-loadgen \
      --url "ws://127.0.0.1:$port/ws" --viewers "$viewers" --protocol "$proto" \
      --publish-rate "$rate" --couriers "$couriers" --http-connections "$http_connections" \
      --duration "$duration" --warmup "$warmup" \
      --server-pid "$server_pid" --json "$json" >"$out/$proto-$rate.txt" 2>&1 || {
        echo "loadgen failed ($proto $rate), see $out/$proto-$rate.txt" >&2
      }
    stop_server
    python3 - "$json" "$proto" "$rate" "$busy_before" <<'EOF'
import json, sys
path, proto, rate, before = sys.argv[1:]
try:
    r = json.load(open(path))
except Exception as e:
    print(f"{proto:<5} {rate:>7} | no result ({e})")
    sys.exit(0)
lat = r["latency_us"]
cores = " ".join(f"{c:.0f}%" for c in r.get("core_busy_percent", []))
print(f"{proto:<5} {rate:>7} | {r['deliveries']['per_s']:>12.0f} {r['publish']['ok_per_s']:>10.0f}"
      f" {lat['p50'] / 1000:>10.2f} {lat['p99'] / 1000:>10.2f} |"
      f" {r.get('server', {}).get('cpu_percent', 0):>5.0f}% {r.get('loadgen', {}).get('cpu_percent', 0):>5.0f}%"
      f" | {cores} ({before}% before, other {r.get('other_processes_cpu_percent', 0):.0f}%)")
EOF
  done
done
