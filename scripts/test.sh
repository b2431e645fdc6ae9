#!/usr/bin/env bash
# Sets up everything the test suite needs on a fresh machine and runs it.
#   Debian packages: prometheus (server and promtool), prometheus-alertmanager (amtool)
#   Python packages: the project and its test extras, in .venv
# Extra arguments are passed to pytest (for example: scripts/test.sh tests/catalog -q).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

need_apt=()
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v amtool >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
if [ "${#need_apt[@]}" -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

source "$root/scripts/setup-env.sh"
exec "$root/.venv/bin/python" -m pytest "$@"
