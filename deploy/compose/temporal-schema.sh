#!/bin/sh
# One-shot, before the Temporal server starts: its two PostgreSQL databases and their schemas.
# Run by docker-compose.temporal.yml in the temporalio/admin-tools image (temporal-sql-tool and the
# versioned schema files under /etc/temporal/schema). Idempotent: `setup-schema -v 0.0` only adds the
# version tables, `update-schema` applies the versions a database does not have yet, so a restart on the
# kept volume and a server upgrade (a newer admin-tools tag) both end with the current schema.
# Not run on the machine it was written on (no Docker engine, no temporal-sql-tool there).
set -eu

: "${POSTGRES_SEEDS:?set POSTGRES_SEEDS (the PostgreSQL host)}"
: "${POSTGRES_USER:?set POSTGRES_USER}"
: "${SQL_PASSWORD:?set SQL_PASSWORD (read by temporal-sql-tool)}"
: "${DB_PORT:=5432}"
: "${DBNAME:=temporal}"
: "${VISIBILITY_DBNAME:=temporal_visibility}"
SCHEMA_ROOT=/etc/temporal/schema/postgresql/v12

sql() {
    temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" "$@"
}

# DATABASE SCHEMA: the main store (schema `temporal`) and the SQL visibility store (schema `visibility`).
for pair in "$DBNAME:temporal" "$VISIBILITY_DBNAME:visibility"; do
    db=${pair%%:*}
    schema=${pair#*:}
    # `create` fails once the database exists: on every start after the first, and on the first for a
    # database named like POSTGRES_USER (the postgres image creates that one). A real fault (password,
    # host) shows here and fails `setup-schema` just below.
    if ! sql --db "$db" create; then
        echo "temporal-schema: database $db not created (it exists, or see above)"
    fi
    sql --db "$db" setup-schema -v 0.0
    sql --db "$db" update-schema -d "$SCHEMA_ROOT/$schema/versioned"
    echo "temporal-schema: $db has the current $schema schema"
done
