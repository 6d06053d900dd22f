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
SELECT s.label, round(e.ndcg::numeric, 4) AS "nDCG@10", round(e.precision::numeric, 4) AS "P@10"
FROM (VALUES ('default', '{}'),
             ('half_life 30 days', '{"half_life": "30 days"}'),
             ('half_life 180 days', '{"half_life": "180 days"}'),
             ('dedup_window 1 day', '{"dedup_window": "1 day"}'),
             ('max_weight 16', '{"max_weight": 16}')) s(label, params),
     reco_evaluate_params('SELECT u, i, 1, ts FROM ml_split WHERE train',
                          'SELECT u, i FROM ml_split WHERE NOT train', s.params::jsonb, 10) e;
