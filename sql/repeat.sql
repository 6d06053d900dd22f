-- Buying again: the repeat-purchase term reco_train fits on the latest
-- tenth of the events, blended in when a customer's own items may come back
SET reco.progress = off;
TRUNCATE reco_event, reco_item;

-- A shop of consumables: 150 customers, each with a staple of their own
-- among items 1-10 bought every week, and one-off gifts among 11-110
SELECT setseed(0.5);
INSERT INTO reco_event (user_id, item_id, kind, ts)
SELECT u, 1 + u % 10, 'purchase', timestamptz '2024-01-01' + w * interval '7 days' + u * interval '1 minute'
FROM generate_series(1, 150) u, generate_series(0, 19) w;
INSERT INTO reco_event (user_id, item_id, kind, ts)
SELECT u, 11 + (random() * 99)::int, 'purchase',
	timestamptz '2024-01-01' + (random() * 140) * interval '1 day'
FROM generate_series(1, 150) u, generate_series(1, 6) g;

SELECT * FROM reco_train('staples', 'als', '{"factors": 8}') \gset
SELECT (metrics->'repeat'->>'weight')::float8 > 0 AS fitted,
	(metrics->'repeat'->>'ndcg')::float8 > (metrics->'repeat'->>'ndcg_without')::float8 AS helps,
	(metrics->'repeat'->>'customers')::int > 100 AS judged
FROM reco_model_version WHERE model = 'staples';
SELECT count(*) AS term_stored FROM reco_model_blob b
JOIN reco_model m ON m.active_version = b.version_id
WHERE m.name = 'staples' AND b.name = 'repeat';

-- with the customer's items allowed, their staple comes first
SELECT count(*) FILTER (WHERE r.item_id = 1 + u % 10) AS staple_first
FROM generate_series(1, 150) u,
	LATERAL reco_recommend(u, 1, 'staples', exclude_seen => false) r;
-- the term moves only their own items: other scores are the model's
SELECT bool_and(abs(r.score - reco_score(42, r.item_id, 'staples')) < 1e-6) AS others_untouched
FROM reco_recommend(42, 20, 'staples', exclude_seen => false) r
WHERE r.item_id NOT IN (SELECT item_id FROM reco_event WHERE user_id = 42);
SELECT bool_and(r.score > reco_score(42, r.item_id, 'staples')) AS own_items_raised
FROM reco_recommend(42, 20, 'staples', exclude_seen => false) r
WHERE r.item_id IN (SELECT item_id FROM reco_event WHERE user_id = 42);
-- and not at all when they are excluded
SELECT bool_and(abs(r.score - reco_score(42, r.item_id, 'staples')) < 1e-6) AS excluded_untouched
FROM reco_recommend(42, 10, 'staples') r;

-- "repeat": false keeps no term
SELECT * FROM reco_train('staples_off', 'als', '{"factors": 8, "repeat": false}') \gset
SELECT metrics ? 'repeat' AS fitted, params->>'repeat' AS repeat
FROM reco_model_version WHERE model = 'staples_off';
SELECT count(*) FILTER (WHERE r.item_id = 1 + u % 10) AS staple_first_without
FROM generate_series(1, 150) u,
	LATERAL reco_recommend(u, 1, 'staples_off', exclude_seen => false) r;

-- A shop whose items are never bought again: the fitted weight is 0
TRUNCATE reco_event;
INSERT INTO reco_event (user_id, item_id, kind, ts)
SELECT u, 1 + ((u * 7 + g * 13) % 120), 'purchase', timestamptz '2024-01-01' + (u + g * 150) * interval '1 hour'
FROM generate_series(1, 150) u, generate_series(1, 6) g;
SELECT * FROM reco_train('gifts', 'itemknn') \gset
SELECT (metrics->'repeat'->>'weight')::float8 AS weight
FROM reco_model_version WHERE model = 'gifts';
SELECT count(*) AS term_stored FROM reco_model_blob b
JOIN reco_model m ON m.active_version = b.version_id
WHERE m.name = 'gifts' AND b.name = 'repeat';

SELECT * FROM reco_train('gifts', 'itemknn', '{"repeat": 1}');

SELECT reco_drop_model(m) FROM unnest(ARRAY['staples', 'staples_off', 'gifts']) m;
TRUNCATE reco_event;

-- its fit counts toward reco.max_train_memory like the training's own
CREATE TEMP TABLE many AS
SELECT (i % 5000)::bigint AS u, (i * 7919) % 20000 AS i FROM generate_series(1, 300000::bigint) i;
SET reco.max_train_memory = '24MB';
SELECT reco_train_agg(u, i, 1, 'big', '{"factors": 4}') FROM many;
RESET reco.max_train_memory;
