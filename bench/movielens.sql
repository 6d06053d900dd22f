-- MovieLens 100K ranking quality under the Microsoft Recommenders protocol:
-- a 75/25 split stratified by item (each item's ratings shuffled with a seed,
-- the first 75% to training), every held-out rating relevant, top-k over all
-- items minus the user's training items, metrics averaged over test users.
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
SELECT u, i, r, row_number() OVER w <= round(0.75 * count(*) OVER (PARTITION BY i)) AS train
FROM ml
WINDOW w AS (PARTITION BY i ORDER BY md5(:'seed' || ':' || u || ':' || i));

SELECT count(*) FILTER (WHERE train) AS train_ratings,
	count(*) FILTER (WHERE NOT train) AS test_ratings
FROM ml_split;

\timing on
SELECT users, items, interactions, round(loss::numeric, 5) AS loss, round(seconds::numeric, 3) AS seconds
FROM (SELECT (reco_train_agg(u, i, (:weight)::real, 'movielens_quality', :'params')).*
	  FROM ml_split WHERE train) t;
\timing off

CREATE TEMP TABLE test_users AS
SELECT DISTINCT u FROM ml_split WHERE NOT train
INTERSECT SELECT u FROM ml_split WHERE train;

CREATE TEMP TABLE recs AS
SELECT tu.u, r.item_id AS i, r.rank
FROM test_users tu,
	LATERAL reco_recommend(tu.u, :k, 'movielens_quality', available_only => false) r;

CREATE TEMP TABLE per_user AS
SELECT tu.u,
	coalesce(h.hits, 0) AS hits,
	rel.n AS relevant,
	coalesce(h.dcg, 0) AS dcg,
	(SELECT sum(1 / log(2, j + 1)) FROM generate_series(1, least(rel.n, :k)) j) AS idcg,
	coalesce(h.ap, 0) / rel.n AS ap
FROM test_users tu
JOIN (SELECT u, count(*) AS n FROM ml_split WHERE NOT train GROUP BY u) rel USING (u)
LEFT JOIN (
	SELECT u, count(*) AS hits,
		sum(1 / log(2, rank + 1)) AS dcg,
		sum(hit_no::numeric / rank) AS ap
	FROM (SELECT r.u, r.rank, row_number() OVER (PARTITION BY r.u ORDER BY r.rank) AS hit_no
		  FROM recs r JOIN ml_split s ON s.u = r.u AND s.i = r.i AND NOT s.train) x
	GROUP BY u
) h USING (u);

CREATE TEMP TABLE quality AS
SELECT count(*) AS users,
	avg(dcg / idcg) AS ndcg,
	avg(hits::numeric / :k) AS precision,
	avg(hits::numeric / relevant) AS recall,
	avg(ap) AS map
FROM per_user;

SELECT users, round(ndcg, 4) AS "nDCG@k", round(precision, 4) AS "P@k",
	round(recall, 4) AS "R@k", round(map, 4) AS "MAP@k", :k AS k
FROM quality;

SET bench.min_ndcg = :min_ndcg;
SET bench.min_precision = :min_precision;
DO $$
DECLARE
	q record;
BEGIN
	SELECT * INTO q FROM quality;
	IF q.ndcg < current_setting('bench.min_ndcg')::numeric
	   OR q.precision < current_setting('bench.min_precision')::numeric THEN
		RAISE EXCEPTION 'quality below the bar: nDCG % (need %), precision % (need %)',
			round(q.ndcg, 4), current_setting('bench.min_ndcg'),
			round(q.precision, 4), current_setting('bench.min_precision');
	END IF;
END
$$;

SELECT reco_drop_model('movielens_quality');
