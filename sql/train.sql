-- Training ALS on reco_event: versions, activation, parameters, errors
SET reco.progress = off;

SELECT model, version, users, items, interactions, round(loss::numeric, 4) AS loss
FROM reco_train('shop', 'als', '{"factors": 4, "iterations": 10, "regularization": 0.05, "alpha": 4}');

-- the summed weights the model saw: purchase 8, view 1, rating 1, times the
-- sign of the value (the default "value": "unit" counts each event once);
-- user 5 returned item 203 (purchase -1 outweighs the view), so it is dropped
SELECT user_id, items, weights FROM reco_user_factors
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'shop')
ORDER BY user_id;
SELECT item_id, popularity, length(factors) AS bytes FROM reco_item_factors
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'shop')
ORDER BY item_id;
SELECT name, length(data) AS bytes FROM reco_model_blob
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'shop');

-- the version records its resolved parameters, the loss per iteration and timings
SELECT version, algorithm, factors, n_users, n_items, n_interactions,
	params->>'alpha' AS alpha, params->'weights'->>'purchase' AS purchase_weight,
	jsonb_array_length(metrics->'loss') AS iterations,
	(metrics->'loss'->>0)::float8 > (metrics->'loss'->>9)::float8 AS loss_fell,
	metrics->'seconds' ?& ARRAY['read', 'repeat', 'solve', 'write', 'per_iteration'] AS has_timings
FROM reco_model_version WHERE model = 'shop';

-- a fixed seed gives the same model, bit for bit
SELECT version FROM reco_train('shop2', 'als',
	'{"factors": 4, "iterations": 10, "regularization": 0.05, "alpha": 4}');
SELECT count(*) AS items, count(*) FILTER (WHERE a.factors = b.factors) AS identical
FROM reco_item_factors a JOIN reco_item_factors b USING (item_id)
WHERE a.version_id = (SELECT active_version FROM reco_model WHERE name = 'shop')
  AND b.version_id = (SELECT active_version FROM reco_model WHERE name = 'shop2');
-- and so does a run on two threads
SET reco.train_threads = 2;
SELECT version FROM reco_train('shop3', 'als',
	'{"factors": 4, "iterations": 10, "regularization": 0.05, "alpha": 4}');
RESET reco.train_threads;
SELECT count(*) FILTER (WHERE a.factors = b.factors) AS identical
FROM reco_item_factors a JOIN reco_item_factors b USING (item_id)
WHERE a.version_id = (SELECT active_version FROM reco_model WHERE name = 'shop')
  AND b.version_id = (SELECT active_version FROM reco_model WHERE name = 'shop3');
SELECT reco_drop_model('shop3');
-- and another seed a different one
SELECT version FROM reco_train('shop3', 'als',
	'{"factors": 4, "iterations": 10, "regularization": 0.05, "alpha": 4, "seed": 7}');
SELECT count(*) FILTER (WHERE a.factors = b.factors) AS identical
FROM reco_item_factors a JOIN reco_item_factors b USING (item_id)
WHERE a.version_id = (SELECT active_version FROM reco_model WHERE name = 'shop')
  AND b.version_id = (SELECT active_version FROM reco_model WHERE name = 'shop3');
SELECT reco_drop_model('shop3');

-- retraining keeps the parameters, makes version 2 and activates it
SELECT version, users FROM reco_train('shop');
SELECT model, algorithm, active_version, factors, users, items, interactions, versions
FROM reco_models ORDER BY model;
-- rollback to version 1, in one step
SELECT reco_activate('shop', 1);
SELECT active_version FROM reco_models WHERE model = 'shop';
SELECT reco_activate('shop', 2);

-- the exact solver gives a model too
SELECT version, round(loss::numeric, 4) AS loss
FROM reco_train('exact', 'als', '{"factors": 4, "iterations": 5, "solver": "cholesky", "regularization": 0.05}');

-- event kinds can be weighted per model; a kind weighted 0 is ignored
SELECT users, items, interactions
FROM reco_train('views_only', 'als', '{"factors": 2, "iterations": 2, "weights": {"purchase": 0, "rating": 0}}');

-- an event's value can be damped: sign(v) ln(1 + |v|), or sign(v) (once per event)
SELECT version FROM reco_train('damped', 'als', '{"factors": 2, "iterations": 2, "value": "log"}');
SELECT user_id, items, weights FROM reco_user_factors
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'damped') AND user_id IN (1, 5)
ORDER BY user_id;
SELECT version FROM reco_train('damped', 'als', '{"value": "unit"}');
SELECT user_id, items, weights FROM reco_user_factors
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'damped') AND user_id IN (1, 5)
ORDER BY user_id;
SELECT params->>'value' AS value FROM reco_model WHERE name = 'damped';
SELECT reco_drop_model('damped');

-- bad parameters
SELECT * FROM reco_train('bad', 'als', '{"value": "square"}');
SELECT * FROM reco_train('bad', 'als', '{"factor": 4}');
SELECT * FROM reco_train('bad', 'als', '{"factors": 0}');
SELECT * FROM reco_train('bad', 'als', '{"factors": 2.5}');
SELECT * FROM reco_train('bad', 'als', '{"factors": "many"}');
SELECT * FROM reco_train('bad', 'als', '{"alpha": -1}');
SELECT * FROM reco_train('bad', 'als', '{"solver": "qr"}');
SELECT * FROM reco_train('bad', 'als', '{"weights": {"like": 1}}');
SELECT * FROM reco_train('bad', 'als', '{"weights": [1]}');
SELECT * FROM reco_train('bad', 'als', '[1, 2]');
SELECT * FROM reco_train('bad', 'bpr');
SELECT * FROM reco_train(NULL);
SELECT * FROM reco_train('');
SELECT * FROM reco_train('bad', NULL);
-- nothing to train on
SELECT * FROM reco_train('bad', 'als', '{"weights": {"view": 0, "purchase": 0, "rating": 0}}');
-- a failed run leaves no trace
SELECT count(*) FROM reco_model WHERE name = 'bad';

-- too little memory allowed: a clear error before anything is allocated
CREATE TABLE many AS
SELECT (i % 5000)::bigint AS u, (i * 7919) % 20000 AS i FROM generate_series(1, 300000::bigint) i;
SET reco.max_train_memory = '1MB';
SELECT reco_train_agg(u, i, 1, 'big', '{"factors": 1024, "repeat": false}') FROM many;
SET reco.max_train_memory = '32MB';
SELECT reco_train_agg(u, i, 1, 'big', '{"factors": 1024, "repeat": false}') FROM many;
RESET reco.max_train_memory;

-- training is cancellable (statement_timeout), and the served model stays
SET statement_timeout = '300ms';
SELECT reco_train_agg(u, i, 1, 'shop', '{"factors": 200, "iterations": 200}') FROM many;
RESET statement_timeout;
SELECT active_version FROM reco_models WHERE model = 'shop';
DROP TABLE many;

-- management errors
SELECT reco_activate('shop', 99);
SELECT reco_activate('nope', 1);
SELECT reco_drop_model('nope');
SELECT reco_drop_model('shop2');
SELECT count(*) FROM reco_model_version WHERE model = 'shop2';
