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
	'Events applied online to the user side and waiting for reco_refresh to catch the item side up (kind is the index of the event kind in reco_event''s list, value its value; replay: moved here from a dropped version, still to be applied to the user side); append-only, so hot items are never a lock.';

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
-- cascades to the versions) deletes them, the globals by a foreign key
-- (deferred because a training run writes the weights before the version
-- row), the rest by the statement trigger below.  Weights left behind by
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

ALTER TABLE @extschema@.reco_model_blob
	ADD CONSTRAINT reco_model_blob_version_fk FOREIGN KEY (version_id)
		REFERENCES @extschema@.reco_model_version (version_id)
		ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED;

-- The tables an event writes (reco_user_factors for a new customer, and
-- reco_pending) have no foreign key: a shop's INSERT must never fail at
-- commit because the version it wrote to was dropped meanwhile, and a key
-- check would lock the version row in every event's transaction.  Nor has
-- reco_item_factors, a row per item of each version: a key checked row by
-- row at commit took 1.6 s of a 6.3 s training at 478,828 items.  Their
-- rows go with their version in one delete per statement instead, except
-- queued events a dropped superseded version still held: those move to the
-- version served, marked for reco_refresh to replay, so none is lost.
ALTER TABLE @extschema@.reco_pending
	ADD COLUMN replay boolean NOT NULL DEFAULT false;
CREATE INDEX reco_user_factors_user_idx ON @extschema@.reco_user_factors (user_id);
-- The triggers run with the extension owner's rights, as a foreign key's
-- cascade does: whoever may delete a version takes its rows with it.
CREATE FUNCTION @extschema@.reco_versions_deleted()
RETURNS trigger
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE @extschema@.reco_pending p SET version_id = m.active_version, replay = true
	FROM old_versions o JOIN @extschema@.reco_model m ON m.name OPERATOR(pg_catalog.=) o.model
	WHERE p.version_id OPERATOR(pg_catalog.=) o.version_id
	  AND m.active_version IS NOT NULL
	  AND NOT EXISTS (SELECT FROM old_versions d
		WHERE d.version_id OPERATOR(pg_catalog.=) m.active_version);
	DELETE FROM @extschema@.reco_pending p USING old_versions o
	WHERE p.version_id OPERATOR(pg_catalog.=) o.version_id;
	DELETE FROM @extschema@.reco_user_factors u USING old_versions o
	WHERE u.version_id OPERATOR(pg_catalog.=) o.version_id;
	DELETE FROM @extschema@.reco_item_factors i USING old_versions o
	WHERE i.version_id OPERATOR(pg_catalog.=) o.version_id;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@.reco_versions_deleted() IS
	'Statement trigger on reco_model_version: deletes the user and item rows of the deleted versions, moves the events they still had queued to the version served (for reco_refresh to replay) or deletes them with the model (globals cascade through a foreign key).';
CREATE TRIGGER reco_model_version_deleted
	AFTER DELETE ON @extschema@.reco_model_version
	REFERENCING OLD TABLE AS old_versions
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.reco_versions_deleted();
-- TRUNCATE fires no delete trigger: every version gone, every row goes
CREATE FUNCTION @extschema@.reco_versions_truncated()
RETURNS trigger
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	TRUNCATE @extschema@.reco_user_factors, @extschema@.reco_item_factors, @extschema@.reco_pending;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@.reco_versions_truncated() IS
	'Statement trigger on reco_model_version: when it is truncated (TRUNCATE reco_model CASCADE included), empties the user rows, item rows and queued events of every version.';
CREATE TRIGGER reco_model_version_truncated
	AFTER TRUNCATE ON @extschema@.reco_model_version
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.reco_versions_truncated();
-- and a version's id never changes: its rows would not follow
CREATE FUNCTION @extschema@.reco_version_id_fixed()
RETURNS trigger
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION 'the id of a version cannot change'
		USING ERRCODE = '55000', HINT = 'Train a new version instead.';
END
$$;
COMMENT ON FUNCTION @extschema@.reco_version_id_fixed() IS
	'Row trigger on reco_model_version: refuses to change a version''s id, which its user rows, item rows and queued events refer to without a foreign key.';
CREATE TRIGGER reco_model_version_id_fixed
	BEFORE UPDATE OF version_id ON @extschema@.reco_model_version
	FOR EACH ROW WHEN (OLD.version_id IS DISTINCT FROM NEW.version_id)
	EXECUTE FUNCTION @extschema@.reco_version_id_fixed();

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

----------------------------------------------------------------------
-- Bounded resources (workers, memory, tuning)
----------------------------------------------------------------------

-- reco_tune samples its grid without building it: a combination is a
-- mixed-radix number over the grid entries (keys in order, the first the
-- most significant, so index order is the order 1.0 listed the grid in);
-- trials distinct indexes are drawn with a seeded hash and only those are
-- decoded.  The whole grid is enumerated only when trials is NULL or covers
-- it, and then it must be of a sane size.
CREATE OR REPLACE FUNCTION @extschema@.reco_tune(model text, source text, grid jsonb,
	fixed jsonb DEFAULT '{}', trials int DEFAULT NULL, folds int DEFAULT 5,
	k int DEFAULT 10, metric text DEFAULT 'ndcg', method text DEFAULT 'stratified',
	seed int DEFAULT 42, activate boolean DEFAULT true)
RETURNS TABLE (tune_id bigint, trial int, params jsonb, score double precision,
	stddev double precision, seconds double precision, best boolean)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
AS $$
-- Operators are schema-qualified: see reco_cross_validate.
DECLARE
	max_combos constant int := 100000;	-- a grid enumerated in full, or trials drawn
	run bigint;
	lower_better boolean;
	names pg_catalog.text[] := '{}';
	lists pg_catalog.jsonb[] := '{}';
	total pg_catalog.numeric := 1;
	picks pg_catalog.numeric[] := '{}';
	pick pg_catalog.numeric;
	rem pg_catalog.numeric;
	draw int := 0;
	h pg_catalog.text;
	name pg_catalog.text;
	vals pg_catalog.jsonb;
	t int := 0;
	n int;
	trial_params pg_catalog.jsonb;
	stored pg_catalog.jsonb;
	started pg_catalog.timestamptz;
	cv record;
	best_trial int;
	progress boolean := COALESCE(pg_catalog.current_setting('reco.progress', true), 'on')::boolean;
BEGIN
	IF model IS NULL OR source IS NULL OR fixed IS NULL OR metric IS NULL OR activate IS NULL THEN
		RAISE EXCEPTION 'model, source, fixed, metric and activate must not be NULL' USING ERRCODE = '22004';
	END IF;
	IF NOT metric OPERATOR(pg_catalog.=) ANY (ARRAY['precision', 'recall', 'ndcg', 'map',
			'hit_rate', 'mrr', 'auc', 'coverage', 'rmse', 'mae']) THEN
		RAISE EXCEPTION 'unknown metric "%"', metric USING ERRCODE = '22023',
			HINT = 'Metrics are precision, recall, ndcg, map, hit_rate, mrr, auc, coverage, rmse and mae.';
	END IF;
	lower_better := metric OPERATOR(pg_catalog.=) ANY (ARRAY['rmse', 'mae']);
	IF grid IS NULL OR pg_catalog.jsonb_typeof(grid) OPERATOR(pg_catalog.<>) 'object' THEN
		RAISE EXCEPTION 'grid must be a JSON object of parameter name to list of values'
			USING ERRCODE = '22023', HINT = 'For example {"factors": [32, 64], "regularization": [0.5, 1.5]}.';
	END IF;
	IF lower_better AND NOT (fixed OPERATOR(pg_catalog.@>) '{"feedback": "explicit"}') THEN
		RAISE EXCEPTION 'tuning for % needs a rating model', metric USING ERRCODE = '22023',
			HINT = 'Put "feedback": "explicit" in fixed; implicit-feedback models have no rmse or mae.';
	END IF;

	-- the grid's entries and its size, in a stable order; no combination yet
	FOR name, vals IN SELECT e.key, e.value FROM pg_catalog.jsonb_each(grid) e ORDER BY e.key LOOP
		IF pg_catalog.jsonb_typeof(vals) OPERATOR(pg_catalog.<>) 'array'
		   OR pg_catalog.jsonb_array_length(vals) OPERATOR(pg_catalog.=) 0 THEN
			RAISE EXCEPTION 'grid entry "%" must be a non-empty list of values', name
				USING ERRCODE = '22023';
		END IF;
		names := names OPERATOR(pg_catalog.||) name;
		lists := lists OPERATOR(pg_catalog.||) vals;
		total := total OPERATOR(pg_catalog.*) pg_catalog.jsonb_array_length(vals);
	END LOOP;
	IF trials IS NOT NULL AND trials OPERATOR(pg_catalog.<) 1 THEN
		RAISE EXCEPTION 'trials must be at least 1' USING ERRCODE = '22023';
	END IF;

	IF trials IS NULL OR trials OPERATOR(pg_catalog.>=) total THEN
		-- grid search: every combination, which must be a sane number
		IF total OPERATOR(pg_catalog.>) max_combos THEN
			RAISE EXCEPTION 'the grid has % combinations, more than % to try in full', total, max_combos
				USING ERRCODE = '54000',
				DETAIL = 'Without trials, reco_tune tries every combination of the grid.',
				HINT = 'Pass trials to try a seeded random sample of the grid.';
		END IF;
		picks := ARRAY(SELECT pg_catalog.generate_series(0, total OPERATOR(pg_catalog.-) 1));
	ELSE
		-- random search: trials distinct indexes from a seeded hash (120
		-- bits, so any grid up to 1e30 combinations is reached evenly enough)
		IF trials OPERATOR(pg_catalog.>) max_combos OR total OPERATOR(pg_catalog.>) 1e30 THEN
			RAISE EXCEPTION 'cannot sample % trials from % combinations', trials, total
				USING ERRCODE = '54000',
				HINT = pg_catalog.format('Use at most %s trials and grids of at most 1e30 combinations.', max_combos);
		END IF;
		WHILE pg_catalog.cardinality(picks) OPERATOR(pg_catalog.<) trials LOOP
			draw := draw OPERATOR(pg_catalog.+) 1;
			h := pg_catalog.md5(seed::pg_catalog.text OPERATOR(pg_catalog.||) ':'
				OPERATOR(pg_catalog.||) draw::pg_catalog.text);
			pick := pg_catalog.mod(
				(('x' OPERATOR(pg_catalog.||) pg_catalog.substr(h, 1, 15))::pg_catalog.bit(60)::bigint)::pg_catalog.numeric
					OPERATOR(pg_catalog.*) 1152921504606846976
				OPERATOR(pg_catalog.+) ('x' OPERATOR(pg_catalog.||) pg_catalog.substr(h, 16, 15))::pg_catalog.bit(60)::bigint,
				total);
			IF NOT pick OPERATOR(pg_catalog.=) ANY (picks) THEN
				picks := picks OPERATOR(pg_catalog.||) pick;
			END IF;
		END LOOP;
		picks := ARRAY(SELECT p.p FROM pg_catalog.unnest(picks) p(p) ORDER BY p.p);
	END IF;
	n := pg_catalog.cardinality(picks);
	run := pg_catalog.nextval('@extschema@.reco_tune_seq');
	-- the winner is trained by reco_train_agg on top of the model's stored
	-- params: score the trials on the same ground (the time origin is a
	-- training's own, and the family is the model's)
	SELECT (m.params OPERATOR(pg_catalog.-) 'half_life_origin') OPERATOR(pg_catalog.||)
		pg_catalog.jsonb_build_object('algorithm', m.algorithm)
	INTO stored FROM @extschema@.reco_model m WHERE m.name OPERATOR(pg_catalog.=) reco_tune.model;

	FOREACH pick IN ARRAY picks LOOP
		t := t OPERATOR(pg_catalog.+) 1;
		-- decode the index, the last entry the least significant digit
		trial_params := '{}';
		rem := pick;
		FOR e IN REVERSE pg_catalog.cardinality(names)..1 LOOP
			trial_params := trial_params OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(names[e],
				lists[e] OPERATOR(pg_catalog.->) pg_catalog.mod(rem, pg_catalog.jsonb_array_length(lists[e]))::int);
			rem := pg_catalog.div(rem, pg_catalog.jsonb_array_length(lists[e]));
		END LOOP;
		trial_params := fixed OPERATOR(pg_catalog.||) trial_params;
		started := pg_catalog.clock_timestamp();
		PERFORM pg_catalog.set_config('reco.progress', 'off', true);
		SELECT pg_catalog.jsonb_object_agg(c.metric, c.mean) AS metrics,
			pg_catalog.max(c.mean) FILTER (WHERE c.metric OPERATOR(pg_catalog.=) reco_tune.metric) AS score,
			pg_catalog.max(c.stddev) FILTER (WHERE c.metric OPERATOR(pg_catalog.=) reco_tune.metric) AS stddev
		INTO cv
		FROM @extschema@.reco_cross_validate(source,
			COALESCE(stored, '{}') OPERATOR(pg_catalog.||) trial_params, folds, k, method, seed) c;
		PERFORM pg_catalog.set_config('reco.progress', progress::pg_catalog.text, true);
		INSERT INTO @extschema@.reco_tune_trial
			(tune_id, trial, model, params, metric, score, stddev, metrics, seconds)
		VALUES (run, t, reco_tune.model, trial_params, reco_tune.metric, cv.score, cv.stddev,
			COALESCE(cv.metrics, '{}'),
			EXTRACT(epoch FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) started));
		IF progress THEN
			RAISE NOTICE 'reco: trial %/% %: %@% %', t, n, trial_params, reco_tune.metric, k,
				pg_catalog.round(cv.score::numeric, 4);
		END IF;
	END LOOP;

	SELECT x.trial INTO best_trial FROM @extschema@.reco_tune_trial x
	WHERE x.tune_id OPERATOR(pg_catalog.=) run AND x.score IS NOT NULL
	ORDER BY CASE WHEN lower_better THEN x.score ELSE OPERATOR(pg_catalog.-) x.score END, x.trial
	LIMIT 1;
	IF best_trial IS NULL AND activate THEN
		RAISE EXCEPTION 'no trial produced a % score', metric USING ERRCODE = '22023',
			HINT = 'Check that the source query yields held-out events for users the models know.';
	END IF;

	-- the winner, trained on all the data, served from now on
	IF activate THEN
		-- with the events' times when every event has one
		PERFORM @extschema@.reco_train_agg(s.user_id, s.item_id, COALESCE(s.value, 1)::real,
				CASE WHEN s.timed THEN s.ts END, reco_tune.model, x.params)
		FROM (SELECT e.*, pg_catalog.bool_and(e.ts IS NOT NULL) OVER () AS timed
			FROM @extschema@.reco_split(source, 'random', 0) e) s,
			@extschema@.reco_tune_trial x
		WHERE x.tune_id OPERATOR(pg_catalog.=) run AND x.trial OPERATOR(pg_catalog.=) best_trial;
	END IF;

	RETURN QUERY
		SELECT x.tune_id, x.trial, x.params, x.score, x.stddev, x.seconds,
			x.trial OPERATOR(pg_catalog.=) best_trial
		FROM @extschema@.reco_tune_trial x
		WHERE x.tune_id OPERATOR(pg_catalog.=) run
		ORDER BY x.trial;
END
$$;

----------------------------------------------------------------------
-- Training from a query whose rows carry their time
----------------------------------------------------------------------

-- With a time per row, the hygiene settings (half_life, dedup_window) work
-- as on reco_event, and buying again holds out each customer's latest
-- moment by it; reco_tune trains its winner through it.
CREATE FUNCTION @extschema@.reco_train_agg_step(internal, bigint, bigint, real,
	timestamptz, text, jsonb)
RETURNS internal
AS 'MODULE_PATHNAME', 'reco_train_agg_ts_step'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.reco_train_agg_step(internal, bigint, bigint, real, timestamptz, text, jsonb) IS
	'Transition function of reco_train_agg: collects one (user, item, weight, time) row.';
CREATE AGGREGATE @extschema@.reco_train_agg(user_id bigint, item_id bigint, weight real,
	ts timestamptz, model text, params jsonb) (
	SFUNC = @extschema@.reco_train_agg_step,
	STYPE = internal,
	FINALFUNC = @extschema@.reco_train_agg_final,
	FINALFUNC_MODIFY = READ_WRITE,
	PARALLEL = UNSAFE
);
COMMENT ON AGGREGATE @extschema@.reco_train_agg(bigint, bigint, real, timestamptz, text, jsonb) IS
	'Train a model from any query yielding (user, item, weight, time): the time lets half_life and dedup_window apply; NULL in every row means none.';

----------------------------------------------------------------------
-- Roles and ownership
----------------------------------------------------------------------

-- Three roles, shared by every database of the cluster (roles are global,
-- so they may exist already; they are never dropped with the extension):
-- reco_reader serves recommendations, reco_writer feeds events (and so
-- online learning), reco_admin trains, evaluates, manages and forgets.
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'reco_reader') THEN
		CREATE ROLE reco_reader NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'reco_writer') THEN
		CREATE ROLE reco_writer NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'reco_admin') THEN
		CREATE ROLE reco_admin NOLOGIN;
	END IF;
END
$$;
GRANT reco_reader, reco_writer TO reco_admin;

-- A model belongs to the role that first trained it: only that role (or a
-- member of it) and administrators may train, activate, refresh or drop it.
-- Models made by release 1.0 belong to whoever updates the extension.
ALTER TABLE @extschema@.reco_model
	ADD COLUMN owner pg_catalog.regrole NOT NULL DEFAULT (CURRENT_USER)::pg_catalog.regrole;
COMMENT ON COLUMN @extschema@.reco_model.owner IS
	'The role that may train, activate, refresh and drop the model besides members of reco_admin.';

-- Nothing is executable by PUBLIC; the functions run the model tables as
-- the extension's owner, so no application role needs rights on them.
REVOKE ALL ON FUNCTION
	@extschema@.reco_registry_changed(),
	@extschema@.reco_versions_deleted(),
	@extschema@.reco_versions_truncated(),
	@extschema@.reco_version_id_fixed(),
	@extschema@.reco_train(text, text, jsonb),
	@extschema@.reco_train_agg_step(internal, bigint, bigint, real, timestamptz, text, jsonb),
	@extschema@.reco_train_agg(bigint, bigint, real, timestamptz, text, jsonb),
	@extschema@.reco_train_agg_step(internal, bigint, bigint, real, text, jsonb),
	@extschema@.reco_train_agg_step(internal, bigint, bigint, real, text),
	@extschema@.reco_train_agg_final(internal),
	@extschema@.reco_train_agg(bigint, bigint, real, text, jsonb),
	@extschema@.reco_train_agg(bigint, bigint, real, text),
	@extschema@.reco_recommend(bigint, int, text, boolean, text, boolean, bigint[]),
	@extschema@.reco_score(bigint, bigint, text),
	@extschema@.reco_rank(bigint, bigint[], text),
	@extschema@.reco_similar_items(bigint, int, text),
	@extschema@.reco_explain(bigint, bigint, text, int),
	@extschema@.reco_online_update(bigint, bigint, text, real, text),
	@extschema@.reco_online_trigger(),
	@extschema@.reco_refresh(text),
	@extschema@.reco_activate(text, int),
	@extschema@.reco_drop_model(text),
	@extschema@.reco_drop_version(text, int),
	@extschema@.reco_prune_versions(text, int),
	@extschema@.reco_compare(text, int, int, text, int),
	@extschema@.reco_split(text, text, double precision, int, int, timestamptz),
	@extschema@.reco_folds(text, int, text, int),
	@extschema@.reco_evaluate(text, text, int, int),
	@extschema@.reco_evaluate_users(text, text, int, int),
	@extschema@.reco_evaluate_params(text, text, jsonb, int),
	@extschema@.reco_evaluate_sampled(text, text, text, int, int),
	@extschema@.reco_cross_validate(text, jsonb, int, int, text, int),
	@extschema@.reco_cross_validate_folds(text, jsonb, int, int, text, int),
	@extschema@.reco_tune(text, text, jsonb, jsonb, int, int, int, text, text, int, boolean),
	@extschema@.reco_forget_user(bigint)
FROM PUBLIC;
REVOKE ALL ON TABLE @extschema@.reco_item, @extschema@.reco_event, @extschema@.reco_model,
	@extschema@.reco_model_version, @extschema@.reco_user_factors, @extschema@.reco_item_factors,
	@extschema@.reco_model_blob, @extschema@.reco_pending, @extschema@.reco_tune_trial,
	@extschema@.reco_models, @extschema@.reco_versions FROM PUBLIC;
REVOKE ALL ON SEQUENCE @extschema@.reco_event_event_id_seq, @extschema@.reco_version_seq,
	@extschema@.reco_tune_seq FROM PUBLIC;

-- serving: what the functions return, nothing of the model tables
GRANT EXECUTE ON FUNCTION
	@extschema@.reco_recommend(bigint, int, text, boolean, text, boolean, bigint[]),
	@extschema@.reco_score(bigint, bigint, text),
	@extschema@.reco_rank(bigint, bigint[], text),
	@extschema@.reco_similar_items(bigint, int, text),
	@extschema@.reco_explain(bigint, bigint, text, int)
TO reco_reader;
GRANT SELECT ON @extschema@.reco_item TO reco_reader;

-- feeding events: an INSERT into reco_event learns online through the trigger
GRANT INSERT ON @extschema@.reco_event TO reco_writer;
GRANT USAGE ON SEQUENCE @extschema@.reco_event_event_id_seq TO reco_writer;
GRANT EXECUTE ON FUNCTION @extschema@.reco_online_update(bigint, bigint, text, real, text)
TO reco_writer;

-- administration: training, evaluation, tuning, versions, the catalogue, forgetting
GRANT EXECUTE ON FUNCTION
	@extschema@.reco_train(text, text, jsonb),
	@extschema@.reco_train_agg_step(internal, bigint, bigint, real, timestamptz, text, jsonb),
	@extschema@.reco_train_agg(bigint, bigint, real, timestamptz, text, jsonb),
	@extschema@.reco_train_agg_step(internal, bigint, bigint, real, text, jsonb),
	@extschema@.reco_train_agg_step(internal, bigint, bigint, real, text),
	@extschema@.reco_train_agg_final(internal),
	@extschema@.reco_train_agg(bigint, bigint, real, text, jsonb),
	@extschema@.reco_train_agg(bigint, bigint, real, text),
	@extschema@.reco_online_trigger(),
	@extschema@.reco_refresh(text),
	@extschema@.reco_activate(text, int),
	@extschema@.reco_drop_model(text),
	@extschema@.reco_drop_version(text, int),
	@extschema@.reco_prune_versions(text, int),
	@extschema@.reco_compare(text, int, int, text, int),
	@extschema@.reco_split(text, text, double precision, int, int, timestamptz),
	@extschema@.reco_folds(text, int, text, int),
	@extschema@.reco_evaluate(text, text, int, int),
	@extschema@.reco_evaluate_users(text, text, int, int),
	@extschema@.reco_evaluate_params(text, text, jsonb, int),
	@extschema@.reco_evaluate_sampled(text, text, text, int, int),
	@extschema@.reco_cross_validate(text, jsonb, int, int, text, int),
	@extschema@.reco_cross_validate_folds(text, jsonb, int, int, text, int),
	@extschema@.reco_tune(text, text, jsonb, jsonb, int, int, int, text, text, int, boolean),
	@extschema@.reco_forget_user(bigint)
TO reco_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON @extschema@.reco_item, @extschema@.reco_event TO reco_admin;
-- customers' histories (reco_user_factors, reco_pending) stay unreadable even
-- to administrators: under row security an administrator may train on rows
-- another may not see
GRANT SELECT ON @extschema@.reco_model, @extschema@.reco_model_version,
	@extschema@.reco_item_factors, @extschema@.reco_model_blob,
	@extschema@.reco_models, @extschema@.reco_versions TO reco_admin;
GRANT UPDATE (online) ON @extschema@.reco_model TO reco_admin;
GRANT SELECT, INSERT ON @extschema@.reco_tune_trial TO reco_admin;
GRANT USAGE ON SEQUENCE @extschema@.reco_tune_seq TO reco_admin;

----------------------------------------------------------------------
-- Write path: one statement, one fold-in per user
----------------------------------------------------------------------

-- reco_event's trigger runs once per statement over its rows (a transition
-- table): every event is checked, then each online model takes the
-- statement's users in id order, one lock and one fold-in per user.  Two
-- multi-row inserts over the same users no longer deadlock, and a COPY
-- folds each customer in once instead of once per row.  reco_online_trigger
-- stays the row trigger for shops' own tables.
CREATE FUNCTION @extschema@.reco_online_events()
RETURNS trigger
AS 'MODULE_PATHNAME', 'reco_online_events'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.reco_online_events() IS
	'AFTER INSERT statement trigger of reco_event (REFERENCING NEW TABLE): checks every event, then updates every online model trained on reco_event, each user of the statement once, in user id order.';
DROP TRIGGER reco_event_online ON @extschema@.reco_event;
CREATE TRIGGER reco_event_online AFTER INSERT ON @extschema@.reco_event
	REFERENCING NEW TABLE AS reco_new_events
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.reco_online_events();

-- A customer's row (64 factors and a history of a few hundred items) is
-- rewritten by every event: kept inline up to a page, it is not cut into
-- TOAST chunks (three more tuples and index entries per event, and an index
-- lookup per read) as soon as it outgrows a quarter of one.
ALTER TABLE @extschema@.reco_user_factors SET (toast_tuple_target = 8160);

-- What a customer counted for in the version's buying-again propensities
-- (blob "repeat"), for reco_forget_user to take them out of those counts.
ALTER TABLE @extschema@.reco_user_factors ADD COLUMN counted bigint[];
COMMENT ON COLUMN @extschema@.reco_user_factors.counted IS
	'The items this customer counted for in the version''s buying-again propensities (blob repeat), ascending, an item twice when they bought it more than once; NULL when the version has no such term or they joined it later.';
-- and the versions' sizes count it
CREATE OR REPLACE VIEW @extschema@.reco_versions AS
SELECT v.model, v.version, v.version_id OPERATOR(pg_catalog.=) m.active_version AS active,
	v.algorithm, v.factors, v.n_users AS users, v.n_items AS items,
	v.n_interactions AS interactions,
	-- stored bytes of the version's weights (pg_column_size of a column reads
	-- a TOAST pointer, not the value), plus 40 bytes of header and keys a row
	pg_catalog.pg_size_pretty(
		(SELECT COALESCE(pg_catalog.sum(pg_catalog.pg_column_size(u.factors)
			OPERATOR(pg_catalog.+) pg_catalog.pg_column_size(u.items)
			OPERATOR(pg_catalog.+) pg_catalog.pg_column_size(u.weights)
			OPERATOR(pg_catalog.+) COALESCE(pg_catalog.pg_column_size(u.counted), 0)
			OPERATOR(pg_catalog.+) 40), 0)
		 FROM @extschema@.reco_user_factors u
		 WHERE u.version_id OPERATOR(pg_catalog.=) v.version_id)
		OPERATOR(pg_catalog.+)
		(SELECT COALESCE(pg_catalog.sum(pg_catalog.pg_column_size(i.factors)
			OPERATOR(pg_catalog.+) COALESCE(pg_catalog.pg_column_size(i.prior), 0)
			OPERATOR(pg_catalog.+) 48), 0)
		 FROM @extschema@.reco_item_factors i
		 WHERE i.version_id OPERATOR(pg_catalog.=) v.version_id)
		OPERATOR(pg_catalog.+)
		(SELECT COALESCE(pg_catalog.sum(pg_catalog.pg_column_size(b.data)), 0)
		 FROM @extschema@.reco_model_blob b
		 WHERE b.version_id OPERATOR(pg_catalog.=) v.version_id)) AS size,
	v.trained,
	(v.metrics OPERATOR(pg_catalog.->) 'loss' OPERATOR(pg_catalog.->) -1)::float8 AS final_loss,
	v.params, v.metrics
FROM @extschema@.reco_model_version v
JOIN @extschema@.reco_model m ON m.name OPERATOR(pg_catalog.=) v.model;

-- ... and rewritten in place: half of each page a training fills stays free,
-- so an event's update of a customer's row is a heap-only tuple (no index
-- entry, no new page) while the row still fits beside its old version.
ALTER TABLE @extschema@.reco_user_factors SET (fillfactor = 50);

-- The queue is drained by every reco_refresh and read whole by it: an index
-- on it costs every event an index entry and saves a refresh nothing.
DROP INDEX @extschema@.reco_pending_version_idx;

-- One statement per user and event batch: the UPDATE of the user's row
-- computes the new row itself (no SELECT ... FOR UPDATE before it, so one
-- statement, one row lock and one WAL record fewer per event).
CREATE FUNCTION @extschema@.reco_online_fold(factors bytea, items bigint[], weights real[],
	OUT new_factors bytea, OUT new_items bigint[], OUT new_weights real[])
RETURNS record
AS 'MODULE_PATHNAME', 'reco_online_fold'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.reco_online_fold(bytea, bigint[], real[]) IS
	'Internal to online learning: a customer''s row after the events being applied, computed inside the UPDATE of that row.';

-- the trigger's and the fold's functions are no one's to call
REVOKE ALL ON FUNCTION @extschema@.reco_online_events(),
	@extschema@.reco_online_fold(bytea, bigint[], real[]) FROM PUBLIC;

----------------------------------------------------------------------
-- Model families: customers' profiles, for the 'mlp' family
----------------------------------------------------------------------

CREATE TABLE @extschema@.reco_user (
	user_id     bigint PRIMARY KEY,
	attributes  jsonb NOT NULL DEFAULT '{}'
		CONSTRAINT reco_user_attributes_object CHECK (pg_catalog.jsonb_typeof(attributes) = 'object'),
	created     timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.reco_user IS
	'Customer profiles: whatever the shop knows of a customer (age band, gender, region, segment ...) as a jsonb object. An ''mlp'' model embeds each key=value (array elements one by one) and serves a customer without events from their profile; reco_forget_user deletes the row.';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.reco_user', '');
REVOKE ALL ON TABLE @extschema@.reco_user FROM PUBLIC;
-- the application registers and updates customers; only administrators read profiles
GRANT INSERT, UPDATE, SELECT (user_id) ON @extschema@.reco_user TO reco_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON @extschema@.reco_user TO reco_admin;

COMMENT ON FUNCTION @extschema@.reco_train(text, text, jsonb) IS
	'Train a new version of a model on reco_event (each event weighted by its kind''s weight times its value) and activate it. Algorithms: ''als'' (matrix factorisation) and ''mlp'' (a neural network over customer and item embeddings, profiles from reco_user and catalogue attributes from reco_item).';

----------------------------------------------------------------------
-- Item-item families and baskets
----------------------------------------------------------------------

COMMENT ON FUNCTION @extschema@.reco_train(text, text, jsonb) IS
	'Train a new version of a model on reco_event (each event weighted by its kind''s weight times its value as the "value" parameter counts it: by default once, with its sign) and activate it. Algorithms: ''als'' (matrix factorisation), ''mlp'' (a neural network over customer and item embeddings, profiles from reco_user and catalogue attributes from reco_item), ''itemknn'' (each item''s nearest items by BM25, TF-IDF or cosine co-occurrence) and ''ease'' (the closed-form linear item-item model, up to 40,000 items).';

CREATE FUNCTION @extschema@.reco_recommend_items(item_ids bigint[], k int,
	model text DEFAULT 'default', user_id bigint DEFAULT NULL,
	exclude_seen boolean DEFAULT true, category text DEFAULT NULL,
	available_only boolean DEFAULT true, exclude bigint[] DEFAULT NULL)
RETURNS SETOF @extschema@.reco_result
AS 'MODULE_PATHNAME', 'reco_recommend_items'
LANGUAGE C STABLE PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION @extschema@.reco_recommend_items(bigint[], int, text, bigint, boolean, text, boolean, bigint[]) IS
	'Top-k items for a basket or an anonymous session: its items fold in as cart events (nothing is written) and are never recommended; with user_id, on top of that customer''s history, so their cart shifts their recommendations. The filters of reco_recommend apply; a basket the model knows nothing of gets the most popular items.';
REVOKE ALL ON FUNCTION @extschema@.reco_recommend_items(bigint[], int, text, bigint, boolean, text, boolean, bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.reco_recommend_items(bigint[], int, text, bigint, boolean, text, boolean, bigint[])
TO reco_reader;
