/* reco--1.0--1.1.sql: integrity, security and privacy (issue 8) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION reco UPDATE TO '1.1'" to load this file. \quit

-- A fresh install runs reco--1.0.sql and then this script, so a database
-- updated in place and a new one have the same objects by construction;
-- test/upgrade.sh checks it from the catalogs.

----------------------------------------------------------------------
-- Clear errors for bad input
----------------------------------------------------------------------

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
