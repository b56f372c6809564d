#!/usr/bin/env bash
# Seed N refresh-token families on a running tessera through its password grant and write their
# refresh tokens, one per line, for chain.lua (CHAIN_TOKENS).
#   bench/wrk/seed-tessera.sh URL CLIENT_ID CLIENT_SECRET USERNAME PASSWORD N OUT [SCOPE] [AUDIENCE]
# e.g. bench/wrk/seed-tessera.sh http://127.0.0.1:3200 "$CLIENT_ID" "$CLIENT_SECRET" \
#        bench@example.com bench-password-1234 64 /tmp/tessera-tokens.txt offline_access https://bench.api/
# Logins run 4 at a time (each costs a password hash); each has a 30 s timeout.
# tessera keeps at most 200 live families per user per client (DESIGN.md) and revokes the oldest
# beyond that, so N is capped at 200, and seeding again with the same user revokes the families
# of earlier seedings first (oldest first): seed once per run, or use another user.
set -euo pipefail
[ $# -ge 7 ] || { sed -n '2,7p' "$0" >&2; exit 2; }
url="${1%/}"; cid="$2"; secret="$3"; user="$4"; pass="$5"; n="$6"; out="$7"
scope="${8:-offline_access}"; audience="${9:-https://bench.api/}"
if [ "$n" -gt 200 ]; then
  echo "N=$n: tessera keeps at most 200 live families per user per client" >&2; exit 2
fi
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT

login() {
  curl -sS --max-time 30 -o "$tmp/$1.json" -w '%{http_code}' "$url/oauth/token" \
    --data-urlencode grant_type=password --data-urlencode "username=$user" \
    --data-urlencode "password=$pass" --data-urlencode "client_id=$cid" \
    --data-urlencode "client_secret=$secret" --data-urlencode "scope=$scope" \
    --data-urlencode "audience=$audience" > "$tmp/$1.code"
}

i=0
while [ "$i" -lt "$n" ]; do
  for _ in 1 2 3 4; do
    [ "$i" -lt "$n" ] || break
    login "$i" & i=$((i + 1))
  done
  wait
done

: > "$out"
for i in $(seq 0 $((n - 1))); do
  code="$(cat "$tmp/$i.code")"
  if [ "$code" != 200 ]; then
    echo "login $i: HTTP $code $(cat "$tmp/$i.json")" >&2; exit 1
  fi
  jq -er .refresh_token "$tmp/$i.json" >> "$out"
done
echo "wrote $n refresh tokens to $out" >&2
