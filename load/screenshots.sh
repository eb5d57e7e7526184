#!/usr/bin/env bash
# Retakes the README's screenshots (docs/screenshots/) from the running demo: starts ./run.sh with its demo activity on
# its own data and ports, lets the demo trade until the map shows bookings in several provinces, then signs in as each
# demo user in Chromium and photographs every page in Chinese. Not part of CI: it takes a few minutes.
#   load/screenshots.sh                    into docs/screenshots/
#   load/screenshots.sh --out DIR          elsewhere
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

out="$MK_ROOT/docs/screenshots"
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    *) mk_die "unknown option $1 (see the top of load/screenshots.sh)" ;;
  esac
done

port=8093
password="screenshots-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
mk_require_dotnet
mk_install_test_prerequisites # Chromium and the Chinese fonts
mk_web_assets
mk_log "building (Release)"
dotnet build Marketplace.sln -c Release -nologo -clp:ErrorsOnly >/dev/null

rm -rf "$MK_ROOT/.data/screenshots" "$MK_ROOT/.data/logs/screenshots"
Accounts__DemoPassword="$password" ./run.sh --data screenshots --port "$port" --pg-port 55493 --silo-ports 11311,30300,9390 &
launcher=$!
trap 'kill -TERM "$launcher" 2>/dev/null || true; wait "$launcher" 2>/dev/null || true' EXIT
mk_wait_http "http://127.0.0.1:$port/readyz" 300 || mk_die "the marketplace did not become ready"

dotnet load/Marketplace.Screenshots/bin/Release/net10.0/Marketplace.Screenshots.dll \
  --url "http://127.0.0.1:$port" --out "$out" --password "$password"
mk_log "screenshots in ${out#"$MK_ROOT/"}"
