#!/usr/bin/env bash
# Start the in-memory OpenID provider peer (node-oidc-provider 9) for the refresh benchmark.
# Installs the pinned dependencies from package-lock.json on first use, then execs the server,
# so the caller's PID is the server's and SIGTERM stops it. Configuration is by environment
# (PEER_PORT, PEER_FAMILIES, PEER_SCOPE, ...; see server.mjs and bench/README.md); the server
# prints one JSON ready line on stdout once its tokens file is written.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ ! -d "$here/node_modules/oidc-provider" ]; then
  npm ci --prefix "$here" --no-audit --no-fund --loglevel=error >&2
fi
exec node "$here/server.mjs" "$@"
