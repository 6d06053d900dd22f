#!/bin/bash
# Write-path cost of online learning: pgbench single-row INSERTs into
# reco_event, 2 clients, with the online trigger on and off, under
# synchronous_commit on and off, all in one run so the ratios compare like
# with like.  Prints tps and p50/p99 latency per setting.
#   SECONDS_PER_RUN=15 RUNS=3 bench/write_path.sh      (PG* name the database)
set -euo pipefail
T=${SECONDS_PER_RUN:-15}
RUNS=${RUNS:-3}
USERS=${USERS:-20000}
ITEMS=${ITEMS:-5000}
tmp=$(mktemp -d)
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
[ "$(q -c "SELECT count(*) FROM pg_extension WHERE extname = 'reco'")" = 0 ] || {
	echo "write_path: reco is already installed in this database; use an empty one"; exit 1; }
q -c "CREATE EXTENSION reco"
trap 'rm -rf "$tmp"; q -c "DROP EXTENSION reco CASCADE" >/dev/null 2>&1 || true' EXIT

# a trained model over 200,000 events (the trigger is a no-op while loading)
q -c "INSERT INTO reco_event (user_id, item_id, kind)
      SELECT 1 + (random() * ($USERS - 1))::int, 1 + (random() * ($ITEMS - 1))::int, 'view'
      FROM generate_series(1, 200000)"
q -c "SET reco.progress = off" -c "SELECT version FROM reco_train('live', 'als', '{\"factors\": 64, \"iterations\": 5}')" >/dev/null
cat > "$tmp/insert.sql" <<SQL
\set u random(1, $USERS)
\set i random(1, $ITEMS)
INSERT INTO reco_event (user_id, item_id, kind) VALUES (:u, :i, 'view');
SQL

printf "%-8s %-18s %4s %9s %9s %9s\n" trigger synchronous_commit run tps p50_ms p99_ms
for run in $(seq 1 "$RUNS"); do
	for sync in on off; do
		for trig in on off; do
			rm -f "$tmp"/log*
			(cd "$tmp" && PGOPTIONS="-c synchronous_commit=$sync -c reco.online=$trig" \
				pgbench -n -c 2 -j 2 -T "$T" -f insert.sql --log --log-prefix=log > out.txt 2>&1)
			tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$tmp/out.txt")
			# per-transaction log: the third field is the latency in microseconds
			cat "$tmp"/log* | awk '{print $3}' | sort -n > "$tmp/lat"
			awk -v t="$trig" -v s="$sync" -v r="$run" -v tps="$tps" \
				'{ v[NR] = $1 } END { printf "%-8s %-18s %4s %9.0f %9.3f %9.3f\n", t, s, r, tps,
				   v[int((NR + 1) / 2)] / 1000, v[int((NR * 99 + 99) / 100)] / 1000 }' "$tmp/lat"
		done
	done
done
q -c "SELECT 'pending after the runs: ' || count(*) FROM reco_pending"
