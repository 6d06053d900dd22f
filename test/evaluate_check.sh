#!/bin/bash
# Cross-checks reco_evaluate, reco_evaluate_users and reco_evaluate_sampled
# against NumPy (test/metrics.py) on a seeded MovieLens 100K split: exports
# the full candidate rankings of reco_recommend, the test pairs and the
# sampled-protocol scores of reco_score, and reco's own results at k = 10
# (active version) and k = 5 (version 1 named while version 2 is active);
# and for a rating model (explicit feedback) trained on the same split, the
# rated test pairs with their reco_score predictions and reco_evaluate's
# RMSE and MAE.  metrics.py recomputes every metric and fails on a
# difference over 1e-6.
# Also shows that metrics.py can fail (--self-test) and that scripts/plot.sh
# draws a PNG.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/movielens_db.sh

db=reco_evalcheck
out=$(mktemp -d)
trap 'rm -rf "$out"; dropdb --if-exists $db' EXIT
movielens_db $db

# \copy writes relative to psql's working directory: the export directory
(cd "$out" && psql -X -q -v ON_ERROR_STOP=1 -d $db) <<'SQL'
SET extra_float_digits = 3;   -- float4 and float8 printed exactly
SET reco.progress = off;

-- 75/25 split stratified by item, seeded (as bench/movielens.sql)
CREATE TABLE split AS
SELECT u, i, r, t, row_number() OVER w <= round(0.75 * count(*) OVER (PARTITION BY i)) AS train
FROM ml
WINDOW w AS (PARTITION BY i ORDER BY md5('evalcheck:' || u || ':' || i));
CREATE TABLE train AS SELECT u, i FROM split WHERE train;
SELECT model, version, users, items FROM
	(SELECT (reco_train_agg(u, i, 1::real, 'evalcheck', '{"factors": 16, "iterations": 5}')).*
	 FROM train) t;

-- The held-out quarter, and the cases the definitions single out: a repeated
-- pair (relevant items are distinct), a user the model does not know (not
-- evaluated), an item it does not know and an item the user trained on (both
-- still relevant, neither a candidate).  The ratings are for the k = 10 call:
-- an implicit model has no RMSE or MAE even when given them.
CREATE TABLE test AS SELECT u, i, r FROM split WHERE NOT train;
INSERT INTO test SELECT u, i, r FROM test ORDER BY u, i LIMIT 1;
INSERT INTO test VALUES (999999, 1, 5), (999999, 2, 5), (2, 999999, 5);
INSERT INTO test SELECT u, i, r FROM split WHERE train AND u = 3 ORDER BY i LIMIT 1;

-- NCF protocol: each test user's latest held-out item against 100 seeded
-- random items the user never interacted with; and the cases it singles out:
-- an unknown user and an unknown held-out item (unscored misses), a repeated
-- case, a second case of user 1 whose negatives list user 1's first held-out
-- item, an unknown negative and a repeated negative (both ignored).
CREATE TABLE sampled_test AS
SELECT DISTINCT ON (u) u, i FROM split WHERE NOT train ORDER BY u, t DESC, i;
CREATE INDEX ON ml (u, i);
CREATE TABLE all_items AS SELECT DISTINCT i FROM ml;
CREATE TABLE negatives AS
SELECT c.u, n.i
FROM sampled_test c,
	LATERAL (SELECT a.i FROM all_items a
			 WHERE NOT EXISTS (SELECT FROM ml WHERE ml.u = c.u AND ml.i = a.i)
			 ORDER BY hashint8extended(a.i, 42 + c.u) LIMIT 100) n;
INSERT INTO negatives SELECT u, i FROM sampled_test WHERE u = 1;
INSERT INTO sampled_test
SELECT u, i FROM (SELECT u, i FROM split WHERE u = 1 AND NOT train
				  EXCEPT SELECT u, i FROM sampled_test) other ORDER BY i LIMIT 1;
INSERT INTO sampled_test SELECT u, i FROM sampled_test WHERE u = 1;
INSERT INTO sampled_test VALUES (999999, 1), (5, 999999);
INSERT INTO negatives VALUES (2, 999999);
INSERT INTO negatives SELECT u, i FROM negatives WHERE u = 2 ORDER BY i LIMIT 1;

-- the raw material metrics.py computes from
CREATE TABLE x_items AS
SELECT item_id FROM reco_item_factors
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'evalcheck');
CREATE TABLE x_users AS
SELECT u AS user_id,
	(SELECT source FROM reco_recommend(u, 1, 'evalcheck', available_only => false)) AS source
FROM (SELECT u FROM test UNION SELECT u FROM sampled_test) s;
CREATE TABLE x_sampled_scores AS
SELECT u AS user_id, i AS item_id,
	CASE WHEN i IN (SELECT item_id FROM x_items) THEN reco_score(u, i, 'evalcheck') END AS score
FROM (SELECT u, i FROM sampled_test UNION SELECT u, i FROM negatives) p;

\copy x_items TO 'items.csv' CSV HEADER
\copy x_users TO 'users.csv' CSV HEADER
\copy (SELECT x.user_id, r.item_id, r.score, r.rank FROM x_users x, LATERAL reco_recommend(x.user_id, (SELECT count(*)::int FROM x_items), 'evalcheck', exclude_seen => true, available_only => false) r WHERE x.source = 'personal') TO 'rankings.csv' CSV HEADER
\copy (SELECT u AS user_id, i AS item_id FROM train) TO 'train.csv' CSV HEADER
\copy (SELECT u AS user_id, i AS item_id FROM test) TO 'test.csv' CSV HEADER
\copy (SELECT u AS user_id, i AS item_id FROM sampled_test) TO 'sampled_test.csv' CSV HEADER
\copy (SELECT u AS user_id, i AS item_id FROM negatives) TO 'negatives.csv' CSV HEADER
\copy x_sampled_scores TO 'sampled_scores.csv' CSV HEADER

-- reco's results: k = 10 on the active version (1)
\copy (SELECT * FROM reco_evaluate_users('evalcheck', 'SELECT u, i FROM test')) TO 'reco_evaluate_users_k10.csv' CSV HEADER
\copy (SELECT * FROM reco_evaluate('evalcheck', 'SELECT u, i, r FROM test')) TO 'reco_evaluate_k10.csv' CSV HEADER
\copy (SELECT * FROM reco_evaluate_sampled('evalcheck', 'SELECT u, i FROM sampled_test', 'SELECT u, i FROM negatives')) TO 'reco_evaluate_sampled_k10.csv' CSV HEADER

-- k = 5 on version 1 named explicitly while a second version is active
SELECT model, version FROM
	(SELECT (reco_train_agg(u, i, 1::real, 'evalcheck', '{"factors": 16, "iterations": 5, "seed": 7}')).*
	 FROM train) t;
\copy (SELECT * FROM reco_evaluate_users('evalcheck', 'SELECT u, i FROM test', 5, 1)) TO 'reco_evaluate_users_k5.csv' CSV HEADER
\copy (SELECT * FROM reco_evaluate('evalcheck', 'SELECT u, i FROM test', 5, 1)) TO 'reco_evaluate_k5.csv' CSV HEADER
\copy (SELECT * FROM reco_evaluate_sampled('evalcheck', 'SELECT u, i FROM sampled_test', 'SELECT u, i FROM negatives', 5, 1)) TO 'reco_evaluate_sampled_k5.csv' CSV HEADER

-- A rating model on the same split, the ratings as values; its score is the
-- predicted rating.  The held-out ratings, and the cases RMSE and MAE leave
-- out: a user and an item the model does not know and a NULL rating; and a
-- pair repeated with the same rating (counted once).
SELECT model, version, users, items FROM
	(SELECT (reco_train_agg(u, i, r::real, 'evalrate', '{"feedback": "explicit", "factors": 8, "iterations": 5, "regularization": 0.1, "reg_exponent": 1}')).*
	 FROM split WHERE train) t;
CREATE TABLE rating_test AS SELECT u, i, r::real AS r FROM split WHERE NOT train;
INSERT INTO rating_test SELECT u, i, r FROM rating_test ORDER BY u, i LIMIT 1;
INSERT INTO rating_test VALUES (999999, 1, 4), (2, 999999, 3);
UPDATE rating_test SET r = NULL
WHERE (u, i) = (SELECT u, i FROM rating_test WHERE u = 4 ORDER BY i LIMIT 1);
CREATE TABLE x_rating_items AS
SELECT item_id FROM reco_item_factors
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'evalrate');
CREATE TABLE x_rating_users AS
SELECT u AS user_id,
	(SELECT source FROM reco_recommend(u, 1, 'evalrate', available_only => false)) AS source
FROM (SELECT DISTINCT u FROM rating_test) s;
CREATE TABLE x_rating_scores AS
SELECT u AS user_id, i AS item_id,
	CASE WHEN i IN (SELECT item_id FROM x_rating_items) THEN reco_score(u, i, 'evalrate') END AS score
FROM (SELECT DISTINCT u, i FROM rating_test) p;

\copy x_rating_items TO 'rating_items.csv' CSV HEADER
\copy x_rating_users TO 'rating_users.csv' CSV HEADER
\copy (SELECT u AS user_id, i AS item_id, r AS rating FROM rating_test) TO 'rating_test.csv' CSV HEADER
\copy x_rating_scores TO 'rating_scores.csv' CSV HEADER
\copy (SELECT * FROM reco_evaluate('evalrate', 'SELECT u, i, r FROM rating_test')) TO 'reco_evaluate_rating.csv' CSV HEADER
SQL

$python test/metrics.py --self-test "$out"

PGDATABASE=$db bash scripts/plot.sh evalcheck 'SELECT u, i FROM test' "$out/plot.png"
[ -s "$out/plot.png" ] && [ "$(head -c 8 "$out/plot.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
	{ echo "scripts/plot.sh did not write a PNG"; exit 1; }
echo "scripts/plot.sh: PNG of $(stat -c %s "$out/plot.png") bytes"
