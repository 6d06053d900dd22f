-- Event hygiene at the edges of time: events at +-infinity or far from
-- today, explicit ratings, and the decay factor online
SET reco.progress = off;
SET TimeZone = 'UTC';
SET reco.online = off;
SELECT count(*) >= 0 AS dropped FROM (SELECT reco_drop_model(name) FROM reco_model) s;
TRUNCATE reco_event, reco_item;

INSERT INTO reco_event (user_id, item_id, kind, value, ts) VALUES
	(1, 10, 'purchase', 1, '2026-01-01'), (1, 11, 'purchase', 1, '2026-03-02'),
	(2, 10, 'purchase', 1, '2026-03-01'), (2, 12, 'purchase', 1, '2026-03-01'),
	(3, 11, 'purchase', 1, '2026-02-01'), (3, 12, 'purchase', 1, '2026-02-01');

-- a newest event far in the future (a typo's year) is still a time: the
-- version records it and loads, and serves, and learns online
INSERT INTO reco_event (user_id, item_id, kind, value, ts) VALUES (3, 10, 'purchase', 1, '2400-01-01');
SELECT version FROM reco_train('future', 'als', '{"factors": 2, "seed": 1, "half_life": "30 days"}');
SELECT to_timestamp((params->>'half_life_origin')::float8) AS origin
FROM reco_model_version WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'future');
SELECT count(*) AS served FROM reco_recommend(3, 3, 'future', exclude_seen => false);
SELECT reco_drop_model('future');
-- and so is one far in the past
UPDATE reco_event SET ts = ts - interval '1000 years';
SELECT version FROM reco_train('past', 'als', '{"factors": 2, "seed": 1, "half_life": "30 days"}');
SELECT to_timestamp((params->>'half_life_origin')::float8) AS origin
FROM reco_model_version WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'past');
SELECT count(*) AS served FROM reco_recommend(3, 3, 'past', exclude_seen => false);
SELECT reco_drop_model('past');
UPDATE reco_event SET ts = ts + interval '1000 years';
DELETE FROM reco_event WHERE ts = '2400-01-01';

-- an event at -infinity or infinity has no age: training with a
-- half-life refuses it (22008) rather than weigh it Infinity, or weigh
-- every other event 0
INSERT INTO reco_event (user_id, item_id, kind, value, ts) VALUES (3, 10, 'purchase', 1, '-infinity');
SELECT version FROM reco_train('inf', 'als', '{"factors": 2, "seed": 1, "half_life": "30 days"}');
UPDATE reco_event SET ts = 'infinity' WHERE ts = '-infinity';
SELECT version FROM reco_train('inf', 'als', '{"factors": 2, "seed": 1, "half_life": "30 days"}');
SELECT users FROM reco_evaluate_params('SELECT user_id, item_id, value, ts FROM reco_event',
	'SELECT user_id, item_id FROM reco_event', '{"factors": 2, "half_life": "30 days"}');
SELECT count(*) FROM reco_model WHERE name = 'inf';
SELECT count(*) >= 0 AS dropped FROM (SELECT reco_drop_model(name) FROM reco_model WHERE name = 'inf') s;

-- dedup_window alone takes them: an event at -infinity and one today are
-- not within a day of each other (two purchases, 16)
UPDATE reco_event SET ts = '-infinity' WHERE ts = 'infinity';
INSERT INTO reco_event (user_id, item_id, kind, value, ts) VALUES (3, 10, 'purchase', 1, '2026-02-01');
SELECT version FROM reco_train('dedup', 'als', '{"factors": 2, "seed": 1, "dedup_window": "1 day"}');
SELECT items, weights FROM reco_user_factors
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'dedup') AND user_id = 3;
SELECT reco_drop_model('dedup');
DELETE FROM reco_event WHERE user_id = 3 AND item_id = 10;

-- online, an event at -infinity weighs nothing (not 2^20 times its weight)
-- and one at infinity at most 2^20 times
SELECT version FROM reco_train('decayed', 'als', '{"factors": 2, "seed": 1, "half_life": "30 days"}');
SET reco.online = on;
INSERT INTO reco_event (user_id, item_id, kind, value, ts) VALUES (2, 11, 'purchase', 1, '-infinity');
INSERT INTO reco_event (user_id, item_id, kind, value, ts) VALUES (3, 10, 'purchase', 1, 'infinity');
SET reco.online = off;
SELECT user_id, items, weights FROM reco_user_factors
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'decayed') AND user_id IN (2, 3)
ORDER BY user_id;
DELETE FROM reco_event WHERE ts IN ('infinity', '-infinity');

-- a rating is not scaled by its age: explicit feedback refuses half_life
-- (22023) instead of learning a year-old 5 stars as 0.2
INSERT INTO reco_event (user_id, item_id, kind, value, ts) VALUES
	(1, 10, 'rating', 5, '2025-03-01'), (1, 11, 'rating', 4, '2026-03-01'),
	(2, 10, 'rating', 3, '2026-03-01'), (2, 12, 'rating', 5, '2026-03-01');
SELECT version FROM reco_train('rated', 'als',
	'{"feedback": "explicit", "factors": 2, "seed": 1, "half_life": "30 days"}');
SELECT users FROM reco_evaluate_params('SELECT user_id, item_id, value, ts FROM reco_event WHERE kind = ''rating''',
	'SELECT user_id, item_id, value FROM reco_event WHERE kind = ''rating''',
	'{"feedback": "explicit", "factors": 2, "half_life": "30 days"}');
-- without it the ratings keep their scale
SELECT version FROM reco_train('rated', 'als', '{"feedback": "explicit", "factors": 2, "seed": 1, "dedup_window": 60}');
SELECT items, weights FROM reco_user_factors
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'rated') AND user_id = 1;
