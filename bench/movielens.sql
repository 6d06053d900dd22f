-- MovieLens 100K ranking quality under the Microsoft Recommenders protocol:
-- a 75/25 split stratified by item (reco_split, seeded), every held-out
-- rating relevant, top-k over all items minus the user's training items,
-- metrics averaged over test users (reco_evaluate).
--
-- Run as psql -f bench/movielens.sql < u.data (the ratings come on standard
-- input).  psql variables: params (ALS jsonb), weight (SQL
-- expression over the rating r for the interaction weight), seed, k,
-- min_ndcg and min_precision (the run fails below them).
\set ON_ERROR_STOP 1
\if :{?seed} \else \set seed 42 \endif
\if :{?k} \else \set k 10 \endif
\if :{?weight} \else \set weight 1 \endif
\if :{?min_ndcg} \else \set min_ndcg 0 \endif
\if :{?min_precision} \else \set min_precision 0 \endif

CREATE TEMP TABLE ml (u bigint, i bigint, r int, t bigint);
\copy ml FROM pstdin

CREATE TEMP TABLE ml_split AS
SELECT user_id AS u, item_id AS i, value AS r, NOT test AS train
FROM reco_split('SELECT u, i, r FROM ml', 'stratified', 0.25, :seed);

SELECT count(*) FILTER (WHERE train) AS train_ratings,
	count(*) FILTER (WHERE NOT train) AS test_ratings
FROM ml_split;

\timing on
SELECT users, items, interactions, round(loss::numeric, 5) AS loss, round(seconds::numeric, 3) AS seconds
FROM (SELECT (reco_train_agg(u, i, (:weight)::real, 'movielens_quality', :'params')).*
	  FROM ml_split WHERE train) t;
\timing off

CREATE TEMP TABLE quality AS
SELECT * FROM reco_evaluate('movielens_quality', 'SELECT u, i FROM ml_split WHERE NOT train', :k);

SELECT users, round(ndcg::numeric, 4) AS "nDCG@k", round(precision::numeric, 4) AS "P@k",
	round(recall::numeric, 4) AS "R@k", round(map::numeric, 4) AS "MAP@k", :k AS k
FROM quality;

SET bench.min_ndcg = :min_ndcg;
SET bench.min_precision = :min_precision;
DO $$
DECLARE
	q record;
BEGIN
	SELECT * INTO q FROM quality;
	IF q.ndcg < current_setting('bench.min_ndcg')::float8
	   OR q.precision < current_setting('bench.min_precision')::float8 THEN
		RAISE EXCEPTION 'quality below the bar: nDCG % (need %), precision % (need %)',
			round(q.ndcg::numeric, 4), current_setting('bench.min_ndcg'),
			round(q.precision::numeric, 4), current_setting('bench.min_precision');
	END IF;
END
$$;

SELECT reco_drop_model('movielens_quality');
