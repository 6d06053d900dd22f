#!/bin/bash
# serve_families.sh - serving latency of each model family (ALS, mlp,
# itemknn) on catalogues of 10k and 100k items: reco_recommend for a
# customer, and reco_recommend_items for a basket of three items
#
# For each catalogue size: USERS customers with HISTORY events each on items
# drawn with a skew (a few items popular, a long tail), trained briefly as
# ALS (64 factors), as mlp (dim 32, hidden [64, 32]) and as itemknn (BM25,
# 100 neighbours an item): training time is
# not what is measured, and serving cost does not depend on how well the
# weights fit.  Then, in one session after a warm-up call (which loads the
# version into the backend's cache, timed apart), CALLS calls of
# reco_recommend(user, 10) for random users, each timed server-side; the
# table gives the median and the 90th percentile per family, and their
# ratio, measured in the same run, interleaved (each drawn user is asked
# of both models in turn).  The mlp is served twice: as shipped
# (reco.shortlist: the network scores the items its dot product ranks
# first) and exact (reco.shortlist = 0, the network over every item).
# "cache MB" is what each model's first calls added to the backend's model
# caches (pg_backend_memory_contexts, so the bench runs as a superuser);
# mlp_exact shares the mlp's.
#
#   bash bench/serve_families.sh          (PG* variables name the database)
#   SIZES="10000 100000" USERS=10000 HISTORY=100 CALLS=300 bash bench/serve_families.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

SIZES=${SIZES:-10000 100000}
USERS=${USERS:-10000}
HISTORY=${HISTORY:-100}
CALLS=${CALLS:-300}
db=reco_bench_families

fresh_db $db
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -d $db)
"${PSQL[@]}" -c "CREATE EXTENSION reco"
echo "serving latency by family, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, reco $(git rev-parse --short HEAD 2>/dev/null || echo ?)"
echo "BLAS: $(ldd "$(pg_config --pkglibdir)/reco.so" | grep -o 'libopenblas[^ ]*' | head -1) (serving runs on one thread)"
echo "$USERS customers x $HISTORY events, $CALLS calls per model, k = 10, default filters"
printf "%-8s | %-9s | %-8s | %-12s | %-10s | %-10s | %-17s | %s\n" items family call "first call ms" "median ms" "p90 ms" "median / ALS user" "cache MB"
for n in $SIZES; do
	"${PSQL[@]}" -v n="$n" -v users="$USERS" -v hist="$HISTORY" >/dev/null <<'SQL'
SET reco.progress = off;
SET reco.online = off;
TRUNCATE reco_event, reco_item;
SELECT reco_drop_model(name) FROM reco_model;
INSERT INTO reco_item (item_id, category, price)
SELECT i, 'c' || (i % 50), (i % 200) + 0.99 FROM generate_series(1, :n) i;
SELECT setseed(0.1);
-- item = floor(n * u^3) + 1: a skewed (power-law-like) popularity
INSERT INTO reco_event (user_id, item_id, kind)
SELECT u, least(:n, floor(:n * power(random(), 3))::bigint + 1), 'view'
FROM generate_series(1, :users) u, generate_series(1, :hist) h;
SELECT 1 FROM reco_train('als', 'als', '{"factors": 64, "iterations": 2}');
SELECT 1 FROM reco_train('mlp', 'mlp', '{"dim": 32, "hidden": [64, 32], "epochs": 1, "validation": 0}');
SELECT 1 FROM reco_train('itemknn', 'itemknn', '{"neighbors": 100}');
SQL
	"${PSQL[@]}" -A -t -F ' ' -v n="$n" -v users="$USERS" -v calls="$CALLS" <<'SQL' |
LOAD 'reco';	-- defines reco.shortlist before the first call
SELECT set_config('bench.calls', :'calls', false), set_config('bench.users', :'users', false),
	set_config('bench.n', :'n', false) \g /dev/null
CREATE TEMP TABLE t (family text, call text, first boolean, ms float8);
-- what each model's first calls added to this backend's caches
CREATE TEMP TABLE mem (family text, mb float8);
DO $$
DECLARE
	u bigint;
	b bigint[];
	t0 timestamptz;
	f text;
	m text;
	n int := current_setting('bench.n')::int;
	shipped text := current_setting('reco.shortlist');
	cached float8 := 0;
	now_cached float8;
	families text[] := ARRAY['als', 'mlp', 'mlp_exact', 'itemknn'];
BEGIN
	PERFORM setseed(0.2);
	FOREACH f IN ARRAY families LOOP
		m := split_part(f, '_', 1);
		PERFORM set_config('reco.shortlist', CASE f WHEN 'mlp_exact' THEN '0' ELSE shipped END, false);
		t0 := clock_timestamp();
		PERFORM count(*) FROM reco_recommend(1, 10, m);
		INSERT INTO t VALUES (f, 'user', true, extract(epoch FROM clock_timestamp() - t0) * 1000);
		t0 := clock_timestamp();
		PERFORM count(*) FROM reco_recommend_items(ARRAY[1, 2, 3]::bigint[], 10, m);
		INSERT INTO t VALUES (f, 'basket', true, extract(epoch FROM clock_timestamp() - t0) * 1000);
		SELECT sum(total_bytes) / 1048576.0 INTO now_cached FROM pg_backend_memory_contexts
		WHERE name = 'reco model cache';
		INSERT INTO mem VALUES (f, now_cached - cached);
		cached := now_cached;
	END LOOP;
	FOR c IN 1 .. current_setting('bench.calls')::int LOOP
		u := 1 + floor(random() * current_setting('bench.users')::int);
		-- basket items drawn as the events are: popular ones more often
		b := ARRAY(SELECT least(n, floor(n * power(random(), 3))::bigint + 1) FROM generate_series(1, 3));
		FOREACH f IN ARRAY families LOOP
			m := split_part(f, '_', 1);
			PERFORM set_config('reco.shortlist', CASE f WHEN 'mlp_exact' THEN '0' ELSE shipped END, false);
			t0 := clock_timestamp();
			PERFORM count(*) FROM reco_recommend(u, 10, m);
			INSERT INTO t VALUES (f, 'user', false, extract(epoch FROM clock_timestamp() - t0) * 1000);
			t0 := clock_timestamp();
			PERFORM count(*) FROM reco_recommend_items(b, 10, m);
			INSERT INTO t VALUES (f, 'basket', false, extract(epoch FROM clock_timestamp() - t0) * 1000);
		END LOOP;
	END LOOP;
END $$;
WITH s AS (
	SELECT family, call,
		(SELECT ms FROM t f WHERE f.family = t.family AND f.call = t.call AND f.first) AS first_ms,
		percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS med,
		percentile_cont(0.9) WITHIN GROUP (ORDER BY ms) AS p90
	FROM t WHERE NOT first GROUP BY family, call)
SELECT family, call, round(first_ms::numeric, 1), round(med::numeric, 3), round(p90::numeric, 3),
	round((med / (SELECT med FROM s WHERE family = 'als' AND call = 'user'))::numeric, 2),
	CASE call WHEN 'user' THEN (SELECT round(mb::numeric) FROM mem WHERE mem.family = s.family)::text ELSE '-' END
FROM s ORDER BY family, call DESC;
SQL
	while read -r fam call first med p90 ratio mb; do
		printf "%-8s | %-9s | %-8s | %-12s | %-10s | %-10s | %-17s | %s\n" "$n" "$fam" "$call" "$first" "$med" "$p90" "$ratio" "$mb"
	done
done
