#!/bin/bash
# train_speed.sh - how long reco_train takes on all of MovieLens 100K
#
# Loads u.data (user TAB item TAB rating TAB unix time) into reco_event as
# kind 'rating' with value = the rating (the default weight of 'rating' is 1,
# so each rating r gives ALS confidence 1 + alpha * r), then times
#
#   SELECT * FROM reco_train('bench', 'als', '{"factors":64,"iterations":15}')
#
# RUNS times in one session, after one warm-up call that is reported apart.
# "wall" is clock_timestamp() taken in a statement just before and one just
# after the call, so it runs from the call to the committed, activated model
# (autocommit; two extra sub-millisecond round trips are included).  read,
# solve, write and per_iteration are what the extension records in
# reco_model_version.metrics.
#
# Point it at a database with the PG* variables (PGHOST, PGPORT, PGDATABASE,
# PGUSER ...).  It needs a superuser only if it has to CREATE EXTENSION reco.
# It refuses to run if reco_event already has rows or a model named 'bench'
# exists, because reco_train reads all of reco_event.  Afterwards it removes
# its events and model, and drops the extension again if it created it.
#
# TRAIN_THREADS sets reco.train_threads for the runs (default: the server's
# setting, 1 unless configured); OpenBLAS always runs on one thread.
#
#   bench/train_speed.sh [path/to/u.data]
#   RUNS=5 FACTORS=64 ITERATIONS=15 TRAIN_THREADS=2 bench/train_speed.sh
set -euo pipefail

DATA=${1:-${MOVIELENS_UDATA:-${RECO_SHARED_DATA:-../shared/data}/movielens-100k/u.data}}
RUNS=${RUNS:-5}
FACTORS=${FACTORS:-64}
ITERATIONS=${ITERATIONS:-15}
MODEL=bench

[ -r "$DATA" ] || { echo "train_speed: cannot read $DATA (give the path of MovieLens 100K u.data)" >&2; exit 1; }

PSQL=(psql -X -q -v ON_ERROR_STOP=1 --no-psqlrc)

created_ext=$("${PSQL[@]}" -At -c "SELECT NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'reco')")
if [ "$created_ext" = t ]; then
	"${PSQL[@]}" -c "CREATE EXTENSION reco"
fi
schema=$("${PSQL[@]}" -At -c "SELECT quote_ident(extnamespace::regnamespace::text) FROM pg_extension WHERE extname = 'reco'")
export PGOPTIONS="${PGOPTIONS:-} -c search_path=$schema,public -c reco.progress=off -c client_min_messages=warning"
if [ -n "${TRAIN_THREADS:-}" ]; then
	PGOPTIONS="$PGOPTIONS -c reco.train_threads=$TRAIN_THREADS"
fi

busy=$("${PSQL[@]}" -At -c "SELECT (SELECT count(*) FROM reco_event) || ' ' || (SELECT count(*) FROM reco_model WHERE name = '$MODEL')")
if [ "$busy" != "0 0" ]; then
	echo "train_speed: reco_event is not empty or model '$MODEL' exists (events, models: $busy);" >&2
	echo "train_speed: point PGDATABASE at a scratch database" >&2
	[ "$created_ext" = t ] && "${PSQL[@]}" -c "DROP EXTENSION reco"
	exit 1
fi

cleanup() {
	if [ "$created_ext" = t ]; then
		"${PSQL[@]}" -c "DROP EXTENSION reco" || true
	else
		"${PSQL[@]}" -c "SELECT reco_drop_model('$MODEL') FROM reco_model WHERE name = '$MODEL'" >/dev/null || true
		"${PSQL[@]}" -c "TRUNCATE reco_event" || true
	fi
}
trap cleanup EXIT

echo "train_speed: loading $DATA into reco_event (kind 'rating', value = rating)"
"${PSQL[@]}" <<EOF
CREATE TEMP TABLE u_data (user_id bigint, item_id bigint, rating real, unix_ts bigint);
\copy u_data FROM '$DATA'
INSERT INTO reco_event (user_id, item_id, kind, value, ts)
SELECT user_id, item_id, 'rating', rating, to_timestamp(unix_ts) FROM u_data;
ANALYZE reco_event;
EOF

params="{\"factors\":$FACTORS,\"iterations\":$ITERATIONS}"
{
	cat <<EOF
CREATE TEMP TABLE bench_run (run int, wall_s float8, fn_s float8, version int);
EOF
	for run in $(seq 0 "$RUNS"); do
		cat <<EOF
SELECT clock_timestamp() AS t0 \gset
SELECT version, seconds FROM reco_train('$MODEL', 'als', '$params') \gset
INSERT INTO bench_run SELECT $run, extract(epoch FROM clock_timestamp() - :'t0'::timestamptz), :seconds, :version;
EOF
	done
	cat <<EOF
\pset footer off
SELECT current_setting('server_version') AS server,
       (SELECT extversion FROM pg_extension WHERE extname = 'reco') AS reco,
       current_setting('reco.train_threads', true) AS train_threads;
SELECT r.model AS model, r.users, r.items, r.interactions, v.factors,
       (v.params->>'iterations')::int AS iterations, v.params->>'solver' AS solver,
       round((v.metrics->'loss'->>-1)::numeric, 5) AS final_loss
FROM reco_models r JOIN reco_model_version v ON v.model = r.model AND v.version = r.active_version
WHERE r.model = '$MODEL';

\echo 'Per run (run 0 is the warm-up: first call in the session, not in the summary)'
SELECT b.run, round(b.wall_s::numeric, 3) AS wall_s, round(b.fn_s::numeric, 3) AS function_s,
       round((v.metrics->'seconds'->>'read')::numeric, 3) AS read_s,
       round((v.metrics->'seconds'->>'solve')::numeric, 3) AS solve_s,
       round((v.metrics->'seconds'->>'write')::numeric, 3) AS write_s,
       round((v.metrics->'seconds'->>'per_iteration')::numeric * 1000, 1) AS per_iter_ms
FROM bench_run b JOIN reco_model_version v ON v.model = '$MODEL' AND v.version = b.version
ORDER BY b.run;

\echo 'Summary over runs 1..$RUNS: median [min - max]'
WITH r AS (
  SELECT b.wall_s, b.fn_s,
         (v.metrics->'seconds'->>'read')::float8 AS read_s,
         (v.metrics->'seconds'->>'solve')::float8 AS solve_s,
         (v.metrics->'seconds'->>'write')::float8 AS write_s,
         (v.metrics->'seconds'->>'per_iteration')::float8 * 1000 AS per_iter_ms
  FROM bench_run b JOIN reco_model_version v ON v.model = '$MODEL' AND v.version = b.version
  WHERE b.run > 0),
u AS (
  SELECT 1 AS o, 'call -> activated model (wall, s)' AS measure, wall_s AS x FROM r
  UNION ALL SELECT 2, 'reco_train''s own seconds', fn_s FROM r
  UNION ALL SELECT 3, 'read events (s)', read_s FROM r
  UNION ALL SELECT 4, 'solve, all iterations (s)', solve_s FROM r
  UNION ALL SELECT 5, 'write weights + activate (s)', write_s FROM r
  UNION ALL SELECT 6, 'per iteration (ms)', per_iter_ms FROM r)
SELECT measure, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x)::numeric, 3) AS median,
       round(min(x)::numeric, 3) AS min, round(max(x)::numeric, 3) AS max, count(*) AS runs
FROM u GROUP BY o, measure ORDER BY o;
EOF
} | "${PSQL[@]}"
