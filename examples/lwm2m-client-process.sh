#!/usr/bin/env bash
# A client binary on the lab machine as the device under test (examples/lwm2m-client-process.yaml),
# here Eclipse Wakaama's example client `lwm2mclient` built with DTLS (adapt the options to
# yours: Anjay's `demo`, a Zephyr native_sim build …). The suite runs this script with this
# run's LAB_* (ports are 0: they are only known now), in this folder; the client's output goes
# to device.log in the run folder.
#   lwm2m-client-process.sh start      run the client in the foreground (control.commands.start)
#   lwm2m-client-process.sh update     registration update now (trigger_session)
set -euo pipefail
bin=${LWM2M_CLIENT_BIN:-./lwm2mclient}
console="$RUN_DIR/lwm2mclient.console"   # the client's command line, kept open on a FIFO

case "${1:-}" in
  start)
    : "${CLIENT_PSK_KEY:?export CLIENT_PSK_KEY (hex), the key the declaration names}"
    hostport=${LAB_LWM2M_DTLS_URI#coaps://}          # coaps://127.0.0.1:40123 -> host, port
    rm -f "$console"
    mkfifo "$console"
    # exec: the client is the process the suite stops (SIGTERM, then SIGKILL to its group).
    exec "$bin" -4 -n "$LWM2M_ENDPOINT" -h "${hostport%:*}" -p "${hostport##*:}" -t 300 \
      -i "$CLIENT_PSK_IDENTITY" -s "$CLIENT_PSK_KEY" <>"$console"
    ;;
  update)
    [ -p "$console" ] || { echo "the client is not running" >&2; exit 1; }
    echo "update 0" >"$console"                       # Wakaama's console: update server 0
    ;;
  *)
    echo "usage: $0 start|update" >&2
    exit 2
    ;;
esac
