#!/usr/bin/env bash
# The independent LwM2M clients the interop tests run (issue 12): lwm2m-node-lib and coap-node
# from the npm registry, pinned, installed into .interop/node_modules (git-ignored). Node.js and
# npm come from Debian when missing. Idempotent and quiet when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if command -v apt-get >/dev/null; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "install-interop-clients: installing Debian packages: nodejs npm"
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "install-interop-clients: please install nodejs and npm" >&2
    exit 1
  fi
fi

dir=.interop
stamp=$dir/.installed
manifest=interop/package.json
# Callers may run at once (the interop tests' two background runs): one installs, the other
# waits for it and then finds the stamp.
mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9
if [ ! -f "$stamp" ] || [ "$manifest" -nt "$stamp" ]; then
  echo "install-interop-clients: installing lwm2m-node-lib and coap-node into $dir"
  mkdir -p "$dir"
  cp "$manifest" "$dir/package.json"
  # --omit=optional: lwm2m-node-lib's MongoDB store is never used (the clients keep memory).
  (cd "$dir" && npm install --no-audit --no-fund --loglevel=error --omit=optional >/dev/null)
  node -e "require('$PWD/$dir/node_modules/lwm2m-node-lib/lib/lwm2m-client'); require('$PWD/$dir/node_modules/coap-node')"
  touch "$stamp"
fi
