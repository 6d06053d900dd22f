-- Evaluation, tuning and model management
SET reco.progress = off;
-- 120 users in two tastes over 40 items, with a little noise
CREATE TABLE shop AS
SELECT u AS customer, i AS product, (1 + (u * i) % 3)::int AS qty,
	timestamptz '2026-01-01' + make_interval(hours => (u * 7 + i * 13) % 500) AS at
FROM generate_series(1, 120) u, generate_series(1, 40) i
WHERE ((u % 2 = 0) = (i <= 20) AND (u + i) % 3 <> 0) OR (u * 31 + i * 17) % 23 = 0;

-- splits: deterministic, independent of row order, every method
CREATE TABLE split AS
SELECT * FROM reco_split('SELECT customer, product, qty, at FROM shop', 'stratified', 0.25, 42);
SELECT count(*) FILTER (WHERE test) AS test, count(*) FILTER (WHERE NOT test) AS train FROM split;
SELECT count(*) AS differ FROM split s
JOIN reco_split('SELECT customer, product, qty, at FROM shop ORDER BY random()', 'stratified', 0.25, 42) r
	USING (user_id, item_id)
WHERE r.test <> s.test;
SELECT count(*) AS differ_with_other_seed FROM split s
JOIN reco_split('SELECT customer, product FROM shop', 'stratified', 0.25, 7) r USING (user_id, item_id)
WHERE r.test <> s.test;
-- stratified: a quarter of each item's users; random: a quarter of each user's items
SELECT max(abs(t - round(0.25 * n))) AS worst_item FROM (
	SELECT item_id, count(*) FILTER (WHERE test) AS t, count(*) AS n FROM split GROUP BY 1) x;
SELECT max(abs(t - round(0.25 * n))) AS worst_user FROM (
	SELECT user_id, count(*) FILTER (WHERE test) AS t, count(*) AS n
	FROM reco_split('SELECT customer, product FROM shop', 'random') GROUP BY 1) x;
-- temporal: the latest quarter, or everything from a cut-off
SELECT count(*) FILTER (WHERE test) AS test,
	bool_and(ts >= (SELECT percentile_disc(0.75) WITHIN GROUP (ORDER BY at) FROM shop)) FILTER (WHERE test) AS latest
FROM reco_split('SELECT customer, product, qty, at FROM shop', 'temporal', 0.25);
SELECT count(*) FILTER (WHERE test) = (SELECT count(*) FROM shop WHERE at >= '2026-01-15') AS cutoff_ok
FROM reco_split('SELECT customer, product, qty, at FROM shop', 'temporal', cutoff => '2026-01-15');
-- leave-one-out: each user's latest event; last_n: the latest 3, one kept to train on
SELECT count(*) FILTER (WHERE test) AS test, count(DISTINCT user_id) AS users
FROM reco_split('SELECT customer, product, qty, at FROM shop', 'leave_one_out');
SELECT bool_and(s.ts = l.latest) AS latest_ok
FROM reco_split('SELECT customer, product, qty, at FROM shop', 'leave_one_out') s
JOIN (SELECT customer, max(at) AS latest FROM shop GROUP BY 1) l ON l.customer = s.user_id
WHERE s.test;
SELECT count(*) FILTER (WHERE test) AS test FROM reco_split(
	'SELECT customer, product, qty, at FROM shop', 'last_n', last_n => 3);
SELECT count(*) FILTER (WHERE test) AS test_of_one FROM reco_split(
	'SELECT 1, 2, 1, now()', 'last_n', last_n => 3);
-- folds: a partition, each pair in one fold, balanced
SELECT fold, count(*) FROM reco_folds('SELECT customer, product FROM shop', 4) GROUP BY 1 ORDER BY 1;

-- evaluation: the summary is the mean of the per-user rows
SELECT (reco_train_agg(user_id, item_id, 1::real, 'evalm', '{"factors": 8, "iterations": 10}')).users
FROM split WHERE NOT test;
CREATE TABLE ev AS SELECT * FROM reco_evaluate('evalm', 'SELECT user_id, item_id FROM split WHERE test', 5);
SELECT users, precision > 0.5 AS useful, auc > 0.8 AS auc_high, coverage > 0 AND coverage <= 1 AS coverage_ok,
	rmse IS NULL AS no_rmse FROM ev;
SELECT abs(avg(u.precision) - e.precision) < 1e-12 AS p, abs(avg(u.recall) - e.recall) < 1e-12 AS r,
	abs(avg(u.ndcg) - e.ndcg) < 1e-12 AS n, abs(avg(u.ap) - e.map) < 1e-12 AS m,
	abs(avg(u.hit) - e.hit_rate) < 1e-12 AS h, abs(avg(u.rr) - e.mrr) < 1e-12 AS rr,
	abs(avg(u.auc) - e.auc) < 1e-12 AS a, count(*) = e.users AS users
FROM reco_evaluate_users('evalm', 'SELECT user_id, item_id FROM split WHERE test', 5) u, ev e
GROUP BY e.precision, e.recall, e.ndcg, e.map, e.hit_rate, e.mrr, e.auc, e.users;
-- a model fitted in memory scores exactly as the same model stored, and
-- nothing is written
SELECT count(*) AS versions_before FROM reco_model_version \gset
SELECT p.precision = e.precision AND p.recall = e.recall AND p.ndcg = e.ndcg AND p.map = e.map
	AND p.hit_rate = e.hit_rate AND p.mrr = e.mrr AND p.auc = e.auc AND p.coverage = e.coverage
	AND p.users = e.users AS same_as_stored
FROM reco_evaluate_params('SELECT user_id, item_id FROM split WHERE NOT test',
	'SELECT user_id, item_id FROM split WHERE test', '{"factors": 8, "iterations": 10}', 5) p, ev e;
SELECT count(*) = :versions_before AS nothing_written FROM reco_model_version;
-- a held-out user the model never saw is not evaluated; duplicates count once
SELECT users FROM reco_evaluate('evalm', 'SELECT 9999, 1 UNION ALL SELECT user_id, item_id FROM split WHERE test UNION ALL SELECT user_id, item_id FROM split WHERE test', 5);
-- a perfect list: relevant = exactly the user's top 5
SELECT precision, recall, ndcg, map, hit_rate, mrr
FROM reco_evaluate('evalm', 'SELECT 2, item_id FROM reco_recommend(2, 5, ''evalm'', available_only => false)', 5);
-- the NCF protocol: ranked among sampled negatives
SELECT cases, unscored, hit_rate > 0.5 AS useful
FROM reco_evaluate_sampled('evalm',
	'SELECT user_id, max(item_id) FROM split WHERE test GROUP BY 1 UNION ALL SELECT 9999, 1',
	'SELECT s.user_id, i FROM (SELECT DISTINCT user_id FROM split) s, generate_series(1, 40) i
	 WHERE NOT EXISTS (SELECT 1 FROM shop WHERE customer = s.user_id AND product = i)', 3);
-- a held-out item ranked below every negative is a miss; ties count against it
SELECT hit_rate, ndcg FROM reco_evaluate_sampled('evalm', 'SELECT 2, 2', 'SELECT 2, 2', 1);

-- cross-validation: mean and spread per metric; works from a fresh session
-- (before anything loaded the library)
\c
SET client_min_messages = warning;	-- progress stays on, unseen
SELECT metric, n, mean BETWEEN 0 AND 1 AS in_range, stddev >= 0 AS spread
FROM reco_cross_validate('SELECT customer, product FROM shop', '{"factors": 4, "iterations": 5}', 3)
ORDER BY metric;
RESET client_min_messages;
SET reco.progress = off;

-- tuning: every trial recorded, the winner trained on all data and served
SELECT trial, params, score > 0 AS scored, best
FROM reco_tune('tuned', 'SELECT customer, product FROM shop',
	'{"factors": [2, 8], "regularization": [0.1, 10]}', '{"iterations": 5}', folds => 2)
ORDER BY trial;
SELECT count(*) AS trials FROM reco_tune_trial WHERE model = 'tuned';
SELECT v.params @> t.params AS winner_served
FROM reco_versions v, (SELECT params, score = max(score) OVER () AS best_of_run
	FROM reco_tune_trial WHERE model = 'tuned') t
WHERE v.model = 'tuned' AND v.active AND t.best_of_run;
-- a long fit can be cancelled inside its sweeps (here by a timeout: 1,000
-- sweeps, some seconds of work, cut at 0.2 s)
\set VERBOSITY terse
SET statement_timeout = '200ms';
SELECT users FROM reco_evaluate_params(
	'SELECT u, i FROM generate_series(1, 400) u, generate_series(1, 100) i WHERE (u * i) % 7 < 3',
	'SELECT 1, 2', '{"factors": 64, "iterations": 1000}');
RESET statement_timeout;
\set VERBOSITY default
-- the trials are scored on top of the model's stored params, as the
-- winner is then trained: tuned_st keeps alpha 20 from its last training
SELECT (reco_train_agg(customer, product, 1::real, 'tuned_st', '{"alpha": 20, "iterations": 1}')).version
FROM shop;
SELECT t.score = s.mean AS scored_as_stored, t.score <> d.mean AS not_as_default
FROM reco_tune('tuned_st', 'SELECT customer, product FROM shop', '{"factors": [4]}',
	'{"iterations": 3}', folds => 2) t,
	reco_cross_validate('SELECT customer, product FROM shop', '{"factors": 4, "iterations": 3, "alpha": 20}',
		2, 10, 'stratified', 42) s,
	reco_cross_validate('SELECT customer, product FROM shop', '{"factors": 4, "iterations": 3}',
		2, 10, 'stratified', 42) d
WHERE s.metric = 'ndcg' AND d.metric = 'ndcg';
SELECT params->'alpha' AS served_alpha FROM reco_versions WHERE model = 'tuned_st' AND active;
SELECT reco_drop_model('tuned_st');
-- a model stored with a half-life is tuned on a source that gives the
-- events' times, and its winner trained with them
SELECT (reco_train_agg(customer, product, 1::real, at, 'tuned_hl',
	'{"half_life": "7 days", "iterations": 1}')).version
FROM shop;
SELECT count(*) AS trials, count(*) FILTER (WHERE best) AS best
FROM reco_tune('tuned_hl', 'SELECT customer, product, 1, at FROM shop', '{"factors": [2, 4]}',
	'{"iterations": 3}', folds => 2);
SELECT version, params->'half_life' AS half_life, params->'factors' AS factors
FROM reco_versions WHERE model = 'tuned_hl' AND active;
SELECT reco_drop_model('tuned_hl');
-- a source where some events have no time trains its winner without times
SELECT count(*) AS trials, count(*) FILTER (WHERE best) AS best
FROM reco_tune('tuned_part', 'SELECT customer, product, 1, CASE WHEN customer % 10 <> 0 THEN at END FROM shop',
	'{"factors": [2, 4]}', '{"iterations": 3}', folds => 2);
SELECT params ? 'half_life_origin' AS timed FROM reco_versions WHERE model = 'tuned_part' AND active;
SELECT reco_drop_model('tuned_part');
-- random search: a seeded sample of the grid
SELECT count(*) AS sampled FROM reco_tune('tuned', 'SELECT customer, product FROM shop',
	'{"factors": [2, 4, 8], "alpha": [1, 2]}', '{"iterations": 3}', trials => 2, folds => 1,
	activate => false);

-- versions: list, compare, roll back, drop
SELECT (reco_train_agg(user_id, item_id, 1::real, 'evalm', '{"factors": 2, "iterations": 2}')).version
FROM split WHERE NOT test;
SELECT version, active, factors, users, items, size IS NOT NULL AS sized, final_loss > 0 AS loss
FROM reco_versions WHERE model = 'evalm' ORDER BY version;
SELECT metric, difference = b - a AS consistent FROM reco_compare('evalm', 1, 2,
	'SELECT user_id, item_id FROM split WHERE test', 5);
-- 8 factors beat 2 on this data
SELECT metric FROM reco_compare('evalm', 1, 2, 'SELECT user_id, item_id FROM split WHERE test', 5)
WHERE metric = 'ndcg' AND a > b;
SELECT reco_activate('evalm', 1);
SELECT (SELECT ndcg FROM reco_evaluate('evalm', 'SELECT user_id, item_id FROM split WHERE test', 5))
	= (SELECT ndcg FROM ev) AS rolled_back;
-- a version that knows fewer users is compared on the users both know
SELECT (reco_train_agg(user_id, item_id, 1::real, 'evalm', '{"factors": 8, "iterations": 10}')).version
FROM split WHERE NOT test AND user_id <= 40;
SELECT metric, a, b FROM reco_compare('evalm', 1, 3, 'SELECT user_id, item_id FROM split WHERE test', 5)
WHERE metric = 'users';
SELECT reco_activate('evalm', 1);
SELECT reco_drop_version('evalm', 3);
SELECT reco_drop_version('evalm', 2);
SELECT (reco_train_agg(user_id, item_id, 1::real, 'evalm', '{"factors": 2, "iterations": 2}')).version
FROM split WHERE NOT test;
SELECT (reco_train_agg(user_id, item_id, 1::real, 'evalm', '{"factors": 2, "iterations": 2}')).version
FROM split WHERE NOT test;
SELECT reco_prune_versions('evalm', 1);
SELECT version, active FROM reco_versions WHERE model = 'evalm' ORDER BY version;

-- explain: the contributions add up to the score of the user's exact fold-in
SELECT reco_online_update(2, 1, 'view', 1, 'evalm');
SELECT abs(sum(contribution) - reco_score(2, 3, 'evalm')) < 1e-4 AS adds_up,
	abs(sum(share) - 1) < 1e-4 AS shares
FROM reco_explain(2, 3, 'evalm', 1000);
SELECT count(*) AS top3, bool_and(rank BETWEEN 1 AND 3) AS ranked FROM reco_explain(2, 3, 'evalm', 3);
SELECT count(*) AS unknown_user FROM reco_explain(9999, 3, 'evalm');
-- a user's own taste explains the most: items of the same half
SELECT bool_and(item_id <= 20) AS same_half FROM reco_explain(2, 3, 'evalm', 3);

-- a rating model: explicit feedback predicts the rating, RMSE and MAE judge it
CREATE TABLE rating AS
SELECT user_id, item_id, value, test FROM reco_split(
	'SELECT customer, product, 1 + (customer % 3) + (CASE WHEN product <= 20 THEN 2 ELSE 0 END) FROM shop',
	'random', 0.2, 1);
SELECT (reco_train_agg(user_id, item_id, value, 'rated',
	'{"feedback": "explicit", "factors": 4, "iterations": 10, "regularization": 0.05, "reg_exponent": 1}')).users
FROM rating WHERE NOT test;
SELECT params->>'feedback' AS feedback, factors AS stored_components FROM reco_versions WHERE model = 'rated';
SELECT online FROM reco_model WHERE name = 'rated';
-- far better than predicting the mean rating, and the score is the prediction
SELECT e.rmse < 0.2 * b.rmse AS beats_mean, e.mae <= e.rmse AS mae_le_rmse
FROM reco_evaluate('rated', 'SELECT user_id, item_id, value FROM rating WHERE test') e,
	(SELECT sqrt(avg((value - (SELECT avg(value) FROM rating WHERE NOT test)) ^ 2)) AS rmse
	 FROM rating WHERE test) b;
SELECT round(reco_score(3, 1, 'rated')) AS predicted_3_1, round(reco_score(4, 30, 'rated')) AS predicted_4_30;
-- ratings are not taken online: retrain instead; a trigger passes them by
SELECT reco_online_update(3, 1, 'rating', 5, 'rated');
SELECT * FROM reco_refresh('rated');
SELECT * FROM reco_explain(3, 1, 'rated');
CREATE TABLE stars (customer bigint, product bigint, stars int);
CREATE TRIGGER stars_online AFTER INSERT ON stars
	FOR EACH ROW EXECUTE FUNCTION reco_online_trigger('rated', 'customer', 'product', 'rating', 'stars');
INSERT INTO stars VALUES (3, 1, 5);
DROP TABLE stars;
-- ratings on any scale: negative ones count, a repeated pair is averaged
SELECT interactions, round(loss::numeric, 3) >= 0 AS trained
FROM (SELECT (reco_train_agg(u, i, r, 'rated', '{"feedback": "explicit", "factors": 2}')).*
	  FROM (VALUES (1, 1, -2.0), (1, 2, 1.0), (2, 1, -1.0), (2, 2, 2.0), (2, 2, 0.0)) v(u, i, r)) t;
SELECT round(avg(weights[array_position(items, 2::bigint)])::numeric, 3) AS averaged
FROM reco_user_factors WHERE user_id = 2
  AND version_id = (SELECT active_version FROM reco_model WHERE name = 'rated');
-- reco_train learns a rating model from the 'rating' events, whatever their weight
INSERT INTO reco_event (user_id, item_id, kind, value) VALUES
	(9001, 1, 'rating', 4), (9001, 2, 'rating', -1), (9002, 1, 'rating', 2), (9002, 1, 'rating', 4),
	(9002, 2, 'rating', 0), (9001, 3, 'purchase', 1);
SELECT interactions = (SELECT count(DISTINCT (user_id, item_id)) FROM reco_event WHERE kind = 'rating')
	AS every_rated_pair
FROM reco_train('rated', 'als', '{"feedback": "explicit", "factors": 2, "weights": {"rating": 0}}');
SELECT items, weights FROM reco_user_factors WHERE user_id = 9002
  AND version_id = (SELECT active_version FROM reco_model WHERE name = 'rated');
DELETE FROM reco_event WHERE user_id IN (9001, 9002);

SELECT reco_drop_model('evalm');
SELECT reco_drop_model('tuned');
SELECT reco_drop_model('rated');
DROP TABLE shop, split, ev, rating;
