/* reco--1.0--1.1.sql: integrity, security and privacy (issue 8) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION reco UPDATE TO '1.1'" to load this file. \quit

-- A fresh install runs reco--1.0.sql and then this script, so a database
-- updated in place and a new one have the same objects by construction;
-- test/upgrade.sh checks it from the catalogs.

-- Bounded resources (workers, memory, tuning)

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
		FROM @extschema@.reco_cross_validate(source, trial_params, folds, k, method, seed) c;
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
		PERFORM @extschema@.reco_train_agg(s.user_id, s.item_id, COALESCE(s.value, 1)::real,
				reco_tune.model, x.params)
		FROM @extschema@.reco_split(source, 'random', 0) s,
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
