-- Online learning: each event re-solves its user inside its own transaction
SET reco.progress = off;
SELECT version FROM reco_train('live', 'als',
	'{"factors": 4, "iterations": 10, "regularization": 0.05, "alpha": 4, "value": "linear"}');
CREATE FUNCTION pg_temp.history(u bigint, m text DEFAULT 'live') RETURNS bigint[] LANGUAGE sql AS
$$ SELECT items FROM reco_user_factors
   WHERE version_id = (SELECT active_version FROM reco_model WHERE name = m) AND user_id = u $$;

-- user 2 has every kitchen item but the toaster (102): it comes first
SELECT item_id FROM reco_recommend(2, 1, 'live');
-- a purchase inserted in a transaction is seen by the next query of it
BEGIN;
INSERT INTO reco_event (user_id, item_id, kind) VALUES (2, 102, 'purchase');
SELECT pg_temp.history(2);
SELECT item_id <> 102 AS toaster_gone FROM reco_recommend(2, 1, 'live');
SELECT user_id, item_id, weight FROM reco_pending
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'live');
ROLLBACK;
-- a rolled-back event leaves no trace
SELECT pg_temp.history(2);
SELECT count(*) AS pending FROM reco_pending;
SELECT item_id FROM reco_recommend(2, 1, 'live');

-- a new user is served personally after one event
SELECT source FROM reco_recommend(77, 1, 'live');
INSERT INTO reco_event (user_id, item_id, kind) VALUES (77, 201, 'purchase');
SELECT pg_temp.history(77);
SELECT item_id, rank, source FROM reco_recommend(77, 3, 'live');

-- the fold-in is exact from the whole history: the order of events does not matter
SELECT reco_online_update(80, 201, 'purchase', 1, 'live'), reco_online_update(80, 203, 'view', 2, 'live');
SELECT reco_online_update(81, 203, 'view', 2, 'live'), reco_online_update(81, 201, 'purchase', 1, 'live');
SELECT max(abs(reco_score(80, i, 'live') - reco_score(81, i, 'live'))) < 1e-5 AS same_scores
FROM unnest(ARRAY[101, 102, 103, 104, 105, 201, 202, 203, 204]) i;
-- repeated events accumulate; a return that cancels them removes the item
SELECT reco_online_update(82, 202, 'view', 1, 'live'), reco_online_update(82, 202, 'view', 1, 'live');
SELECT items, weights FROM reco_user_factors
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'live') AND user_id = 82;
SELECT reco_online_update(82, 202, 'view', -2, 'live');
SELECT items, weights FROM reco_user_factors
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'live') AND user_id = 82;
-- an item the model does not know yet is kept in the history and queued
SELECT reco_online_update(83, 999, 'purchase', 1, 'live');
SELECT pg_temp.history(83), (SELECT count(*) FROM reco_pending WHERE item_id = 999) AS queued;
-- with no item it can score yet, the user is served the popular items
SELECT source FROM reco_recommend(83, 1, 'live');
-- a kind the model weighs 0 is ignored
SELECT version FROM reco_train('no_search', 'als',
	'{"factors": 2, "iterations": 2, "weights": {"search": 0}}');
SELECT reco_online_update(84, 201, 'search', 1, 'no_search') AS applied;
SELECT pg_temp.history(84, 'no_search') IS NULL AS untouched;
-- the cost per event is bounded by the model's "history" window: the fold-in
-- solves over the latest items, and the stored history keeps every one
SELECT version FROM reco_train('window', 'als',
	'{"factors": 4, "iterations": 10, "regularization": 0.05, "alpha": 4, "history": 2}');
SELECT params->>'history' AS history FROM reco_model WHERE name = 'window';
SELECT reco_online_update(85, i, 'view', 1, 'window') FROM unnest(ARRAY[101, 102, 103, 104]) i;
SELECT reco_online_update(88, i, 'view', 1, 'window') FROM unnest(ARRAY[103, 104]) i;
SELECT pg_temp.history(85, 'window') AS kept,
	(SELECT a.factors = b.factors FROM reco_user_factors a, reco_user_factors b, reco_model m
	 WHERE m.name = 'window' AND a.version_id = m.active_version AND b.version_id = m.active_version
	   AND a.user_id = 85 AND b.user_id = 88) AS solved_over_latest_two;
-- a touched item moves to the end: it is the most recent
SELECT reco_online_update(85, 101, 'view', 1, 'window');
SELECT pg_temp.history(85, 'window') AS reordered;
SELECT reco_drop_model('window');

-- one event updates every online model trained on reco_event, not others
UPDATE reco_model SET online = false WHERE name = 'no_search';
DELETE FROM reco_pending;
INSERT INTO reco_event (user_id, item_id, kind) VALUES (86, 104, 'cart');
SELECT m.name, (SELECT count(*) FROM reco_pending p WHERE p.version_id = m.active_version) AS events
FROM reco_model m ORDER BY 1;
-- a session can pause online learning (bulk loads)
SET reco.online = off;
INSERT INTO reco_event (user_id, item_id, kind) VALUES (87, 104, 'cart');
SELECT pg_temp.history(87) IS NULL AS paused;
RESET reco.online;

-- a shop's own table, with its own columns, feeds a model through the trigger
CREATE TABLE orders (order_id serial, customer int, product bigint, qty int);
CREATE TRIGGER orders_reco AFTER INSERT ON orders
	FOR EACH ROW EXECUTE FUNCTION reco_online_trigger('live', 'customer', 'product', 'purchase', 'qty');
INSERT INTO orders (customer, product, qty) VALUES (88, 203, 3), (88, 204, 1);
SELECT items, weights FROM reco_user_factors
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'live') AND user_id = 88;

-- reco_refresh catches the item side up: touched items are re-solved, the
-- unknown item 999 gets its first vector, and a new revision is published
SELECT reco_online_update(90, 201, 'purchase', 1, 'live'), reco_online_update(90, 999, 'purchase', 1, 'live');
SELECT count(*) > 0 AS queued FROM reco_pending
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'live');
SELECT revision AS before FROM reco_model_version
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'live') \gset
SELECT events, items, new_items FROM reco_refresh('live');
SELECT revision > :before AS new_revision, n_items FROM reco_model_version
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'live');
SELECT count(*) AS queued FROM reco_pending
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'live');
SELECT item_id, popularity FROM reco_item_factors
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'live') AND item_id = 999;
-- the new item is now served (the cache reloaded on the new revision)
SELECT count(*) AS similar FROM reco_similar_items(999, 3, 'live');
SELECT reco_score(90, 999, 'live') > 0 AS scored;
-- a catalogue item nobody has touched gets a vector from its attributes
-- (category, brand, title words) and can be recommended at once
INSERT INTO reco_item (item_id, title, category) VALUES (106, 'red kettle deluxe', 'kitchen'),
	(107, 'unheard of thing', NULL);
SELECT events, items, new_items, cold_items FROM reco_refresh('live');
SELECT item_id, popularity, prior = factors AS from_attributes FROM reco_item_factors
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'live') AND item_id IN (106, 107);
SELECT array_agg(item_id ORDER BY item_id) AS neighbours
FROM reco_similar_items(106, 3, 'live');
SELECT rank <= 3 AS near_the_top FROM reco_recommend(2, 9, 'live') WHERE item_id = 106;
-- once bought, its vector moves from the attributes toward the behaviour,
-- pulled toward its prior rather than toward zero
SELECT reco_online_update(2, 106, 'purchase', 1, 'live');
SELECT events, items, new_items, cold_items FROM reco_refresh('live');
SELECT popularity, prior <> factors AS moved FROM reco_item_factors
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'live') AND item_id = 106;
SELECT count(*) FILTER (WHERE item_id < 200) >= 2 AS still_kitchen
FROM reco_similar_items(106, 3, 'live');
DELETE FROM reco_item WHERE item_id >= 106;
-- an empty queue is a no-op; with nothing new in the catalogue the refresh
-- skips the attribute scan, and a new item later still gets its vector
SELECT events, items, new_items, cold_items FROM reco_refresh('live');
INSERT INTO reco_item (item_id, title, category) VALUES (108, 'blue kettle', 'kitchen');
SELECT events, items, new_items, cold_items FROM reco_refresh('live');
DELETE FROM reco_item WHERE item_id = 108;
SELECT * FROM reco_refresh('missing');

-- bad input: nothing is half-applied
INSERT INTO orders (customer, product, qty) VALUES (NULL, 203, 1);
CREATE TABLE wrong (customer int, product bigint);
CREATE TRIGGER wrong_reco AFTER INSERT ON wrong
	FOR EACH ROW EXECUTE FUNCTION reco_online_trigger('live', 'client', 'product', 'purchase');
INSERT INTO wrong VALUES (89, 203);
DROP TRIGGER wrong_reco ON wrong;
CREATE TRIGGER wrong_reco AFTER INSERT ON wrong
	FOR EACH ROW EXECUTE FUNCTION reco_online_trigger('live', 'customer');
INSERT INTO wrong VALUES (89, 203);
DROP TRIGGER wrong_reco ON wrong;
CREATE TRIGGER wrong_reco AFTER INSERT ON wrong
	FOR EACH ROW EXECUTE FUNCTION reco_online_trigger('live', 'customer', 'product', 'like');
INSERT INTO wrong VALUES (89, 203);
DROP TRIGGER wrong_reco ON wrong;
CREATE TRIGGER wrong_reco BEFORE INSERT ON wrong
	FOR EACH ROW EXECUTE FUNCTION reco_online_trigger('live', 'customer', 'product', 'view');
INSERT INTO wrong VALUES (89, 203);
SELECT pg_temp.history(89) IS NULL AS untouched;
SELECT reco_online_trigger();
SELECT reco_online_update(NULL, 1, 'view', 1, 'live');
SELECT reco_online_update(1, 101, 'like', 1, 'live');
SELECT reco_online_update(1, 101, 'view', 'NaN', 'live');
SELECT reco_online_update(1, 101, 'view', 1, 'missing');
SELECT reco_online_update(1, 101, 'view', 1, NULL);
INSERT INTO reco_model (name, algorithm) VALUES ('untrained', 'als');
SELECT reco_online_update(1, 101, 'view', 1, 'untrained');
DELETE FROM reco_model WHERE name = 'untrained';
-- the statement trigger and the fold inside its UPDATE are not to be called
SELECT reco_online_events();
SELECT * FROM reco_online_fold('\x00000000', '{}', '{}');
SELECT reco_online_update(1, 101, NULL, 1, 'live');
SELECT reco_online_update(1, 101, 'view', NULL, 'live');

-- nothing poisons a model: a value whose weight could overflow is the
-- event's own bad data (22003), whatever the session's settings
INSERT INTO reco_event (user_id, item_id, kind, value) VALUES (10, 101, 'purchase', 3e38);
SET reco.online = off;
INSERT INTO reco_event (user_id, item_id, kind, value) VALUES (10, 101, 'purchase', -2e6);
RESET reco.online;
SELECT reco_online_update(1, 101, 'view', 1e7, 'live');
SET reco.online = off;	-- the bound itself is accepted (kept out of the model)
INSERT INTO reco_event (user_id, item_id, kind, value) VALUES (10, 101, 'purchase', 1e6);
RESET reco.online;
DELETE FROM reco_event WHERE user_id = 10 AND value = 1e6;
-- an event bypassing the trigger cannot reach a model either
SET session_replication_role = replica;
INSERT INTO reco_event (user_id, item_id, kind, value) VALUES (10, 101, 'purchase', 3e38);
RESET session_replication_role;
SELECT * FROM reco_train('poisoned', 'als', '{"factors": 2}');
DELETE FROM reco_event WHERE value > 1e6;

-- a model that cannot take an event never fails the shop's INSERT: the
-- event is stored and queued, the user keeps their vector, a WARNING says why
UPDATE reco_model_blob SET data = decode(repeat('0000c07f', 16), 'hex')
WHERE name = 'gram' AND version_id = (SELECT active_version FROM reco_model WHERE name = 'live');
UPDATE reco_model_version SET revision = nextval('reco_version_seq')
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'live');
CREATE TEMP TABLE before AS SELECT factors FROM reco_user_factors
WHERE user_id = 2 AND version_id = (SELECT active_version FROM reco_model WHERE name = 'live');
INSERT INTO reco_event (user_id, item_id, kind) VALUES (2, 201, 'view'), (2, 202, 'view');
SELECT (SELECT factors FROM before) = factors AS kept_vector, items[array_length(items, 1)] AS last_item
FROM reco_user_factors
WHERE user_id = 2 AND version_id = (SELECT active_version FROM reco_model WHERE name = 'live');
SELECT count(*) AS queued FROM reco_pending
WHERE user_id = 2 AND version_id = (SELECT active_version FROM reco_model WHERE name = 'live');
-- a refresh recomputes the Gram matrix from the item factors: healthy again
SELECT events FROM reco_refresh('live');
INSERT INTO reco_event (user_id, item_id, kind) VALUES (2, 203, 'view');
SELECT (SELECT factors FROM before) <> factors AS folded_in FROM reco_user_factors
WHERE user_id = 2 AND version_id = (SELECT active_version FROM reco_model WHERE name = 'live');
DELETE FROM reco_event WHERE user_id = 2 AND item_id > 200;

-- model tables that gained a trigger or an index are written through SQL,
-- which runs them: the event is folded in and queued all the same
CREATE FUNCTION pg_temp.seen() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN RAISE NOTICE '% of user %', TG_OP, NEW.user_id; RETURN NEW; END $$;
CREATE TRIGGER seen BEFORE UPDATE ON reco_user_factors
	FOR EACH ROW EXECUTE FUNCTION pg_temp.seen();
CREATE INDEX pending_user ON reco_pending (user_id);
INSERT INTO reco_event (user_id, item_id, kind) VALUES (2, 205, 'view');
SELECT items[array_length(items, 1)] AS last_item FROM reco_user_factors
WHERE user_id = 2 AND version_id = (SELECT active_version FROM reco_model WHERE name = 'live');
SET enable_seqscan = off;	-- the queued row is in the index
SELECT count(*) AS queued FROM reco_pending
WHERE user_id = 2 AND item_id = 205
  AND version_id = (SELECT active_version FROM reco_model WHERE name = 'live');
RESET enable_seqscan;
DROP TRIGGER seen ON reco_user_factors;
DROP INDEX pending_user;
DELETE FROM reco_event WHERE user_id = 2 AND item_id = 205;

-- nor does a read-only transaction take an event
BEGIN TRANSACTION READ ONLY;
SELECT reco_online_update(2, 101, 'view', 1, 'live');
ROLLBACK;

-- an update that a publication could not replicate is refused, as an
-- UPDATE is: without a replica identity, or with a row filter on a column
-- outside it (the wal_level WARNING of CREATE PUBLICATION is not shown)
SET client_min_messages = error;
ALTER TABLE reco_user_factors REPLICA IDENTITY NOTHING;
CREATE PUBLICATION reco_models FOR TABLE reco_user_factors;
SELECT reco_online_update(2, 201, 'view', 1, 'live');
ALTER TABLE reco_user_factors REPLICA IDENTITY DEFAULT;
SELECT reco_online_update(2, 202, 'view', 1, 'live');
ALTER PUBLICATION reco_models SET TABLE reco_user_factors WHERE (items <> '{}');
SELECT reco_online_update(2, 203, 'view', 1, 'live');
DROP PUBLICATION reco_models;
RESET client_min_messages;
SELECT reco_online_update(2, 204, 'view', 1, 'live');
SELECT items[array_length(items, 1) - 1 :] AS last_items FROM reco_user_factors
WHERE user_id = 2 AND version_id = (SELECT active_version FROM reco_model WHERE name = 'live');

-- a history that is not what reco writes (a NULL weight, arrays of two
-- lengths) is refused as corrupt model data, not read past its end
CREATE TEMP TABLE kept AS SELECT weights FROM reco_user_factors
WHERE user_id = 2 AND version_id = (SELECT active_version FROM reco_model WHERE name = 'live');
CREATE FUNCTION pg_temp.corrupt(w real[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	UPDATE reco_user_factors SET weights = w
	WHERE user_id = 2 AND version_id = (SELECT active_version FROM reco_model WHERE name = 'live');
	PERFORM reco_online_update(2, 206, 'view', 1, 'live');
EXCEPTION WHEN data_corrupted THEN
	RAISE NOTICE 'refused: %', SQLERRM;
END $$;
SELECT pg_temp.corrupt((SELECT weights[:array_length(weights, 1) - 1] || NULL::real FROM kept));
SELECT pg_temp.corrupt((SELECT weights[2:] FROM kept));
SELECT array_length(weights, 1) = array_length(items, 1) AS untouched FROM reco_user_factors
WHERE user_id = 2 AND version_id = (SELECT active_version FROM reco_model WHERE name = 'live');

DROP TABLE orders, wrong;
SELECT reco_drop_model('live');
SELECT reco_drop_model('no_search');
DELETE FROM reco_event WHERE user_id > 70;
