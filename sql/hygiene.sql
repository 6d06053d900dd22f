-- Event hygiene at training: half_life (time decay), dedup_window
-- (repeats of a (user, item, kind) within a window count once), max_weight
SET reco.progress = off;
SET TimeZone = 'UTC';
SET reco.online = off;
TRUNCATE reco_event, reco_item;

-- user 1 bought item 10 sixty days before their (and everyone's) newest
-- event, item 11 at it; users 2-4 give the items company
INSERT INTO reco_event (user_id, item_id, kind, value, ts) VALUES
	(1, 10, 'purchase', 1, '2026-01-01'), (1, 11, 'purchase', 1, '2026-03-02'),
	(2, 10, 'purchase', 1, '2026-03-01'), (2, 12, 'purchase', 1, '2026-03-01'),
	(3, 11, 'purchase', 1, '2026-02-01'), (3, 12, 'purchase', 1, '2026-02-01'),
	(4, 10, 'view', 1, '2026-02-15'), (4, 11, 'view', 1, '2026-02-15');

-- without decay both of user 1's purchases weigh 8 (the purchase weight)
SELECT version, users, items FROM reco_train('plain', 'als', '{"factors": 2, "seed": 1}');
SELECT items, weights FROM reco_user_factors
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'plain') AND user_id = 1;

-- with a half-life of 30 days the older one, two half-lives before the
-- newest event, weighs 8 / 4 = 2; the interval may be given as text or
-- as seconds, and the version records seconds
SELECT version FROM reco_train('decayed', 'als', '{"factors": 2, "seed": 1, "half_life": "30 days"}');
SELECT items, weights FROM reco_user_factors
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'decayed') AND user_id = 1;
SELECT params->'half_life' AS half_life, params->'dedup_window' AS dedup_window,
	to_timestamp((params->>'half_life_origin')::float8) AS half_life_origin
FROM reco_model_version WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'decayed');
SELECT version FROM reco_train('decayed_s', 'als', '{"factors": 2, "seed": 1, "half_life": 2592000}');
SELECT a.weights = b.weights AS same_weights, a.factors = b.factors AS same_factors
FROM reco_user_factors a JOIN reco_user_factors b USING (user_id)
WHERE a.version_id = (SELECT active_version FROM reco_model WHERE name = 'decayed')
  AND b.version_id = (SELECT active_version FROM reco_model WHERE name = 'decayed_s')
  AND user_id = 1;

-- the decay changes the model: user 1's scores move toward the recent item
SELECT round((reco_score(1, 11, 'decayed') - reco_score(1, 10, 'decayed'))::numeric, 3) >
       round((reco_score(1, 11, 'plain') - reco_score(1, 10, 'plain'))::numeric, 3) AS recent_gains;

-- online, an event weighs what it will weigh against the trained ones at
-- the next training: the stored weights are relative to the newest
-- training event (the version's half_life_origin), so a purchase one
-- half-life after it weighs 2 x 8 = 16 (added to item 10's 2), and one
-- backfilled a half-life before it 8 / 2 = 4
SET reco.online = on;
INSERT INTO reco_event (user_id, item_id, kind, value, ts) VALUES (1, 10, 'purchase', 1, '2026-04-01');
INSERT INTO reco_event (user_id, item_id, kind, value, ts) VALUES (1, 12, 'purchase', 1, '2026-01-31');
SET reco.online = off;
SELECT items, weights FROM reco_user_factors
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'decayed') AND user_id = 1;
-- the model trained without half_life takes both at full weight
SELECT items, weights FROM reco_user_factors
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'plain') AND user_id = 1;
DELETE FROM reco_event WHERE ts IN ('2026-04-01', '2026-01-31');

-- dedup_window: user 5 buys item 12 three times within an hour (a double
-- click, a retried order) and once more two days later; with a window of a
-- day that is two purchases (16), without it four (32)
INSERT INTO reco_event (user_id, item_id, kind, value, ts) VALUES
	(5, 12, 'purchase', 1, '2026-02-10 10:00'), (5, 12, 'purchase', 1, '2026-02-10 10:20'),
	(5, 12, 'purchase', 1, '2026-02-10 10:40'), (5, 12, 'purchase', 1, '2026-02-12 10:00'),
	(5, 11, 'view', 1, '2026-02-10 10:00'), (5, 11, 'view', 1, '2026-02-10 10:01');
SELECT version FROM reco_train('dup', 'als', '{"factors": 2, "seed": 1, "dedup_window": "1 day"}');
SELECT version FROM reco_train('nodup', 'als', '{"factors": 2, "seed": 1}');
SELECT m.name, items, weights FROM reco_user_factors f
JOIN reco_model m ON f.version_id = m.active_version
WHERE m.name IN ('dup', 'nodup') AND user_id = 5 ORDER BY m.name;

-- a model trained with the window on the duplicates is the model trained
-- on one event per burst: bit for bit
DELETE FROM reco_event WHERE user_id = 5 AND ts IN ('2026-02-10 10:20', '2026-02-10 10:40', '2026-02-10 10:01');
SELECT version FROM reco_train('single', 'als', '{"factors": 2, "seed": 1}');
SELECT count(*) AS items, count(*) FILTER (WHERE a.factors = b.factors) AS identical
FROM reco_item_factors a JOIN reco_item_factors b USING (item_id)
WHERE a.version_id = (SELECT active_version FROM reco_model WHERE name = 'dup')
  AND b.version_id = (SELECT active_version FROM reco_model WHERE name = 'single');

-- a return (a negative value) inside the window is never dropped: it still
-- cancels its purchase
INSERT INTO reco_event (user_id, item_id, kind, value, ts) VALUES
	(6, 10, 'purchase', 1, '2026-02-20 09:00'), (6, 10, 'purchase', -1, '2026-02-20 09:05'),
	(6, 11, 'purchase', 1, '2026-02-20 09:00');
SELECT version FROM reco_train('dup', 'als', '{}');
SELECT items, weights FROM reco_user_factors
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'dup') AND user_id = 6;

-- max_weight caps one customer's summed weight for an item in the solve:
-- a bulk buyer (user 7, 500 units of item 12, each unit counted: "value":
-- "linear") counts as 10
INSERT INTO reco_event (user_id, item_id, kind, value, ts) VALUES
	(7, 12, 'purchase', 500, '2026-02-21'), (7, 10, 'purchase', 1, '2026-02-21');
SELECT version FROM reco_train('capped', 'als', '{"factors": 2, "seed": 1, "max_weight": 10, "value": "linear"}');
SELECT version FROM reco_train('capped_same', 'als', '{"factors": 2, "seed": 1, "max_weight": 10, "value": "linear"}');
UPDATE reco_event SET value = 1.25 WHERE user_id = 7 AND item_id = 12;
SELECT version FROM reco_train('small', 'als', '{"factors": 2, "seed": 1, "max_weight": 10, "value": "linear"}');
-- the history keeps the whole sum; the item factors equal a buyer of 10
SELECT items, weights FROM reco_user_factors
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'capped') AND user_id = 7;
SELECT count(*) AS items, count(*) FILTER (WHERE a.factors = b.factors) AS identical
FROM reco_item_factors a JOIN reco_item_factors b USING (item_id)
WHERE a.version_id = (SELECT active_version FROM reco_model WHERE name = 'capped')
  AND b.version_id = (SELECT active_version FROM reco_model WHERE name = 'small');

-- every family reads the same cleaned events: an 'mlp' model's histories
SELECT version FROM reco_train('net', 'mlp',
	'{"dim": 4, "hidden": [4], "epochs": 1, "validation": 0, "half_life": "30 days", "dedup_window": "1 day"}');
SELECT user_id, items, weights FROM reco_user_factors
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'net') AND user_id IN (1, 5)
ORDER BY user_id;

-- the evaluation functions take the time as the event query's fourth column
SELECT users FROM reco_evaluate_params(
	'SELECT user_id, item_id, value, ts FROM reco_event',
	'SELECT user_id, item_id FROM reco_event', '{"factors": 2, "half_life": "30 days", "dedup_window": 3600}');

-- and reco_train_agg as its argument ts (a purchase weighing 8, as above):
-- user 1's older purchase is decayed as in reco_train
SELECT (reco_train_agg(user_id, item_id, 8, ts, 'decayed_agg',
	'{"factors": 2, "seed": 1, "half_life": "30 days"}')).version
FROM reco_event WHERE kind = 'purchase';
SELECT items, weights FROM reco_user_factors
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'decayed_agg') AND user_id = 1;
SELECT to_timestamp((params->>'half_life_origin')::float8) AS half_life_origin
FROM reco_model WHERE name = 'decayed_agg';

-- errors: each is 22023 (invalid_parameter_value), and trains nothing
DO $$
DECLARE
	p text;
BEGIN
	FOREACH p IN ARRAY ARRAY['{"half_life": "fortnight"}', '{"half_life": -1}', '{"half_life": 0.5}',
							 '{"dedup_window": "200 years"}', '{"dedup_window": [60]}'] LOOP
		BEGIN
			PERFORM reco_train('bad', 'als', p::jsonb);
			RAISE EXCEPTION '% was accepted', p;
		EXCEPTION WHEN invalid_parameter_value THEN
			RAISE NOTICE '% -> %: %', p, SQLSTATE, SQLERRM;
		END;
	END LOOP;
END
$$;
SELECT * FROM reco_train('bad', 'als', '{"half_life": "fortnight"}');
SELECT * FROM reco_train('bad', 'mlp', '{"half_life": true}');
SELECT reco_train_agg(user_id, item_id, 1, 'bad', '{"half_life": "30 days"}') FROM reco_event;
SELECT reco_train_agg(user_id, item_id, 1, NULL::timestamptz, 'bad', '{"half_life": "30 days"}')
FROM reco_event;
-- a time in some rows and not in others (22004)
SELECT reco_train_agg(user_id, item_id, 1, CASE WHEN user_id = 1 THEN ts END, 'bad', '{}')
FROM reco_event;
SELECT users FROM reco_evaluate_params('SELECT user_id, item_id FROM reco_event',
	'SELECT user_id, item_id FROM reco_event', '{"dedup_window": 60}');
SELECT count(*) FROM reco_model WHERE name = 'bad';
-- 0 turns them off again
SELECT version FROM reco_train('decayed', 'als', '{"half_life": 0}');
SELECT params->'half_life' AS half_life FROM reco_model WHERE name = 'decayed';
