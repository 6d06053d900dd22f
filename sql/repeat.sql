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

-- Forgetting a customer takes them out of the term's counts: each item's
-- customers and those who bought it more than once become what the events
-- left give (customer 42 alone bought item 500, twice: it leaves the term)
INSERT INTO reco_event (user_id, item_id, kind, ts)
VALUES (42, 500, 'purchase', '2024-02-01'), (42, 500, 'purchase', '2024-03-01');
SELECT 1 AS trained FROM reco_train('staples', 'als', '{"factors": 8}');
CREATE FUNCTION pg_temp.le(b bytea, o int, n int) RETURNS bigint LANGUAGE sql
AS $$ SELECT sum(get_byte(b, o + i)::bigint << (8 * i))::bigint FROM generate_series(0, n - 1) i $$;
-- the blob: a 16-byte head (format, weight, half-life), then (item int8,
-- customers int4, again int4) an item
CREATE TEMP VIEW term_counts AS
SELECT pg_temp.le(b.data, 16 + 16 * k, 8) AS item_id, pg_temp.le(b.data, 24 + 16 * k, 4) AS buyers,
	pg_temp.le(b.data, 28 + 16 * k, 4) AS again
FROM reco_model_blob b JOIN reco_model m ON m.active_version = b.version_id,
	generate_series(0, (length(b.data) - 16) / 16 - 1) k
WHERE m.name = 'staples' AND b.name = 'repeat';
CREATE TEMP VIEW event_counts AS
SELECT item_id, count(*) AS buyers, count(*) FILTER (WHERE n > 1) AS again
FROM (SELECT user_id, item_id, count(*) AS n FROM reco_event GROUP BY 1, 2) p GROUP BY item_id;
CREATE TEMP VIEW term_vs_events AS
SELECT count(t.item_id) AS items, count(*) FILTER (WHERE t.buyers IS DISTINCT FROM e.buyers
	OR t.again IS DISTINCT FROM e.again) AS differ,
	count(*) FILTER (WHERE item_id = 500 AND t.item_id IS NOT NULL) AS item_500
FROM term_counts t FULL JOIN event_counts e USING (item_id);
SELECT * FROM term_vs_events;
SELECT count(*) FILTER (WHERE item = 500) AS counted_500,
	count(*) FILTER (WHERE item = 3) AS counted_staple
FROM reco_user_factors f JOIN reco_model m ON m.active_version = f.version_id,
	unnest(f.counted) AS item
WHERE m.name = 'staples' AND f.user_id = 42;
SELECT again AS staple_again_before FROM term_counts WHERE item_id = 3;
SELECT events FROM reco_forget_user(42);
SELECT * FROM term_vs_events;
SELECT again AS staple_again_after FROM term_counts WHERE item_id = 3;
-- and the version serves with the term it rewrote
SELECT count(*) AS served FROM reco_recommend(43, 5, 'staples', exclude_seen => false);

-- Who counts is who the fit keeps: with quantities counted ("value":
-- "linear", kept for the retrainings below), 44's events on item 600 sum
-- to almost nothing (a purchase of 125,000, one of 0.00125, a return of
-- 125,000), so whether the pair survives the float sum decides both its
-- row and its count
INSERT INTO reco_event (user_id, item_id, kind, value, ts)
VALUES (44, 600, 'purchase', 125000, '2024-02-01'), (44, 600, 'purchase', 0.00125, '2024-02-02'),
	(44, 600, 'purchase', -125000, '2024-02-03');
SELECT 1 AS trained FROM reco_train('staples', 'als', '{"factors": 8, "value": "linear"}');
SELECT (SELECT count(*) FROM term_counts WHERE item_id = 600) =
	(SELECT count(*) FROM reco_user_factors f JOIN reco_model m ON m.active_version = f.version_id
	 WHERE m.name = 'staples' AND f.user_id = 44 AND 600 = ANY (f.items)) AS counted_as_kept;
DELETE FROM reco_event WHERE user_id = 44 AND item_id = 600;

-- A return after training takes an item out of the history but not out of
-- what the customer counted for: forgetting them still takes it out, and
-- every backend serves the recount.  45 and 55 buy item 6 every week; 45
-- returns 100 of it after the training
SELECT 1 AS trained FROM reco_train('staples', 'als', '{"factors": 8}');
INSERT INTO reco_event (user_id, item_id, kind, value) VALUES (45, 6, 'purchase', -100);
SELECT 6 = ANY (items) AS in_history, 6 = ANY (counted) AS counted
FROM reco_user_factors f JOIN reco_model m ON m.active_version = f.version_id
WHERE m.name = 'staples' AND f.user_id = 45;
SELECT again AS staple_6_again_before FROM term_counts WHERE item_id = 6;
SELECT item_id, score AS before FROM reco_recommend(55, 1, 'staples', exclude_seen => false) \gset
SELECT events FROM reco_forget_user(45);
SELECT again AS staple_6_again_after FROM term_counts WHERE item_id = 6;
SELECT * FROM term_vs_events;
SELECT score AS here FROM reco_recommend(55, 1, 'staples', exclude_seen => false) \gset
\c
SET reco.progress = off;
SELECT item_id = :item_id AS same_item, :'here'::real = score AS fresh_backend_agrees,
	:'here'::real <> :'before'::real AS moved
FROM reco_recommend(55, 1, 'staples', exclude_seen => false);

-- A term in the layout of development builds before the counts (three
-- floats, the ids, the propensities) is ignored with a warning, and a
-- forget, which cannot recount it, drops it
CREATE TABLE kept_blob AS SELECT b.* FROM reco_model_blob b
JOIN reco_model m ON m.active_version = b.version_id WHERE m.name = 'staples' AND b.name = 'repeat';
UPDATE reco_model_blob b SET data = '\x0000803f0000204100000000'::bytea || int8send(3) || float4send(0.5)
FROM kept_blob k WHERE b.version_id = k.version_id AND b.name = 'repeat';
\c
SET reco.progress = off;
SELECT count(*) AS served FROM reco_recommend(43, 5, 'staples', exclude_seen => false);
SELECT events > 0 AS forgotten FROM reco_forget_user(46);
SELECT count(*) AS old_term_left FROM reco_model_blob b JOIN kept_blob k USING (version_id, name);
DROP TABLE kept_blob;

-- A network's shortlist (reco.shortlist) is not used where buying again
-- lifts a customer's own items: those lists are the exact ones
SELECT 1 AS trained FROM reco_train('staples_net', 'mlp',
	'{"dim": 8, "hidden": [8], "epochs": 5, "validation": 0}');
SELECT (metrics->'repeat'->>'weight')::float8 > 0 AS net_fitted
FROM reco_model_version WHERE model = 'staples_net';
CREATE TEMP TABLE net_exact AS
SELECT g.u, r.item_id, r.rank, r.score FROM generate_series(1, 150) g(u),
	LATERAL reco_recommend(g.u, 10, 'staples_net', exclude_seen => false) r;
SET reco.shortlist = 5;
SELECT count(*) AS listed, count(e.u) AS as_exact
FROM generate_series(1, 150) g(u)
	CROSS JOIN LATERAL reco_recommend(g.u, 10, 'staples_net', exclude_seen => false) r
	LEFT JOIN net_exact e ON e.u = g.u AND e.item_id = r.item_id AND e.rank = r.rank
		AND e.score = r.score;
RESET reco.shortlist;
SELECT reco_drop_model('staples_net');

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
