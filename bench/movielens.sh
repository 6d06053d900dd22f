#!/bin/bash
# MovieLens 100K ranking quality of ALS (Microsoft Recommenders protocol) over
# several split seeds, against the database the PG* variables name.
#   bash bench/movielens.sh [seed ...]          (default seeds: 42 1 2 3)
# Prints one metrics row per seed; params come from bench/movielens-params.json,
# or from $PARAMS (PARAMS='{}' measures the default parameters).
set -euo pipefail
cd "$(dirname "$0")/.."

data=${RECO_SHARED_DATA:-../shared/data}/movielens-100k/u.data
params=${PARAMS:-$(cat bench/movielens-params.json)}
db=reco_bench_movielens
seeds=${*:-42 1 2 3}

dropdb --if-exists $db 2>/dev/null
createdb $db
psql -X -q -d $db -c "CREATE EXTENSION reco"
echo "params: $params"
printf "%-5s | %s\n" seed "users | nDCG@k | P@k | R@k | MAP@k | k"
for seed in $seeds; do
	row=$(psql -X -q -A -t -d $db -v seed="$seed" -v params="$params" \
		-c "SET reco.progress = off" -f bench/movielens.sql < "$data" | grep -E '^[0-9]+\|0\.' )
	printf "%-5s | %s\n" "$seed" "$row"
done
dropdb $db
