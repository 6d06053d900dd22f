#!/bin/bash
# The 'mlp' family on MovieLens 100K, through SQL as a shop would run it:
# profiles (age band, gender, occupation) in reco_user, movies (genres and
# a 5-year release bucket; the title goes to description, unused) in reco_item, ratings in
# reco_event.
#  1. Rating prediction: RMSE of reco_evaluate on the five folds u1..u5.
#  2. Cold items (u1): 10% of the movies lose every training rating; each
#     customer ranks all of them (reco_rank), nDCG@10 beside popularity of
#     the 5-year release bucket and random order, judged three ways: by
#     their u1.test ratings of them ('items'), by every rating they gave
#     them, in u1.base or u1.test ('items, all'), and by those of 4 or 5
#     ('items, all >= 4').
#  3. Cold customers (u1): 10% of the users lose every training rating and
#     are served from their profile (reco_recommend, source 'profile');
#     nDCG@10 of their test ratings beside global popularity.
# Ratings train an explicit model (first argument), the cold-start rankings
# an implicit one on the same ratings as events (second argument).
#   bash bench/mlp_movielens.sh ['{"feedback": "explicit", ...}' ['{...}']]
# RATINGS=0 skips the five folds, COLD=0 the cold-start rankings; SPLITS
# names the withheld sets ("a b c"), SEEDS the network seeds each set is
# trained with ("42 7 3": one training's figure moves with its seed by as
# much as features do, so the mlp rows are means over seeds too).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

dir=${RECO_SHARED_DATA:-../shared/data}/movielens-100k
params=${1:-'{"feedback": "explicit", "dim": 128, "hidden": [128, 64], "epochs": 30, "batch_size": 256, "learning_rate": 0.005, "l2": 0.01, "l2_id": 0.1, "l2_bias": 0.05, "l2_layers": 0.01, "dropout": 0.3, "lr_decay": 0.9, "unknown_rate": 0, "validation": 0, "init_scale": 0.1}'}
cold=${2:-'{"dim": 16, "hidden": [32], "epochs": 40, "batch_size": 256, "learning_rate": 0.002, "l2": 0.0001, "dropout": 0.1, "unknown_rate": 0.3, "negatives": 4}'}
db=reco_bench_mlp

fresh_db $db
psql -X -q -v ON_ERROR_STOP=1 -d $db -c "CREATE EXTENSION reco" \
	-c "CREATE TEMP TABLE u (id bigint, age int, gender text, occupation text, zip text)" \
	-c "\copy u FROM '$dir/u.user' WITH (FORMAT csv, DELIMITER '|')" \
	-c "INSERT INTO reco_user SELECT id, jsonb_build_object('age', CASE WHEN age < 18 THEN '-17'
		WHEN age < 25 THEN '18-24' WHEN age < 35 THEN '25-34' WHEN age < 45 THEN '35-44'
		WHEN age < 50 THEN '45-49' WHEN age < 56 THEN '50-55' ELSE '56-' END,
		'gender', gender, 'occupation', occupation) FROM u"
# u.item is latin-1 with '|' separators and no quoting
iconv -f latin1 -t utf-8 "$dir/u.item" | tr -d '"' |
	psql -X -q -v ON_ERROR_STOP=1 -d $db \
	-c "CREATE TEMP TABLE m (line text)" -c "\copy m FROM STDIN WITH (FORMAT text, DELIMITER E'\x01')" \
	-c "CREATE TEMP TABLE g (name text, flag int)" \
	-c "\copy g FROM PROGRAM 'grep . $dir/u.genre' WITH (FORMAT csv, DELIMITER '|')" \
	-c "INSERT INTO reco_item (item_id, description, attributes)
		SELECT f[1]::bigint, regexp_replace(f[2], ' \(\d{4}\)\s*$', ''),
			jsonb_build_object('years', CASE WHEN right(f[3], 4) < '1950' THEN '-1949'
				ELSE (right(f[3], 4)::int / 5 * 5)::text END,
				'genre', (SELECT coalesce(jsonb_agg(g.name), '[]') FROM g WHERE f[6 + g.flag] = '1'))
		FROM (SELECT string_to_array(line, '|') AS f FROM m) s"
load_folds $db "$dir"
echo "params (ratings): $params"
echo "params (cold start): $cold"
echo "BLAS: $(ldd "$(pg_config --pkglibdir)/reco.so" | grep -o 'libopenblas[^ ]*' | head -1), one thread"
psql -X -q -v ON_ERROR_STOP=1 -d $db -v params="$params" \
	-v ratings="${RATINGS:-1}" <<'SQL'
SET reco.progress = off;
SELECT set_config('bench.params', :'params', false) \g /dev/null
CREATE TEMP TABLE result (fold int, rmse float8, mae float8, epochs int, seconds float8);
\if :ratings
DO $$
DECLARE
	n int;
	t0 timestamptz;
BEGIN
	FOR n IN 1 .. 5 LOOP
		t0 := clock_timestamp();
		TRUNCATE reco_event;
		INSERT INTO reco_event (user_id, item_id, kind, value, ts)
		SELECT u, i, 'rating', r, to_timestamp(t) FROM fold WHERE fold = n AND part = 'base';
		PERFORM reco_train('ml', 'mlp', current_setting('bench.params')::jsonb);
		INSERT INTO result
		SELECT n, e.rmse, e.mae,
			(SELECT jsonb_array_length(metrics->'loss') FROM reco_model_version v
			 WHERE v.version_id = (SELECT active_version FROM reco_model WHERE name = 'ml')),
			extract(epoch FROM clock_timestamp() - t0)
		FROM reco_evaluate('ml', format('SELECT u, i, r FROM fold WHERE fold = %s AND part = ''test''', n)) e;
	END LOOP;
END
$$;
\pset footer off
\echo '1. Rating prediction (RMSE of reco_evaluate, each fold trained on its base)'
SELECT fold, round(rmse::numeric, 4) AS rmse, round(mae::numeric, 4) AS mae, epochs,
	round(seconds::numeric, 1) AS seconds FROM result ORDER BY fold;
SELECT round(avg(rmse)::numeric, 4) AS "mean RMSE", round(avg(mae)::numeric, 4) AS "mean MAE"
FROM result;
\endif

SQL
[ "${COLD:-1}" = 1 ] || exit 0

# 2 and 3, once per split: which items and customers are withheld is a hash
# of their ids salted by SPLITS (one nDCG per split, and their mean)
psql -X -q -v ON_ERROR_STOP=1 -d $db -c "CREATE TABLE coldres (salt text, seed text, part text, ranking text, users bigint, ndcg numeric)"
seeds=${SEEDS:-42 7 3}
echo "seeds: $seeds"
for salt in ${SPLITS:-a b c}; do
for seed in $seeds; do
	psql -X -q -v ON_ERROR_STOP=1 -d $db -v cold="$cold" -v salt="$salt" -v seed="$seed" \
		-v first="$([ "$seed" = "${seeds%% *}" ] && echo 1 || echo 0)" <<'SQL'
SET reco.progress = off;
SELECT set_config('bench.cold', (:'cold'::jsonb || jsonb_build_object('seed', :'seed'::bigint))::text,
	false) \g /dev/null
-- nDCG@10 of a ranked list against a relevant set, by (who, item, rank)
CREATE TEMP TABLE ranked (who text, u bigint, i bigint, rank int);
-- (judge names what counts as relevant: 'test' for the customers' u1.test
-- ratings, 'all >= 4' for cold items below)
CREATE TEMP TABLE relevant (judge text, u bigint, i bigint);
CREATE FUNCTION pg_temp.ndcg(w text, j text DEFAULT 'test') RETURNS TABLE (users bigint, ndcg numeric) LANGUAGE sql AS $f$
	SELECT count(*), round(avg(dcg / idcg)::numeric, 4) FROM (
		SELECT r.u,
			(SELECT coalesce(sum(1 / log(2, k.rank + 1)), 0) FROM ranked k
			 WHERE k.who = w AND k.u = r.u AND k.rank <= 10
			   AND (k.u, k.i) IN (SELECT u, i FROM relevant WHERE judge = j)) AS dcg,
			(SELECT sum(1 / log(2, g + 1)) FROM generate_series(1, least(10, r.n)) g) AS idcg
		FROM (SELECT u, count(*) AS n FROM relevant WHERE judge = j GROUP BY u) r) s
$f$;

-- 2. Cold items: 10% of the movies (by a hash of their id) lose their training ratings
CREATE TEMP TABLE cold AS SELECT item_id AS i FROM reco_item ORDER BY md5(:'salt' || ':cold:' || item_id) LIMIT 168;
TRUNCATE reco_event;
INSERT INTO reco_event (user_id, item_id, kind, value, ts)
SELECT u, i, 'view', 1, to_timestamp(t) FROM fold
WHERE fold = 1 AND part = 'base' AND i NOT IN (SELECT i FROM cold);
SELECT 1 FROM reco_train('cold', 'mlp', current_setting('bench.cold')::jsonb) \g /dev/null
-- relevant: the customers' u1.test ratings of them ('test'), every rating
-- they gave them, in u1.base or u1.test ('all': all the withheld ratings),
-- or those of 4 or 5 ('all >= 4': the likes)
INSERT INTO relevant SELECT DISTINCT 'test', u, i FROM fold WHERE fold = 1 AND part = 'test' AND i IN (SELECT i FROM cold)
UNION ALL SELECT DISTINCT 'all', u, i FROM fold WHERE fold = 1 AND i IN (SELECT i FROM cold)
UNION ALL SELECT DISTINCT 'all >= 4', u, i FROM fold WHERE fold = 1 AND r >= 4 AND i IN (SELECT i FROM cold);
INSERT INTO ranked SELECT 'mlp', t.u, r.item_id, r.rank
FROM (SELECT DISTINCT u FROM relevant) t,
	reco_rank(t.u, (SELECT array_agg(i) FROM cold), 'cold') r;
-- popularity of the 5-year release bucket in training, then item id
INSERT INTO ranked SELECT 'year popularity', t.u, c.i, row_number() OVER (PARTITION BY t.u ORDER BY c.pop DESC, c.i)
FROM (SELECT DISTINCT u FROM relevant) t,
	(SELECT c.i, coalesce(y.n, 0) AS pop FROM cold c JOIN reco_item it ON it.item_id = c.i
	 LEFT JOIN (SELECT it2.attributes->>'years' AS years, count(*) AS n FROM reco_event e
		JOIN reco_item it2 ON it2.item_id = e.item_id GROUP BY 1) y ON y.years = it.attributes->>'years') c;
SELECT setseed(0.7) \g /dev/null
INSERT INTO ranked SELECT 'random', t.u, c.i, row_number() OVER (PARTITION BY t.u ORDER BY random())
FROM (SELECT DISTINCT u FROM relevant) t, cold c;
INSERT INTO coldres SELECT :'salt', :'seed', 'items', 'mlp (attributes)', * FROM pg_temp.ndcg('mlp')
UNION ALL SELECT :'salt', :'seed', 'items, all', 'mlp (attributes)', * FROM pg_temp.ndcg('mlp', 'all')
UNION ALL SELECT :'salt', :'seed', 'items, all >= 4', 'mlp (attributes)', * FROM pg_temp.ndcg('mlp', 'all >= 4');
\if :first
INSERT INTO coldres SELECT :'salt', '', 'items', 'popularity of the release period', * FROM pg_temp.ndcg('year popularity')
UNION ALL SELECT :'salt', '', 'items', 'random', * FROM pg_temp.ndcg('random')
UNION ALL SELECT :'salt', '', 'items, all', 'popularity of the release period', * FROM pg_temp.ndcg('year popularity', 'all')
UNION ALL SELECT :'salt', '', 'items, all', 'random', * FROM pg_temp.ndcg('random', 'all')
UNION ALL SELECT :'salt', '', 'items, all >= 4', 'popularity of the release period', * FROM pg_temp.ndcg('year popularity', 'all >= 4')
UNION ALL SELECT :'salt', '', 'items, all >= 4', 'random', * FROM pg_temp.ndcg('random', 'all >= 4');
\endif

-- 3. Cold customers: 10% of the users (by a hash of their id) lose their training ratings
TRUNCATE ranked, relevant;
CREATE TEMP TABLE newcomers AS SELECT user_id AS u FROM reco_user ORDER BY md5(:'salt' || ':new:' || user_id) LIMIT 94;
TRUNCATE reco_event;
INSERT INTO reco_event (user_id, item_id, kind, value, ts)
SELECT u, i, 'view', 1, to_timestamp(t) FROM fold
WHERE fold = 1 AND part = 'base' AND u NOT IN (SELECT u FROM newcomers);
SELECT 1 FROM reco_train('cold', 'mlp', current_setting('bench.cold')::jsonb) \g /dev/null
INSERT INTO relevant SELECT DISTINCT 'test', u, i FROM fold WHERE fold = 1 AND part = 'test' AND u IN (SELECT u FROM newcomers);
INSERT INTO ranked SELECT 'mlp', t.u, r.item_id, r.rank
FROM (SELECT DISTINCT u FROM relevant) t, reco_recommend(t.u, 10, 'cold') r;
INSERT INTO ranked SELECT 'popularity', t.u, p.i, p.rank
FROM (SELECT DISTINCT u FROM relevant) t,
	(SELECT item_id AS i, row_number() OVER (ORDER BY count(*) DESC, item_id) AS rank
	 FROM reco_event GROUP BY item_id ORDER BY 2 LIMIT 10) p;
INSERT INTO coldres SELECT :'salt', :'seed', 'customers', 'mlp (' || (SELECT string_agg(DISTINCT source, ',')
	FROM reco_recommend((SELECT min(u) FROM newcomers), 10, 'cold')) || ')', * FROM pg_temp.ndcg('mlp');
\if :first
INSERT INTO coldres SELECT :'salt', '', 'customers', 'global popularity', * FROM pg_temp.ndcg('popularity');
\endif
SQL
done
done
psql -X -q -v ON_ERROR_STOP=1 -d $db <<'SQL'
\pset footer off
\echo '2. Cold items (u1: 168 movies lose every training rating; ranked among the 168, judged by u1.test ratings, all ratings, or all ratings >= 4 of them)'
\echo '3. Cold customers (u1: 94 users lose every training rating, served from their profile)'
SELECT part, ranking, string_agg(n::text || ' (' || users || ')', ', ' ORDER BY salt)
	AS "nDCG@10 per split, mean over seeds (users)", round(avg(n), 4) AS mean,
	min(lo) || ' - ' || max(hi) AS "one training's range"
FROM (SELECT part, ranking, salt, max(users) AS users, round(avg(ndcg), 4) AS n,
		min(ndcg) AS lo, max(ndcg) AS hi
	  FROM coldres GROUP BY part, ranking, salt) s
GROUP BY part, ranking ORDER BY part DESC, mean DESC;
SQL
