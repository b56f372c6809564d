#!/usr/bin/env bash
# Measure the in-memory peer (node-oidc-provider 9) with chain.lua: start it, warm it up, run
# wrk at each connection count for a fixed time on unspent families, print its peak RSS, stop it.
#   bench/wrk/peer-run.sh                       # no ID token
#   PEER_SCOPE="openid offline_access" bench/wrk/peer-run.sh
# Env: PEER_PORT (3100), DURATION (10s), WARMUP (3s), CONNS ("8 32"), PEER_FAMILIES (256),
#      plus anything server.mjs reads.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
port="${PEER_PORT:-3100}"
duration="${DURATION:-10s}"
warmup="${WARMUP:-3s}"
conns="${CONNS:-8 32}"
families="${PEER_FAMILIES:-256}"
tokens="$(mktemp /tmp/peer-tokens.XXXXXX)"
out="$(mktemp /tmp/peer-out.XXXXXX)"

PEER_PORT="$port" PEER_FAMILIES="$families" PEER_TOKENS_FILE="$tokens" \
  "$root/bench/peer/run.sh" >"$out" 2>"$out.err" &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$tokens" "$out" "$out.err"; }
trap cleanup EXIT

for _ in $(seq 1 120); do   # up to 60 s for npm ci + seeding
  if grep -q '"ready":true' "$out"; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then cat "$out.err" >&2; exit 1; fi
  sleep 0.5
done
grep -q '"ready":true' "$out" || { echo "peer not ready" >&2; exit 1; }
cat "$out"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }  # utime + stime of the peer
hz="$(getconf CLK_TCK)"

run() {  # run <connections> <offset> <duration>
  CHAIN_TOKENS="$tokens" CHAIN_PATH=/token CHAIN_OFFSET="$2" \
    timeout 120 wrk -t "$1" -c "$1" -d "$3" --timeout 10s -s "$root/bench/wrk/chain.lua" "http://127.0.0.1:$port"
}

# Warm-up on families from the far end of the file; measured runs never reuse a family.
max=0; for c in $conns; do [ "$c" -gt "$max" ] && max=$c; done
echo "== warm-up: $max connections, $warmup (not measured)"
run "$max" $((families - max)) "$warmup" >/dev/null
offset=0
for c in $conns; do
  echo "== $c connections, $duration, scope='${PEER_SCOPE:-offline_access}'"
  t0="$(cpu_ticks)"; s0="$(date +%s.%N)"
  run "$c" "$offset" "$duration"
  t1="$(cpu_ticks)"; s1="$(date +%s.%N)"
  awk -v t="$((t1 - t0))" -v hz="$hz" -v a="$s0" -v b="$s1" \
    'BEGIN { w = b - a; printf "peer CPU: %.1f s in %.1f s wall = %.2f cores\n", t / hz, w, t / hz / w }'
  offset=$((offset + c))
  grep -E 'VmRSS|VmHWM' "/proc/$pid/status" | tr -s ' \t' ' '
done
