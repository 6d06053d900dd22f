-- Item-item families ('itemknn', 'ease') and recommendations for a basket
SET reco.progress = off;
TRUNCATE reco_event, reco_item;

-- Two worlds: items 1-10 are bought together, and items 11-20; 60
-- customers each buy 5 items of one world (seeded)
SELECT setseed(0.77);
INSERT INTO reco_event (user_id, item_id, kind)
SELECT u, i, 'purchase'
FROM generate_series(1, 60) u,
	LATERAL (SELECT (u % 2) * 10 + 1 + (random() * 9)::int + 0 * u AS i
			 FROM generate_series(1, 8)) picks
GROUP BY u, i;
SELECT count(*) AS events, count(DISTINCT user_id) AS customers FROM reco_event;

-- Cosine neighbours (with shrinkage): each similarity is the one SQL
-- computes from the same purchases (weight 8 a purchase, summed)
SELECT * FROM reco_train('knn', 'itemknn', '{"similarity": "cosine", "shrink": 2}') \gset
WITH w AS (SELECT user_id, item_id, sum(8.0) AS w FROM reco_event GROUP BY 1, 2),
norms AS (SELECT item_id, sqrt(sum(w * w)) AS n FROM w GROUP BY 1),
pairs AS (
	SELECT a.item_id AS i, b.item_id AS j, sum(a.w * b.w) AS dot, count(*) AS common
	FROM w a JOIN w b USING (user_id) WHERE a.item_id <> b.item_id GROUP BY 1, 2),
expected AS (
	SELECT i, j, dot / (ni.n * nj.n) * common / (common + 2.0) AS sim
	FROM pairs JOIN norms ni ON ni.item_id = i JOIN norms nj ON nj.item_id = j)
SELECT count(*) AS compared,
	max(abs(s.score - e.sim)) < 1e-5 AS similarities_match,
	bool_and(s.item_id <= 10) AS neighbours_of_1_in_its_world
FROM reco_similar_items(1, 50, 'knn') s JOIN expected e ON e.i = 1 AND e.j = s.item_id;

-- A customer's score is their weights times their items' similarities
SELECT r.item_id > 10 AS own_world,
	abs(r.score - (SELECT sum(8.0 * s.score) FROM reco_event e,
				   LATERAL reco_similar_items(e.item_id, 100, 'knn') s
				   WHERE e.user_id = 1 AND s.item_id = r.item_id)) < 1e-3 AS score_is_the_sum
FROM reco_recommend(1, 3, 'knn') r;

-- BM25 (the default) and TF-IDF train, and keep each item's own world
SELECT * FROM reco_train('knn_bm25', 'itemknn') \gset
SELECT params->>'similarity' AS similarity, params->>'neighbors' AS neighbors
FROM reco_model_version WHERE model = 'knn_bm25';
SELECT bool_and(item_id > 10) AS bm25_world
FROM reco_similar_items(15, 5, 'knn_bm25');
SELECT * FROM reco_train('knn_tfidf', 'itemknn', '{"similarity": "tfidf", "neighbors": 3}') \gset
SELECT count(*) AS at_most_3, bool_and(item_id > 10) AS tfidf_world
FROM reco_similar_items(15, 10, 'knn_tfidf');

-- A basket: its items are folded in and never recommended, other items of
-- its world come first; the filters of reco_recommend apply
SELECT bool_and(item_id BETWEEN 3 AND 10) AS basket_world, count(*) AS n, min(source) AS source
FROM reco_recommend_items(ARRAY[1, 2], 5, 'knn');
SELECT count(*) AS excluded FROM reco_recommend_items(ARRAY[1, 2], 5, 'knn', exclude => ARRAY[3, 4, 5])
WHERE item_id IN (3, 4, 5);
SELECT item_id, source FROM reco_recommend_items(ARRAY[424242], 2, 'knn');
SELECT count(*) AS popular_for_empty FROM reco_recommend_items(ARRAY[NULL::bigint], 2, 'knn');
-- a known customer of the other world: their cart pulls this world in
SELECT count(*) FILTER (WHERE item_id <= 10) AS without_cart
FROM reco_recommend(2, 5, 'knn');
SELECT count(*) FILTER (WHERE item_id <= 10) > 0 AS with_cart
FROM reco_recommend_items(ARRAY[1, 2, 3, 4], 5, 'knn', user_id => 2);

-- Online: a new customer's first event changes their next answer at once
INSERT INTO reco_event (user_id, item_id, kind) VALUES (500, 12, 'purchase');
SELECT bool_and(item_id > 10) AS new_customer_world, min(source) AS source
FROM reco_recommend(500, 3, 'knn');
-- the same as the basket of that one item
SELECT array_agg(item_id ORDER BY rank) = (SELECT array_agg(item_id ORDER BY rank)
	FROM reco_recommend_items(ARRAY[12], 5, 'knn')) AS online_equals_basket
FROM reco_recommend(500, 5, 'knn');

-- Refresh recomputes the touched items' lists: a bridge between the worlds
INSERT INTO reco_event (user_id, item_id, kind)
SELECT u, i, 'purchase' FROM generate_series(600, 640) u, (VALUES (1), (20)) v(i);
SELECT count(*) AS bridge_before FROM reco_similar_items(1, 100, 'knn') WHERE item_id = 20;
SELECT events, items FROM reco_refresh('knn');
SELECT count(*) AS bridge_after FROM reco_similar_items(1, 100, 'knn') WHERE item_id = 20;

-- Explanations: each history item's weight times its similarity, exactly
SELECT abs(sum(contribution) - (SELECT score FROM reco_recommend(1, 1, 'knn'))) < 1e-2 AS explains_score
FROM reco_explain(1, (SELECT item_id FROM reco_recommend(1, 1, 'knn')), 'knn', 50);

-- Forgetting the bridge's customers recomputes the lists without them
SELECT count(*) AS forgotten FROM generate_series(600, 640) u, LATERAL reco_forget_user(u);
SELECT count(*) AS bridge_forgotten FROM reco_similar_items(1, 100, 'knn') WHERE item_id = 20;

-- EASE: for a large lambda, B is X'X / lambda off the diagonal (binary X)
SELECT * FROM reco_train('ease', 'ease', '{"lambda": 1000000, "neighbors": 30}') \gset
WITH x AS (SELECT DISTINCT user_id, item_id FROM reco_event),
co AS (SELECT b.item_id AS j, count(*) AS c FROM x a JOIN x b USING (user_id)
	   WHERE a.item_id = 1 AND b.item_id <> 1 GROUP BY 1)
SELECT count(*) > 5 AS compared,
	max(abs(s.score * 1000000 / co.c - 1)) < 0.01 AS matches_gram_over_lambda
FROM reco_similar_items(1, 30, 'ease') s JOIN co ON co.j = s.item_id;
SELECT * FROM reco_train('ease', 'ease', '{"lambda": 5}') \gset
SELECT bool_and(item_id BETWEEN 3 AND 10) AS ease_basket_world
FROM reco_recommend_items(ARRAY[1, 2], 5, 'ease');
INSERT INTO reco_event (user_id, item_id, kind) VALUES (701, 3, 'purchase');
SELECT events, items FROM reco_refresh('ease');

-- ALS's basket is its exact fold-in: a customer whose only events are
-- those cart events gets the same list
SELECT * FROM reco_train('als_b', 'als', '{"factors": 4}') \gset
INSERT INTO reco_event (user_id, item_id, kind) VALUES (700, 1, 'cart'), (700, 2, 'cart');
SELECT array_agg(item_id ORDER BY rank) = (SELECT array_agg(item_id ORDER BY rank)
	FROM reco_recommend_items(ARRAY[1, 2], 5, 'als_b')) AS als_basket_is_fold_in
FROM reco_recommend(700, 5, 'als_b');

-- Evaluation and tuning take the family by name
SELECT users > 0 AS evaluated, ndcg > 0 AS ranks
FROM reco_evaluate_params(
	'SELECT user_id, item_id, 1::real, ''purchase'' FROM reco_event WHERE event_id % 4 <> 0',
	'SELECT user_id, item_id FROM reco_event WHERE event_id % 4 = 0',
	'{"algorithm": "itemknn"}', 5);

SELECT metric, mean > 0 AS positive FROM reco_cross_validate(
	'SELECT user_id, item_id FROM reco_event', '{"algorithm": "ease", "lambda": 10}', 3)
WHERE metric = 'ndcg';
SELECT count(*) AS trials, count(*) FILTER (WHERE best) AS best
FROM reco_tune('knn_tuned', 'SELECT user_id, item_id FROM reco_event',
	'{"neighbors": [3, 20], "similarity": ["bm25", "cosine"]}', '{"algorithm": "itemknn"}', folds => 2);
SELECT algorithm FROM reco_model WHERE name = 'knn_tuned';

-- Bad input
SELECT * FROM reco_train('knn_bad', 'itemknn', '{"similarity": "jaccard"}');
SELECT * FROM reco_train('knn_bad', 'itemknn', '{"neighbors": 0}');
SELECT * FROM reco_train('knn_bad', 'itemknn', '{"feedback": "explicit"}');
SELECT * FROM reco_train('knn_bad', 'ease', '{"shrink": 1}');
SELECT * FROM reco_train('knn_bad', 'ease', '{"lambda": 0}');
SELECT * FROM reco_recommend_items(NULL, 5, 'knn');
SELECT * FROM reco_recommend_items(ARRAY[1], 0, 'knn');
SELECT * FROM reco_train('knn_bad', 'itemknn', '{"k1": -1}');
SELECT * FROM reco_train('knn_bad', 'itemknn', '{"b": 2}');
SELECT * FROM reco_train('knn_bad', 'itemknn', '{"shrink": -1}');
SELECT * FROM reco_train('knn_bad', 'ease', '{"fresh_boost": 1000}');
-- a basket is bounded, like a history
SELECT count(*) FROM reco_recommend_items(ARRAY(SELECT generate_series(1, 100001)::bigint), 5, 'knn');
-- a rating model folds nothing in, so it has no baskets
SELECT (reco_train_agg(user_id, item_id, 3, 'rated_b', '{"feedback": "explicit", "factors": 2}')).model
FROM reco_event;
SELECT * FROM reco_recommend_items(ARRAY[1], 5, 'rated_b');
SELECT reco_drop_model('rated_b');
-- EASE inverts items x items: a larger catalogue is refused before anything is allocated
SELECT reco_train_agg(i % 7, i, 1, 'ease_big', '{"algorithm": "ease", "repeat": false}')
FROM generate_series(1, 40001) i;

-- A customer whose stored history is empty and a basket the model does
-- not know: their state is the model's prior alone (no uninitialised scores)
UPDATE reco_user_factors SET items = '{}', weights = '{}'
WHERE user_id = 3 AND version_id IN (SELECT version_id FROM reco_model_version WHERE model IN ('knn', 'ease'));
SELECT count(*) AS n, bool_and(score >= 0 AND score < 1) AS prior_scores
FROM reco_recommend_items(ARRAY[424242], 5, 'knn', user_id => 3);
SELECT count(*) AS n, bool_and(score >= 0 AND score < 1) AS prior_scores
FROM reco_recommend_items(ARRAY[]::bigint[], 5, 'ease', user_id => 3);

-- ease: forgetting the only holder of an item removes it once; the
-- version's item count is its rows
INSERT INTO reco_event (user_id, item_id, kind) VALUES (800, 77, 'purchase'), (800, 1, 'purchase');
SELECT * FROM reco_train('ease', 'ease', '{"lambda": 5}') \gset
SELECT removed.items > 0 AS recomputed FROM reco_forget_user(800) removed;
SELECT v.n_items, (SELECT count(*) FROM reco_item_factors f WHERE f.version_id = v.version_id) AS item_rows
FROM reco_model_version v JOIN reco_model m ON m.active_version = v.version_id WHERE m.name = 'ease';

SELECT reco_drop_model(m) FROM unnest(ARRAY['knn', 'knn_bm25', 'knn_tfidf', 'ease', 'als_b', 'knn_tuned']) m;
TRUNCATE reco_event;
