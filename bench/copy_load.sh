#!/bin/bash
# Bulk loads with the online trigger: COPY of synthetic events into
# reco_event (0) with the trigger disabled (the baseline), (a) before any
# model exists, (b) with an online model but reco.online = off for the
# session, (c) with the trigger doing its work.
# Prints rows per second for each.  Point it at a database with PG*.
#   ROWS=1000000 ONLINE_ROWS=100000 bench/copy_load.sh
set -euo pipefail
ROWS=${ROWS:-1000000}
ONLINE_ROWS=${ONLINE_ROWS:-100000}
USERS=${USERS:-20000}
ITEMS=${ITEMS:-5000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

[ "$(q -c "SELECT count(*) FROM pg_extension WHERE extname = 'reco'")" = 0 ] || {
	echo "copy_load: reco is already installed in this database; use an empty one"; exit 1; }
q -c "CREATE EXTENSION reco"
trap 'rm -rf "$tmp"; q -c "DROP EXTENSION reco CASCADE" >/dev/null 2>&1 || true' EXIT

gen() {	# n rows of user, item, kind, value as CSV
	q -c "COPY (SELECT 1 + (random() * ($USERS - 1))::int, 1 + (random() * ($ITEMS - 1))::int,
	               (ARRAY['view', 'view', 'view', 'click', 'cart', 'purchase'])[1 + (random() * 5)::int], 1
	        FROM generate_series(1, $1)) TO STDOUT WITH (FORMAT csv)"
}
gen "$ROWS" > "$tmp/events.csv"
gen "$ONLINE_ROWS" > "$tmp/online.csv"

load() {	# label, file, rows, session settings
	local t0 t1
	t0=$(date +%s.%N)
	q -c "$4" -c "\\copy reco_event (user_id, item_id, kind, value) FROM '$2' WITH (FORMAT csv)"
	t1=$(date +%s.%N)
	awk -v l="$1" -v n="$3" -v a="$t0" -v b="$t1" 'BEGIN { printf "%-52s %9d rows %8.2f s %9.0f rows/s\n", l, n, b - a, n / (b - a) }'
}

echo "COPY into reco_event (PostgreSQL $(q -c 'SHOW server_version'), synchronous_commit $(q -c 'SHOW synchronous_commit'))"
q -c "ALTER TABLE reco_event DISABLE TRIGGER reco_event_online"
load "(0) baseline: trigger disabled" "$tmp/events.csv" "$ROWS" "SET application_name = 'copy_load'"
q -c "ALTER TABLE reco_event ENABLE TRIGGER reco_event_online" -c "TRUNCATE reco_event"
load "(a) no model yet: the trigger finds nothing to do" "$tmp/events.csv" "$ROWS" "SET application_name = 'copy_load'"
q -c "SET reco.progress = off" -c "SELECT version FROM reco_train('bulk', 'als', '{\"factors\": 32, \"iterations\": 3}')" >/dev/null
load "(b) online model, SET reco.online = off" "$tmp/events.csv" "$ROWS" "SET reco.online = off"
load "(c) online model, trigger on (fold-in per event)" "$tmp/online.csv" "$ONLINE_ROWS" "SET reco.online = on"
q -c "SELECT events || ' events, ' || items || ' items, ' || round(seconds::numeric, 2) || ' s' FROM reco_refresh('bulk')" | sed 's/^/reco_refresh after (c): /'
