#!/bin/bash
# Rating prediction on MovieLens 100K: explicit-feedback ALS ("feedback":
# "explicit") over the five standard 80/20 folds u1..u5, RMSE and MAE of
# reco_evaluate per fold and their mean, beside the mean-rating predictor.
# Comparable with the 5-fold figures Surprise publishes (SVD 0.934,
# SVD++ 0.919, BaselineOnly 0.944).
#   bash bench/rating.sh ['{"factors": 10, ...}']   (PG* variables name the database)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

dir=${RECO_SHARED_DATA:-../shared/data}/movielens-100k
params=${1:-'{"feedback": "explicit", "factors": 10, "iterations": 10, "regularization": 0.1, "reg_exponent": 1}'}
db=reco_bench_rating

fresh_db $db
psql -X -q -v ON_ERROR_STOP=1 -d $db -c "CREATE EXTENSION reco"
load_folds $db "$dir"
echo "params: $params"
psql -X -q -v ON_ERROR_STOP=1 -d $db -v params="$params" <<'SQL'
SET reco.progress = off;
SELECT set_config('bench.params', :'params', false) \g /dev/null
CREATE TEMP TABLE result (fold int, rmse float8, mae float8, baseline float8, seconds float8);
DO $$
DECLARE
	n int;
	t0 timestamptz;
	mean float8;
BEGIN
	FOR n IN 1 .. 5 LOOP
		t0 := clock_timestamp();
		SELECT avg(r) INTO mean FROM fold WHERE fold = n AND part = 'base';
		PERFORM reco_train_agg(u, i, r::real, 'rating', current_setting('bench.params')::jsonb)
		FROM fold WHERE fold = n AND part = 'base';
		INSERT INTO result
		SELECT n, e.rmse, e.mae,
			(SELECT sqrt(avg((t.r - mean) ^ 2)) FROM fold t WHERE t.fold = n AND t.part = 'test'),
			extract(epoch FROM clock_timestamp() - t0)
		FROM reco_evaluate('rating', format('SELECT u, i, r FROM fold WHERE fold = %s AND part = ''test''', n)) e;
	END LOOP;
END
$$;
\pset footer off
SELECT fold, round(rmse::numeric, 4) AS rmse, round(mae::numeric, 4) AS mae,
	round(baseline::numeric, 4) AS "mean-rating RMSE", round(seconds::numeric, 2) AS seconds
FROM result ORDER BY fold;
SELECT round(avg(rmse)::numeric, 4) AS "mean RMSE", round(avg(mae)::numeric, 4) AS "mean MAE",
	round(avg(baseline)::numeric, 4) AS "mean-rating RMSE" FROM result;
SQL
