#!/bin/bash
# What evaluation costs: reco_evaluate on MovieLens 100K (943 users x 1,682
# items, 64 factors; median of RUNS calls), a 5-fold reco_cross_validate
# (time and WAL written), and the private memory of one reco_evaluate call
# over 300 and over 6,000 held-out users of a synthetic model whose users each
# have 600 training items (peak RssAnon, sampled every 10 ms from /proc).
#   bash bench/evaluate_cost.sh      (PG* variables name a local server)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

data=${RECO_SHARED_DATA:-../shared/data}/movielens-100k/u.data
db=reco_bench_evaluate_cost
runs=${RUNS:-5}
params='{"factors": 64, "iterations": 15, "regularization": 1.5, "reg_exponent": 0.5, "alpha": 0.3}'

fresh_db $db
psql -X -q -v ON_ERROR_STOP=1 -d $db -v params="$params" >/dev/null <<SQL
CREATE EXTENSION reco;
SET reco.progress = off;
CREATE TABLE ml (u bigint, i bigint, r int, t bigint);
\copy ml FROM '$data'
CREATE TABLE split AS SELECT * FROM reco_split('SELECT u, i FROM ml', 'stratified', 0.25, 42);
SELECT reco_train_agg(user_id, item_id, 1, 'ml', :'params') FROM split WHERE NOT test;
CREATE TABLE big AS SELECT u, (u * 7 + j * 13) % 3000 + 1 AS i
FROM generate_series(1, 6000) u, generate_series(1, 600) j;
SELECT reco_train_agg(u, i, 1, 'big', '{"factors": 16, "iterations": 2}') FROM big;
SQL

# seconds one statement takes, measured in the server
timed() {
	psql -X -q -At -v ON_ERROR_STOP=1 -d $db <<SQL | tail -1
SET reco.progress = off;
SELECT clock_timestamp() AS t0 \gset
$1 \g /dev/null
SELECT extract(epoch FROM clock_timestamp() - :'t0');
SQL
}

echo "reco_evaluate, MovieLens 100K, k = 10: $(for i in $(seq "$runs"); do
	timed "SELECT ndcg FROM reco_evaluate('ml', 'SELECT user_id, item_id FROM split WHERE test', 10)"; done | median)"
echo "reco_cross_validate, all of MovieLens 100K, 5 folds: $(for i in $(seq "$runs"); do
	timed "SELECT count(*) FROM reco_cross_validate('SELECT u, i FROM ml', '$params', 5)"; done | median)"
psql -X -q -At -d $db -v params="$params" <<'SQL'
SET reco.progress = off;
SELECT pg_current_wal_lsn() AS l0 \gset
SELECT count(*) FROM reco_cross_validate('SELECT u, i FROM ml', :'params', 5) \g /dev/null
SELECT 'WAL written by one 5-fold cross-validation: ' || pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), :'l0'));
SQL

for n in 300 6000; do
	out=$(mktemp)
	psql -X -q -At -d $db -c "SELECT pg_backend_pid()" -c "SELECT pg_sleep(0.3)" \
		-c "SELECT users FROM reco_evaluate('big', 'SELECT u, (u * 11) % 3000 + 1 FROM generate_series(1, $n) u')" > "$out" &
	sleep 0.1
	pid=$(head -1 "$out")
	peak=0
	while kill -0 "$pid" 2>/dev/null; do
		a=$(awk '/^RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
		if [ -n "$a" ] && [ "$a" -gt "$peak" ]; then peak=$a; fi
		sleep 0.01
	done
	wait
	echo "reco_evaluate over $(tail -1 "$out") users with 600 training items each: peak private memory $peak kB"
	rm -f "$out"
done
