#!/usr/bin/env bash
# Starts the whole marketplace on this machine: a private PostgreSQL, the silos, the web tier and demo activity.
#   ./run.sh                 one silo
#   ./run.sh --silos 3       three silos in one cluster (silo i: ports 11111+i, gateway 30000+i, http 9090+i)
#   ./run.sh --no-demo       without the simulated SMEs and providers
#   ./run.sh --port 8080     the web tier's port
# Data lives in .data/dev and is kept between runs (delete .data/dev to start over). Ctrl-C stops everything.
# PostgreSQL listens on 127.0.0.1:55432 (MARKETPLACE_DEV_PG_PORT to change it).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/lib.sh

silos=1
demo=1
port=8080
while [ $# -gt 0 ]; do
  case "$1" in
    --silos) silos="$2"; shift 2 ;;
    --no-demo) demo=0; shift ;;
    --port) port="$2"; shift 2 ;;
    *) mk_die "unknown option $1 (see the top of run.sh)" ;;
  esac
done
[[ "$silos" =~ ^[1-9][0-9]?$ ]] || mk_die "--silos takes a number from 1 to 99"

started=$(date +%s%N)
mk_require_dotnet
mk_install_postgres
mk_web_assets

logs="$MK_ROOT/.data/logs"
mkdir -p "$logs"
pids=()
stop() {
  trap - INT TERM EXIT
  [ "${stopping:-0}" -eq 0 ] || exit 0
  stopping=1
  mk_log "stopping"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  # A silo drains in a few seconds; one that cannot reach the database to leave the cluster is killed after 45 s.
  for _ in $(seq 1 45); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" -eq 1 ] || break
    sleep 1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  mk_pg_stop dev
  mk_log "stopped; the data is kept in .data/dev"
  exit 0
}
trap stop INT TERM EXIT

connection="$(mk_pg_start dev "${MARKETPLACE_DEV_PG_PORT:-55432}");Database=marketplace"
export ConnectionStrings__Marketplace="$connection"
export Orleans__ClusterId=marketplace-dev Orleans__ServiceId=marketplace-dev
# One machine: notice a stopped silo in about a second instead of the production defaults.
export Orleans__FastFailureDetection=true

mk_log "building"
dotnet build Marketplace.sln -c Release -nologo -clp:ErrorsOnly >"$logs/build.log" 2>&1 || { cat "$logs/build.log"; mk_die "the build failed"; }
# Each process runs in its output folder, where its appsettings.json is.
silo_dir="$MK_ROOT/silo/Marketplace.Silo/bin/Release/net10.0"
web_dir="$MK_ROOT/web/Marketplace.Web/bin/Release/net10.0"
load_dir="$MK_ROOT/load/Marketplace.Load/bin/Release/net10.0"
(cd "$silo_dir" && dotnet Marketplace.Silo.dll migrate)

for ((i = 0; i < silos; i++)); do
  (cd "$silo_dir" && Orleans__SiloPort=$((11111 + i)) Orleans__GatewayPort=$((30000 + i)) Orleans__HttpPort=$((9090 + i)) Database__MigrateOnStart=false \
    exec dotnet Marketplace.Silo.dll) >"$logs/silo-$i.log" 2>&1 &
  pids+=($!)
done
(cd "$web_dir" && ASPNETCORE_ENVIRONMENT=Development ASPNETCORE_URLS="http://127.0.0.1:$port" exec dotnet Marketplace.Web.dll) >"$logs/web.log" 2>&1 &
pids+=($!)

url="http://127.0.0.1:$port"
mk_wait_http "$url/readyz" 120 || { tail -n 20 "$logs/silo-0.log" "$logs/web.log" >&2; mk_die "the marketplace did not become ready"; }
ready_ms=$(( ($(date +%s%N) - started) / 1000000 ))

if [ "$demo" -eq 1 ]; then
  (cd "$load_dir" && exec dotnet Marketplace.Load.dll demo --url "$url") >"$logs/demo.log" 2>&1 &
  pids+=($!)
fi

cat <<MSG

  Compute Voucher Marketplace is running ($silos silo(s), ready in $((ready_ms / 1000)).$(( (ready_ms % 1000) / 100 )) s)
    dashboards   $url/
    API page     $url/scalar/v1
    OpenAPI      $url/openapi/v1.json
    metrics      $url/metrics (web), http://127.0.0.1:9090/metrics (silo 0)
    Orleans      $url/dashboard (admins)
    logs         .data/logs/
  Press Ctrl-C to stop.

MSG
wait -n "${pids[@]}" || true
mk_log "a process of the marketplace exited; see .data/logs"
stop
