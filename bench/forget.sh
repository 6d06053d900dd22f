#!/bin/bash
# forget.sh - what reco_forget_user costs on MovieLens 100K: every rating
# loaded into reco_event, VERSIONS versions of a 64-factor model trained,
# then RUNS customers forgotten one by one (each in every version).  Prints
# the seconds of each call, their median, and how many items each re-solved.
#
#   PGDATABASE=scratch bench/forget.sh [path/to/u.data]
#   RUNS=5 VERSIONS=2 bench/forget.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

DATA=${1:-${MOVIELENS_UDATA:-../shared/data/movielens-100k/u.data}}
RUNS=${RUNS:-5}
VERSIONS=${VERSIONS:-2}
db=reco_bench_forget
[ -r "$DATA" ] || { echo "forget: cannot read $DATA" >&2; exit 1; }
fresh_db $db
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d $db "$@"; }

q <<SQL
CREATE EXTENSION reco;
CREATE TEMP TABLE u_data (user_id bigint, item_id bigint, rating real, unix_ts bigint);
\copy u_data FROM '$DATA'
SET reco.online = off;
INSERT INTO reco_event (user_id, item_id, kind, value, ts)
SELECT user_id, item_id, 'rating', rating, to_timestamp(unix_ts) FROM u_data;
SQL
for v in $(seq 1 "$VERSIONS"); do
	q -c "SET reco.progress = off" -c "SELECT version FROM reco_train('bench', 'als', '{\"factors\": 64, \"iterations\": 15, \"seed\": $v}')" >/dev/null
done
echo "forget: $(q -c "SELECT count(*) FROM reco_event") events, $VERSIONS versions of 64 factors"
printf "%-6s %8s %8s %10s\n" user events items seconds
for u in $(seq 1 "$RUNS"); do
	q <<SQL
SELECT format('%-6s %8s %8s %10s', $u * 10, f.events, f.items,
	round(extract(epoch FROM clock_timestamp() - t0)::numeric, 3))
FROM (SELECT clock_timestamp() AS t0) s, LATERAL reco_forget_user($u * 10) f;
SQL
done | tee /tmp/forget.$$
echo "median: $(awk '{print $4}' /tmp/forget.$$ | median)"
rm -f /tmp/forget.$$
