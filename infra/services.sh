#!/usr/bin/env bash
# Start, stop and inspect Vigil's private service instances: Mosquitto, PostgreSQL (with
# TimescaleDB when the extension is installed) and Apache Kafka 4 (one KRaft node).
#
#   infra/services.sh up [mosquitto] [postgres] [kafka]   # default: all three
#   infra/services.sh down                                # stop whatever is running
#   infra/services.sh stop postgres|mosquitto             # stop one (`up NAME` restarts it)
#   infra/services.sh crash mosquitto                     # kill -9 (the fault harness)
#   infra/services.sh crash postgres                      # immediate shutdown: crash recovery next
#   infra/services.sh status
#
# Everything lives under one state directory ($VIGIL_STATE_DIR, default <repo>/.vigil, ignored
# by git): data, logs, pid files, generated secrets and `services.env`, the file the Python side
# reads for endpoints and credentials. Services listen on 127.0.0.1 only, on ports that do not
# collide with system instances (override with VIGIL_MQTT_PORT, VIGIL_PG_PORT, VIGIL_KAFKA_PORT,
# VIGIL_KAFKA_CONTROLLER_PORT).
#
# PostgreSQL's server binaries are the newest /usr/lib/postgresql/*/bin unless VIGIL_PG_BINDIR
# names another bin directory (e.g. a private relocated copy of PostgreSQL with TimescaleDB built
# into it, to test TimescaleDB mode without touching the system installation). Its pg_config
# decides the mode as usual: TimescaleDB is preloaded when its sharedir has the extension.
#
# PostgreSQL is locked down for a shared host: SCRAM passwords on every connection (socket and
# TCP; pg_hba.conf is rendered on every start), a socket directory only the cluster owner can
# enter, the application role `vigil` without administrative rights, and a server log without
# error text or statements (they quote PHI). The superuser's password is only in the state dir.
#
# `up` is idempotent: a running service is left alone (PostgreSQL re-reads its rendered
# configuration). It installs missing Debian packages when it can (root or password-less sudo)
# and otherwise prints the exact apt-get command. Kafka's jars come from Maven Central through
# infra/kafka/pom.xml (cached in ~/.m2).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
state=${VIGIL_STATE_DIR:-$repo/.vigil}
mqtt_port=${VIGIL_MQTT_PORT:-18830}
mqtts_port=${VIGIL_MQTTS_PORT:-$((mqtt_port + 1))}          # TLS, device passwords
mqtt_cert_port=${VIGIL_MQTT_CERT_PORT:-$((mqtt_port + 2))}  # TLS, device certificates
pg_port=${VIGIL_PG_PORT:-15432}
kafka_port=${VIGIL_KAFKA_PORT:-19092}
controller_port=${VIGIL_KAFKA_CONTROLLER_PORT:-19093}

say() { printf 'services: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# --- packages -------------------------------------------------------------------------------

# shellcheck source=infra/lib.sh
. "$here/lib.sh"  # privileged, apt_install

pg_bindir() {
  local d
  d=${VIGIL_PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
  [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

java_ok() {
  command -v java >/dev/null || return 1
  local v
  v=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)
  [ -n "$v" ] && [ "$v" -ge 17 ]
}

java_package() {
  if apt-cache show openjdk-17-jre-headless >/dev/null 2>&1; then echo openjdk-17-jre-headless
  else echo default-jre-headless
  fi
}

ensure_packages() {
  local missing=() name
  for name in "$@"; do
    case $name in
      mosquitto) command -v mosquitto >/dev/null || missing+=(mosquitto) ;;
      postgres) pg_bindir >/dev/null || missing+=(postgresql) ;;
      kafka) java_ok || missing+=("$(java_package)")
             command -v mvn >/dev/null || missing+=(maven) ;;
    esac
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ] && ! { command -v sudo >/dev/null && sudo -n true 2>/dev/null; }; then
    die "missing packages; run: sudo apt-get install ${missing[*]}"
  fi
  apt_install "${missing[@]}"
}

# --- helpers --------------------------------------------------------------------------------

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {  # port seconds what
  local i
  for ((i = 0; i < $2 * 10; i++)); do port_open "$1" && return 0; sleep 0.1; done
  die "$3 did not open port $1 within $2 s"
}

alive() {  # a killed service not yet reaped (a zombie) answers kill -0 but is gone
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null &&
    ! grep -qs '^State:[[:space:]]*Z' "/proc/$(cat "$1")/status"
}

stop_pid() {  # pidfile name
  alive "$1" || { rm -f "$1"; return 0; }
  local pid i
  pid=$(cat "$1")
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then say "$2 did not stop in 30 s; killing"; kill -9 "$pid" || true; fi
  rm -f "$1"
  say "$2 stopped"
}

add_secret() {  # file name: a secret added after the file was first written (upgrades)
  grep -q "^$2=" "$1" || (umask 077; echo "$2=$(random_secret)" >> "$1")
}

random_secret() { head -c 24 /dev/urandom | base64 | tr -d '/+=\n' | cut -c 1-24; }

secrets() {  # created once; later runs reuse them so data and credentials stay valid
  local f=$state/secrets.env
  if [ ! -f "$f" ]; then
    (umask 077
     { echo "pg_admin_password=$(random_secret)"
       echo "pg_vigil_password=$(random_secret)"
       echo "mqtt_ingest_password=$(random_secret)"
       echo "sim_secret=$(random_secret)"; } > "$f")
  fi
  add_secret "$f" mqtt_admin_password
  # shellcheck disable=SC1090
  . "$f"
}

write_env() {
  (umask 077
   cat > "$state/services.env" <<EOF
# Written by infra/services.sh; read by vigil.settings.load_settings. Do not commit.
VIGIL_MQTT__HOST=127.0.0.1
VIGIL_MQTT__PORT=$mqtt_port
VIGIL_MQTT__USERNAME=svc-ingest
VIGIL_MQTT__PASSWORD=$mqtt_ingest_password
VIGIL_MQTT__ADMIN_USERNAME=svc-provision
VIGIL_MQTT__ADMIN_PASSWORD=$mqtt_admin_password
VIGIL_MQTT__TLS_PORT=$mqtts_port
VIGIL_MQTT__CERT_PORT=$mqtt_cert_port
VIGIL_MQTT__CA_FILE=$state/mosquitto/tls/ca.crt
VIGIL_DB__DSN=postgresql://vigil:$pg_vigil_password@127.0.0.1:$pg_port/vigil
VIGIL_DB__ADMIN_DSN=postgresql://postgres:$pg_admin_password@127.0.0.1:$pg_port/postgres
VIGIL_KAFKA__BOOTSTRAP=127.0.0.1:$kafka_port
VIGIL_SIM__SECRET=$sim_secret
EOF
  )
}

# --- mosquitto ------------------------------------------------------------------------------

mosquitto_up() {
  local dir=$state/mosquitto pidf=$state/mosquitto/mosquitto.pid
  if alive "$pidf"; then say "mosquitto already running on $mqtt_port"; return 0; fi
  port_open "$mqtt_port" && die "port $mqtt_port is taken by another process (set VIGIL_MQTT_PORT)"
  mkdir -p "$dir/data"
  port_open "$mqtts_port" && die "port $mqtts_port is taken (set VIGIL_MQTTS_PORT)"
  port_open "$mqtt_cert_port" && die "port $mqtt_cert_port is taken (set VIGIL_MQTT_CERT_PORT)"
  mosquitto_tls "$dir/tls"
  sed -e "s#@STATE@#$state#g" -e "s#@MQTT_PORT@#$mqtt_port#g" \
    -e "s#@MQTTS_PORT@#$mqtts_port#g" -e "s#@MQTT_CERT_PORT@#$mqtt_cert_port#g" \
    -e "s#@DYNSEC@#$(dynsec_plugin)#g" \
    "$here/mosquitto/mosquitto.conf.in" > "$dir/mosquitto.conf"
  cp "$here/mosquitto/acl" "$dir/acl"
  # Accounts live in the dynamic-security plugin's file: service accounts (re)written here,
  # devices added by the API (POST /devices) through the broker's control topic.
  printf 'svc-ingest=%s\nsvc-provision=%s\n' "$mqtt_ingest_password" "$mqtt_admin_password" |
    python3 "$here/mosquitto/dynsec_seed.py" "$dir/dynamic-security.json"
  # Started as root, mosquitto drops to the 'mosquitto' user: give it its own directory (the
  # plugin rewrites its file there on every change).
  if [ "$(id -u)" -eq 0 ] && id mosquitto >/dev/null 2>&1; then
    chown -R mosquitto: "$dir"
    reachable_by mosquitto
  fi
  setsid nohup mosquitto -c "$dir/mosquitto.conf" > "$dir/stdout.log" 2>&1 9>&- &
  echo $! > "$pidf"
  local i
  for ((i = 0; i < 200; i++)); do
    port_open "$mqtt_port" && port_open "$mqtt_cert_port" && break
    alive "$pidf" || die "mosquitto exited: $(tail -n 3 "$dir/stdout.log" "$dir/mosquitto.log" 2>/dev/null)"
    sleep 0.1
  done
  wait_port "$mqtt_port" 1 mosquitto
  say "mosquitto up on 127.0.0.1:$mqtt_port"
}

mosquitto_tls() {  # a private CA and the broker's certificate, for local runs only (once)
  local tls=$1
  [ -f "$tls/server.crt" ] && return 0
  mkdir -p "$tls"
  (umask 077
   openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Vigil local CA" \
     -keyout "$tls/ca.key" -out "$tls/ca.crt" 2>/dev/null
   openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
     -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
   printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > "$tls/server.ext"
   openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" \
     -CAcreateserial -days 825 -extfile "$tls/server.ext" -out "$tls/server.crt" 2>/dev/null) ||
    die "openssl could not make the local broker certificates"
  chmod 644 "$tls/ca.crt" "$tls/server.crt"
  say "made a private CA and broker certificate in $tls (local runs only)"
}

device_cert() {  # device-cert ID: a client certificate (CN = device id) from the local CA
  local id=${1:?device id} tls=$state/mosquitto/tls out
  [ -f "$tls/ca.key" ] || die "no local CA yet (run: services.sh up mosquitto)"
  out=$tls/devices
  mkdir -p "$out"
  (umask 077
   openssl req -newkey rsa:2048 -nodes -subj "/CN=$id" -keyout "$out/$id.key" \
     -out "$out/$id.csr" 2>/dev/null
   printf 'extendedKeyUsage=clientAuth\n' > "$out/client.ext"
   openssl x509 -req -in "$out/$id.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" \
     -CAcreateserial -days 825 -extfile "$out/client.ext" -out "$out/$id.crt" 2>/dev/null) ||
    die "openssl could not make the certificate"
  rm -f "$out/$id.csr"
  echo "$out/$id.crt"
}

dynsec_plugin() {  # the Debian package's dynamic-security plugin
  local f
  for f in /usr/lib/*/mosquitto_dynamic_security.so /usr/lib/mosquitto_dynamic_security.so; do
    [ -f "$f" ] && { echo "$f"; return 0; }
  done
  die "mosquitto_dynamic_security.so not found (Debian package mosquitto >= 2.0)"
}

# --- postgres -------------------------------------------------------------------------------

pg_run() {  # run a PostgreSQL tool as the cluster owner (initdb and postgres refuse root)
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

reachable_by() {  # as root, a service's own user must be able to reach the state directory
  [ "$(id -u)" -eq 0 ] || return 0
  runuser -u "$1" -- test -x "$state" && return 0
  local d=$state
  while [ "$d" != / ]; do
    d=$(dirname "$d")
    if ! runuser -u "$1" -- test -x "$d"; then
      say "allowing the $1 user to traverse $d (chmod o+x; no read access)"
      chmod o+x "$d"
    fi
  done
  runuser -u "$1" -- test -x "$state" || die "the $1 user cannot reach $state"
}

pg_conf() {
  local sharedir preload=""
  sharedir=$("$1/pg_config" --sharedir 2>/dev/null || echo /usr/share/postgresql/none)
  [ -f "$sharedir/extension/timescaledb.control" ] && preload=timescaledb
  cat <<EOF
# Rendered by infra/services.sh on every start.
listen_addresses = '127.0.0.1'
port = $pg_port
# The socket and its directory belong to the cluster owner alone (other OS users of a shared
# host cannot even reach it); every connection, socket or TCP, authenticates by password
# (pg_hba.conf, also rendered by infra/services.sh).
unix_socket_directories = '$state/pg/run'
unix_socket_permissions = 0700
password_encryption = scram-sha-256
max_connections = 200
shared_buffers = 256MB
shared_preload_libraries = '$preload'
timescaledb.telemetry_level = off
# No PHI in the server log. An error's text and DETAIL quote row values (a duplicate key names
# the device and the measurement time: the readings sink provokes those on purpose, see
# stream/sink.py), and the statement that failed carries them too. Errors and warnings go to the
# client that caused them, whose log records their class and SQLSTATE only (ingest.retry); the
# server log keeps its own events (LOG: start, stop, checkpoints; FATAL: refused logins; PANIC).
log_min_messages = log
log_min_error_statement = panic
log_error_verbosity = terse
EOF
}

pg_hba() {
  cat <<EOF
# Rendered by infra/services.sh on every start: a password (SCRAM) for every connection, on the
# socket as on loopback TCP. No 'trust' and no 'peer': the OS user proves nothing here.
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 scram-sha-256
host    all       all   127.0.0.1/32  scram-sha-256
host    all       all   ::1/128       scram-sha-256
EOF
}

postgres_up() {
  local bin dir=$state/pg data=$state/pg/data owner
  owner=$(id -un)
  bin=$(pg_bindir) || die "PostgreSQL server binaries not found"
  [ "$(id -u)" -eq 0 ] && owner=postgres
  mkdir -p "$dir/run"
  reachable_by postgres
  chown "$owner" "$dir" "$dir/run" 2>/dev/null || true
  chmod 700 "$dir" "$dir/run"  # the log, the socket, the bootstrap's passfile: owner only
  if [ ! -f "$data/PG_VERSION" ]; then
    local pw=$dir/.pwfile
    (umask 077; echo "$pg_admin_password" > "$pw"); chown "$owner" "$pw" 2>/dev/null || true
    pg_run "$bin/initdb" -D "$data" -U postgres --pwfile="$pw" --auth-local=scram-sha-256 \
      --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pw"
    echo "include 'vigil.conf'" >> "$data/postgresql.conf"
  fi
  # Both files are rendered on every start, so a cluster made by an older script (trust on the
  # socket) is locked down too.
  pg_conf "$bin" > "$dir/vigil.conf.new"
  pg_hba > "$dir/pg_hba.conf.new"
  chown "$owner" "$dir/vigil.conf.new" "$dir/pg_hba.conf.new" 2>/dev/null || true
  chmod 600 "$dir/pg_hba.conf.new"
  mv "$dir/vigil.conf.new" "$data/vigil.conf"
  mv "$dir/pg_hba.conf.new" "$data/pg_hba.conf"
  if pg_run "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    pg_run "$bin/pg_ctl" -D "$data" reload >/dev/null
    # (unix_socket_permissions waits for a restart; the socket's 0700 directory does not.)
    say "postgres already running on $pg_port (configuration reloaded)"
  else
    port_open "$pg_port" && die "port $pg_port is taken by another process (set VIGIL_PG_PORT)"
    pg_run "$bin/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 start >/dev/null 9>&-
    say "postgres up on 127.0.0.1:$pg_port"
  fi
  pg_bootstrap "$bin" "$owner"
}

pg_bootstrap() {  # bindir owner: the application role and database; TimescaleDB when available
  # The superuser's password reaches psql through a passfile only the cluster owner can read
  # (never on a command line or in the environment), removed afterwards.
  local pass=$state/pg/.pgpass
  (umask 077; echo "*:*:*:postgres:$pg_admin_password" > "$pass")
  chown "$2" "$pass" 2>/dev/null || true
  local psql=(env PGPASSFILE="$pass" PGOPTIONS="-c client_min_messages=warning" "$1/psql" -X -q
              -h "$state/pg/run" -p "$pg_port" -U postgres -v ON_ERROR_STOP=1)
  # The application role owns its database (it runs the migrations) and nothing more: no
  # superuser, no new roles or databases, no replication, no row-security bypass. Enforced on
  # every start, also on a role an older script or a person changed.
  pg_run "${psql[@]}" -d postgres -v pw="$pg_vigil_password" <<'SQL' ||
SELECT 'CREATE ROLE vigil LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vigil')
\gexec
ALTER ROLE vigil LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'pw';
SELECT 'CREATE DATABASE vigil OWNER vigil' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'vigil')
\gexec
SQL
    { rm -f "$pass"; die "could not create the application role and database"; }
  # Extensions that are not "trusted" need the superuser; migrations then find them present.
  pg_run "${psql[@]}" -d vigil <<'SQL' ||
SELECT 'CREATE EXTENSION IF NOT EXISTS timescaledb'
 WHERE current_setting('shared_preload_libraries') LIKE '%timescaledb%'
   AND EXISTS (SELECT FROM pg_available_extensions WHERE name = 'timescaledb')
\gexec
SQL
    { rm -f "$pass"; die "could not create the timescaledb extension"; }
  rm -f "$pass"
}

# --- kafka ----------------------------------------------------------------------------------

kafka_libs() {
  local libs=$state/kafka/libs stamp want
  stamp=$libs/.pom.sha256
  want=$(sha256sum "$here/kafka/pom.xml" | cut -d' ' -f1)
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return 0
  say "fetching Kafka jars from Maven Central (first run only)"
  rm -rf "$libs"
  mkdir -p "$state/kafka"
  mvn -B -f "$here/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$libs" -DincludeScope=runtime > "$state/kafka/maven.log" 2>&1 ||
    die "maven could not fetch the Kafka jars; see $state/kafka/maven.log"
  echo "$want" > "$stamp"
}

kafka_up() {
  local dir=$state/kafka pidf=$state/kafka/kafka.pid props=$state/kafka/server.properties
  if alive "$pidf"; then say "kafka already running on $kafka_port"; return 0; fi
  port_open "$kafka_port" && die "port $kafka_port is taken by another process (set VIGIL_KAFKA_PORT)"
  mkdir -p "$dir/data"
  kafka_libs
  sed -e "s#@KAFKA_PORT@#$kafka_port#g" -e "s#@CONTROLLER_PORT@#$controller_port#g" \
    -e "s#@DATA_DIR@#$dir/data#g" "$here/kafka/server.properties.in" > "$props"
  local java=(java -Dvigil.kafka.log="$dir/server.log"
    -Dlog4j2.configurationFile="$here/kafka/log4j2.properties" -cp "$dir/libs/*")
  if [ ! -f "$dir/data/meta.properties" ]; then
    local id
    id=$("${java[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
    "${java[@]}" kafka.tools.StorageTool format -t "$id" -c "$props" >/dev/null
  fi
  : > "$dir/server.log"
  setsid nohup "${java[@]}" -Xms256m -Xmx1g -XX:+UseG1GC kafka.Kafka "$props" > "$dir/stdout.log" 2>&1 9>&- &
  echo $! > "$pidf"
  wait_port "$kafka_port" 90 kafka
  local i
  for ((i = 0; i < 600; i++)); do
    grep -q "Kafka Server started" "$dir/server.log" 2>/dev/null && break
    alive "$pidf" || die "kafka exited; see $dir/server.log and $dir/stdout.log"
    sleep 0.1
  done
  say "kafka up on 127.0.0.1:$kafka_port"
}

# --- commands -------------------------------------------------------------------------------

up() {
  local names=("$@")
  [ ${#names[@]} -gt 0 ] || names=(mosquitto postgres kafka)
  ensure_packages "${names[@]}"
  secrets
  local name
  for name in "${names[@]}"; do
    case $name in
      mosquitto) mosquitto_up ;;
      postgres) postgres_up ;;
      kafka) kafka_up ;;
      *) die "unknown service '$name' (mosquitto, postgres, kafka)" ;;
    esac
  done
  write_env
}

down() {
  stop_pid "$state/kafka/kafka.pid" kafka
  stop_pid "$state/mosquitto/mosquitto.pid" mosquitto
  local bin
  if bin=$(pg_bindir) && [ -f "$state/pg/data/PG_VERSION" ] &&
     pg_run "$bin/pg_ctl" -D "$state/pg/data" status >/dev/null 2>&1; then
    pg_run "$bin/pg_ctl" -D "$state/pg/data" -m fast -w stop >/dev/null
    say "postgres stopped"
  fi
}

stop_one() {  # stop NAME: one service, gracefully (postgres: fast shutdown); `up NAME` restarts it
  local bin
  case $1 in
    postgres)
      bin=$(pg_bindir) && pg_run "$bin/pg_ctl" -D "$state/pg/data" -m fast -w stop >/dev/null
      say "postgres stopped" ;;
    mosquitto) stop_pid "$state/mosquitto/mosquitto.pid" mosquitto ;;
    *) die "stop takes postgres or mosquitto" ;;
  esac
}

crash() {  # crash NAME, no goodbye (the fault harness, `vigil bench faults`)
  local bin
  case ${1:-} in
    mosquitto)  # kill -9
      alive "$state/mosquitto/mosquitto.pid" || die "mosquitto is not running"
      kill -9 "$(cat "$state/mosquitto/mosquitto.pid")"
      say "mosquitto killed (-9)" ;;
    postgres)  # an immediate shutdown: no checkpoint, so the next start runs crash recovery
      # from the WAL (kill -9 of the postmaster would leave its backends holding shared memory)
      bin=$(pg_bindir) && pg_run "$bin/pg_ctl" -D "$state/pg/data" -m immediate -w stop >/dev/null
      say "postgres crashed (immediate shutdown)" ;;
    *) die "crash takes mosquitto or postgres" ;;
  esac
}

status() {
  local bin pg=stopped
  alive "$state/mosquitto/mosquitto.pid" && echo "mosquitto  running  127.0.0.1:$mqtt_port" ||
    echo "mosquitto  stopped"
  if bin=$(pg_bindir) && [ -f "$state/pg/data/PG_VERSION" ] &&
     pg_run "$bin/pg_ctl" -D "$state/pg/data" status >/dev/null 2>&1; then pg=running; fi
  [ $pg = running ] && echo "postgres   running  127.0.0.1:$pg_port" || echo "postgres   stopped"
  alive "$state/kafka/kafka.pid" && echo "kafka      running  127.0.0.1:$kafka_port" ||
    echo "kafka      stopped"
}

main() {
  local cmd=${1:-status}
  shift || true
  mkdir -p "$state"
  case $cmd in
    up|down|stop|crash)
      # One of these at a time (tests, CI and a developer may race).
      exec 9> "$state/.lock"
      flock -w 300 9 || die "another services.sh holds $state/.lock"
      [ "$cmd" = stop ] && cmd=stop_one
      "$cmd" "$@" ;;
    status) status ;;
    device-cert) device_cert "$@" ;;
    *) echo "usage: $0 up [mosquitto] [postgres] [kafka] | down | stop postgres|mosquitto |" >&2
       echo "       crash mosquitto|postgres | status | device-cert ID" >&2
       exit 2 ;;
  esac
}

main "$@"
