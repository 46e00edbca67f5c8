#!/usr/bin/env bash
# Device control for examples/lwm2m-device.yaml: one sub-command per declaration action.
# The suite runs it with the lab's addresses and the action's values in the environment
# (LAB_LWM2M_DTLS_URI, NEW_FW_VERSION, HOST_SW_VERSION … see docs/declaration.md); it reaches
# the device's maintenance shell over ssh ($TRACKER_SSH). Exit non-zero when the device could
# not do it: the suite then reports INCONCLUSIVE with this script's stderr.
set -euo pipefail
: "${TRACKER_SSH:?set TRACKER_SSH to user@address of the device}"
on_device() { ssh -o BatchMode=yes -o ConnectTimeout=10 "$TRACKER_SSH" "$@"; }

case "${1:-}" in
  registration-update)
    on_device lwm2mctl update --server "$LAB_LWM2M_DTLS_URI" ;;
  sideload)
    # The image was copied to the device beforehand (USB stick or scp): install it locally.
    on_device fwtool install "/data/fw/t9-${NEW_FW_VERSION}.img"
    on_device hostinfo set software "${HOST_SW_VERSION}" ;;
  reboot)
    on_device reboot ;;
  factory-reset)
    on_device factory-reset --yes ;;
  host-values)
    on_device hostinfo set manufacturer "$HOST_MANUFACTURER" model "$HOST_MODEL" \
      software "$HOST_SW_VERSION" unique-id "$HOST_UNIQUE_ID" ;;
  *)
    echo "usage: $0 registration-update|sideload|reboot|factory-reset|host-values" >&2
    exit 2 ;;
esac
