#!/usr/bin/env bash
# Runs every test in Marketplace.sln against a throwaway PostgreSQL and prints "N passed, N failed, N skipped".
#   ./test.sh                      everything
#   ./test.sh --filter EXPRESSION  only the tests matching a dotnet test filter
# Set MARKETPLACE_TEST_PG to an admin connection string to use an existing PostgreSQL server instead, or
# MARKETPLACE_TEST_PG_PORT to run the throwaway one on another port than 55433.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/lib.sh

filter=()
while [ $# -gt 0 ]; do
  case "$1" in
    --filter) filter=(--filter "$2"); shift 2 ;;
    *) mk_die "unknown option $1 (see the top of test.sh)" ;;
  esac
done

mk_require_dotnet
mk_install_test_prerequisites
mk_web_assets
mk_web_check

started_pg=0
cleanup() {
  if [ "$started_pg" -eq 1 ]; then mk_pg_destroy test; fi
}
trap cleanup EXIT

if [ -z "${MARKETPLACE_TEST_PG:-}" ]; then
  mk_pg_destroy test
  MARKETPLACE_TEST_PG="$(mk_pg_start test "${MARKETPLACE_TEST_PG_PORT:-55433}" fast)"
  started_pg=1
fi
export MARKETPLACE_TEST_PG

results="$MK_ROOT/.data/test-results"
rm -rf "$results"
mkdir -p "$results"
export MARKETPLACE_TEST_LOGS="$results/processes" # every line the tests' silo and web processes print

mk_log "building"
dotnet build Marketplace.sln -c Release -nologo -clp:ErrorsOnly >"$results/build.log" 2>&1 || { cat "$results/build.log"; mk_die "the build failed"; }

mk_log "testing"
set +e
# One test project at a time: several of them start clusters and processes, and the machine has two cores.
dotnet test Marketplace.sln -c Release --no-build -m:1 -nologo "${filter[@]}" \
  --logger "trx" --logger "console;verbosity=normal" --results-directory "$results" 2>&1 | tee "$results/test.log" \
  | grep -E --line-buffered "^\s+(Passed|Failed|Skipped) |^(Passed|Failed)!|error|Error Message" || true
status=${PIPESTATUS[0]}
set -e

sum() { grep -ho "$1=\"[0-9]*\"" "$results"/*.trx 2>/dev/null | grep -o '[0-9]*' | awk '{s+=$1} END {print s+0}'; }
passed=$(sum passed)
failed=$(( $(sum failed) + $(sum error) + $(sum timeout) + $(sum aborted) ))
skipped=$(sum notExecuted)
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1 # the runner failed without reporting a failed test (a crash or a build error)
fi
if [ "$failed" -gt 0 ]; then
  # Repeat each failure with its message and the top of its stack at the end, where a truncated log still shows it.
  echo "---- failures (whole log: .data/test-results/test.log, process logs: .data/test-results/processes) ----"
  awk '/^[[:space:]]+Failed / {keep=1; n=0} /^[[:space:]]+(Passed|Skipped) / {keep=0} keep && n++ < 40' "$results/test.log"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
