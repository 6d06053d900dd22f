/* reco--1.0--1.1.sql: integrity, security and privacy (issue 8) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION reco UPDATE TO '1.1'" to load this file. \quit

-- A fresh install runs reco--1.0.sql and then this script, so a database
-- updated in place and a new one have the same objects by construction;
-- test/upgrade.sh checks it from the catalogs.

----------------------------------------------------------------------
-- No event lost, no model poisoned
----------------------------------------------------------------------

-- A queued event keeps its kind and value, so that an event queued for a
-- superseded version is replayed into the one served with that version's
-- own weights (NULL: queued by release 1.0, replayed with its weight).
ALTER TABLE @extschema@.reco_pending
	ADD COLUMN kind smallint,
	ADD COLUMN value real;
COMMENT ON TABLE @extschema@.reco_pending IS
	'Events applied online to the user side and waiting for reco_refresh to catch the item side up (kind is the index of the event kind in reco_event''s list, value its value); append-only, so hot items are never a lock.';

----------------------------------------------------------------------
-- Forgetting a customer
----------------------------------------------------------------------

CREATE FUNCTION @extschema@.reco_forget_user(user_id bigint,
	OUT events bigint, OUT versions int, OUT items bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'reco_forget_user'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.reco_forget_user(bigint) IS
	'Forget a customer: delete their events, their row and queued events in every version of every model, and re-solve in each version every item they touched without them (an item only they touched leaves the version); returns the events deleted, the versions that held them and the items re-solved or removed. Backups and WAL already written are outside its reach.';

----------------------------------------------------------------------
-- Clear errors for bad input
----------------------------------------------------------------------

-- A model name is at most 63 bytes, as the C code counts it (RECO_MAX_NAME
-- in src/bounds.h), not 63 characters: a 40-character name of two-byte
-- letters used to pass this check and then no function could serve it.
ALTER TABLE @extschema@.reco_model
	DROP CONSTRAINT reco_model_name_length,
	ADD CONSTRAINT reco_model_name_bytes
		CHECK (pg_catalog.octet_length(name) OPERATOR(pg_catalog.>=) 1
			AND pg_catalog.octet_length(name) OPERATOR(pg_catalog.<=) 63);

-- Weights belong to a version: deleting a version (or its model, which
-- cascades to the versions) deletes them.  Deferred because a training run
-- writes the weights before the version row.  Weights left behind by
-- versions deleted under 1.0 are unreachable; they go first.
DELETE FROM @extschema@.reco_user_factors w
WHERE NOT EXISTS (SELECT FROM @extschema@.reco_model_version v
	WHERE v.version_id OPERATOR(pg_catalog.=) w.version_id);
DELETE FROM @extschema@.reco_item_factors w
WHERE NOT EXISTS (SELECT FROM @extschema@.reco_model_version v
	WHERE v.version_id OPERATOR(pg_catalog.=) w.version_id);
DELETE FROM @extschema@.reco_model_blob w
WHERE NOT EXISTS (SELECT FROM @extschema@.reco_model_version v
	WHERE v.version_id OPERATOR(pg_catalog.=) w.version_id);
DELETE FROM @extschema@.reco_pending w
WHERE NOT EXISTS (SELECT FROM @extschema@.reco_model_version v
	WHERE v.version_id OPERATOR(pg_catalog.=) w.version_id);

ALTER TABLE @extschema@.reco_user_factors
	ADD CONSTRAINT reco_user_factors_version_fk FOREIGN KEY (version_id)
		REFERENCES @extschema@.reco_model_version (version_id)
		ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE @extschema@.reco_item_factors
	ADD CONSTRAINT reco_item_factors_version_fk FOREIGN KEY (version_id)
		REFERENCES @extschema@.reco_model_version (version_id)
		ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE @extschema@.reco_model_blob
	ADD CONSTRAINT reco_model_blob_version_fk FOREIGN KEY (version_id)
		REFERENCES @extschema@.reco_model_version (version_id)
		ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED;

-- reco_pending gets a row per online event: a foreign key would look up and
-- key-share-lock the served version's row in every event's transaction.
-- Its rows go when their version goes instead, one delete per statement.
CREATE FUNCTION @extschema@.reco_versions_deleted()
RETURNS trigger
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
AS $$
BEGIN
	DELETE FROM @extschema@.reco_pending p USING old_versions o
	WHERE p.version_id OPERATOR(pg_catalog.=) o.version_id;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@.reco_versions_deleted() IS
	'Statement trigger on reco_model_version: deletes the reco_pending rows of the deleted versions (the other weight tables have foreign keys that cascade).';
CREATE TRIGGER reco_model_version_deleted
	AFTER DELETE ON @extschema@.reco_model_version
	REFERENCING OLD TABLE AS old_versions
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.reco_versions_deleted();

-- An unknown model is an error (42704), as for the other model functions,
-- not "0 versions dropped".
CREATE OR REPLACE FUNCTION @extschema@.reco_prune_versions(model text, keep int DEFAULT 3)
RETURNS int
LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
AS $$
DECLARE
	v int;
	dropped int := 0;
BEGIN
	IF keep OPERATOR(pg_catalog.<) 0 THEN
		RAISE EXCEPTION 'keep must not be negative' USING ERRCODE = '22023';
	END IF;
	IF NOT EXISTS (SELECT FROM @extschema@.reco_model m
				   WHERE m.name OPERATOR(pg_catalog.=) reco_prune_versions.model) THEN
		-- no model name is longer than 63 bytes: do not echo a longer one whole
		RAISE EXCEPTION 'model "%" does not exist',
			CASE WHEN pg_catalog.octet_length(model) OPERATOR(pg_catalog.>) 63
				THEN pg_catalog.left(model, 63) OPERATOR(pg_catalog.||) '...' ELSE model END
			USING ERRCODE = '42704', HINT = 'The models are listed in reco_models.';
	END IF;
	FOR v IN
		SELECT x.version FROM @extschema@.reco_model_version x
		JOIN @extschema@.reco_model m ON m.name OPERATOR(pg_catalog.=) x.model
		WHERE x.model OPERATOR(pg_catalog.=) reco_prune_versions.model
		  AND x.version_id OPERATOR(pg_catalog.<>) m.active_version
		ORDER BY x.version DESC OFFSET keep
	LOOP
		PERFORM @extschema@.reco_drop_version(model, v);
		dropped := dropped OPERATOR(pg_catalog.+) 1;
	END LOOP;
	RETURN dropped;
END
$$;

-- Cross-validation in memory: the source is read once, folds are fitted and
-- evaluated in C, and nothing is created, so it runs in a read-only
-- transaction and on a standby (1.0 kept the folds in temporary tables).
CREATE FUNCTION @extschema@.reco_cross_validate_folds(source text, params jsonb DEFAULT '{}',
	folds int DEFAULT 5, k int DEFAULT 10, method text DEFAULT 'stratified',
	seed int DEFAULT 42)
RETURNS TABLE (fold int, users bigint, "precision" double precision,
	recall double precision, ndcg double precision, map double precision,
	hit_rate double precision, mrr double precision, auc double precision,
	coverage double precision, rmse double precision, mae double precision)
AS 'MODULE_PATHNAME', 'reco_cross_validate_folds'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 5;
COMMENT ON FUNCTION @extschema@.reco_cross_validate_folds(text, jsonb, int, int, text, int) IS
	'reco_cross_validate per fold: reco_evaluate_params''s row for each fold of the source query (reco_folds''s deal; folds = 1 is the first quarter of a four-way deal), trained in memory on the other folds; the source is read once and nothing is written.';

CREATE OR REPLACE FUNCTION @extschema@.reco_cross_validate(source text, params jsonb DEFAULT '{}',
	folds int DEFAULT 5, k int DEFAULT 10, method text DEFAULT 'stratified',
	seed int DEFAULT 42)
RETURNS TABLE (metric text, mean double precision, stddev double precision, n int)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
AS $$
-- Operators are schema-qualified: no SET search_path here, because the
-- analyst's source query must resolve under the caller's own path.
BEGIN
	IF source IS NULL OR params IS NULL OR k IS NULL OR method IS NULL OR seed IS NULL THEN
		RAISE EXCEPTION 'source, params, k, method and seed must not be NULL' USING ERRCODE = '22004';
	END IF;
	IF folds IS NULL OR folds OPERATOR(pg_catalog.<) 1 OR folds OPERATOR(pg_catalog.>) 100 THEN
		RAISE EXCEPTION 'folds must be between 1 and 100' USING ERRCODE = '22023';
	END IF;
	RETURN QUERY
	SELECT v.metric, pg_catalog.avg(v.x), pg_catalog.stddev_samp(v.x), pg_catalog.count(v.x)::int
	FROM @extschema@.reco_cross_validate_folds(source, params, folds, k, method, seed) c,
		LATERAL (VALUES (1, 'precision', c.precision), (2, 'recall', c.recall),
			(3, 'ndcg', c.ndcg), (4, 'map', c.map), (5, 'hit_rate', c.hit_rate),
			(6, 'mrr', c.mrr), (7, 'auc', c.auc), (8, 'coverage', c.coverage),
			(9, 'rmse', c.rmse), (10, 'mae', c.mae)) AS v(n, metric, x)
	GROUP BY v.n, v.metric
	HAVING pg_catalog.count(v.x) OPERATOR(pg_catalog.>) 0
	ORDER BY v.n;
END
$$;
