#!/bin/bash
# What online learning costs a shop's writes (issue 8): MovieLens 100K loaded
# into reco_event (943 customers, ~106 events each), a model trained on it
# with the default parameters (64 factors), then pgbench, 2 clients,
# single-row INSERTs of a random existing customer and a random item, with the
# trigger on and off ("off" is session_replication_role = replica: no trigger
# fires at all), under synchronous_commit on and off.  The four settings run
# back to back in each round, so every ratio compares like with like on a
# noisy machine; medians over the rounds are printed.  Between measurements
# the events inserted are deleted and the customers' rows restored, so every
# measurement starts from the same histories.  Then a COPY of 100,000 events
# (MovieLens again, shuffled) with the trigger on, and without.
#   SECONDS_PER_RUN=20 RUNS=5 bash bench/write_path.sh   (PG* name a local
#   server; run it with fsync on, as a shop does)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

data=${RECO_SHARED_DATA:-../shared/data}/movielens-100k/u.data
db=reco_bench_write_path
T=${SECONDS_PER_RUN:-20}
RUNS=${RUNS:-5}
tmp=$(mktemp -d)
fresh_db $db
trap 'rm -rf "$tmp"; dropdb --if-exists $db' EXIT
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d $db "$@"; }

lib=$(ldd "$(pg_config --pkglibdir)/reco.so" | awk '/openblas/ {print $3}')
lib=$(readlink -f "$lib")
case $lib in
*serial*) blas="serial OpenBLAS, 1 thread" ;;
*) blas="OpenBLAS (threaded build: \$OPENBLAS_NUM_THREADS or nproc threads)" ;;
esac
echo "write path: PostgreSQL $(q -c 'SHOW server_version'), fsync $(q -c 'SHOW fsync'), $(nproc) cores"
echo "BLAS: $blas ($lib)"
[ "$(q -c 'SHOW fsync')" = on ] || echo "warning: fsync is off; a shop runs with it on"

# The data, loaded with no trigger firing, and the model
q >/dev/null <<SQL
CREATE EXTENSION reco;
SET reco.progress = off;
CREATE TABLE ml (u bigint, i bigint, r int, t bigint);
\copy ml FROM '$data'
SET session_replication_role = replica;
INSERT INTO reco_event (user_id, item_id, kind, ts)
SELECT u, i, 'view', to_timestamp(t) FROM ml ORDER BY t;
RESET session_replication_role;
SELECT version FROM reco_train('live', 'als');
CREATE TABLE saved_users AS SELECT * FROM reco_user_factors;
CREATE TABLE loaded AS SELECT max(event_id) AS last FROM reco_event;
\copy (SELECT u, i, 'view' FROM ml ORDER BY md5(u || ':' || i)) TO '$tmp/events.csv' WITH (FORMAT csv)
SQL
read -r users items per_user <<<"$(q -F ' ' -c "SELECT count(DISTINCT user_id), max(item_id),
	round(count(*)::numeric / count(DISTINCT user_id), 1) FROM reco_event")"
echo "model: $(q -c "SELECT params->>'factors' || ' factors, ' || n_users || ' users, ' || n_items || ' items'
	FROM reco_model_version")"
echo "events: $(q -c 'SELECT count(*) FROM reco_event') of $users customers ($per_user each on average)"

# Back to the loaded state: events, histories and vectors, an empty queue
reset_state() {
	q >/dev/null <<'SQL'
SET session_replication_role = replica;
DELETE FROM reco_event WHERE event_id > (SELECT last FROM loaded);
UPDATE reco_user_factors u SET factors = s.factors, items = s.items, weights = s.weights
FROM saved_users s WHERE s.version_id = u.version_id AND s.user_id = u.user_id;
TRUNCATE reco_pending;
SQL
	q -c "VACUUM ANALYZE reco_event, reco_user_factors, reco_pending" -c "CHECKPOINT"
}

cat > "$tmp/insert.sql" <<SQL
\set u random(1, $users)
\set i random(1, $items)
INSERT INTO reco_event (user_id, item_id, kind) VALUES (:u, :i, 'view');
SQL

echo
printf "%-8s %-18s %4s %9s %9s %9s\n" trigger synchronous_commit run tps p50_ms p99_ms
: > "$tmp/results"
for run in $(seq 1 "$RUNS"); do
	for sync in on off; do
		for trig in on off; do
			role=origin
			[ $trig = off ] && role=replica
			reset_state
			rm -f "$tmp"/log*
			(cd "$tmp" && PGDATABASE=$db \
				PGOPTIONS="-c synchronous_commit=$sync -c session_replication_role=$role" \
				pgbench -n -c 2 -j 2 -T "$T" -f insert.sql --log --log-prefix=log > out.txt 2>&1) ||
				{ cat "$tmp/out.txt"; exit 1; }
			tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$tmp/out.txt")
			# per-transaction log: the third field is the latency in microseconds
			cat "$tmp"/log* | awk '{print $3}' | sort -n > "$tmp/lat"
			awk -v t="$trig" -v s="$sync" -v r="$run" -v tps="$tps" \
				'{ v[NR] = $1 } END { printf "%-8s %-18s %4s %9.0f %9.3f %9.3f\n", t, s, r, tps,
				   v[int((NR + 1) / 2)] / 1000, v[int((NR * 99 + 99) / 100)] / 1000 }' "$tmp/lat" |
				tee -a "$tmp/results"
		done
	done
done

# medians per setting, and of each round's ratio trigger on / trigger off
echo
printf "%-18s %10s %10s %8s %8s %8s %8s %12s\n" synchronous_commit "tps on" "tps off" \
	"p50 on" "p50 off" "p99 on" "p99 off" "ratio on/off"
for sync in on off; do
	awk -v s=$sync '
		function med(a, n,   i, j, t) {	# median of a[1..n]
			for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
		$2 == s { k = $1; n[k]++; tps[k, n[k]] = $4; p50[k, n[k]] = $5; p99[k, n[k]] = $6; r[$3, k] = $4 }
		END {
			for (k in n) for (i = 1; i <= n[k]; i++) { T[k, i] = tps[k, i]; A[k, i] = p50[k, i]; B[k, i] = p99[k, i] }
			for (i = 1; i <= n["on"]; i++) { x[i] = tps["on", i]; y[i] = tps["off", i]; ratio[i] = r[i, "on"] / r[i, "off"]
				a1[i] = p50["on", i]; a2[i] = p50["off", i]; b1[i] = p99["on", i]; b2[i] = p99["off", i] }
			m = n["on"]
			printf "%-18s %10.0f %10.0f %8.3f %8.3f %8.3f %8.3f %12.2f\n", s, med(x, m), med(y, m),
				med(a1, m), med(a2, m), med(b1, m), med(b2, m), med(ratio, m) }' "$tmp/results"
done

# COPY: 100,000 events in one statement, trigger on and off
echo
copy() {	# label, session_replication_role
	local t0 t1
	reset_state
	t0=$(date +%s.%N)
	q -c "SET session_replication_role = $2" \
		-c "\\copy reco_event (user_id, item_id, kind) FROM '$tmp/events.csv' WITH (FORMAT csv)"
	t1=$(date +%s.%N)
	awk -v l="$1" -v n="$(wc -l < "$tmp/events.csv")" -v a="$t0" -v b="$t1" \
		'BEGIN { printf "COPY %-12s %7d rows %7.2f s %9.0f rows/s\n", l, n, b - a, n / (b - a) }'
}
copy "trigger on" origin
copy "trigger off" replica
