-- Clear errors for bad input: each case used to pass silently, poison a
-- model, or fail with the wrong SQLSTATE or a misleading message
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	st text;
	msg text;
	det text;
	hnt text;
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
		det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
	RETURN st || ': ' || msg || coalesce(E'\n  detail: ' || nullif(det, ''), '')
		|| coalesce(E'\n  hint: ' || nullif(hnt, ''), '');
END
$$;
SET reco.progress = off;
CREATE TEMP TABLE grid AS
SELECT u AS user_id, 1 + (u * 7 + j * 3) % 20 AS item_id
FROM generate_series(1, 30) u, generate_series(1, 6) j;

-- values and weights beyond RECO_MAX_VALUE (1e6): 3e38 used to train a NaN
-- model, 1e300 to come out of reco_split as Infinity
SELECT pg_temp.err($$SELECT reco_train_agg(1, 1, 3e38, 'big')$$);
SELECT pg_temp.err($$SELECT reco_train_agg(user_id, item_id, -1000001, 'big') FROM grid$$);
SELECT pg_temp.err($$SELECT reco_split('SELECT 1, 1, 1e300::float8')$$);
SELECT pg_temp.err($$SELECT reco_evaluate_params('SELECT 1, 1, 3e38::real UNION ALL SELECT 1, 1, 3e38::real', 'SELECT 1, 1')$$);
SELECT pg_temp.err($$SELECT reco_folds('SELECT 1, 1, ''Infinity''::numeric')$$);
-- the limit itself is a value
SELECT count(*) FROM reco_split('SELECT 1, 1, 1e6 UNION ALL SELECT 2, 2, -1e6');

-- event queries are read-only, a WITH clause included
SELECT pg_temp.err($$SELECT reco_split('WITH d AS (DELETE FROM reco_event RETURNING user_id, item_id) SELECT * FROM d')$$);
SELECT pg_temp.err($$SELECT reco_folds('DELETE FROM reco_event RETURNING user_id, item_id')$$);
SELECT pg_temp.err($$SELECT reco_split('SELECT user_id, item_id FROM reco_event FOR UPDATE')$$);

-- an unknown model is 42704, not "0 versions dropped"
SELECT pg_temp.err($$SELECT reco_prune_versions('no such model')$$);

-- a fold holding every event is named, not "the train query returned no rows"
SELECT pg_temp.err($$SELECT * FROM reco_cross_validate('SELECT 1, 1', '{}', 5)$$);
SELECT pg_temp.err($$SELECT * FROM reco_cross_validate('SELECT 1, 1 WHERE false', '{}', 5)$$);

-- one reco_train_agg call trains one model with one set of params
SELECT pg_temp.err($$SELECT reco_train_agg(user_id, item_id, 1,
	CASE WHEN user_id < 10 THEN 'one' ELSE 'two' END) FROM grid$$);
SELECT pg_temp.err($$SELECT reco_train_agg(user_id, item_id, 1, 'one',
	CASE WHEN user_id < 10 THEN '{"factors": 2}' ELSE '{"factors": 3}' END::jsonb) FROM grid$$);
SELECT pg_temp.err($$SELECT reco_train_agg(user_id, item_id, 1, 'one',
	CASE WHEN user_id < 10 THEN '{"factors": 2}' END::jsonb) FROM grid$$);
-- equal params written differently are the same params
SELECT (reco_train_agg(user_id, item_id, 1, 'one',
	CASE WHEN user_id < 10 THEN '{"factors": 2, "iterations": 2}'
	ELSE '{"iterations": 2.0, "factors": 2}' END::jsonb)).version FROM grid;

-- long names are cut in messages; hints quote names as SQL literals
SELECT pg_temp.err(format('SELECT reco_activate(%L, 1)', repeat('x', 10000)));
SELECT pg_temp.err(format('SELECT reco_prune_versions(%L)', repeat('x', 10000)));
SELECT (reco_train_agg(user_id, item_id, 1, 'it''s', '{"factors": 2, "iterations": 2}')).version FROM grid;
SELECT pg_temp.err($$SELECT reco_activate('it''s', 9)$$);

-- a name is at most 63 bytes, in the catalog as in C
SELECT split_part(pg_temp.err($$INSERT INTO reco_model (name, algorithm) VALUES (repeat('é', 32), 'als')$$), E'\n', 1);
SELECT pg_temp.err($$SELECT reco_train(repeat('é', 32))$$);
SELECT pg_temp.err($$INSERT INTO reco_model (name, algorithm) VALUES (repeat('é', 31), 'als')$$);
DELETE FROM reco_model WHERE name = repeat('é', 31);

-- cross-validation creates nothing: it runs in a read-only transaction
BEGIN TRANSACTION READ ONLY;
SELECT metric, n, mean BETWEEN 0 AND 1 AS in_range
FROM reco_cross_validate('SELECT user_id, item_id FROM grid', '{"factors": 2, "iterations": 2}', 2, method => 'random')
ORDER BY metric;
SELECT fold, users FROM reco_cross_validate_folds('SELECT user_id, item_id FROM grid',
	'{"factors": 2, "iterations": 2}', 1);
COMMIT;

-- a version's weights go with it, whichever way it is deleted
SELECT (reco_train_agg(user_id, item_id, 1, 'fk', '{"factors": 2, "iterations": 2}')).version FROM grid;
SELECT (reco_train_agg(user_id, item_id, 1, 'fk', '{"factors": 2, "iterations": 2}')).version FROM grid;
SELECT reco_online_update(99, 1, 'view', 1, 'fk');
CREATE TEMP TABLE fk_versions AS
SELECT version_id FROM reco_model_version WHERE model = 'fk';
CREATE FUNCTION pg_temp.fk_rows() RETURNS TABLE (tab text, n bigint) LANGUAGE sql AS $$
	SELECT 'user_factors', count(*) FROM reco_user_factors WHERE version_id IN (SELECT version_id FROM fk_versions)
	UNION ALL SELECT 'item_factors', count(*) FROM reco_item_factors WHERE version_id IN (SELECT version_id FROM fk_versions)
	UNION ALL SELECT 'blob', count(*) FROM reco_model_blob WHERE version_id IN (SELECT version_id FROM fk_versions)
	UNION ALL SELECT 'pending', count(*) FROM reco_pending WHERE version_id IN (SELECT version_id FROM fk_versions)
$$;
SELECT reco_drop_version('fk', 1);
SELECT tab, n > 0 AS kept FROM pg_temp.fk_rows();
SELECT count(*) AS versions_left FROM reco_model_version WHERE model = 'fk';
-- a version's id is fixed: its rows refer to it without a foreign key
SELECT pg_temp.err($$UPDATE reco_model_version SET version_id = version_id + 1000 WHERE model = 'fk'$$);
DELETE FROM reco_model WHERE name = 'fk';
SELECT tab, n FROM pg_temp.fk_rows();
-- TRUNCATE fires no delete trigger, yet takes every version's rows too
-- (rolled back: the models of the tests below stay)
SELECT (reco_train_agg(user_id, item_id, 1, 'fk', '{"factors": 2, "iterations": 2}')).version FROM grid;
SELECT reco_online_update(99, 1, 'view', 1, 'fk');
BEGIN;
TRUNCATE reco_model CASCADE;
SELECT (SELECT count(*) FROM reco_user_factors) AS user_rows, (SELECT count(*) FROM reco_item_factors) AS item_rows,
	(SELECT count(*) FROM reco_pending) AS pending, (SELECT count(*) FROM reco_model_blob) AS blobs;
ROLLBACK;
SELECT reco_drop_model('fk');
-- and no weights without a version
INSERT INTO reco_model_blob (version_id, name, data) VALUES (-1, 'gram', '\x00');

-- a backend follows the extension into a new schema: its kept statements
-- (serving, online learning, refresh) are prepared again there
SELECT pg_temp.err($$SELECT reco_activate('missing', 1)$$);
SET reco.progress = off;
SELECT count(*) FROM reco_recommend(1, 2, 'shop');
INSERT INTO reco_event (user_id, item_id, kind) VALUES (1, 101, 'view');
SELECT events >= 1 AS refreshed FROM reco_refresh('shop');
DROP EXTENSION reco;
CREATE SCHEMA other;
CREATE EXTENSION reco SCHEMA other;
SELECT pg_temp.err($$SELECT other.reco_activate('missing', 1)$$);
SELECT pg_temp.err($$SELECT other.reco_prune_versions('missing')$$);
INSERT INTO other.reco_event (user_id, item_id, kind) SELECT u, i, 'purchase'
FROM generate_series(1, 5) u, generate_series(1, 4) i WHERE u <> i;
SELECT version FROM other.reco_train('moved', 'als', '{"factors": 2, "iterations": 2}');
INSERT INTO other.reco_event (user_id, item_id, kind) VALUES (1, 1, 'view');
SELECT events FROM other.reco_refresh('moved');
SELECT source FROM other.reco_recommend(1, 2, 'moved', exclude_seen => false);
DROP EXTENSION reco;
DROP SCHEMA other;
CREATE EXTENSION reco;
