-- Serving: reco_recommend, reco_score, reco_rank, reco_similar_items
-- (uses the 'shop' model trained in the train test)
SET reco.progress = off;

-- user 1 has every kitchen item but the kettle (101): it comes first
SELECT item_id, rank, source, round(score::numeric, 2) > 0 AS positive
FROM reco_recommend(1, 3, 'shop');
-- k eligible items give k rows; seen items come back when asked
SELECT array_agg(item_id ORDER BY item_id) AS top4
FROM reco_recommend(1, 4, 'shop', exclude_seen => false);
-- filters apply before the cut: category, availability, explicit excludes
SELECT item_id, rank FROM reco_recommend(1, 5, 'shop', category => 'outdoor');
SELECT array_agg(item_id ORDER BY item_id) AS kitchen
FROM reco_recommend(1, 10, 'shop', category => 'kitchen', exclude_seen => false);
SELECT array_agg(item_id ORDER BY item_id) AS kitchen_any
FROM reco_recommend(1, 10, 'shop', category => 'kitchen', exclude_seen => false,
	available_only => false);
SELECT item_id, rank FROM reco_recommend(1, 2, 'shop', exclude => ARRAY[101, NULL, 999]);
SELECT count(*) FROM reco_recommend(1, 100, 'shop');
SELECT count(*) FROM reco_recommend(1, 100, 'shop', category => 'no such category');

-- a user the model has never seen gets the most popular available items
SELECT item_id, score, rank, source FROM reco_recommend(42, 3, 'shop');
SELECT item_id, score, rank, source FROM reco_recommend(42, 3, 'shop', available_only => false);
SELECT item_id, rank, source FROM reco_recommend(42, 3, 'shop', category => 'outdoor');

-- scores
SELECT reco_score(1, 101, 'shop') > reco_score(1, 201, 'shop') AS kitchen_first;
SELECT reco_score(5, 201, 'shop') > reco_score(5, 101, 'shop') AS outdoor_first;
SELECT reco_score(42, 101, 'shop') IS NULL AS unknown_user_null;

-- re-ranking a candidate list: unknown items last with NULL score,
-- duplicates and NULLs dropped
SELECT item_id, rank, score IS NULL AS no_score, source
FROM reco_rank(1, ARRAY[201, 101, 999, 101, NULL, 202], 'shop');
SELECT item_id, rank, score, source FROM reco_rank(42, ARRAY[201, 105, 203], 'shop');
SELECT count(*) FROM reco_rank(1, '{}', 'shop');

-- similar items: the kettle's neighbours are kitchen items
SELECT item_id, rank, source FROM reco_similar_items(101, 3, 'shop');
SELECT item_id, rank FROM reco_similar_items(201, 3, 'shop');

-- everything above is read-only: it runs in a read-only transaction
BEGIN TRANSACTION READ ONLY;
SELECT count(*) FROM reco_recommend(1, 3, 'shop');
SELECT count(*) FROM reco_recommend(42, 3, 'shop');
SELECT count(*) FROM reco_similar_items(101, 3, 'shop');
SELECT count(*) FROM reco_rank(1, ARRAY[101, 201], 'shop');
SELECT reco_score(1, 101, 'shop') IS NOT NULL;
COMMIT;

-- the backend cache follows the active version, also across rollback
SELECT reco_score(1, 101, 'shop') AS before \gset
BEGIN;
SELECT version FROM reco_train('shop', 'als', '{"seed": 9, "reg_exponent": 1}');
SELECT reco_score(1, 101, 'shop') <> :'before'::real AS new_version_served;
ROLLBACK;
SELECT reco_score(1, 101, 'shop') = :'before'::real AS old_version_back;
SELECT reco_activate('shop', 1);
SELECT reco_score(1, 101, 'shop') = :'before'::real AS same_seed_same_model;
SELECT reco_activate('shop', 2);

-- errors
SELECT * FROM reco_recommend(1, 0, 'shop');
SELECT * FROM reco_recommend(1, 10001, 'shop');
SELECT * FROM reco_recommend(NULL, 3, 'shop');
SELECT * FROM reco_recommend(1, NULL, 'shop');
SELECT * FROM reco_recommend(1, 3, NULL);
SELECT * FROM reco_recommend(1, 3);
SELECT * FROM reco_recommend(1, 3, 'no such model');
INSERT INTO reco_model (name, algorithm) VALUES ('untrained', 'als');
SELECT * FROM reco_recommend(1, 3, 'untrained');
DELETE FROM reco_model WHERE name = 'untrained';
SELECT reco_score(1, 999, 'shop');
SELECT * FROM reco_similar_items(999, 3, 'shop');
SELECT * FROM reco_similar_items(101, -1, 'shop');
SELECT reco_score(NULL, 101, 'shop') IS NULL AS strict_null;
