#!/usr/bin/env bash
# End-to-end benchmarks of the marketplace on this machine, with a durable PostgreSQL (fsync on) of their own.
#   load/bench.sh                  the full run: 1 silo at rising rates, scale-out to 2 and 3 silos, the plain-SQL reference,
#                                  matching-core micro-benchmark, a CPU trace of the silo; about 20 minutes
#   load/bench.sh --quick          a short try run (10 s per step, fewer steps)
#   load/bench.sh --duration S     seconds per step (default 60)
#   load/bench.sh --rates "200 500"  the open-loop rates to climb (default 200 500 800 1000 1200; 500 is the push-latency target)
#   load/bench.sh --skip "scale pgbench micro profile signin"   leave parts out
#   load/bench.sh --tls            silos and the web tier speak mutual TLS (a certificate made for the run), as docker-compose does
#   load/bench.sh --label TEXT     a word on every row of the table (say, what this run changes)
# Results: load/results/<time>/ (JSON and Markdown per run, summary.md with the table). PostgreSQL listens on 55472.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

duration=60
warmup=10
rates="200 500 800 1000 1200"
concurrency=64
skip=""
tls=false
run_label=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) duration=10; warmup=3; rates="200 500 800"; shift ;;
    --duration) duration="$2"; shift 2 ;;
    --rates) rates="$2"; shift 2 ;;
    --concurrency) concurrency="$2"; shift 2 ;;
    --skip) skip="$2"; shift 2 ;;
    --tls) tls=true; shift ;;
    --label) run_label="$2 "; shift 2 ;;
    *) mk_die "unknown option $1 (see the top of load/bench.sh)" ;;
  esac
done
[[ "$duration" =~ ^[1-9][0-9]*$ ]] || mk_die "--duration takes whole seconds"
skipping() { [[ " $skip " == *" $1 "* ]]; }

mk_require_dotnet
mk_install_postgres
command -v jq >/dev/null || mk_apt_install jq
stamp=$(date -u +%Y%m%d-%H%M%S)
out="$MK_ROOT/load/results/$stamp"
logs="$out/logs"
mkdir -p "$logs"

mk_log "building (Release)"
dotnet build Marketplace.sln -c Release -nologo -clp:ErrorsOnly >"$logs/build.log" 2>&1 || { cat "$logs/build.log"; mk_die "the build failed"; }
silo_dir="$MK_ROOT/silo/Marketplace.Silo/bin/Release/net10.0"
web_dir="$MK_ROOT/web/Marketplace.Web/bin/Release/net10.0"
load_dll="$MK_ROOT/load/Marketplace.Load/bin/Release/net10.0/Marketplace.Load.dll"

port=55472
server="$(mk_pg_start bench $port)"   # durable: no 'fast', so fsync and synchronous commit stay on
pg_bin="$(mk_pg_bin)"
pg_pid=$(head -1 "$(mk_pg_dir bench)/pgdata/postmaster.pid")
psql_admin() { PGPASSWORD=marketplace "$pg_bin/psql" -q -h 127.0.0.1 -p $port -U marketplace -d postgres -v ON_ERROR_STOP=1 "$@"; }

pids=()
stop_system() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
finish() { stop_system; mk_pg_stop bench; }
trap finish EXIT
trap 'exit 130' INT TERM

# The admin API client the load tool signs in with (client credentials): registered by the web tier from these settings.
export MARKETPLACE_CLIENT_ID="bench-automation"
MARKETPLACE_CLIENT_SECRET="$(head -c 32 /dev/urandom | base64 | tr -d '/+=')"
export MARKETPLACE_CLIENT_SECRET

# With --tls, one cluster certificate for the run, as docker-compose's certs job makes it: silos and the web tier then speak
# mutual TLS and accept only a peer that presents it.
if $tls; then
  command -v openssl >/dev/null || mk_apt_install openssl
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=marketplace-cluster -addext extendedKeyUsage=serverAuth,clientAuth \
    -keyout "$logs/cluster-key.pem" -out "$logs/cluster-cert.pem" >"$logs/openssl.log" 2>&1
  openssl pkcs12 -export -inkey "$logs/cluster-key.pem" -in "$logs/cluster-cert.pem" -passout pass: -out "$logs/cluster.pfx" >>"$logs/openssl.log" 2>&1
  export Orleans__TlsCertificatePath="$logs/cluster.pfx"
  run_label="${run_label}TLS "
fi

# start_system N: a fresh database, migrated, then N silos and the web tier; sets $url and $watch.
start_system() {
  local silos="$1" i db="bench_${1}silo"
  psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
  connection="$server;Database=$db;Maximum Pool Size=200"
  (cd "$silo_dir" && ConnectionStrings__Marketplace="$connection" dotnet Marketplace.Silo.dll migrate) >"$logs/migrate-$silos.log" 2>&1 \
    || { cat "$logs/migrate-$silos.log"; mk_die "the migration failed"; }
  export ConnectionStrings__Marketplace="$connection" Orleans__ClusterId="bench-$stamp-$silos" Orleans__ServiceId="bench-$stamp-$silos"
  export Orleans__FastFailureDetection=true Logging__LogLevel__Default=Warning
  watch=(--watch "postgres=$pg_pid")
  for ((i = 0; i < silos; i++)); do
    (cd "$silo_dir" && Orleans__SiloPort=$((12111 + i)) Orleans__GatewayPort=$((31000 + i)) Orleans__HttpPort=$((9190 + i)) Database__MigrateOnStart=false \
      exec dotnet Marketplace.Silo.dll) >"$logs/silo-$silos-$i.log" 2>&1 &
    pids+=($!)
    watch+=(--watch "silo-$i=$!")
  done
  (cd "$web_dir" && ASPNETCORE_ENVIRONMENT=Development ASPNETCORE_URLS="http://127.0.0.1:8190" RateLimiting__PermitsPerSecond=100000 RateLimiting__Burst=100000 \
    Accounts__AutomationClientId="$MARKETPLACE_CLIENT_ID" Accounts__AutomationClientSecret="$MARKETPLACE_CLIENT_SECRET" Accounts__DemoUsers=true \
    exec dotnet Marketplace.Web.dll) >"$logs/web-$silos.log" 2>&1 &
  pids+=($!)
  watch+=(--watch "web=$!")
  url="http://127.0.0.1:8190"
  mk_wait_http "$url/readyz" 120 || { tail -n 20 "$logs"/silo-$silos-0.log "$logs/web-$silos.log" >&2; mk_die "the marketplace did not become ready"; }
}

# bench LABEL ARGS...: one run of the load tool; prints the path of its JSON result.
bench() {
  local label="$1"; shift
  dotnet "$load_dll" bench --url "$url" --duration "$duration" --warmup "$warmup" --check-db "$connection" --out "$out" --label "$run_label$label" \
    "${watch[@]}" "$@" >"$logs/bench-$(date +%H%M%S).log" 2>&1 || mk_log "the run ($label $*) reported a problem; see $logs"
  ls -t "$out"/bench-*.json | head -1
}

row() {
  jq -r '[.label, (if .targetRate then "\(.targetRate) /s" else "\(.concurrency) workers" end), .acceptedPerSecond, .durableFillsPerSecond,
          .pushedFills, .api.p50, .api.p95, .api.p99, .push.p50, .push.p95, .push.p99, (.errors + .shed), (.refused),
          (if .confirmation.invariantsClean then "clean" else "VIOLATED" end),
          ([.cpuCores | to_entries[] | "\(.key) \(.value)"] | join(", "))] | "| " + join(" | ") + " |"' "$1"
}
table="$out/summary.md"
{
  echo "# Benchmarks $stamp"
  echo
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB;" \
       "$(. /etc/os-release && echo "$PRETTY_NAME"); load average before: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') durable (fsync on, synchronous_commit on); $duration s per step after $warmup s of warm-up."
  echo
  echo "| run | load | accepted/s | durable fills/s | fills pushed | API p50 ms | API p95 | API p99 | push p50 ms | push p95 | push p99 | errors+shed | refused | invariants | CPU (cores) |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
} >"$table"

mk_log "1 silo: open loop at $rates bids/s, $duration s each"
start_system 1
# The climb goes on while the system keeps up (fills at 90 % of the rate or more, no errors, p99 under two seconds), so the
# highest sustained rate is found even on a noisy machine; the highest within the issue's 250 ms p99 is reported beside it.
best_rate=0
best_within=0
for rate in $rates; do
  result=$(bench "1 silo" --rate "$rate")
  row "$result" | tee -a "$table"
  api99=$(jq .api.p99 "$result"); push99=$(jq .push.p99 "$result"); bad=$(jq '.errors + .shed' "$result"); fills=$(jq .durableFillsPerSecond "$result")
  if awk -v a="$api99" -v p="$push99" -v b="$bad" -v f="$fills" -v r="$rate" 'BEGIN { exit !(b > 0 || f < 0.9 * r || a > 2000 || p > 2000) }'; then
    mk_log "stopping the climb at $rate bids/s (api p99 $api99 ms, push p99 $push99 ms, errors+shed $bad, fills $fills/s)"
    break
  fi
  best_rate=$rate
  if awk -v a="$api99" -v p="$push99" 'BEGIN { exit !(a <= 250 && p <= 250) }'; then best_within=$rate; fi
done
mk_log "1 silo: highest sustained rate $best_rate bids/s; highest with p99 within 250 ms: $best_within bids/s"
echo "$best_rate" >"$out/best-rate"

# A closed loop at a fixed concurrency: the most the system does, to compare 1, 2 and 3 silos and the plain-SQL reference.
closed=$(bench "1 silo" --concurrency "$concurrency")
row "$closed" | tee -a "$table"
saturated_1=$(jq .durableFillsPerSecond "$closed")

if ! skipping signin; then
  # What signing in costs beside the bids: client credentials, the dashboards' code flow with PKCE (as the demo SME), refresh,
  # and validating an access token, which every API request does.
  mk_log "sign-in: token issue and validation"
  dotnet "$load_dll" signin --url "$url" --out "$out" >"$logs/signin.log" 2>&1 || mk_log "the sign-in run reported a problem; see $logs/signin.log"
fi

if ! skipping profile && [ "$best_rate" -gt 0 ]; then
  mk_log "profile: 15 s CPU sample of silo 0 at $best_rate bids/s"
  [ -x .data/tools/dotnet-trace ] || dotnet tool install --tool-path .data/tools dotnet-trace --version 10.0.750501 >"$logs/dotnet-trace-install.log" 2>&1 || true
  if [ -x .data/tools/dotnet-trace ]; then
    silo_pid=${pids[0]}
    duration_saved=$duration; duration=25
    bench "1 silo, profiled" --rate "$best_rate" >/dev/null &
    bench_pid=$!
    sleep $((warmup + 5))
    # CPU samples from the kernel (perf events; needs root), not thread time: where the silo's cores go. Each sample's
    # leaf is the event itself, so only the inclusive report means anything.
    .data/tools/dotnet-trace collect-linux -p "$silo_pid" --profile cpu-sampling --duration 00:00:00:15 -o "$out/silo.nettrace" >"$logs/trace.log" 2>&1 || true
    wait "$bench_pid" || true
    duration=$duration_saved
    .data/tools/dotnet-trace report "$out/silo.nettrace" topN -n 60 --inclusive >"$out/profile-inclusive.txt" 2>&1 || true
  fi
fi
stop_system

if ! skipping scale; then
  for silos in 2 3; do
    mk_log "$silos silos: closed loop, $concurrency workers"
    start_system "$silos"
    result=$(bench "$silos silos" --concurrency "$concurrency")
    row "$result" | tee -a "$table"
    echo "$silos $(jq .durableFillsPerSecond "$result")" >>"$out/scale-out"
    if [ "$best_rate" -gt 0 ]; then
      result=$(bench "$silos silos" --rate "$best_rate")
      row "$result" | tee -a "$table"
    fi
    stop_system
  done
fi

if ! skipping pgbench; then
  # The fair reference: the system's own schema and the same rows per fill, as one PL/pgSQL function called with prepared
  # statements over the Unix socket, at 16 and 64 clients; the better of the two is the reference.
  mk_log "reference: the same fill as one PL/pgSQL function, prepared, over the Unix socket; 16 and 64 clients, $duration s each"
  psql_admin -c "DROP DATABASE IF EXISTS reference_fill WITH (FORCE)"
  (cd "$silo_dir" && ConnectionStrings__Marketplace="$server;Database=reference_fill" dotnet Marketplace.Silo.dll migrate) >"$logs/reference-migrate.log" 2>&1 \
    || { cat "$logs/reference-migrate.log"; mk_die "the reference database could not be migrated"; }
  PGPASSWORD=marketplace "$pg_bin/psql" -q -h 127.0.0.1 -p $port -U marketplace -d reference_fill -v ON_ERROR_STOP=1 -f load/pgbench/reference.sql \
    >"$logs/reference-schema.log" 2>&1 || { cat "$logs/reference-schema.log"; mk_die "the reference could not be set up"; }
  socket="$(mk_pg_dir bench)/socket"
  for clients in 16 64; do
    "$pg_bin/pgbench" -n -M prepared -h "$socket" -p $port -U marketplace -c "$clients" -j 2 -T "$duration" -f load/pgbench/reference-fill.sql reference_fill \
      >"$out/reference-$clients.txt" 2>&1 || true
    tps=$(awk '/^tps/ {print $3; exit}' "$out/reference-$clients.txt")
    echo "$clients ${tps:-0}" >>"$out/reference"
  done
  sort -k2 -n -r "$out/reference" | head -1 | awk '{print $2}' >"$out/reference-tps"
fi

if ! skipping micro; then
  mk_log "matching core micro-benchmark (BenchmarkDotNet, short job)"
  (cd load/Marketplace.Benchmarks && dotnet run -c Release --no-build -- --job short --filter '*' --artifacts "$out/micro") >"$logs/micro.log" 2>&1 || true
fi

{
  echo
  echo "1 silo: highest sustained open-loop rate $best_rate bids/s; highest with API and push p99 within 250 ms: $best_within bids/s."
  [ -f "$out/scale-out" ] && echo "Closed loop ($concurrency workers) durable fills/s: 1 silo $saturated_1$(awk '{printf ", %s silos %s", $1, $2}' "$out/scale-out")."
  [ -f "$out/reference-tps" ] && echo "Reference (the same fill as one PL/pgSQL function, prepared, Unix socket):" \
    "$(awk '{printf "%s%s clients %s TPS", (NR > 1 ? ", " : ""), $1, $2}' "$out/reference"); our closed-loop fills/s (1 silo) are" \
    "$(awk -v a="$saturated_1" -v b="$(cat "$out/reference-tps")" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }') of the better."
  echo "CPU per durable fill in the closed loop (1 silo), by process: $(jq -r '.durableFillsPerSecond as $f | [.cpuCores | to_entries[]
    | "\(.key) \(if $f > 0 then (.value * 1000 / $f * 100 | round / 100) else "n/a" end) ms"] | join(", ")' "$closed")."
  signin=$(ls "$out"/signin-*.md 2>/dev/null | head -1 || true)
  [ -n "$signin" ] && { echo; cat "$signin"; }
  micro=$(find "$out/micro" -name '*-report-github.md' 2>/dev/null | head -1 || true)
  [ -n "$micro" ] && { echo; echo "Matching core:"; echo; cat "$micro"; }
  [ -s "$out/profile-inclusive.txt" ] && { echo; echo "Silo 0 CPU samples (kernel cpu-sampling), top frames (inclusive):"; echo; echo '```'; cat "$out/profile-inclusive.txt"; echo '```'; }
} >>"$table"
echo
cat "$table"
mk_log "results in $out"
