#!/usr/bin/env bash
# The tools that render and check the reports, from the package registries only:
#   chromium   (Debian)  headless browser: the end-to-end report test and screenshots
#   java       (Debian)  default-jre-headless, only when no Java runtime is there yet
#   allure     (npm)     allure-commandline: `conformance report` renders Allure HTML with it
# Idempotent and quiet when everything is already there. Usage:
#   scripts/install-report-tools.sh            # everything
#   scripts/install-report-tools.sh chromium   # only what the browser test needs
#   scripts/install-report-tools.sh allure     # only the Allure CLI (and Java)
set -euo pipefail

ALLURE_NPM=${ALLURE_NPM:-allure-commandline@2}
want=("$@")
[ ${#want[@]} -gt 0 ] || want=(chromium allure)

sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
apt_updated=""
apt_install() {
  if ! command -v apt-get >/dev/null; then
    echo "install-report-tools: please install $* (Debian package names)" >&2
    exit 1
  fi
  if [ -z "$apt_updated" ]; then
    $sudo apt-get update -qq >/dev/null
    apt_updated=1
  fi
  echo "install-report-tools: installing Debian packages: $*"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

for tool in "${want[@]}"; do
  case "$tool" in
    chromium)
      command -v chromium >/dev/null || apt_install chromium fonts-dejavu-core
      chromium --version
      ;;
    allure)
      command -v java >/dev/null || apt_install default-jre-headless
      if ! command -v npm >/dev/null; then
        apt_install npm
      fi
      if ! command -v allure >/dev/null; then
        echo "install-report-tools: installing $ALLURE_NPM from npm"
        $sudo npm install -g --no-fund --no-audit --loglevel=error "$ALLURE_NPM" >/dev/null
      fi
      echo "allure $(allure --version)"
      ;;
    *)
      echo "install-report-tools: unknown tool '$tool' (chromium, allure)" >&2
      exit 2
      ;;
  esac
done
