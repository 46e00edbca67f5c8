#!/usr/bin/env bash
# Make this checkout ready to run: Debian tools the tests compare against, a virtualenv in
# .venv with the suite installed. Idempotent and quiet when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: autoconf/automake/libtool build DTLSSocket (tinydtls); libwbxml2-utils and
# libcoap3-bin are the independent WBXML and DTLS implementations the tests check against.
need_apt=()
command -v autoreconf >/dev/null || need_apt+=(autoconf automake libtool)
command -v xml2wbxml >/dev/null || need_apt+=(libwbxml2-utils)
command -v coap-client-openssl >/dev/null || need_apt+=(libcoap3-bin)
command -v ss >/dev/null || need_apt+=(iproute2)  # ss: the lab's listen queue (tests/hostile)
if ((${#need_apt[@]})); then
  if command -v apt-get >/dev/null; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "bootstrap: installing Debian packages: ${need_apt[*]}"
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "bootstrap: please install ${need_apt[*]} (Debian names) with your package manager" >&2
    exit 1
  fi
fi

# labgrid benches: the exporter serves a bench's serial port through ser2net (Debian); the
# labgrid controller's tests run a real exporter on loopback.
if ! command -v ser2net >/dev/null && [ ! -x /usr/sbin/ser2net ]; then
  if command -v apt-get >/dev/null; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "bootstrap: installing Debian package: ser2net"
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq ser2net >/dev/null
  else
    echo "bootstrap: please install ser2net (Debian name) with your package manager" >&2
    exit 1
  fi
fi

py=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  "$py" -m venv .venv
fi
stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "bootstrap: installing the suite and its dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  .venv/bin/python -m pip install -q -e ".[dev]" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import conformance, aiocoap, DTLSSocket, lxml" # fail loudly if the install did not take
  touch "$stamp"
fi

# Capture and PDF checks (issue 16): tshark decodes the run's pcapng files in the tests,
# poppler-utils reads acceptance.pdf back. Only the tests need them: a machine without apt
# still bootstraps (those tests then say what to install).
bash scripts/install-capture-tools.sh || echo "bootstrap: no tshark/pdftotext: the capture and PDF tests will fail until scripts/install-capture-tools.sh succeeds" >&2

# Independent LwM2M clients from npm for tests/interop (issue 12): Node.js from Debian when
# missing, the pinned packages in .interop/ (git-ignored). Quiet once installed.
bash scripts/install-interop-clients.sh
