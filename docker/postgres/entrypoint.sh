#!/bin/sh
# Start a throwaway PostgreSQL for the test stack: initialise the cluster on first start with the
# password from POSTGRES_PASSWORD (never printed), create the `predictions` database, then serve.
set -eu
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    mkdir -p "$PGDATA"
    pwfile="$(mktemp)"
    printf '%s' "$POSTGRES_PASSWORD" > "$pwfile"
    initdb --username=postgres --pwfile="$pwfile" --auth=scram-sha-256 --encoding=UTF8 --no-locale --no-sync \
        --pgdata="$PGDATA" >/dev/null
    rm -f "$pwfile"
    # A test database: durability is traded for speed; the data lives on a tmpfs anyway.
    printf "listen_addresses = '*'\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n" \
        >> "$PGDATA/postgresql.conf"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    echo "CREATE DATABASE predictions;" | postgres --single -D "$PGDATA" postgres >/dev/null
fi
exec postgres -D "$PGDATA"
