-- The 'mlp' family: the seed's network as a recommender
SET reco.progress = off;
TRUNCATE reco_event, reco_item;

-- The seed's case: 100 customers x 10 items rated 1-5, generated from a
-- seeded two-factor taste plus noise; a fifth of the ratings held out
SELECT setseed(0.2024);
CREATE TEMP TABLE taste AS
SELECT u AS id, random() * 2 - 1 AS a, random() * 2 - 1 AS b FROM generate_series(1, 110) u;
CREATE TEMP TABLE trait AS
SELECT i AS id, random() * 2 - 1 AS a, random() * 2 - 1 AS b FROM generate_series(1, 10) i;
CREATE TEMP TABLE seed_case AS
SELECT u.id AS user_id, i.id AS item_id,
	greatest(1, least(5, round(3 + 1.6 * (u.a * i.a + u.b * i.b) + (random() - 0.5))))::real AS rating,
	(u.id * 7 + i.id * 3) % 5 = 0 AS test
FROM taste u, trait i WHERE u.id <= 100 ORDER BY u.id, i.id;
INSERT INTO reco_event (user_id, item_id, kind, value)
SELECT user_id, item_id, 'rating', rating FROM seed_case WHERE NOT test;
SELECT count(*) FILTER (WHERE NOT test) AS train, count(*) FILTER (WHERE test) AS test,
	min(rating), max(rating) FROM seed_case;

-- 10-10-1 hidden and output units over 5-wide embeddings (10 inputs from
-- the ids: no profiles or attributes here), MSE, Adam at 0.01, batch 10,
-- 100 epochs, L2 on the embedding rows, five training seeds: test MSE at
-- most 0.85 of the mean predictor's (0.76 when written)
CREATE TEMP TABLE runs (seed int, mse float8, baseline float8);
DO $$
DECLARE
	s int;
BEGIN
	FOR s IN 1..5 LOOP
		PERFORM reco_train('seed_case', 'mlp', jsonb_build_object(
			'feedback', 'explicit', 'dim', 5, 'hidden', jsonb_build_array(10, 10),
			'optimizer', 'adam', 'learning_rate', 0.01, 'batch_size', 10, 'epochs', 100,
			'validation', 0, 'dropout', 0, 'unknown_rate', 0, 'l2', 0.001, 'seed', s));
		INSERT INTO runs
		SELECT s, avg((reco_score(user_id, item_id, 'seed_case') - rating) ^ 2),
			avg(((SELECT avg(rating) FROM seed_case WHERE NOT test) - rating) ^ 2)
		FROM seed_case WHERE test;
	END LOOP;
END $$;
SELECT count(*) AS seeds, avg(mse / baseline) <= 0.85 AS beats_mean_predictor,
	count(DISTINCT round(mse::numeric, 6)) = 5 AS seeds_differ
FROM runs;

-- the same case with rating MF's regularisation (per example on the ids
-- and biases, L2 on the layers): stored with the version, and the network
-- still beats the mean predictor
SELECT version FROM reco_train('seed_l2', 'mlp', '{"feedback": "explicit", "dim": 5,
	"hidden": [10, 10], "learning_rate": 0.01, "batch_size": 10, "epochs": 100,
	"validation": 0, "dropout": 0, "unknown_rate": 0, "l2_id": 0.01, "l2_bias": 0.001,
	"l2_layers": 0.0001, "seed": 1}');
SELECT params->>'l2_id' AS l2_id, params->>'l2_bias' AS l2_bias,
	params->>'l2_layers' AS l2_layers
FROM reco_model_version WHERE model = 'seed_l2';
SELECT avg((reco_score(user_id, item_id, 'seed_l2') - rating) ^ 2) /
	avg(((SELECT avg(rating) FROM seed_case WHERE NOT test) - rating) ^ 2) <= 0.85
	AS beats_mean_predictor
FROM seed_case WHERE test;
SELECT reco_drop_model('seed_l2');

-- the version: family, resolved parameters, one loss per epoch that fell
SELECT version, algorithm, factors, n_users, n_items, n_interactions,
	params->'hidden' AS hidden, params->>'loss' AS loss, params->>'optimizer' AS optimizer,
	jsonb_array_length(metrics->'loss') AS epochs,
	(metrics->'loss'->>0)::float8 > (metrics->'loss'->>99)::float8 AS loss_fell
FROM reco_model_version WHERE model = 'seed_case' AND version = 5;
-- rows as the family lays them out: [p | f | b] per user, [q | f | b] per item
SELECT length(factors) / 4 AS user_floats, count(*) FROM reco_user_factors
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'seed_case')
GROUP BY 1;
SELECT name FROM reco_model_blob
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'seed_case') ORDER BY name;

-- a fixed seed gives the same network, bit for bit
SELECT reco_score(1, 1, 'seed_case') AS before \gset
SELECT version FROM reco_train('seed_case', 'mlp', '{}');
SELECT reco_score(1, 1, 'seed_case') = :'before'::real AS same_score;

-- serving: a known customer's top-k (seen items excluded), a score is a
-- forward pass, ranking agrees with scores
SELECT count(*) AS n, bool_and(source = 'personal') AS personal,
	bool_and(item_id NOT IN (SELECT item_id FROM seed_case WHERE user_id = 3 AND NOT test)) AS unseen
FROM reco_recommend(3, 5, 'seed_case');
SELECT bool_and(abs(r.score - reco_score(3, r.item_id, 'seed_case')) < 1e-5) AS rank_matches_score
FROM reco_rank(3, ARRAY[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'seed_case') r;
SELECT bool_and(abs(r.score - reco_score(3, r.item_id, 'seed_case')) < 1e-5) AS recommend_matches_score
FROM reco_recommend(3, 10, 'seed_case', exclude_seen => false) r;
SELECT count(*) AS similar FROM reco_similar_items(1, 3, 'seed_case');
-- a stranger without a profile gets the popular items
SELECT DISTINCT source FROM reco_recommend(12345, 3, 'seed_case');

-- Cold start through features: profiles and catalogue attributes
TRUNCATE reco_event;
INSERT INTO reco_item (item_id, title, category, brand, price, attributes)
SELECT i, 'item ' || i, CASE WHEN i % 2 = 0 THEN 'even' ELSE 'odd' END, 'b' || (i % 3),
	i * 10, jsonb_build_object('tags', jsonb_build_array('t' || (i % 4), 'all'))
FROM generate_series(1, 40) i;
-- customers of segment A buy even items, segment B odd ones; items 31-40
-- have no events at all
INSERT INTO reco_user (user_id, attributes)
SELECT u, jsonb_build_object('segment', CASE WHEN u % 2 = 0 THEN 'A' ELSE 'B' END, 'age', 30 + u % 5)
FROM generate_series(1, 220) u;
INSERT INTO reco_event (user_id, item_id, kind)
SELECT u, i, 'purchase' FROM generate_series(1, 200) u, generate_series(1, 30) i
WHERE (u + i) % 2 = 0 AND (u * 31 + i * 17) % 3 = 0;
SELECT version, users, items FROM reco_train('shop_mlp', 'mlp',
	'{"dim": 8, "hidden": [16], "epochs": 60, "validation": 0, "learning_rate": 0.01,
	  "unknown_rate": 0.2, "seed": 7}');
-- the catalogue's items without events are in the version, scored from attributes
SELECT count(*) AS cold_items FROM reco_item_factors
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'shop_mlp')
	AND popularity = 0;
-- a customer with only a profile (210: segment A) is served from it, and
-- the items of their segment's parity come first, cold ones included
SELECT DISTINCT source FROM reco_recommend(210, 10, 'shop_mlp');
SELECT count(*) FILTER (WHERE item_id % 2 = 0) >= 9 AS segment_a_even
FROM reco_recommend(210, 10, 'shop_mlp');
SELECT count(*) FILTER (WHERE item_id % 2 = 1) >= 9 AS segment_b_odd
FROM reco_recommend(211, 10, 'shop_mlp');
-- customer 4 bought the even items of brand b1 (4, 10, 16, 22, 28): of the
-- items with only attributes, the two even ones of brand b1 are in their top 10
SELECT count(*) FILTER (WHERE item_id IN (34, 40)) AS cold_matches
FROM reco_recommend(4, 10, 'shop_mlp');
-- cold items rank by their attributes for a known customer too
SELECT avg(score) FILTER (WHERE item_id % 2 = 0) > avg(score) FILTER (WHERE item_id % 2 = 1)
	AS cold_even_first_for_a
FROM reco_rank(4, ARRAY[31, 32, 33, 34, 35, 36, 37, 38, 39, 40], 'shop_mlp');

-- reco.shortlist: above it, a ranking passes through the layers only the
-- items the dot product and biases rank first among those it may list;
-- the others follow, in that order.  At the catalogue's size nothing
-- changes; at 5 of 40 items, customer 4's list (their own 5 items left
-- out) starts with 5 exact scores, and a filter that leaves none of the 5
-- still gives a whole list
CREATE TEMP TABLE exact_top AS SELECT * FROM reco_recommend(4, 10, 'shop_mlp');
SET reco.shortlist = 40;
SELECT count(*) AS same_as_exact
FROM reco_recommend(4, 10, 'shop_mlp') r JOIN exact_top e USING (item_id, rank, score);
SET reco.shortlist = 5;
SELECT count(*) AS listed,
	count(*) FILTER (WHERE abs(r.score - reco_score(4, r.item_id, 'shop_mlp')) < 1e-5
		AND r.rank <= 5) AS exact_first,
	count(*) FILTER (WHERE r.item_id IN (SELECT item_id FROM exact_top)) AS in_exact_top
FROM reco_recommend(4, 10, 'shop_mlp') r;
SELECT count(*) AS odd_listed FROM reco_recommend(4, 10, 'shop_mlp', category => 'odd');
-- for every customer, nothing from past the shortlist ranks above it
SELECT count(*) AS customers, count(*) FILTER (WHERE exact_first = 5) AS exact_first
FROM (SELECT u, count(*) FILTER (WHERE r.rank <= 5
		AND abs(r.score - reco_score(u, r.item_id, 'shop_mlp')) < 1e-5) AS exact_first
	  FROM generate_series(1, 220) u, reco_recommend(u, 10, 'shop_mlp') r GROUP BY u) x;
SET reco.shortlist = -1;
RESET reco.shortlist;
-- its ids (1-40) are dense, so they map to indexes by a table: ids outside
-- it, at both ends of bigint, are unknown, not wrapped into it
SELECT item_id, score IS NULL AS unknown
FROM reco_rank(4, ARRAY[-9223372036854775808, 0, 40, 42, 9223372036854775807], 'shop_mlp')
ORDER BY item_id;

-- Online: an event updates the customer's side in the inserting
-- transaction.  215 (segment B: odd items) buys three even items and is
-- recommended even ones at once; a new customer without a profile is served
-- after two events; the events wait in the queue for the item side
SELECT online FROM reco_model WHERE name = 'shop_mlp';
SELECT count(*) FILTER (WHERE item_id % 2 = 1) >= 9 AS odd_before
FROM reco_recommend(215, 10, 'shop_mlp');
BEGIN;
INSERT INTO reco_event (user_id, item_id, kind)
VALUES (215, 2, 'purchase'), (215, 4, 'purchase'), (215, 6, 'purchase');
SELECT count(*) FILTER (WHERE item_id % 2 = 0) >= 8 AS even_after,
	bool_and(source = 'personal') AS personal
FROM reco_recommend(215, 10, 'shop_mlp');
SELECT items FROM reco_user_factors WHERE user_id = 215;
COMMIT;
INSERT INTO reco_event (user_id, item_id, kind) VALUES (9999, 3, 'purchase'), (9999, 5, 'purchase');
SELECT count(*) FILTER (WHERE item_id % 2 = 1) >= 6 AS odd_for_newcomer,
	bool_and(source = 'personal') AS personal
FROM reco_recommend(9999, 10, 'shop_mlp');
SELECT count(*) AS queued FROM reco_pending p JOIN reco_model m ON p.version_id = m.active_version
WHERE m.name = 'shop_mlp';
-- a rating model is retrained, not updated online
SELECT reco_online_update(1, 1, 'rating', 5, 'seed_case');

-- reco_refresh takes the queue: item 41, new to the catalogue and first
-- sold after training, joins the version from its attributes and its first
-- customer; items the version was trained on keep their embeddings until
-- the next training
INSERT INTO reco_item (item_id, title, category, brand, price, attributes)
VALUES (41, 'item 41', 'odd', 'b2', 410, '{"tags": ["t1", "all"]}');
INSERT INTO reco_event (user_id, item_id, kind) VALUES (9999, 41, 'purchase');
SELECT reco_score(215, 2, 'shop_mlp') AS before_refresh \gset
SELECT events, items, new_items FROM reco_refresh('shop_mlp');
SELECT count(*) AS queued FROM reco_pending p JOIN reco_model m ON p.version_id = m.active_version
WHERE m.name = 'shop_mlp';
SELECT reco_score(215, 2, 'shop_mlp') = :'before_refresh'::real AS trained_items_kept;
SELECT popularity, length(factors) / 4 AS floats FROM reco_item_factors
WHERE item_id = 41 AND version_id = (SELECT active_version FROM reco_model WHERE name = 'shop_mlp');
SELECT count(*) AS served FROM reco_rank(211, ARRAY[41], 'shop_mlp') WHERE score IS NOT NULL;
SELECT events, items, new_items FROM reco_refresh('shop_mlp');

-- reco_explain: the customer's past items nearest to the item in the
-- network's item space; customer 4's items (4, 10, 16, 22, 28) explain 34
SELECT count(*) AS items, bool_and(item_id IN (4, 10, 16, 22, 28)) AS their_items,
	min(rank) = 1 AS ranked
FROM reco_explain(4, 34, 'shop_mlp', 3);
-- Evaluation and tuning fit in memory, writing nothing: "algorithm" names
-- the family.  Most customers 5, 10, 15 ... bought only items their
-- training lacks: an mlp serves them from their profile, so they count;
-- ALS knows only those with other events
SELECT users FROM reco_evaluate_params(
	'SELECT user_id, item_id FROM reco_event WHERE user_id % 5 <> 0 OR item_id % 3 <> 0',
	'SELECT user_id, item_id FROM reco_event WHERE user_id % 5 = 0 AND item_id % 3 = 0',
	'{"algorithm": "mlp", "dim": 8, "hidden": [16], "epochs": 30, "validation": 0,
	  "learning_rate": 0.01, "unknown_rate": 0.2, "seed": 7}', 10);
SELECT users FROM reco_evaluate_params(
	'SELECT user_id, item_id FROM reco_event WHERE user_id % 5 <> 0 OR item_id % 3 <> 0',
	'SELECT user_id, item_id FROM reco_event WHERE user_id % 5 = 0 AND item_id % 3 = 0',
	'{"factors": 8}', 10);
SELECT count(*) AS folds, bool_and(users > 0) AS evaluated
FROM reco_cross_validate_folds('SELECT user_id, item_id FROM reco_event',
	'{"algorithm": "mlp", "dim": 8, "hidden": [16], "epochs": 5}', 3, 10, 'random', 42);
SELECT count(*) AS versions FROM reco_model_version WHERE model NOT IN ('seed_case', 'shop_mlp');
SELECT * FROM reco_evaluate_params('SELECT user_id, item_id FROM reco_event',
	'SELECT user_id, item_id FROM reco_event', '{"algorithm": "knn"}', 10);
-- reco_train_agg trains the family the params name, and so reco_tune
-- tunes a network and activates the best trial
SELECT model, version, users FROM (SELECT (reco_train_agg(user_id, item_id, 1, 'agg_mlp',
	'{"algorithm": "mlp", "dim": 4, "hidden": [8], "epochs": 3}')).* FROM reco_event) t;
SELECT algorithm, source FROM reco_model WHERE name = 'agg_mlp';
SELECT count(*) AS trials, count(*) FILTER (WHERE best) AS best,
	count(DISTINCT params->>'dim') AS dims
FROM reco_tune('tuned_mlp', 'SELECT user_id, item_id FROM reco_event',
	'{"dim": [4, 8]}', '{"algorithm": "mlp", "hidden": [8], "epochs": 3}', folds => 2);
SELECT algorithm, active_version IS NOT NULL AS active FROM reco_model WHERE name = 'tuned_mlp';
SELECT reco_drop_model('agg_mlp'), reco_drop_model('tuned_mlp');

-- and a model keeps its family
SELECT * FROM reco_train('shop_mlp', 'als');
SELECT * FROM reco_train('shop_mlp', 'mlp', '{"algorithm": "als"}');

-- Parameters
SELECT * FROM reco_train('bad_mlp', 'mlp', '{"factors": 8}');
SELECT * FROM reco_train('bad_mlp', 'mlp', '{"hidden": []}');
SELECT * FROM reco_train('bad_mlp', 'mlp', '{"hidden": [8, 8, 8, 8, 8, 8, 8, 8]}');
SELECT * FROM reco_train('bad_mlp', 'mlp', '{"hidden": "wide"}');
SELECT * FROM reco_train('bad_mlp', 'mlp', '{"loss": "mse"}');
SELECT * FROM reco_train('bad_mlp', 'mlp', '{"activation": "softmax"}');
SELECT * FROM reco_train('bad_mlp', 'mlp', '{"learning_rate": 0}');
SELECT * FROM reco_train('bad_mlp', 'mlp', '{"dropout": 1}');
SELECT * FROM reco_train('bad_mlp', 'mlp', '{"l2_id": -0.1}');
SELECT * FROM reco_train('bad_mlp', 'mlp', '{"l2_bias": 11}');
SELECT * FROM reco_train('bad_mlp', 'mlp', '{"l2_layers": "strong"}');
-- a rating network with no rating events; a profile that is not an object
SELECT * FROM reco_train('bad_mlp', 'mlp', '{"feedback": "explicit"}');
\set VERBOSITY terse
INSERT INTO reco_user (user_id, attributes) VALUES (77777, '["gold"]');
\set VERBOSITY default

-- Forgetting a customer removes their row and their profile; items only
-- they touched no longer carry their events: one the catalogue has becomes
-- an untouched catalogue item (popularity 0), one it lacks leaves the
-- version, and the others' popularity counts the users left
INSERT INTO reco_item (item_id, title) VALUES (9002, 'only four bought this');
INSERT INTO reco_event (user_id, item_id, kind) VALUES (4, 9001, 'purchase'), (4, 9002, 'purchase');
SELECT version FROM reco_train('shop_mlp', 'mlp', '{"epochs": 2}');
SELECT popularity AS before_pop FROM reco_item_factors f JOIN reco_model m ON m.active_version = f.version_id
WHERE m.name = 'shop_mlp' AND f.item_id = 4 \gset
SELECT (reco_forget_user(4)).events > 0 AS forgot;
SELECT count(*) AS rows_left FROM reco_user_factors WHERE user_id = 4;
SELECT count(*) AS profile_left FROM reco_user WHERE user_id = 4;
SELECT f.item_id, CASE WHEN f.item_id = 4 THEN f.popularity = :before_pop - 1 END AS one_less,
	CASE WHEN f.item_id <> 4 THEN f.popularity END AS popularity
FROM reco_item_factors f JOIN reco_model m ON m.active_version = f.version_id
WHERE m.name = 'shop_mlp' AND f.item_id IN (4, 9001, 9002) ORDER BY 1;
SELECT v.n_items = (SELECT count(*) FROM reco_item_factors f WHERE f.version_id = v.version_id) AS n_items_agree
FROM reco_model_version v JOIN reco_model m ON m.active_version = v.version_id WHERE m.name = 'shop_mlp';
SELECT count(*) AS similar_to_forgotten_only FROM reco_similar_items(9001, 3, 'shop_mlp');

-- The dot product takes the feature bags too (feature_dot, default true,
-- stored with the version).  A version whose params lack the key was
-- trained before it existed and dotted the ids alone: it still scores so.
SELECT v.params->'feature_dot' AS default_feature_dot FROM reco_model_version v
JOIN reco_model m ON m.active_version = v.version_id WHERE m.name = 'shop_mlp';
SELECT * FROM reco_train('bad_mlp', 'mlp', '{"feature_dot": 1}');
SELECT version FROM reco_train('ids_dot', 'mlp',
	'{"dim": 8, "hidden": [16], "epochs": 5, "validation": 0, "seed": 7, "feature_dot": false}');
CREATE TABLE ids_dot_scores AS
SELECT item_id, score FROM reco_rank(6, ARRAY(SELECT generate_series(1, 40)::bigint), 'ids_dot');
UPDATE reco_model_version SET params = params - 'feature_dot' WHERE model = 'ids_dot';
\c
SET reco.progress = off;
SELECT count(*) AS items, max(abs(r.score - s.score)) < 1e-6 AS same_scores
FROM reco_rank(6, ARRAY(SELECT generate_series(1, 40)::bigint), 'ids_dot') r
JOIN ids_dot_scores s USING (item_id);
-- the same network with the features in its dot product scores otherwise
SELECT version FROM reco_train('feature_dot', 'mlp',
	'{"dim": 8, "hidden": [16], "epochs": 5, "validation": 0, "seed": 7}');
SELECT max(abs(r.score - s.score)) > 1e-3 AS scores_differ
FROM reco_rank(6, ARRAY(SELECT generate_series(1, 40)::bigint), 'feature_dot') r
JOIN ids_dot_scores s USING (item_id);
DROP TABLE ids_dot_scores;
SELECT reco_drop_model('ids_dot'), reco_drop_model('feature_dot');

SELECT * FROM reco_refresh('seed_case');
SELECT reco_drop_model('seed_case');
SELECT reco_drop_model('shop_mlp');
TRUNCATE reco_event, reco_item, reco_user;
