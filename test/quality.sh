#!/bin/bash
# Fails when ALS ranking quality on MovieLens 100K (Microsoft Recommenders
# protocol, bench/movielens.sql) falls under the bar: nDCG@10 >= 0.475 and
# P@10 >= 0.41, the best published row (BiVAE 0.475 / 0.412).
set -euo pipefail
cd "$(dirname "$0")/.."

data=${RECO_SHARED_DATA:-../shared/data}/movielens-100k/u.data
db=reco_quality

dropdb --if-exists $db
createdb $db
psql -X -q -d $db -c "CREATE EXTENSION reco"
psql -X -d $db -v params="$(cat bench/movielens-params.json)" \
	-v min_ndcg=0.475 -v min_precision=0.41 \
	-c "SET reco.progress = off" -f bench/movielens.sql < "$data"
dropdb $db
