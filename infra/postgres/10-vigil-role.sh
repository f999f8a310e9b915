#!/usr/bin/env bash
# Run once by the PostgreSQL image's entrypoint on a fresh data directory (docker-compose.yml
# mounts it into /docker-entrypoint-initdb.d), after the TimescaleDB image created the extension
# in $POSTGRES_DB. The application role `vigil` owns its database and nothing more: no
# superuser, no new roles or databases, no replication, no row-security bypass (the same rules
# infra/services.sh enforces on the private instance). Its password comes from the environment.
set -euo pipefail
: "${VIGIL_DB_PASSWORD:?set VIGIL_DB_PASSWORD}"
psql -v ON_ERROR_STOP=1 -X -q --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v pw="$VIGIL_DB_PASSWORD" <<'SQL'
CREATE ROLE vigil LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'pw';
ALTER DATABASE vigil OWNER TO vigil;
ALTER SCHEMA public OWNER TO vigil;
SQL
