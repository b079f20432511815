#!/usr/bin/env bash
# stack.sh — the services Sieve needs (PostgreSQL + PostGIS, MinIO), private to this checkout.
#
#   ./deploy/local/stack.sh up     install what is missing, start both (a second `up` is a no-op)
#   ./deploy/local/stack.sh down   stop what `up` started, nothing else
#   ./deploy/local/stack.sh destroy  down, then delete this stack's data (its databases, its
#                                  objects, its passwords): the next `up` starts from nothing
#   ./deploy/local/stack.sh env    print the SIEVE_* variables that reach them
#   ./deploy/local/stack.sh status say what runs
#   ./deploy/local/stack.sh deps   install the OS packages needed to build and test (run.sh and
#                                  test.sh call it)
#
# Everything lives under .data/<name>/ (git-ignored); no system-wide cluster or service is touched.
# Variables (all optional):
#   SIEVE_STACK_NAME   stack name, "dev" by default (test.sh uses "test")
#   SIEVE_PG_PORT      PostgreSQL port (dev 15432, test 15442, other names 15452)
#   SIEVE_MINIO_PORT   MinIO API port (dev 19000, test 19010, other names 19020); the console
#                      uses the next port
# The default ports lie below 32768, outside the kernel's ephemeral range (from which outgoing
# connections take their local ports, so a port inside it may be held by any of them). `up`
# checks every port the stack binds before it starts anything, and names the one taken.
#   SIEVE_CACHE_DIR    where the MinIO build is cached ($HOME/.cache/sieve)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
NAME="${SIEVE_STACK_NAME:-dev}"
case "$NAME" in
  dev)  DEF_PG=15432; DEF_MINIO=19000 ;;
  test) DEF_PG=15442; DEF_MINIO=19010 ;;
  *)    DEF_PG=15452; DEF_MINIO=19020 ;;
esac
PG_PORT="${SIEVE_PG_PORT:-$DEF_PG}"
MINIO_PORT="${SIEVE_MINIO_PORT:-$DEF_MINIO}"
MINIO_CONSOLE_PORT=$((MINIO_PORT + 1))
STACK_DIR="$ROOT/.data/$NAME"
CACHE_DIR="${SIEVE_CACHE_DIR:-$HOME/.cache/sieve}"

# The MinIO server is pinned: a build from the Go module proxy, cached outside the checkout so a
# fresh clone (CI) reuses it.
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"
MINIO_BIN="$CACHE_DIR/minio-$MINIO_VERSION/bin/minio"
PG_MAJOR="${SIEVE_PG_MAJOR:-15}"

# port_user PORT: prints what holds 127.0.0.1:PORT (a listener, or a live connection whose local
# port it is), nothing when the port is free. Sockets closing down (TIME-WAIT, FIN-WAIT, ...,
# left by a server just stopped) do not keep PostgreSQL or MinIO from binding and are ignored.
port_user() {
  if command -v ss >/dev/null; then
    ss -Htanp "sport = :$1" 2>/dev/null | awk '$1 ~ /^(LISTEN|ESTAB|SYN-SENT|SYN-RECV)$/ { u = $NF; if (u ~ /users:/) { sub(/.*users:\(\("/, "", u); sub(/".*/, "", u) } else u = ""; printf "%s %s%s\n", $1, $4, (u != "" ? " (" u ")" : "") }' | head -3
  elif (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    echo "LISTEN 127.0.0.1:$1"
  fi
}

# ephemeral_range: the kernel's range for outgoing connections' local ports ("low high").
ephemeral_range() { cat /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo "32768 60999"; }

# check_ports: before anything starts, every port this stack will bind must be free (the ones
# its own running services hold excepted); else say which is taken, by what, and how to choose.
check_ports() {
  local lo hi; read -r lo hi < <(ephemeral_range)
  local taken=0 name port var base user
  for spec in "PostgreSQL:$PG_PORT:SIEVE_PG_PORT:$PG_PORT" "MinIO:$MINIO_PORT:SIEVE_MINIO_PORT:$MINIO_PORT" \
      "MinIO console:$MINIO_CONSOLE_PORT:SIEVE_MINIO_PORT:$MINIO_PORT"; do
    IFS=: read -r name port var base <<<"$spec"
    case "$name" in
      PostgreSQL) pg_running && continue ;;
      MinIO*) minio_running && continue ;;
    esac
    if [ "$port" -ge "$lo" ] && [ "$port" -le "$hi" ]; then
      log "warning: $name port $port lies in the ephemeral range $lo-$hi: an outgoing connection may hold it at any time; prefer a port below $lo"
    fi
    user="$(port_user "$port")"
    if [ -n "$user" ]; then
      log "error: $name port 127.0.0.1:$port is taken: $(echo "$user" | head -1)"
      log "       choose another with $var (the MinIO console takes the port after SIEVE_MINIO_PORT), e.g."
      log "       $var=$((base + 100)) $0 up   (give the same variables to env, run.sh and test.sh)"
      taken=1
    fi
  done
  [ "$taken" -eq 0 ] || exit 1
}

log() { printf '[stack:%s] %s\n' "$NAME" "$*" >&2; }
die() { log "error: $*"; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# --- PostgreSQL + PostGIS -------------------------------------------------------------------

pg_bindir() { echo "/usr/lib/postgresql/$PG_MAJOR/bin"; }

postgis_installed() {
  ls /usr/share/postgresql/"$PG_MAJOR"/extension/postgis.control >/dev/null 2>&1
}

install_postgres() {
  if [ -x "$(pg_bindir)/initdb" ] && postgis_installed; then return; fi
  log "installing PostgreSQL $PG_MAJOR + PostGIS 3 from the OS packages (apt, under a minute)"
  command -v apt-get >/dev/null || die "apt-get not found: install PostgreSQL $PG_MAJOR and PostGIS 3 by hand"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "postgresql-$PG_MAJOR" "postgresql-$PG_MAJOR-postgis-3" >/dev/null
  postgis_installed || die "PostGIS did not install"
}

# When run as root, the cluster runs as the postgres OS user (initdb refuses root). Its files
# must then sit where that user can reach them.
pg_user() { if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi; }

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

pg_dir() {
  local d="$STACK_DIR/pg"
  if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$STACK_DIR" 2>/dev/null; then
    # The checkout is not reachable by the postgres user (e.g. under /root): keep the cluster in
    # a folder of its own, named after this checkout.
    d="/var/tmp/sieve-stack/$(printf '%s' "$STACK_DIR" | md5sum | cut -c1-12)/pg"
  fi
  echo "$d"
}

secret() { # secret NAME: a random password, generated once per stack
  # PostgreSQL's passwords live beside its cluster (which may sit outside the checkout, see
  # pg_dir), so that the two never part; MinIO's beside its data in the checkout.
  local dir="$STACK_DIR/secrets"
  case "$1" in pg-*) dir="$(dirname "$(pg_dir)")/secrets" ;; esac
  local f="$dir/$1"
  if [ ! -s "$f" ]; then
    mkdir -p "$dir"; chmod 700 "$dir"
    head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24 >"$f"
  fi
  cat "$f"
}

pg_running() {
  local d; d="$(pg_dir)"
  [ -f "$d/postmaster.pid" ] && as_pg "$(pg_bindir)/pg_ctl" -D "$d" status >/dev/null 2>&1
}

psql_super() { # psql_super DB SQL
  PGPASSWORD="$(secret pg-superuser)" PGOPTIONS='-c client_min_messages=warning' "$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$1" -c "$2"
}

start_postgres() {
  install_postgres
  local d; d="$(pg_dir)"
  # A cluster outside the checkout (see pg_dir) may be left from an earlier clone at the same
  # path, whose passwords this checkout does not have: it is ours, and stale; start afresh.
  if [ -f "$d/PG_VERSION" ] && [ ! -s "$(dirname "$d")/secrets/pg-superuser" ]; then
    log "removing a stale PostgreSQL cluster of an earlier checkout at this path ($d)"
    as_pg "$(pg_bindir)/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$d"
  fi
  if pg_running; then
    local running; running="$(sed -n 4p "$d/postmaster.pid" 2>/dev/null)"
    if [ -n "$running" ] && [ "$running" != "$PG_PORT" ]; then
      die "this stack's PostgreSQL runs on port $running, not $PG_PORT: run '$0 down' and 'up' again (or set SIEVE_PG_PORT=$running)"
    fi
    log "PostgreSQL already running on 127.0.0.1:$PG_PORT"; return
  fi
  mkdir -p "$d"
  # Only the cluster's own folder: its parent holds MinIO's live data too (whose temporary files
  # come and go while it runs, so a recursive chown over them races and fails).
  if [ "$(id -u)" -eq 0 ]; then chown -R postgres:postgres "$d"; fi
  if [ ! -f "$d/PG_VERSION" ]; then
    log "creating a private PostgreSQL cluster in $d"
    local pw; pw="$(dirname "$d")/.pwfile"
    secret pg-superuser >"$pw"
    if [ "$(id -u)" -eq 0 ]; then chown postgres "$pw"; fi
    as_pg "$(pg_bindir)/initdb" -D "$d" -U postgres --pwfile="$pw" --auth=scram-sha-256 \
      --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pw"
    cat >>"$d/postgresql.conf" <<EOF
# set by deploy/local/stack.sh
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = ''
max_connections = 200
shared_buffers = 256MB
fsync = ${SIEVE_PG_FSYNC:-on}
EOF
  fi
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
  # The port is given on the command line: a cluster made with other default ports follows.
  as_pg "$(pg_bindir)/pg_ctl" -D "$d" -l "$d/server.log" -o "-p $PG_PORT" -w -t 60 start >/dev/null ||
    { tail -20 "$d/server.log" >&2; die "PostgreSQL did not start"; }
  provision_postgres
}

# provision_postgres creates the application role and databases; each step is idempotent.
# The application role owns its database but is neither superuser nor BYPASSRLS, so row-level
# security applies to it; PostGIS (not a trusted extension) is created here by the superuser.
provision_postgres() {
  local app_pw; app_pw="$(secret pg-sieve)"
  psql_super postgres "DO \$\$BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sieve') THEN
        CREATE ROLE sieve LOGIN CREATEDB PASSWORD '$app_pw';
      END IF; END\$\$;"
  psql_super postgres "ALTER ROLE sieve PASSWORD '$app_pw'"
  local db
  for db in sieve sieve_template; do
    if [ -z "$(PGPASSWORD="$(secret pg-superuser)" "$(pg_bindir)/psql" -X -tA -h 127.0.0.1 \
      -p "$PG_PORT" -U postgres -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
      psql_super postgres "CREATE DATABASE $db OWNER sieve"
    fi
    psql_super "$db" "CREATE EXTENSION IF NOT EXISTS postgis"
  done
  # Test databases are cloned from sieve_template (CREATE DATABASE ... TEMPLATE).
  psql_super postgres "ALTER DATABASE sieve_template IS_TEMPLATE true"
}

stop_postgres() {
  local d; d="$(pg_dir)"
  if pg_running; then
    log "stopping PostgreSQL"
    as_pg "$(pg_bindir)/pg_ctl" -D "$d" -m fast -w stop >/dev/null
  fi
}

# --- MinIO ------------------------------------------------------------------------------------

install_minio() {
  if [ -x "$MINIO_BIN" ]; then return; fi
  command -v go >/dev/null || [ -x /usr/local/go/bin/go ] || die "Go is needed to build the MinIO server"
  local gobin; gobin="$(command -v go || echo /usr/local/go/bin/go)"
  log "building the MinIO server once from the Go module proxy (about 4 minutes; cached in $CACHE_DIR)"
  local start=$SECONDS
  mkdir -p "$(dirname "$MINIO_BIN")"
  (cd "$(dirname "$MINIO_BIN")" && GOBIN="$(dirname "$MINIO_BIN")" CGO_ENABLED=0 GOFLAGS=-mod=mod \
    "$gobin" install "github.com/minio/minio@$MINIO_VERSION")
  log "MinIO built in $((SECONDS - start)) s"
}

minio_pid() { cat "$STACK_DIR/minio.pid" 2>/dev/null || true; }

minio_running() {
  local pid; pid="$(minio_pid)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

start_minio() {
  install_minio
  if minio_running; then log "MinIO already running on 127.0.0.1:$MINIO_PORT"; return; fi
  mkdir -p "$STACK_DIR/minio"
  log "starting MinIO on 127.0.0.1:$MINIO_PORT"
  MINIO_ROOT_USER=sieve MINIO_ROOT_PASSWORD="$(secret minio)" MINIO_BROWSER=off \
    MINIO_UPDATE=off MINIO_CI_CD=1 \
    setsid nohup "$MINIO_BIN" server "$STACK_DIR/minio" --quiet \
    --address "127.0.0.1:$MINIO_PORT" --console-address "127.0.0.1:$MINIO_CONSOLE_PORT" \
    >"$STACK_DIR/minio.log" 2>&1 </dev/null &
  echo $! >"$STACK_DIR/minio.pid"
  local i
  for i in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$MINIO_PORT/minio/health/ready" >/dev/null 2>&1; then return; fi
    minio_running || { tail -20 "$STACK_DIR/minio.log" >&2; die "MinIO exited"; }
    sleep 0.5
  done
  die "MinIO did not become ready in 60 s (see $STACK_DIR/minio.log)"
}

stop_minio() {
  if minio_running; then
    log "stopping MinIO"
    local pid; pid="$(minio_pid)"
    kill "$pid"
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  fi
  rm -f "$STACK_DIR/minio.pid"
}

# --- OS packages for building and testing ------------------------------------------------------

# Debian packages Sieve builds or tests with: libjpeg-turbo headers for the thumbnailer (cgo),
# exiftool to write test fixtures, GDAL for shapefile import and for checking our GeoJSON.
DEPS=(gcc libjpeg62-turbo-dev libimage-exiftool-perl gdal-bin curl)
DEPS+=(chromium fonts-wqy-microhei)  # the map page's browser test: headless Chromium, a Chinese font (issue 12)
DEPS+=(libreoffice-calc-nogui poppler-utils)  # the ledgers' rendering test: XLSX → PDF → PNG (issue 13)

install_deps() {
  local missing=() p
  for p in "${DEPS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  log "installing OS packages: ${missing[*]} (apt, about a minute)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# --- commands ---------------------------------------------------------------------------------

print_env() {
  cat <<EOF
SIEVE_DB_URL=postgres://sieve:$(secret pg-sieve)@127.0.0.1:$PG_PORT/sieve?sslmode=disable
SIEVE_S3_ENDPOINT=127.0.0.1:$MINIO_PORT
SIEVE_S3_ACCESS_KEY=sieve
SIEVE_S3_SECRET_KEY=$(secret minio)
SIEVE_S3_USE_SSL=false
EOF
}

cmd="${1:-}"
case "$cmd" in
  up)
    mkdir -p "$STACK_DIR"
    check_ports
    start_postgres
    start_minio
    log "up: PostgreSQL 127.0.0.1:$PG_PORT, MinIO 127.0.0.1:$MINIO_PORT"
    ;;
  down)
    stop_minio
    stop_postgres
    ;;
  destroy)
    stop_minio
    stop_postgres
    pgd="$(dirname "$(pg_dir)")"
    case "$pgd" in "$STACK_DIR"|/var/tmp/sieve-stack/*) rm -rf "$pgd" ;; esac
    rm -rf "$STACK_DIR"
    log "destroyed: $STACK_DIR"
    ;;
  env)
    mkdir -p "$STACK_DIR"
    print_env
    ;;
  deps)
    install_deps
    ;;
  status)
    if pg_running; then echo "postgres: running on 127.0.0.1:$PG_PORT"; else echo "postgres: stopped"; fi
    if minio_running; then echo "minio: running on 127.0.0.1:$MINIO_PORT"; else echo "minio: stopped"; fi
    ;;
  # Used by the readiness tests: stop or start one service alone.
  stop-postgres) stop_postgres ;;
  start-postgres) check_ports; start_postgres ;;
  stop-minio) stop_minio ;;
  start-minio) check_ports; start_minio ;;
  *)
    echo "usage: $0 up|down|destroy|env|status|deps" >&2
    exit 2
    ;;
esac
