#!/bin/bash
# Online Retail, temporal protocol of issue 10 (bench/retail.sql says it
# whole): train on the purchases before 2011, judge the top-10 of each
# customer on what they bought in 2011-Q1, "new" and "any" variants,
# nDCG@10 and hit rate@10; the popularity and "buy again" baselines, then
# every model of the list, against the database server the PG* variables name.
#   bash bench/retail.sh [models-file]     (default bench/retail-models.txt)
# A models file has one model a line: label <TAB> algorithm <TAB> params jsonb
# (lines starting with # are comments), so a new family is one more line.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

models=${1:-bench/retail-models.txt}
db=reco_bench_retail
fresh_db $db
psql() { command psql -X -q -v ON_ERROR_STOP=1 -d $db "$@"; }

psql -f bench/retail.sql
printf "%-50s | %-13s | %-13s | %s\n" model "new nDCG / HR" "any nDCG / HR" "train s"
report() {
	psql -A -t -F' ' -c "SELECT variant, ndcg, hit_rate, customers FROM retail.score('$1')" |
		awk -v label="$1" -v secs="$2" '
			{ v[$1] = sprintf("%.3f / %.3f", $2, $3); n[$1] = $4 }
			END { printf "%-50s | %-13s | %-13s | %s   (customers: new %s, any %s)\n",
			      label, v["new"], v["any"], secs, n["new"], n["any"] }'
}
report popularity -
report "buy again" -

n=0
while IFS=$'\t' read -r label algorithm params; do
	[[ -z "$label" || "$label" == \#* ]] && continue
	n=$((n + 1))
	model=bench_$n
	secs=$(psql -A -t -v model="$model" -v algorithm="$algorithm" -v params="$params" <<'SQL'
SET reco.progress = off;
SELECT round(seconds::numeric, 2) FROM reco_train(:'model', :'algorithm', :'params');
SQL
)
	psql -v model="$model" -v label="$label" <<'SQL'
INSERT INTO retail.list
SELECT :'label', j.variant, j.user_id, r.item_id, r.rank
FROM retail.judged j
CROSS JOIN LATERAL reco_recommend(j.user_id, 10, :'model',
                                  exclude_seen => j.variant = 'new') r;
SELECT reco_drop_model(:'model') \g /dev/null
SQL
	report "$label" "$secs"
done < "$models"
