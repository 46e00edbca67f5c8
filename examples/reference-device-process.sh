#!/usr/bin/env bash
# The suite's reference devices run as plain processes through the `shell` controller, the way
# a vendor runs its own client binary (examples/reference-{lwm2m,omadm}-process.yaml):
#   reference-device-process.sh PROTOCOL start DECLARATION   run the device (control.commands.start)
#   reference-device-process.sh PROTOCOL act                 one action ($DM_ACTION, NEW_* …),
#                                                            done once the device answered it
#   reference-device-process.sh omadm package0               forward $PKG0_FILE to the device
# The device reads JSON-line actions on a FIFO in $RUN_DIR and prints its answers and its
# "ready" line (with its Package 0 address) to stdout, which the suite keeps in device.log.
set -euo pipefail
protocol=${1:?usage: $0 lwm2m|omadm start DECLARATION|act|package0}
what=${2:?usage: $0 lwm2m|omadm start DECLARATION|act|package0}
state="$RUN_DIR/process-$protocol"
fifo="$state/control"

case "$what" in
  start)
    declaration=${3:?the declaration file}
    mkdir -p "$state"
    rm -f "$fifo"
    mkfifo "$fifo"
    args=(--dut "$declaration" --state-dir "$state")
    [ -n "${LAB_CA_FILE:-}" ] && args+=(--ca "$LAB_CA_FILE")
    if [ "$protocol" = lwm2m ]; then
      args+=(--server "$LAB_LWM2M_DTLS_URI")
      # The device knows its bootstrap server; it bootstraps when it holds no DM account. A
      # restart (the controller's cold start) finds the account it was given in its state
      # folder and registers directly.
      if [ -n "${LAB_BOOTSTRAP_DTLS_URI:-}" ]; then
        args+=(--bootstrap "$LAB_BOOTSTRAP_DTLS_URI")
      fi
    else
      args+=(--server "$LAB_OMADM_URL")
    fi
    # `<>` opens the FIFO read-write: the device never meets end-of-file between two actions.
    exec "${CONFORMANCE:-conformance}" simulate "$protocol" "${args[@]}" <>"$fifo"
    ;;
  act)
    # The action's values, as the reference device's JSON params (docs/architecture.md), on
    # the FIFO; then done once the device has answered it in device.log: the shell controller
    # reads exit status 0 as "done" (docs/declaration.md), not "handed over". (A ui_answer
    # handed over but not yet read lost the race against the alert it was for.)
    python3 - "$fifo" "$RUN_DIR/device.log" <<'PY'
import json, os, sys, time
fifo, log = sys.argv[1], sys.argv[2]
a = os.environ["DM_ACTION"]
e = os.environ.get
if a in ("sideload_update", "oem_server_update"):
    p = {"firmware_version": e("NEW_FW_VERSION")}
    for key, var in (("host_software_version", "NEW_HOST_SW_VERSION"),
                     ("host_manufacturer", "NEW_HOST_MANUFACTURER"),
                     ("host_model", "NEW_HOST_MODEL"), ("host_unique_id", "NEW_HOST_UNIQUE_ID")):
        if e(var) is not None:
            p[key] = e(var)
elif a == "send":
    p = {"paths": e("SEND_PATHS", "")}
elif a == "set_host_values":
    p = {"manufacturer": e("HOST_MANUFACTURER"), "model": e("HOST_MODEL"),
         "software_version": e("HOST_SW_VERSION"), "unique_id": e("HOST_UNIQUE_ID")}
elif a == "ui_answer":
    p = {"answer": e("UI_ANSWER")}
    for key, var in (("text", "UI_TEXT"), ("choices", "UI_CHOICES")):
        if e(var) is not None:
            p[key] = e(var)
else:
    p = {}
ident = int.from_bytes(os.urandom(4), "big")
wait = float(e("ACT_TIMEOUT", "20"))  # below the declaration's control.timeout (30 s)
deadline = time.monotonic() + wait
# `start` runs in the background: the first action may come before the device reads its FIFO.
while True:
    try:
        control = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO: no reader yet
        break
    except OSError as exc:  # no FIFO yet (ENOENT), or no reader on it (ENXIO)
        if time.monotonic() >= deadline:
            sys.exit(f"the device is not running ({fifo}: {exc.strerror})")
        time.sleep(0.02)  # its start
if not os.path.isfile(log):  # the suite starts the device with its output there
    sys.exit(f"no {log}: the device was not started by the suite's shell controller")
seen = os.path.getsize(log)  # its answer comes after this
os.set_blocking(control, True)  # a device slow to read holds the write, not an error
with os.fdopen(control, "w") as channel:
    channel.write(json.dumps({"id": ident, "action": a, "params": p}) + "\n")
with open(log, "rb") as out:
    out.seek(seen)
    pending = b""
    while time.monotonic() < deadline:
        chunk = out.read()
        if not chunk:
            time.sleep(0.02)  # the device's next line
            continue
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            try:
                answer = json.loads(line)
            except ValueError:
                continue  # the device's other output
            if isinstance(answer, dict) and answer.get("id") == ident:
                if answer.get("ok") is True:
                    sys.exit(0)
                sys.exit(f"the device refused {a}: {answer.get('error')}")
sys.exit(f"the device did not answer {a} within {wait:g} s")
PY
    ;;
  package0)
    # The device announced its Package 0 UDP port in its ready line (in device.log).
    address=$(grep -o '"notify": "[^"]*"' "$RUN_DIR/device.log" | tail -n 1 | cut -d'"' -f4)
    [ -n "$address" ] || { echo "the device announced no Package 0 address" >&2; exit 1; }
    cat "$PKG0_FILE" >"/dev/udp/${address%:*}/${address##*:}"
    ;;
  *)
    echo "usage: $0 lwm2m|omadm start DECLARATION|act|package0" >&2
    exit 2
    ;;
esac
