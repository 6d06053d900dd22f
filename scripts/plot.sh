#!/bin/bash
# Draws one PNG with two panels: the training loss after each iteration of a
# model's active version, and its precision, recall and nDCG at k = 1..20 on a
# test query (reco_evaluate).  The connection comes from the PG* variables.
#
#   scripts/plot.sh MODEL 'TEST QUERY' OUT.png
#   scripts/plot.sh movielens 'SELECT user_id, item_id FROM holdout' quality.png
set -euo pipefail

if [ $# -ne 3 ]; then
	echo "usage: $0 MODEL 'TEST QUERY' OUT.png" >&2
	exit 2
fi
model=$1
test=$2
png=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

query() {
	psql -X -q -At -F ' ' -v ON_ERROR_STOP=1 -v model="$model" -v test="$test"
}

query > "$tmp/loss.dat" <<'SQL'
SELECT l.iteration, l.loss
FROM reco_model m
JOIN reco_model_version v ON v.version_id = m.active_version,
	jsonb_array_elements_text(v.metrics -> 'loss') WITH ORDINALITY AS l(loss, iteration)
WHERE m.name = :'model'
ORDER BY l.iteration;
SQL
if [ ! -s "$tmp/loss.dat" ]; then
	echo "plot: model \"$model\" has no active version with a recorded loss" >&2
	exit 1
fi

query > "$tmp/quality.dat" <<'SQL'
SELECT k, e.precision, e.recall, e.ndcg
FROM generate_series(1, 20) k, LATERAL reco_evaluate(:'model', :'test', k) e
ORDER BY k;
SQL

terminal=png
gnuplot -e 'set terminal' 2>&1 | grep -qw pngcairo && terminal=pngcairo

cat > "$tmp/plot.gp" <<'GNUPLOT'
# ARG1 output file, ARG2 model, ARG3 data directory, ARG4 terminal
eval 'set terminal '.ARG4.' noenhanced size 1200,480'
set output ARG1
set multiplot layout 1,2 title 'reco model '.ARG2
set grid
set key top right
set title 'training loss'
set xlabel 'iteration'
set ylabel 'loss'
set xtics 1
plot ARG3.'/loss.dat' using 1:2 with linespoints pointtype 7 title 'loss'
set title 'ranking quality on the test query'
set xlabel 'k'
set ylabel ''
set xrange [1:20]
set yrange [0:*]
set key top right
plot ARG3.'/quality.dat' using 1:2 with linespoints pointtype 7 title 'precision@k', \
	'' using 1:3 with linespoints pointtype 5 title 'recall@k', \
	'' using 1:4 with linespoints pointtype 9 title 'nDCG@k'
unset multiplot
GNUPLOT
gnuplot -c "$tmp/plot.gp" "$png" "$model" "$tmp" "$terminal"
echo "plot: wrote $png"
