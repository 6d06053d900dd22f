-- MovieLens 100K with event hygiene: bench/movielens.sql's split (stratified
-- 75/25, seed 42), each setting fitted in memory on the training ratings with
-- their times (reco_evaluate_params, fourth column) and scored on the rest.
-- Run as psql -f bench/hygiene_movielens.sql < u.data
\set ON_ERROR_STOP 1
SET reco.progress = off;
CREATE TEMP TABLE ml (u bigint, i bigint, r int, t bigint);
\copy ml FROM pstdin
CREATE TEMP TABLE ml_split AS
SELECT user_id AS u, item_id AS i, value AS r, ts, NOT test AS train
FROM reco_split('SELECT u, i, r, t FROM ml', 'stratified', 0.25, 42);
-- weight 1 per rating (bench/movielens.sql's) and the rating itself (what
-- reco_train gives 'rating' events at the default weights: issue 10's 0.448)
SELECT w.weight, s.label, round(e.ndcg::numeric, 4) AS "nDCG@10", round(e.precision::numeric, 4) AS "P@10"
FROM (VALUES ('1'), ('rating')) w(weight),
     (VALUES (1, 'default', '{}'),
             (2, 'half_life 7 days', '{"half_life": "7 days"}'),
             (3, 'half_life 30 days', '{"half_life": "30 days"}'),
             (4, 'half_life 180 days', '{"half_life": "180 days"}'),
             (5, 'dedup_window 1 day', '{"dedup_window": "1 day"}'),
             (6, 'max_weight 1000 (the former default)', '{"max_weight": 1000}'),
             (7, 'alpha 0.1 (no decay)', '{"alpha": 0.1}'),
             (8, 'alpha 0.3 (no decay)', '{"alpha": 0.3}'),
             (9, 'alpha 0.3, half_life 30 days', '{"alpha": 0.3, "half_life": "30 days"}')) s(n, label, params),
     reco_evaluate_params(format('SELECT u, i, %s, ts FROM ml_split WHERE train',
                                 CASE w.weight WHEN '1' THEN '1' ELSE 'r' END),
                          'SELECT u, i FROM ml_split WHERE NOT train', s.params::jsonb, 10) e
ORDER BY w.weight, s.n;
