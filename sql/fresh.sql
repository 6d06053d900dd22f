-- New products first: fresh_days and fresh_boost
SET reco.progress = off;
TRUNCATE reco_event, reco_item;
INSERT INTO reco_item (item_id, created)
SELECT i, CASE WHEN i > 30 THEN now() - interval '2 days' ELSE timestamptz '2020-01-01' END
FROM generate_series(1, 35) i;
-- and one of last month
INSERT INTO reco_item (item_id, created) VALUES (36, now() - interval '8 days');
-- items 1-30 have years of views; the five new ones a few
SELECT setseed(0.9);
INSERT INTO reco_event (user_id, item_id, kind)
SELECT u, 1 + (random() * random() * 29)::int, 'view'
FROM generate_series(1, 100) u, generate_series(1, 12);
INSERT INTO reco_event (user_id, item_id, kind)
SELECT u, 31 + u % 6, 'view' FROM generate_series(1, 12) u;

SELECT * FROM reco_train('plain', 'als', '{"factors": 8, "repeat": false}') \gset
SELECT * FROM reco_train('boosted', 'als', '{"factors": 8, "repeat": false, "fresh_days": 7, "fresh_boost": 1}') \gset
SELECT m, count(DISTINCT r.item_id) FILTER (WHERE r.item_id BETWEEN 31 AND 35) AS fresh_items_shown,
	count(*) FILTER (WHERE r.item_id BETWEEN 31 AND 35) AS fresh_slots
FROM unnest(ARRAY['plain', 'boosted']) m, generate_series(13, 100) u,
	LATERAL reco_recommend(u, 5, m) r
GROUP BY m ORDER BY m DESC;
-- the boost raises fresh items only
SELECT bool_and(CASE WHEN r.item_id BETWEEN 31 AND 35 THEN r.score > reco_score(50, r.item_id, 'boosted')
	ELSE abs(r.score - reco_score(50, r.item_id, 'boosted')) < 1e-6 END) AS fresh_raised_only
FROM reco_recommend(50, 30, 'boosted') r;
-- an item created 8 days ago is not fresh within 7
SELECT count(*) AS old_boosted
FROM reco_recommend(50, 36, 'boosted') r
WHERE r.item_id = 36 AND r.score > reco_score(50, 36, 'boosted') + 1e-6;

SELECT * FROM reco_train('bad', 'als', '{"fresh_days": -1}');
SELECT reco_drop_model(m) FROM unnest(ARRAY['plain', 'boosted']) m;
TRUNCATE reco_event, reco_item;
