#!/usr/bin/env bash
# A silo killed under ./run.sh --silos 3: how long fills stop, and whether the silo comes back by itself. Not part of CI.
#   load/failover.sh                 3 silos, 50 bids/s, silo 1 killed (SIGKILL) 30 s into the load
#   load/failover.sh --rate 100      another steady rate
#   load/failover.sh --victim 0      kill silo 0 instead (the first one started)
# Starts ./run.sh --silos 3 --no-demo with ports and data of its own (.data/failover, PostgreSQL on 55474, web on 8290),
# drives bids at a steady rate with the load tool (open loop), kills one silo, and reads from the database when each fill
# was made: the longest pause between two fills in the 30 s before the kill and in the 30 s after it, and the wait from
# the kill to the next fill. run.sh's own log says when it restarted the silo. Results: load/results/failover-<time>/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

rate=50
victim=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) rate="$2"; shift 2 ;;
    --victim) victim="$2"; shift 2 ;;
    *) mk_die "unknown option $1 (see the top of load/failover.sh)" ;;
  esac
done
[[ "$rate" =~ ^[1-9][0-9]*$ ]] || mk_die "--rate takes whole bids per second"
[[ "$victim" =~ ^[0-2]$ ]] || mk_die "--victim takes 0, 1 or 2"

mk_require_dotnet
mk_install_postgres
out="$MK_ROOT/load/results/failover-$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$out"
data=failover
pg_port=55474
url="http://127.0.0.1:8290"
logs="$MK_ROOT/.data/logs/$data"
load_dll="$MK_ROOT/load/Marketplace.Load/bin/Release/net10.0/Marketplace.Load.dll"
rm -rf "$MK_ROOT/.data/$data" "$logs"

export MARKETPLACE_CLIENT_ID="demo-automation"
MARKETPLACE_CLIENT_SECRET="$(head -c 32 /dev/urandom | base64 | tr -d '/+=')"
export MARKETPLACE_CLIENT_SECRET
export RateLimiting__PermitsPerSecond=100000 RateLimiting__Burst=100000 Logging__LogLevel__Default=Warning

mk_log "starting ./run.sh --silos 3 --no-demo (log: $out/run.log)"
setsid ./run.sh --silos 3 --no-demo --data "$data" --port 8290 --pg-port "$pg_port" --silo-ports 12211,31100,9290 >"$out/run.log" 2>&1 &
launcher=$!
finish() {
  kill -TERM "$launcher" 2>/dev/null || true
  wait "$launcher" 2>/dev/null || true
}
trap finish EXIT
for _ in $(seq 1 600); do
  grep -q "is running" "$out/run.log" && break
  kill -0 "$launcher" 2>/dev/null || { cat "$out/run.log"; mk_die "run.sh stopped"; }
  sleep 1
done
grep -q "is running" "$out/run.log" || mk_die "run.sh did not start in 10 minutes"

warmup=10 before=30 after=40
mk_log "bids at $rate/s for $((before + after)) s after $warmup s of warm-up; silo $victim is killed $before s in"
dotnet "$load_dll" bench --url "$url" --rate "$rate" --duration $((before + after)) --warmup "$warmup" --out "$out" \
  --label "failover" >"$out/bench.log" 2>&1 &
bench=$!
# The load tool sets up its companies and pools first, then warms up: count from its first measured bid.
for _ in $(seq 1 300); do
  grep -q "warming up" "$out/bench.log" && break
  sleep 1
done
sleep $((warmup + before))
victim_pid="$(cat "$logs/silo-$victim.pid")"
killed_at="$(date +%s.%N)"
kill -KILL "$victim_pid"
mk_log "killed silo-$victim (pid $victim_pid)"
wait "$bench" || mk_log "the load tool reported a problem; see $out/bench.log"

psql_q() { PGPASSWORD=marketplace "$(mk_pg_bin)/psql" -At -h 127.0.0.1 -p "$pg_port" -U marketplace -d marketplace -c "$1"; }
psql_q "SELECT extract(epoch FROM created_at) FROM reservations ORDER BY created_at" >"$out/fills.txt"
gaps() { # gaps FROM TO: the longest pause between two fills made between FROM and TO (seconds since the epoch)
  awk -v from="$1" -v to="$2" '$1 >= from && $1 <= to { if (n++) { g = $1 - last; if (g > max) max = g } last = $1 } END { printf "%.3f", max }' "$out/fills.txt"
}
at() { awk -v k="$killed_at" -v d="$1" 'BEGIN { printf "%.6f", k + d }'; } # at SECONDS: that long after the kill
next_fill=$(awk -v k="$killed_at" '$1 > k { printf "%.3f", $1 - k; exit }' "$out/fills.txt")
before_gap=$(gaps "$(at -"$before")" "$killed_at")
after_gap=$(gaps "$(at -5)" "$(at 30)")
fills_before=$(awk -v a="$(at -"$before")" -v k="$killed_at" '$1 >= a && $1 < k' "$out/fills.txt" | wc -l)
fills_after=$(awk -v k="$killed_at" -v b="$(at 30)" '$1 >= k && $1 < b' "$out/fills.txt" | wc -l)
restarted="$(grep -m1 "restarted silo-$victim" "$out/run.log" || echo "not restarted")"
members="$(psql_q "SELECT count(*) FROM orleansmembershiptable WHERE status = 3")"
tail -n 30 "$out/bench.log" >"$out/bench-summary.txt"
finish
trap - EXIT

{
  echo "# Failover under ./run.sh --silos 3, $(date -u +%Y-%m-%d) (load average before the kill: see run.log)"
  echo
  echo "$rate bids/s, open loop; silo $victim killed with SIGKILL at $(date -u -d "@$killed_at" +%H:%M:%S.%N | cut -c1-12) UTC."
  echo
  echo "| measure | value |"
  echo "|---|---|"
  echo "| fills in the 30 s before the kill / after it | $fills_before / $fills_after |"
  echo "| longest pause between two fills, 30 s before the kill | $before_gap s |"
  echo "| longest pause between two fills, from 5 s before the kill to 30 s after | $after_gap s |"
  echo "| from the kill to the next fill | $next_fill s |"
  echo "| run.sh | $restarted |"
  echo "| active silos at the end | $members |"
} >"$out/summary.md"
cat "$out/summary.md"
