#!/bin/bash
# serve.sh - reco_recommend latency and throughput on a synthetic catalogue
#
# Builds, without training, a model 'synthetic' of N_ITEMS items x FACTORS
# random float4 factors (uniform in [-0.5, 0.5), stored as raw native-order
# float4 bytes, which is what the extension memcpy's; the script writes
# little-endian, so the server must be x86-64, arm64 or the like, and it
# checks that the scores come out finite) and N_USERS users who
# each have ITEMS_PER_USER random items with weight 1, plus a reco_item
# catalogue of the same items in 10 categories ('cat0' .. 'cat9', 10% each)
# with 1% unavailable (item_id % 100 = 0).  Then it measures:
#
#  1. the first call in a fresh session, which loads the item matrix into the
#     backend's cache (LOAD_SESSIONS fresh sessions);
#  2. per-call latency of reco_recommend(user, 10, 'synthetic', ...) for
#     several filter settings, CALLS calls per variant after warm-up calls,
#     ROUNDS rounds, all in one session, random users among the N_USERS, in
#     two orders (MODES):
#       blocked      CALLS consecutive calls of one variant, then the next:
#                    every call finds the previous one's data in cache;
#       interleaved  each iteration draws a user and runs every variant once
#                    for that user, so noise from the rest of the machine
#                    falls on all variants alike, and each call finds the
#                    caches as the other variants left them.
#     Each call is timed server-side in a PL/pgSQL loop:
#         t0 := clock_timestamp();
#         PERFORM count(*) FROM reco_recommend(...);
#         ms := clock_timestamp() - t0;
#     The loop's own cost is measured the same way on generate_series(1, 10)
#     ("harness overhead"), and is not subtracted.  The "piece" rows time,
#     the same way, the SQL that reco_recommend runs inside each call (user
#     lookup, unavailable items, items of a category) on their own;
#  3. pgbench, PGBENCH_RUNS runs of PGBENCH_T seconds with 1 client and with
#     2 clients (-c 2 -j 2, -M prepared), a custom script asking for a random
#     user's top 10 with the defaults.  Each client's first transaction
#     includes the cache load.
#
# The scan rate is N_ITEMS * FACTORS * 4 bytes / median latency.
#
# Point it at a database with the PG* variables.  It refuses to run if
# reco_item is not empty or a model 'synthetic' exists; afterwards it drops
# the model and its catalogue rows (or the extension, if it created it).
#
# KEEP=1 leaves the model and the catalogue in place (to profile by hand).
#
#   bench/serve.sh
#   CALLS=1000 ROUNDS=3 PGBENCH_T=20 PGBENCH_RUNS=3 MODES=blocked bench/serve.sh
set -euo pipefail

N_ITEMS=${N_ITEMS:-100000}
FACTORS=${FACTORS:-64}
N_USERS=${N_USERS:-5000}
ITEMS_PER_USER=${ITEMS_PER_USER:-20}
CALLS=${CALLS:-1000}
ROUNDS=${ROUNDS:-3}
LOAD_SESSIONS=${LOAD_SESSIONS:-3}
MODES=${MODES:-blocked interleaved}
PGBENCH_T=${PGBENCH_T:-20}
PGBENCH_RUNS=${PGBENCH_RUNS:-3}
MODEL=synthetic

PSQL=(psql -X -q -v ON_ERROR_STOP=1 --no-psqlrc)
work=$(mktemp -d)

created_ext=$("${PSQL[@]}" -At -c "SELECT NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'reco')")
if [ "$created_ext" = t ]; then
	"${PSQL[@]}" -c "CREATE EXTENSION reco"
fi
schema=$("${PSQL[@]}" -At -c "SELECT quote_ident(extnamespace::regnamespace::text) FROM pg_extension WHERE extname = 'reco'")
export PGOPTIONS="${PGOPTIONS:-} -c search_path=$schema,public -c client_min_messages=warning"

busy=$("${PSQL[@]}" -At -c "SELECT (SELECT count(*) FROM reco_item) || ' ' || (SELECT count(*) FROM reco_model WHERE name = '$MODEL')")
if [ "$busy" != "0 0" ]; then
	echo "serve: reco_item is not empty or model '$MODEL' exists (items, models: $busy);" >&2
	echo "serve: point PGDATABASE at a scratch database" >&2
	[ "$created_ext" = t ] && "${PSQL[@]}" -c "DROP EXTENSION reco"
	rm -rf "$work"
	exit 1
fi

cleanup() {
	rm -rf "$work"
	if [ "${KEEP:-0}" = 1 ]; then
		echo "serve: KEEP=1: model '$MODEL' and reco_item rows 1..$N_ITEMS left in place;"
		echo "serve: remove them with SELECT reco_drop_model('$MODEL'); DELETE FROM reco_item WHERE item_id BETWEEN 1 AND $N_ITEMS;"
		return
	fi
	if [ "$created_ext" = t ]; then
		"${PSQL[@]}" -c "DROP EXTENSION reco" || true
	else
		"${PSQL[@]}" -c "SELECT reco_drop_model('$MODEL') FROM reco_model WHERE name = '$MODEL'" >/dev/null || true
		"${PSQL[@]}" -c "DELETE FROM reco_item WHERE item_id BETWEEN 1 AND $N_ITEMS" || true
	fi
}
trap cleanup EXIT

echo "serve: building model '$MODEL': $N_ITEMS items x $FACTORS factors, $N_USERS users"
start=$(date +%s%N)
"${PSQL[@]}" <<EOF
SELECT setseed(0.42) \g /dev/null
INSERT INTO reco_model (name, algorithm, params)
VALUES ('$MODEL', 'als', '{"factors": $FACTORS}');
SELECT nextval('reco_version_seq') AS v \gset
INSERT INTO reco_model_version (version_id, model, version, algorithm, params, factors,
                                n_users, n_items, n_interactions, revision, metrics)
VALUES (:v, '$MODEL', 1, 'als', '{"factors": $FACTORS}', $FACTORS,
        $N_USERS, $N_ITEMS, $N_USERS * $ITEMS_PER_USER, :v, '{"synthetic": true}');
-- FACTORS random float4 in [-0.5, 0.5) as raw little-endian bytes: float4send
-- gives network (big-endian) order, so each value's 4 bytes are reversed
-- (the WHERE on the outer row keeps the subquery from being run only once)
INSERT INTO reco_item_factors (version_id, item_id, bias, popularity, factors)
SELECT :v, i, 0, round(random() * 1000),
       (SELECT string_agg(substring(b FROM 4 FOR 1) || substring(b FROM 3 FOR 1) ||
                          substring(b FROM 2 FOR 1) || substring(b FROM 1 FOR 1), ''::bytea)
        FROM (SELECT float4send((random() - 0.5)::real) AS b
              FROM generate_series(1, $FACTORS) WHERE i > 0) s)
FROM generate_series(1, $N_ITEMS) i;
INSERT INTO reco_user_factors (version_id, user_id, factors, items, weights)
SELECT :v, u,
       (SELECT string_agg(substring(b FROM 4 FOR 1) || substring(b FROM 3 FOR 1) ||
                          substring(b FROM 2 FOR 1) || substring(b FROM 1 FOR 1), ''::bytea)
        FROM (SELECT float4send((random() - 0.5)::real) AS b
              FROM generate_series(1, $FACTORS) WHERE u > 0) s),
       (SELECT array_agg(1 + floor(random() * $N_ITEMS)::bigint)
        FROM generate_series(1, $ITEMS_PER_USER) WHERE u > 0),
       array_fill(1::real, ARRAY[$ITEMS_PER_USER])
FROM generate_series(1, $N_USERS) u;
INSERT INTO reco_item (item_id, title, category, available)
SELECT i, 'item ' || i, 'cat' || (i % 10), i % 100 <> 0
FROM generate_series(1, $N_ITEMS) i;
UPDATE reco_model SET active_version = :v WHERE name = '$MODEL';
-- a steady-state catalogue: autovacuum has set the visibility map
VACUUM ANALYZE reco_item, reco_item_factors, reco_user_factors;
EOF
echo "serve: built in $(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN {printf "%.1f", (b - a) / 1e9}') s"

# sanity: the matrix decodes to finite scores (not byte-swapped garbage)
ok=$("${PSQL[@]}" -At -c "SELECT count(*) = 10 AND bool_and(source = 'personal' AND abs(score) < 100)
                          FROM reco_recommend(1, 10, '$MODEL')")
[ "$ok" = t ] || { echo "serve: reco_recommend(1, 10) did not give 10 finite personal scores" >&2; exit 1; }

# the timing loop, one definition per session (temporary function).
# blocked: CALLS consecutive calls of one variant, then the next variant;
# interleaved: each iteration draws a random user and times one call of
# every variant in turn for that user.
timer_fn="
CREATE FUNCTION pg_temp.time_calls(calls int, users int, kinds text[],
                                   excls boolean[], cats text[], avails boolean[],
                                   interleaved boolean)
RETURNS TABLE (o int, call int, ms float8) LANGUAGE plpgsql AS \$\$
DECLARE
  t0 timestamptz;
  u bigint;
  uu bigint;
  i int;
  j int;
  nv int := array_length(kinds, 1);
  ver bigint := (SELECT active_version FROM reco_model WHERE name = '$MODEL');
BEGIN
  FOR step IN 0 .. calls * nv - 1 LOOP
    IF interleaved THEN
      i := step / nv + 1;
      j := step % nv + 1;
    ELSE
      j := step / calls + 1;
      i := step % calls + 1;
    END IF;
    -- interleaved: one user for all the variants of an iteration
    IF NOT interleaved OR j = 1 THEN
      u := 1 + floor(random() * users)::bigint;
    END IF;
    uu := CASE WHEN kinds[j] = 'unknown' THEN -u ELSE u END;
    t0 := clock_timestamp();
    IF kinds[j] = 'noop' THEN
      PERFORM count(*) FROM generate_series(1, 10);
    ELSIF kinds[j] = 'q_user' THEN
      PERFORM count(items) FROM reco_user_factors WHERE version_id = ver AND user_id = uu;
    ELSIF kinds[j] = 'q_unavailable' THEN
      PERFORM count(item_id) FROM reco_item WHERE NOT available;
    ELSIF kinds[j] = 'q_category' THEN
      PERFORM count(item_id) FROM reco_item WHERE category = cats[j];
    ELSE
      PERFORM count(*) FROM reco_recommend(uu, 10, '$MODEL', excls[j], cats[j], avails[j]);
    END IF;
    time_calls.ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
    time_calls.o := j;
    time_calls.call := i;
    RETURN NEXT;
  END LOOP;
END \$\$;"

# 1. first call of a fresh session (loads the cache); then a second call
for s in $(seq 1 "$LOAD_SESSIONS"); do
	"${PSQL[@]}" -At <<EOF
$timer_fn
SELECT string_agg(round(ms::numeric, 3)::text, ' ' ORDER BY call)
FROM pg_temp.time_calls(2, $N_USERS, '{user}', '{true}', '{NULL}', '{true}', false);
EOF
done >"$work/first.txt"

# 2. per-call latency, in each MODE
variants="
('harness overhead (generate_series(1,10))', 'noop', true, NULL, true),
('defaults (exclude_seen, available_only)', 'user', true, NULL, true),
('no filters (exclude_seen = false, available_only = false)', 'user', false, NULL, false),
('exclude_seen only', 'user', true, NULL, false),
('available_only only', 'user', false, NULL, true),
('category = ''cat3'' + defaults', 'user', true, 'cat3', true),
('unknown user (popular fallback), defaults', 'unknown', true, NULL, true),
('  piece: user lookup query alone', 'q_user', true, NULL, true),
('  piece: unavailable-items query alone', 'q_unavailable', true, NULL, true),
('  piece: category = ''cat3'' query alone', 'q_category', true, 'cat3', true)"
{
	echo "$timer_fn"
	cat <<EOF
CREATE TEMP TABLE v (o int, variant text, kind text, excl boolean, cat text, avail boolean);
INSERT INTO v SELECT row_number() OVER (), * FROM (VALUES $variants) x;
CREATE TEMP TABLE lat (mode text, round int, o int, call int, ms float8);
SELECT array_agg(kind ORDER BY o) AS kinds, array_agg(excl ORDER BY o) AS excls,
       array_agg(cat ORDER BY o) AS cats, array_agg(avail ORDER BY o) AS avails FROM v \gset
-- warm-up: load the cache and run every path a few times
SELECT count(*) FROM pg_temp.time_calls(3, $N_USERS, :'kinds', :'excls', :'cats', :'avails', true) \g /dev/null
EOF
	for r in $(seq 1 "$ROUNDS"); do
		for mode in $MODES; do
			echo "INSERT INTO lat SELECT '$mode', $r, t.o, t.call, t.ms FROM pg_temp.time_calls($CALLS, $N_USERS, :'kinds', :'excls', :'cats', :'avails', '$mode' = 'interleaved') t;"
		done
	done
	echo '\pset footer off'
	for mode in $MODES; do
		cat <<EOF
\echo 'Per-call latency, ms, $mode: $ROUNDS rounds x $CALLS calls per variant; median and p99 are medians over the rounds (range: of the round medians); GB/s = $N_ITEMS x $FACTORS x 4 B / median'
WITH per_round AS (
  SELECT o, round,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS med,
         percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99,
         avg(ms) AS mean
  FROM lat WHERE mode = '$mode' GROUP BY o, round)
SELECT v.variant,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY med)::numeric, 3) AS median_ms,
       round(min(med)::numeric, 3) || ' - ' || round(max(med)::numeric, 3) AS median_range,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY p99)::numeric, 3) AS p99_ms,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY mean)::numeric, 3) AS mean_ms,
       CASE WHEN v.kind = 'user' THEN
         round(($N_ITEMS::numeric * $FACTORS * 4 / 1e9) /
               (percentile_cont(0.5) WITHIN GROUP (ORDER BY med)::numeric / 1000), 1) END AS scan_gb_s
FROM per_round p JOIN v USING (o) GROUP BY v.o, v.variant, v.kind ORDER BY v.o;
EOF
	done
} | "${PSQL[@]}" >"$work/latency.txt"

# 3. pgbench
cat >"$work/recommend.sql" <<EOF
\set u random(1, $N_USERS)
SELECT * FROM reco_recommend(:u, 10, '$MODEL');
EOF
pgbench_run() {	# clients, run
	local dir="$work/pgbench.$1.$2"
	mkdir -p "$dir"
	(cd "$dir" && pgbench -n -M prepared -c "$1" -j "$1" -T "$PGBENCH_T" \
		-f "$work/recommend.sql" --log --log-prefix=tx >out.txt 2>err.txt) ||
		{ cat "$dir/err.txt" >&2; exit 1; }
	local tps lat n
	tps=$(awk '/^tps = /{print $3}' "$dir/out.txt" | tail -1)
	lat=$(awk '/^latency average = /{print $4}' "$dir/out.txt")
	n=$(awk '/^number of transactions actually processed/{print $NF}' "$dir/out.txt")
	# per-transaction latency (us, 3rd field of the log) -> median and p99 in ms
	read -r med p99 < <(cat "$dir"/tx.* | awk '{print $3}' | sort -n |
		awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; p=a[int(NR*0.99+0.999)]; printf "%.3f %.3f\n", m/1000, p/1000}')
	printf "%s\t%s\t%s\t%.1f\t%s\t%s\t%s\n" "$1" "$2" "$n" "$tps" "$lat" "$med" "$p99"
}
: >"$work/pgbench.tsv"
for run in $(seq 1 "$PGBENCH_RUNS"); do
	for c in 1 2; do
		pgbench_run "$c" "$run" >>"$work/pgbench.tsv"
	done
done

# report
echo
echo "Model: $N_ITEMS items x $FACTORS factors ($(awk -v n="$N_ITEMS" -v f="$FACTORS" 'BEGIN {printf "%.1f", n * f * 4 / 1e6}') MB of float4), $N_USERS users x $ITEMS_PER_USER seen items; reco_item: 10 categories, 1% unavailable"
echo
echo "First calls in fresh sessions (ms; the 1st call loads the item matrix, the 2nd is warm):"
n=0
while read -r first second; do
	n=$((n + 1))
	awk -v n="$n" -v a="$first" -v b="$second" 'BEGIN {printf "  session %d: first %.1f, second %.3f, load ~ %.1f\n", n, a, b, a - b}' 
done <"$work/first.txt"
echo
cat "$work/latency.txt"
echo
echo "pgbench -M prepared -T $PGBENCH_T, script: SELECT * FROM reco_recommend(random user, 10, '$MODEL')"
echo "(latency from --log: all transactions, including each client's first, which loads the cache)"
{
	printf "clients\trun\ttransactions\ttps\tlatency_avg_ms\tlatency_median_ms\tlatency_p99_ms\n"
	sort -k1,1n -k2,2n "$work/pgbench.tsv"
} | column -t -s $'\t'
echo
for c in 1 2; do
	awk -F'\t' -v c="$c" '$1 == c {print $4, $5}' "$work/pgbench.tsv" | sort -n |
		awk -v c="$c" '{t[NR]=$1; l[NR]=$2} END {
			printf "  %d client(s): median of %d runs: %.1f tps (%.1f - %.1f)\n", c, NR, t[int((NR+1)/2)], t[1], t[NR]}'
	awk -F'\t' -v c="$c" '$1 == c {print $5}' "$work/pgbench.tsv" | sort -n |
		awk -v c="$c" '{l[NR]=$1} END {printf "  %d client(s): median latency average: %.3f ms (%.3f - %.3f)\n", c, l[int((NR+1)/2)], l[1], l[NR]}'
done
