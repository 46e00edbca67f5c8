#!/usr/bin/env bash
# An OMA-DM client binary on the lab machine as the device under test
# (examples/omadm-client-process.yaml). The options below are those of a typical test client
# (server URL, account, a UDP port for Package 0); adapt them to yours (libdmclient's
# `testdmclient`, a vendor's host build …). Run by the suite in this folder, with this run's
# LAB_* and RUN_DIR; the client's output goes to device.log in the run folder.
#   omadm-client-process.sh start      run the client in the foreground (control.commands.start)
#   omadm-client-process.sh session    open a DM session now (trigger_session)
#   omadm-client-process.sh package0   hand the lab's Package 0 to the client ($PKG0_FILE)
set -euo pipefail
bin=${OMADM_CLIENT_BIN:-./dmclient}
notify_port=${OMADM_CLIENT_NOTIFY_PORT:-47900}      # where the client takes Package 0 (UDP)

case "${1:-}" in
  start)
    : "${ACME_DM_CLIENT_SECRET:?export the client AAuthSecret}"
    echo $$ >"$RUN_DIR/dmclient.pid"                  # exec keeps the pid: it is the client's
    exec "$bin" --server "$LAB_OMADM_URL" --ca "$LAB_CA_FILE" \
      --account "$DEVICE_IMEI" --secret "$ACME_DM_CLIENT_SECRET" \
      --server-secret "$ACME_DM_SERVER_SECRET" --notify-port "$notify_port" \
      --state "$RUN_DIR/dmclient-state"
    ;;
  session)
    # A client-initiated session: the client's own "Generic Alert" trigger, here a signal.
    kill -USR1 "$(cat "$RUN_DIR/dmclient.pid")"
    ;;
  package0)
    # The same bytes a WAP Push would carry, as one datagram (bash's /dev/udp).
    cat "$PKG0_FILE" >"/dev/udp/127.0.0.1/$notify_port"
    ;;
  *)
    echo "usage: $0 start|session|package0" >&2
    exit 2
    ;;
esac
