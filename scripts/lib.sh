#!/usr/bin/env bash
# Shared by run.sh, test.sh and load/bench.sh: installs what the system needs and runs a private PostgreSQL
# cluster on a loopback port, in a directory of this checkout, owned by the 'postgres' user.

MK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MK_APT_UPDATED=0

mk_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
mk_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

mk_as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else mk_die "need root to run: $*"; fi
}

# Installs the Debian packages that are missing, in one apt-get call.
mk_apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  mk_log "installing ${missing[*]}"
  if [ "$MK_APT_UPDATED" -eq 0 ]; then
    mk_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || mk_die "apt-get update failed"
    MK_APT_UPDATED=1
  fi
  mk_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || mk_die "apt-get install ${missing[*]} failed"
}

mk_require_dotnet() {
  command -v dotnet >/dev/null || mk_die "the .NET SDK 10 is required (dotnet not on PATH)"
}

mk_pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    [ -x "$dir/pg_ctl" ] && { echo "$dir"; return 0; }
  done
  return 1
}

mk_install_postgres() {
  mk_pg_bin >/dev/null 2>&1 && command -v psql >/dev/null && return 0
  mk_apt_install postgresql postgresql-contrib
  # The Debian package starts its own cluster on 5432; ours never uses it.
  mk_pg_bin >/dev/null || mk_die "PostgreSQL was installed but pg_ctl was not found"
}

# Runs a PostgreSQL tool as the cluster's owner: 'postgres' when we are root, ourselves otherwise.
mk_pg_run() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The data directory for a cluster named $1: under .data/ when the 'postgres' user can reach this checkout,
# otherwise under /var/tmp (a checkout in a private home directory is not reachable by 'postgres').
mk_pg_dir() {
  local name="$1"
  if [ "$(id -u)" -ne 0 ] || runuser -u postgres -- test -x "$MK_ROOT" 2>/dev/null; then
    echo "$MK_ROOT/.data/$name"
  else
    echo "/var/tmp/marketplace-$(printf '%s' "$MK_ROOT" | md5sum | cut -c1-12)/$name"
  fi
}

# mk_pg_start NAME PORT [fast] — creates the cluster on first use and starts it; idempotent.
# 'fast' turns off fsync for throwaway test clusters.
mk_pg_start() {
  local name="$1" port="$2" mode="${3:-}"
  local bin dir
  bin="$(mk_pg_bin)" || mk_die "PostgreSQL is not installed"
  dir="$(mk_pg_dir "$name")"
  mkdir -p "$dir" "$MK_ROOT/.data"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"
  if [ ! -f "$dir/pgdata/PG_VERSION" ]; then
    mk_log "creating PostgreSQL cluster '$name' in $dir"
    mk_pg_run mkdir -p "$dir/pgdata" "$dir/socket"
    local pwfile="$dir/pwfile"
    mk_pg_run sh -c "printf 'marketplace\n' > '$pwfile'"
    mk_pg_run "$bin/initdb" -D "$dir/pgdata" -U marketplace --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; mk_die "initdb failed"; }
    mk_pg_run rm -f "$pwfile"
    mk_pg_run sh -c "cat >> '$dir/pgdata/postgresql.conf'" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir/socket'
max_connections = 400
shared_buffers = 512MB
log_min_messages = warning
CONF
  fi
  local extra=()
  [ "$mode" = "fast" ] && extra=(-o "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
  if mk_pg_run "$bin/pg_ctl" -D "$dir/pgdata" status >/dev/null 2>&1; then
    mk_log "PostgreSQL '$name' already running"
  else
    mk_pg_run "$bin/pg_ctl" -D "$dir/pgdata" -l "$dir/postgres.log" -w -t 60 -o "-p $port" "${extra[@]}" start >/dev/null \
      || { tail -20 "$dir/postgres.log" >&2; mk_die "PostgreSQL '$name' did not start (port $port in use?)"; }
  fi
  echo "Host=127.0.0.1;Port=$port;Username=marketplace;Password=marketplace"
}

mk_pg_stop() {
  local name="$1" bin dir
  bin="$(mk_pg_bin)" || return 0
  dir="$(mk_pg_dir "$name")"
  [ -f "$dir/pgdata/PG_VERSION" ] || return 0
  mk_pg_run "$bin/pg_ctl" -D "$dir/pgdata" -m fast -w stop >/dev/null 2>&1 || true
}

mk_pg_destroy() {
  local name="$1" dir
  mk_pg_stop "$name"
  dir="$(mk_pg_dir "$name")"
  rm -rf "$dir"
}

# Waits until an HTTP URL answers 200, for at most $2 seconds.
mk_wait_http() {
  local url="$1" seconds="${2:-60}" i
  for ((i = 0; i < seconds * 4; i++)); do
    curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
    sleep 0.25
  done
  return 1
}

# Everything the tests need besides the .NET SDK: PostgreSQL, Chromium with Chinese fonts for the browser tests,
# and docker-compose to validate the deployment file (it is never run here).
mk_install_test_prerequisites() {
  local packages=(curl chromium fonts-wqy-microhei docker-compose)
  if [ -z "${MARKETPLACE_TEST_PG:-}" ] && ! mk_pg_bin >/dev/null 2>&1; then
    packages+=(postgresql postgresql-contrib)
  fi
  mk_apt_install "${packages[@]}"
}

# The dashboards' front-end libraries, from npm, into wwwroot/lib (git-ignored).
mk_web_assets() {
  local web="$MK_ROOT/web/Marketplace.Web"
  [ -f "$web/package.json" ] || return 0
  command -v npm >/dev/null || mk_die "npm is required for the dashboards' libraries"
  if [ ! -d "$web/node_modules" ] || [ "$web/package-lock.json" -nt "$web/node_modules/.package-lock.json" ]; then
    mk_log "installing the dashboards' libraries from npm"
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || mk_die "npm ci failed"
  fi
  (cd "$web" && npm run --silent copy-libs) || mk_die "copying the dashboards' libraries failed"
  # The types of the pages' API client, generated from the committed OpenAPI document (types/api-schema.d.ts, not committed).
  (cd "$web" && npm run --silent api-schema >/dev/null) || mk_die "generating the API's types from web/Marketplace.Web/openapi.json failed"
}

# Type-checks the pages' JavaScript (JSDoc) with tsc: every call to the API against the types of the OpenAPI document.
mk_web_check() {
  local web="$MK_ROOT/web/Marketplace.Web"
  [ -f "$web/tsconfig.json" ] || return 0
  mk_log "type-checking the pages against the API's OpenAPI document"
  # The types first, from the document as it is now (it changes with the API; the types are not committed).
  (cd "$web" && npm run --silent api-schema >/dev/null) || mk_die "generating the API's types from web/Marketplace.Web/openapi.json failed"
  (cd "$web" && npm run --silent check) \
    || mk_die "the pages' JavaScript does not type-check (tsc above): a call to the API that web/Marketplace.Web/openapi.json does not allow, or a JSDoc type to fix; run: cd web/Marketplace.Web && npm run check"
}
