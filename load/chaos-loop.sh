#!/usr/bin/env bash
# Runs the chaos tests (silos killed and stopped, PostgreSQL restarted, a silo killed at each saga step) N times in a
# row and counts how many runs pass, and how many requests were answered 500. Not part of CI: it takes about
# 5 minutes a run.
#   load/chaos-loop.sh                 20 runs of every chaos test
#   load/chaos-loop.sh --runs 5        fewer runs
#   load/chaos-loop.sh --filter NAME   only the chaos tests whose name contains NAME
# Results: load/results/chaos-<time>/ (each run's test output and process logs, summary.md). PostgreSQL listens on 55473.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

runs=20
filter="FullyQualifiedName~Marketplace.System.Tests.ChaosTests"
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --filter) filter="FullyQualifiedName~Marketplace.System.Tests.ChaosTests.$2"; shift 2 ;;
    *) mk_die "unknown option $1 (see the top of load/chaos-loop.sh)" ;;
  esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || mk_die "--runs takes a whole number"

mk_require_dotnet
mk_install_postgres
out="$MK_ROOT/load/results/chaos-$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$out"

mk_log "building (Release)"
dotnet build Marketplace.sln -c Release -nologo -clp:ErrorsOnly >"$out/build.log" 2>&1 || { cat "$out/build.log"; mk_die "the build failed"; }

trap 'mk_pg_destroy chaos' EXIT
mk_pg_destroy chaos
export MARKETPLACE_TEST_PG="$(mk_pg_start chaos 55473 fast)"

passed=0
for i in $(seq 1 "$runs"); do
  export MARKETPLACE_TEST_LOGS="$out/run-$i"
  mkdir -p "$MARKETPLACE_TEST_LOGS"
  if dotnet test tests/Marketplace.System.Tests -c Release --no-build -nologo --filter "$filter" \
      --logger "console;verbosity=normal" >"$out/run-$i/test.log" 2>&1; then
    result=passed; passed=$((passed + 1))
  else
    result=FAILED
  fi
  answered500=$(cat "$MARKETPLACE_TEST_LOGS"/*web*.log 2>/dev/null | grep -c '"Unhandled error on' || true)
  line="run $i of $runs: $result; requests answered 500: $answered500"
  mk_log "$line"
  echo "- $line" >>"$out/runs.md"
done

{
  echo "# Chaos loop, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "Filter: \`$filter\`. **$passed of $runs runs passed.**"
  echo
  cat "$out/runs.md"
} >"$out/summary.md"
cat "$out/summary.md"
[ "$passed" -eq "$runs" ]
