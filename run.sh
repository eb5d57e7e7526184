#!/usr/bin/env bash
# Starts the whole marketplace on this machine: a private PostgreSQL, the silos, the web tier and demo activity.
#   ./run.sh                 one silo
#   ./run.sh --silos 3       three silos in one cluster (silo i: ports 11111+i, gateway 30000+i, http 9090+i)
#   ./run.sh --no-demo       without the simulated SMEs and providers
#   ./run.sh --port 8080     the web tier's port
#   ./run.sh --data NAME     keep the data in .data/NAME (default dev) and the logs in .data/logs/NAME (.data/logs for dev)
#   ./run.sh --pg-port N     PostgreSQL's port (default 55432, or MARKETPLACE_DEV_PG_PORT)
#   ./run.sh --silo-ports SILO,GATEWAY,HTTP   the first silo's ports (default 11111,30000,9090; silo i adds i)
# The last three let a second instance (a test, say) run beside a developer's own without sharing a port or the data.
# Data lives in .data/dev and is kept between runs (delete .data/dev to start over).
# A silo or the web tier that exits is started again on the same ports, appending to the same log, after 1 s, doubling
# to at most 30 s while it keeps failing (back to 1 s once it has stayed up for 60 s); each restart is logged here.
# The demo is not restarted. Ctrl-C (or SIGTERM) stops everything, PostgreSQL included.
# Each process's id is in its log folder (silo-0.pid, web.pid, ...) while it runs.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/lib.sh

silos=1
demo=1
port=8080
data=dev
pg_port="${MARKETPLACE_DEV_PG_PORT:-55432}"
silo_ports="11111,30000,9090"
while [ $# -gt 0 ]; do
  case "$1" in
    --silos) silos="${2:-}"; shift 2 || mk_die "--silos takes a number" ;;
    --no-demo) demo=0; shift ;;
    --port) port="${2:-}"; shift 2 || mk_die "--port takes a port" ;;
    --data) data="${2:-}"; shift 2 || mk_die "--data takes a name" ;;
    --pg-port) pg_port="${2:-}"; shift 2 || mk_die "--pg-port takes a port" ;;
    --silo-ports) silo_ports="${2:-}"; shift 2 || mk_die "--silo-ports takes three ports" ;;
    *) mk_die "unknown option $1 (see the top of run.sh)" ;;
  esac
done
[[ "$silos" =~ ^[1-9][0-9]?$ ]] || mk_die "--silos takes a number from 1 to 99"
[[ "$port" =~ ^[1-9][0-9]{0,4}$ ]] || mk_die "--port takes a port number"
[[ "$pg_port" =~ ^[1-9][0-9]{0,4}$ ]] || mk_die "--pg-port takes a port number"
[[ "$data" =~ ^[A-Za-z0-9][A-Za-z0-9_-]*$ && "$data" != logs ]] || mk_die "--data takes a name of letters, digits, - and _ (not 'logs')"
[[ "$silo_ports" =~ ^([1-9][0-9]{0,4}),([1-9][0-9]{0,4}),([1-9][0-9]{0,4})$ ]] || mk_die "--silo-ports takes three ports: SILO,GATEWAY,HTTP"
silo_port=${BASH_REMATCH[1]} gateway_port=${BASH_REMATCH[2]} silo_http_port=${BASH_REMATCH[3]}

started=$(date +%s%N)
mk_require_dotnet
mk_install_postgres
mk_web_assets

logs="$MK_ROOT/.data/logs"
[ "$data" = dev ] || logs="$logs/$data"
mkdir -p "$logs"
logs_shown="${logs#"$MK_ROOT/"}"
silo_dir="$MK_ROOT/silo/Marketplace.Silo/bin/Release/net10.0"
web_dir="$MK_ROOT/web/Marketplace.Web/bin/Release/net10.0"
load_dir="$MK_ROOT/load/Marketplace.Load/bin/Release/net10.0"
url="http://127.0.0.1:$port"
# The admin API client the demo activity signs in with (client credentials); a new secret each start replaces the last,
# unless the caller sets MARKETPLACE_CLIENT_SECRET to drive the marketplace with the load tool (load/failover.sh does).
automation_client="demo-automation"
automation_secret="${MARKETPLACE_CLIENT_SECRET:-$(head -c 32 /dev/urandom | base64 | tr -d '/+=')}"

# The supervised processes by name (silo-0 .. silo-N, web, demo): the running one's pid, when it started, the delay
# before its next restart, and when a restart is due for one that is down.
declare -A pid_of=() up_since=() backoff=() due=()
timer=""
stopping=0

# Starts one process in the background; its output goes to its own log, appended to on a restart.
launch() {
  local name="$1"
  case "$name" in
    silo-*)
      local i="${name#silo-}"
      (cd "$silo_dir" && Orleans__SiloPort=$((silo_port + i)) Orleans__GatewayPort=$((gateway_port + i)) Orleans__HttpPort=$((silo_http_port + i)) \
        Database__MigrateOnStart=false exec dotnet Marketplace.Silo.dll) >>"$logs/$name.log" 2>&1 &
      ;;
    web)
      (cd "$web_dir" && ASPNETCORE_ENVIRONMENT=Development ASPNETCORE_URLS="$url" Auth__Oidc__Issuer="$url/" Accounts__DemoUsers=true \
        Accounts__AutomationClientId="$automation_client" Accounts__AutomationClientSecret="$automation_secret" \
        exec dotnet Marketplace.Web.dll) >>"$logs/web.log" 2>&1 &
      ;;
    demo)
      (cd "$load_dir" && MARKETPLACE_CLIENT_ID="$automation_client" MARKETPLACE_CLIENT_SECRET="$automation_secret" \
        exec dotnet Marketplace.Load.dll demo --url "$url") >>"$logs/demo.log" 2>&1 &
      ;;
  esac
  pid_of[$name]=$!
  up_since[$name]=$(date +%s)
  printf '%s\n' "$!" >"$logs/$name.pid"
}

# stop CODE: SIGTERM to every process, SIGKILL to those left after 45 s, then PostgreSQL; exits with CODE.
stop() {
  local code="$1"
  trap - INT TERM EXIT
  [ "$stopping" -eq 0 ] || exit "$code"
  stopping=1
  mk_log "stopping"
  [ -z "$timer" ] || kill -TERM "$timer" 2>/dev/null || true
  local pid alive
  for pid in "${pid_of[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  # A silo drains in a few seconds; one that cannot reach the database to leave the cluster is killed after 45 s.
  for _ in $(seq 1 45); do
    alive=0
    for pid in "${pid_of[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" -eq 1 ] || break
    sleep 1
  done
  for pid in "${pid_of[@]}"; do kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -f "$logs"/*.pid
  mk_pg_stop "$data"
  mk_log "stopped; the data is kept in .data/$data"
  exit "$code"
}
trap 'stop 0' INT TERM
trap 'stop $?' EXIT

connection="$(mk_pg_start "$data" "$pg_port");Database=marketplace"
export ConnectionStrings__Marketplace="$connection"
export Orleans__ClusterId="marketplace-$data" Orleans__ServiceId="marketplace-$data"
# One machine: notice a stopped silo in about a second instead of the production defaults.
export Orleans__FastFailureDetection=true

mk_log "building"
dotnet build Marketplace.sln -c Release -nologo -clp:ErrorsOnly >"$logs/build.log" 2>&1 || { cat "$logs/build.log"; mk_die "the build failed"; }
# Each process runs in its output folder, where its appsettings.json is.
(cd "$silo_dir" && dotnet Marketplace.Silo.dll migrate)

names=()
for ((i = 0; i < silos; i++)); do names+=("silo-$i"); done
names+=(web)
for name in "${names[@]}" demo; do : >"$logs/$name.log"; done
for name in "${names[@]}"; do launch "$name"; done

mk_wait_http "$url/readyz" 120 || { tail -n 20 "$logs/silo-0.log" "$logs/web.log" >&2; mk_die "the marketplace did not become ready"; }
ready_ms=$(( ($(date +%s%N) - started) / 1000000 ))

[ "$demo" -eq 0 ] || launch demo

cat <<MSG

  Compute Voucher Marketplace is running ($silos silo(s), ready in $((ready_ms / 1000)).$(( (ready_ms % 1000) / 100 )) s)
    dashboards   $url/
    API page     $url/scalar/v1
    OpenAPI      $url/openapi/v1.json
    metrics      $url/metrics (web), http://127.0.0.1:$silo_http_port/metrics (silo 0)
    Orleans      $url/dashboard (admins)
    logs         $logs_shown/
  Sign in at $url/login.html with "Sign in with your account", password demo-password-2026:
    sme@demo.local (the demo SME demo-000), provider@demo.local (the demo data centre lp-beijing),
    regulator@demo.local, admin@demo.local
  Press Ctrl-C to stop.

MSG

# Supervision: wait for any process (or the restart timer) to end; restart silos and the web tier with backoff.
while true; do
  watch=("${pid_of[@]}")
  [ -z "$timer" ] || watch+=("$timer")
  if [ ${#watch[@]} -eq 0 ]; then sleep 1; continue; fi
  exited="" status=0
  wait -n -p exited "${watch[@]}" || status=$?
  [ -n "$exited" ] || continue
  now=$(date +%s)
  if [ "$exited" = "$timer" ]; then
    timer=""
  else
    for name in "${!pid_of[@]}"; do [ "${pid_of[$name]}" != "$exited" ] || break; done
    unset "pid_of[$name]"
    rm -f "$logs/$name.pid"
    if [ "$name" = demo ]; then
      mk_log "the demo exited with code $status; it is not restarted (see $logs_shown/demo.log)"
      continue
    fi
    uptime=$((now - ${up_since[$name]}))
    # Back to a short delay once the process had stayed up for a minute; doubling while it keeps failing.
    if [ "$uptime" -ge 60 ] || [ -z "${backoff[$name]:-}" ]; then backoff[$name]=1; fi
    delay=${backoff[$name]}
    backoff[$name]=$((delay * 2 > 30 ? 30 : delay * 2))
    due[$name]=$((now + delay))
    mk_log "$name (pid $exited) exited with code $status after ${uptime} s; restarting it in $delay s"
    printf -- '--- run.sh: exited with code %s at %s; restarting in %s s\n' "$status" "$(date +%H:%M:%S)" "$delay" >>"$logs/$name.log"
  fi
  for name in "${!due[@]}"; do
    if [ "${due[$name]}" -le "$now" ]; then
      unset "due[$name]"
      launch "$name"
      mk_log "restarted $name (pid ${pid_of[$name]}); log: $logs_shown/$name.log"
    fi
  done
  # One timer for the earliest restart still due (a new exit may need an earlier one than the timer running).
  if [ -n "$timer" ]; then kill -TERM "$timer" 2>/dev/null || true; wait "$timer" 2>/dev/null || true; timer=""; fi
  if [ ${#due[@]} -gt 0 ]; then
    next=""
    for name in "${!due[@]}"; do
      if [ -z "$next" ] || [ "${due[$name]}" -lt "$next" ]; then next=${due[$name]}; fi
    done
    sleep $((next > now ? next - now : 0)) &
    timer=$!
  fi
done
