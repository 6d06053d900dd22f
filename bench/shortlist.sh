#!/bin/bash
# shortlist.sh - what reco.shortlist costs a neural model in quality: the
# network scores only the items its dot product and biases rank first, the
# rest keep those terms.  For each shortlist size, every customer's top-10
# beside the exact one (reco.shortlist = 0): the share of the exact top-10
# kept, and the held-out nDCG@10, on two real catalogues with an 'mlp' model
# at its default params:
#   MovieLens 100K u1 (1,682 movies; ratings as events, ids only; test: u1.test
#     ratings of 4 and 5), every customer;
#   Online Retail (bench/retail.sql: 2010 purchases; 3,9k products), the
#     customers who bought again in 2011-Q1, their "new" lists and truth.
# Latency at 100k items is bench/serve_families.sh's (mlp and mlp_exact).
#   bash bench/shortlist.sh             (PG* variables name the server)
#   SIZES_ML="50 100 200 400" SIZES_RETAIL="100 250 500 1000" bash bench/shortlist.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

SIZES_ML=${SIZES_ML:-50 100 200 400 800}
SIZES_RETAIL=${SIZES_RETAIL:-100 250 500 1000 2000}
dir=${RECO_SHARED_DATA:-../shared/data}/movielens-100k
db=reco_bench_shortlist

echo "reco.shortlist against exact scoring, $(date -u '+%Y-%m-%d %H:%M UTC'), reco $(git rev-parse --short HEAD 2>/dev/null || echo ?)"

# Columns: shortlist, customers, share of the exact top-10 kept, nDCG@10
# (the exact row first); $1 the model, $2 the sizes, $3 the customers and
# their relevant items (user_id, item_id) as a query
compare() {
	psql -X -q -A -t -F ' ' -v ON_ERROR_STOP=1 -d $db -v model="$1" -v sizes="$2" -v truth="$3" <<'SQL'
LOAD 'reco';
SELECT set_config('bench.sizes', :'sizes', false), set_config('bench.model', :'model', false) \g /dev/null
CREATE TEMP TABLE truth AS :truth;
CREATE TEMP TABLE lists (s int, user_id bigint, item_id bigint, rank int);
DO $$
DECLARE
	s int;
BEGIN
	FOREACH s IN ARRAY ('{0,' || replace(current_setting('bench.sizes'), ' ', ',') || '}')::int[] LOOP
		PERFORM set_config('reco.shortlist', s::text, false);
		INSERT INTO lists SELECT s, u.user_id, r.item_id, r.rank
		FROM (SELECT DISTINCT user_id FROM truth) u,
			reco_recommend(u.user_id, 10, current_setting('bench.model')) r;
	END LOOP;
END $$;
WITH per AS (
	SELECT l.s, l.user_id,
		count(*) FILTER (WHERE EXISTS (SELECT FROM lists e WHERE e.s = 0 AND e.user_id = l.user_id
			AND e.item_id = l.item_id)) / 10.0 AS kept,
		coalesce(sum(1 / log(2, l.rank + 1)) FILTER (WHERE EXISTS (SELECT FROM truth t
			WHERE t.user_id = l.user_id AND t.item_id = l.item_id)), 0) /
		(SELECT sum(1 / log(2, r + 1)) FROM generate_series(1,
			least(10, (SELECT count(*) FROM truth t WHERE t.user_id = l.user_id))) r) AS ndcg
	FROM lists l GROUP BY l.s, l.user_id)
SELECT s, count(*), round(avg(kept), 4), round(avg(ndcg), 4) FROM per GROUP BY s ORDER BY s;
SQL
}
table() {
	printf "%-28s | %-9s | %-9s | %-12s | %s\n" "$1" shortlist customers "top-10 kept" "nDCG@10"
	while read -r s n kept ndcg; do
		[ "$s" = 0 ] && s=exact
		printf "%-28s | %-9s | %-9s | %-12s | %s\n" "" "$s" "$n" "$kept" "$ndcg"
	done
}

fresh_db $db
psql -X -q -v ON_ERROR_STOP=1 -d $db -c "CREATE EXTENSION reco"
load_folds $db "$dir"
psql -X -q -v ON_ERROR_STOP=1 -d $db <<'SQL'
SET reco.progress = off;
INSERT INTO reco_event (user_id, item_id, kind, value)
SELECT u, i, 'rating', r FROM fold WHERE fold = 1 AND part = 'base';
SELECT 1 FROM reco_train('ml', 'mlp') \g /dev/null
SQL
compare ml "$SIZES_ML" "SELECT u AS user_id, i AS item_id FROM fold WHERE fold = 1 AND part = 'test' AND r >= 4" |
	table "MovieLens u1 (1,682 items)"

dropdb $db
createdb $db
psql -X -q -v ON_ERROR_STOP=1 -d $db -f bench/retail.sql >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d $db -c "SET reco.progress = off" -c "SELECT 1 FROM reco_train('retail', 'mlp')" >/dev/null
items=$(psql -X -A -t -d $db -c "SELECT count(*) FROM reco_item_factors f JOIN reco_model m ON m.active_version = f.version_id WHERE m.name = 'retail'")
compare retail "$SIZES_RETAIL" "SELECT user_id, item_id FROM retail.truth WHERE variant = 'new'" |
	table "Online Retail ($items items)"
