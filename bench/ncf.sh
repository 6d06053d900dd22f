#!/bin/bash
# Speed of the NCF evaluation protocol (reco_evaluate_sampled): 6,000 users,
# each with one held-out item ranked among 100 sampled negatives, on a
# synthetic 6,000 x 3,700 model with 64 factors (the shape of MovieLens 1M,
# where the protocol comes from).  Prints the median of 5 timed calls.
#   bash bench/ncf.sh            (against the database PG* variables name)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
db=reco_bench_ncf
runs=${RUNS:-5}

fresh_db $db
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
CREATE EXTENSION reco;
SET reco.progress = off;
SELECT setseed(0.1);
-- 6,000 users with 100 events each, items skewed toward low ids
CREATE TABLE ev AS
SELECT u AS user_id, (1 + floor(3700 * random() ^ 2))::bigint AS item_id
FROM generate_series(1, 6000) u, generate_series(1, 100);
CREATE TABLE held AS SELECT DISTINCT ON (user_id) user_id, item_id FROM ev ORDER BY user_id, random();
SELECT (reco_train_agg(e.user_id, e.item_id, 1::real, 'ncf', '{"factors": 64, "iterations": 5}')).users
FROM ev e LEFT JOIN held h USING (user_id, item_id) WHERE h.user_id IS NULL;
CREATE TABLE neg AS
SELECT u.user_id, (1 + floor(3700 * random()))::bigint AS item_id
FROM generate_series(1, 6000) u(user_id), generate_series(1, 100);
SQL
psql -X -q -At -d $db -c "SELECT format('%s held-out cases, %s negatives', count(*), (SELECT count(*) FROM neg)) FROM held"
echo "BLAS: $(pkg-config --modversion openblas 2>/dev/null || echo '?') OpenBLAS, 1 thread (OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-unset})"
for i in $(seq "$runs"); do
	psql -X -q -At -d $db <<'SQL'
SELECT clock_timestamp() AS t0 \gset
SELECT format('run: %s cases, %s unscored, HR@10 %s, nDCG@10 %s', cases, unscored,
	round(hit_rate::numeric, 4), round(ndcg::numeric, 4))
FROM reco_evaluate_sampled('ncf', 'SELECT user_id, item_id FROM held',
	'SELECT user_id, item_id FROM neg', 10);
SELECT 'seconds: ' || round(extract(epoch FROM clock_timestamp() - :'t0')::numeric, 3);
SQL
done > /tmp/reco_ncf.$$
grep -m1 '^run:' /tmp/reco_ncf.$$
echo "reco_evaluate_sampled: $(grep '^seconds:' /tmp/reco_ncf.$$ | awk '{print $2}' | median)"
rm -f /tmp/reco_ncf.$$
