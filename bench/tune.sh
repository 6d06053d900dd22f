#!/bin/bash
# reco_tune on MovieLens 100K under the Microsoft Recommenders protocol:
# split 75/25 stratified by item (reco_split, seed 42), tune on the 75 % by
# 5-fold cross-validation over a grid, train the winner on the whole 75 %,
# then score it once on the untouched 25 %.  Prints the trials, the winner,
# its test metrics and the wall time of the tuning call.
#   bash bench/tune.sh            (against the database PG* variables name)
# GRID, FIXED (jsonb), FOLDS and METHOD (of the folds) override the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

data=${RECO_SHARED_DATA:-../shared/data}/movielens-100k/u.data
grid=${GRID:-'{"factors": [32, 64, 128], "regularization": [0.5, 1.5, 5], "alpha": [0.3, 1, 3], "reg_exponent": [0, 0.5]}'}
fixed=${FIXED:-'{"iterations": 15}'}
method=${METHOD:-stratified}
folds=${FOLDS:-5}
db=reco_bench_tune

fresh_db $db
psql -X -q -v ON_ERROR_STOP=1 -d $db -v grid="$grid" -v fixed="$fixed" -v method="$method" -v folds="$folds" <<SQL
CREATE EXTENSION reco;
CREATE TABLE ml (u bigint, i bigint, r int, t bigint);
\copy ml FROM '$data'
CREATE TABLE split AS SELECT * FROM reco_split('SELECT u, i FROM ml', 'stratified', 0.25, 42);
\echo grid: :grid, fixed: :fixed, folds: :folds :method
SET reco.progress = off;
SELECT clock_timestamp() AS started \gset
\pset footer off
SELECT trial, params, round(score::numeric, 4) AS "cv nDCG@10", round(stddev::numeric, 4) AS sd,
	round(seconds::numeric, 1) AS seconds, best
FROM reco_tune('ml_tuned', 'SELECT user_id, item_id FROM split WHERE NOT test',
	:'grid', :'fixed', folds => :folds, method => :'method');
SELECT round(extract(epoch FROM clock_timestamp() - :'started')::numeric, 1) AS "tuning seconds (all trials + final training)";
SELECT users, round(ndcg::numeric, 4) AS "test nDCG@10", round(precision::numeric, 4) AS "P@10",
	round(recall::numeric, 4) AS "R@10", round(map::numeric, 4) AS "MAP@10"
FROM reco_evaluate('ml_tuned', 'SELECT user_id, item_id FROM split WHERE test', 10);
SQL
