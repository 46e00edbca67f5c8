#!/usr/bin/env bash
# The tools the capture and PDF tests check the evidence with, from Debian only:
#   tshark         Wireshark's dissectors: the per-case capture.pcapng files are decoded by it
#   poppler-utils  pdftotext / pdftoppm: acceptance.pdf read back as text and as an image
# Non-interactive: wireshark-common's debconf question (setuid dumpcap) is answered "no".
# Idempotent and quiet when both are there.
set -euo pipefail
need=()
command -v tshark >/dev/null || need+=(tshark)
command -v pdftotext >/dev/null || need+=(poppler-utils)
[ ${#need[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "install-capture-tools: please install ${need[*]} (Debian package names)" >&2
  exit 1
fi
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "wireshark-common wireshark-common/install-setuid boolean false" | $sudo debconf-set-selections
$sudo apt-get update -qq >/dev/null
echo "install-capture-tools: installing Debian packages: ${need[*]}"
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
