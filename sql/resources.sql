-- Bounded resources: the memory budget of training, evaluation and refresh,
-- superuser-only settings, cancellation within a second, and tuning that
-- samples a grid without building it
SET reco.progress = off;
CREATE FUNCTION pg_temp.outcome(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- 20,000 users with two items each, item 1000 touched by all of them
CREATE TABLE res_events AS
SELECT u::bigint AS u, (u % 40 + 1)::bigint AS i FROM generate_series(1, 20000) u
UNION ALL SELECT u, 1000 FROM generate_series(1, 20000) u;

-- training: the factors do not fit, and the run stops before allocating them
SET reco.max_train_memory = '8MB';
SELECT pg_temp.outcome($$SELECT reco_train_agg(u, i, 1, 'res', '{"factors": 1024, "repeat": false}') FROM res_events$$);
-- the per-thread scratch counts too (each thread holds a 512 x 512 system)
SET reco.max_train_memory = '32MB';
SET reco.train_threads = 64;
SELECT pg_temp.outcome($$SELECT reco_train_agg(u, i, 1, 'res_small', '{"factors": 512, "iterations": 1}')
	FROM generate_series(1, 50) u, generate_series(1, 50) i$$);
SET reco.train_threads = 1;
SELECT pg_temp.outcome($$SELECT reco_train_agg(u, i, 1, 'res_small', '{"factors": 512, "iterations": 1}')
	FROM generate_series(1, 50) u, generate_series(1, 50) i$$);
RESET reco.train_threads;
RESET reco.max_train_memory;
SELECT (r).users, (r).items
FROM (SELECT reco_train_agg(u, i, 1, 'res', '{"factors": 16, "iterations": 2}') AS r FROM res_events) t;

-- evaluation: reading the events stops at the limit
SET reco.max_train_memory = '1MB';
SELECT pg_temp.outcome($$SELECT reco_evaluate_params('SELECT u, i FROM res_events', 'SELECT 1, 1')$$);
SELECT pg_temp.outcome($$SELECT reco_evaluate('res', 'SELECT u, i FROM res_events')$$);
RESET reco.max_train_memory;
SELECT users FROM reco_evaluate('res', 'SELECT u, i FROM res_events WHERE u <= 10');

-- refresh: the users of a touched item count (item 1000 has 20,000)
SELECT reco_online_update(1, 1000, 'purchase', 1, 'res');
SET reco.max_train_memory = '1MB';
SELECT pg_temp.outcome($$SELECT reco_refresh('res')$$);
RESET reco.max_train_memory;
SELECT events, items FROM reco_refresh('res');

-- threads and memory are the superuser's to give
CREATE ROLE reco_res_user;
SET ROLE reco_res_user;
SELECT pg_temp.outcome($$SET reco.train_threads = 2$$);
SELECT pg_temp.outcome($$SET reco.max_train_memory = '64GB'$$);
SELECT pg_temp.outcome($$SELECT pg_catalog.set_config('reco.train_threads', '64', false)$$);
RESET ROLE;
DROP ROLE reco_res_user;

-- a huge grid (200 million combinations) sampled: exactly the trials asked
-- for, distinct, each a point of the grid
SELECT count(*) AS trials, count(DISTINCT params) AS distinct_params,
	bool_and(params->'alpha' <@ '[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]'::jsonb AND params->>'iterations' = '2')
		AS in_grid
FROM reco_tune('res_tune', 'SELECT u, i FROM generate_series(1, 30) u, generate_series(1, 20) i WHERE (u + i) % 3 = 0',
	jsonb_build_object('factors', '[2, 3]'::jsonb,
		'alpha', (SELECT jsonb_agg(a) FROM generate_series(1, 10) a),
		'regularization', (SELECT jsonb_agg(r / 1000.0) FROM generate_series(1, 1000) r),
		'init_scale', (SELECT jsonb_agg(s / 10000.0) FROM generate_series(1, 1000) s),
		'seed', (SELECT jsonb_agg(s) FROM generate_series(1, 10) s)),
	'{"iterations": 2}', trials => 3, folds => 2, activate => false);
SELECT count(*) AS recorded FROM reco_tune_trial WHERE model = 'res_tune';
-- the same grid in full is refused before anything runs
SELECT pg_temp.outcome($$SELECT reco_tune('res_tune', 'SELECT 1, 1',
	jsonb_build_object('alpha', (SELECT jsonb_agg(a) FROM generate_series(1, 1000) a),
		'seed', (SELECT jsonb_agg(s) FROM generate_series(1, 1000) s)), activate => false)$$);
SELECT count(*) AS recorded FROM reco_tune_trial WHERE model = 'res_tune';

-- cancellation: a fit of minutes (Cholesky at 1,024 factors, 2,000 users and
-- items) stops within a second of statement_timeout, on one thread and two
CREATE TABLE res_big AS
SELECT u::bigint AS u, i::bigint AS i FROM generate_series(1, 2000) u, generate_series(1, 2000) i
WHERE (u * 7 + i * 13) % 100 = 0;
CREATE FUNCTION pg_temp.cancelled_fit() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	PERFORM reco_train_agg(u, i, 1, 'res_cancel', '{"factors": 1024, "solver": "cholesky", "iterations": 3, "repeat": false}')
	FROM res_big;
	RETURN 'finished: the fit was expected to outlast the timeout';
EXCEPTION WHEN query_canceled THEN
	RETURN format('%s after 1 s and before 3 s: %s', SQLSTATE,
		clock_timestamp() - statement_timestamp() BETWEEN interval '1 s' AND interval '3 s');
END $$;
SET statement_timeout = '1s';
SELECT pg_temp.cancelled_fit();
RESET statement_timeout;
SET reco.train_threads = 2;
SET statement_timeout = '1s';
SELECT pg_temp.cancelled_fit();
RESET statement_timeout;
RESET reco.train_threads;
SELECT count(*) AS no_trace FROM reco_model WHERE name = 'res_cancel';

-- EASE's inverse (8,000 items: 11 s here) polls between its blocks
CREATE TABLE res_wide AS
SELECT (i % 2000)::bigint AS u, i::bigint AS i FROM generate_series(1, 8000) i
UNION ALL SELECT (i * 7 % 2000)::bigint, i FROM generate_series(1, 8000) i;
CREATE FUNCTION pg_temp.cancelled_ease() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	PERFORM reco_train_agg(u, i, 1, 'res_ease', '{"algorithm": "ease", "repeat": false}')
	FROM res_wide;
	RETURN 'finished: the inverse was expected to outlast the timeout';
EXCEPTION WHEN query_canceled THEN
	RETURN format('%s after 1 s and before 3 s: %s', SQLSTATE,
		clock_timestamp() - statement_timestamp() BETWEEN interval '1 s' AND interval '3 s');
END $$;
SET statement_timeout = '1s';
SELECT pg_temp.cancelled_ease();
RESET statement_timeout;
SELECT count(*) AS no_trace FROM reco_model WHERE name = 'res_ease';

DROP TABLE res_events, res_big, res_wide;
SELECT reco_drop_model(m) FROM unnest(ARRAY['res', 'res_small']) m;
