#!/bin/bash
# A hot standby serves recommendations: the serving functions write nothing,
# and the model tables replicate.  Builds a streaming standby of the cluster
# the PG* variables point at, trains on the primary, and compares answers.
set -euo pipefail
cd "$(dirname "$0")/.."

db=reco_standby
port=$((PGPORT + 100))
dir=$(mktemp -d /tmp/reco-standby.XXXXXX)
bin=$(pg_config --bindir)
as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- env PGPASSWORD="${PGPASSWORD:-}" "$@"; else "$@"; fi; }
cleanup() {
	as_postgres "$bin/pg_ctl" -D "$dir" -m immediate stop >/dev/null 2>&1 || true
	[ -n "${KEEP:-}" ] || rm -rf "$dir"
	dropdb --if-exists $db >/dev/null 2>&1 || true
}
trap cleanup EXIT
[ "$(id -u)" -eq 0 ] && chown postgres "$dir"
chmod 700 "$dir"

dropdb --if-exists $db >/dev/null 2>&1
createdb $db
psql -X -q -v ON_ERROR_STOP=1 -d $db <<'SQL'
CREATE EXTENSION reco;
INSERT INTO reco_event (user_id, item_id, kind)
SELECT u, 1 + (u * 7 + j * 3) % 50, 'purchase' FROM generate_series(1, 40) u, generate_series(1, 6) j;
SQL

as_postgres "$bin/pg_basebackup" -h "${PGHOST:-localhost}" -p "$PGPORT" -U "${PGUSER:-postgres}" -D "$dir" -R -X stream -c fast
# Debian keeps the configuration outside the data directory: give the copy its own
as_postgres sh -c "touch '$dir/postgresql.conf' '$dir/pg_ident.conf' &&
	printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' > '$dir/pg_hba.conf'"
as_postgres "$bin/pg_ctl" -D "$dir" -l "$dir/log" -w \
	-o "-p $port -c listen_addresses=localhost -c unix_socket_directories=$dir -c hot_standby=on" start >/dev/null

psql -X -q -d $db -c "SET reco.progress = off" -c "SELECT version FROM reco_train('replicated', 'als', '{\"factors\": 8}')" >/dev/null
lsn=$(psql -X -At -d $db -c "SELECT pg_current_wal_lsn()")
for _ in $(seq 1 100); do
	done_=$(psql -X -At -h localhost -p $port -d $db -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'")
	[ "$done_" = t ] && break
	sleep 0.1
done

query="SELECT u, r.item_id, r.rank, r.source FROM generate_series(1, 41) u, LATERAL reco_recommend(u, 5, 'replicated') r ORDER BY 1, 3"
primary=$(psql -X -At -d $db -c "$query")
standby=$(psql -X -At -h localhost -p $port -d $db -c "$query")
similar=$(psql -X -At -h localhost -p $port -d $db -c "SELECT count(*) FROM reco_similar_items(1, 5, 'replicated')")
in_recovery=$(psql -X -At -h localhost -p $port -d $db -c "SELECT pg_is_in_recovery()")

[ "$in_recovery" = t ] || { echo "the second server is not a standby"; exit 1; }
[ "$(echo "$primary" | wc -l)" -eq 205 ] || { echo "expected 205 rows from the primary"; exit 1; }
[ "$primary" = "$standby" ] || { echo "standby answers differ"; diff <(echo "$primary") <(echo "$standby"); exit 1; }
[ "$similar" = 5 ] || { echo "reco_similar_items on the standby gave $similar rows"; exit 1; }
echo "the standby served the same 205 recommendations as the primary"
