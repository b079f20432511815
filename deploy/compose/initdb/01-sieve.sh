#!/bin/bash
# Runs once, when the PostGIS volume is first created: the same role and databases as
# deploy/local/stack.sh provision_postgres.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" <<SQL
CREATE ROLE sieve LOGIN CREATEDB PASSWORD '${SIEVE_DB_PASSWORD}';
CREATE DATABASE sieve OWNER sieve;
SQL
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" -d sieve -c "CREATE EXTENSION IF NOT EXISTS postgis"
