-- The SQLSTATE of every error a user can cause (messages are in the other tests)
CREATE FUNCTION pg_temp.sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END
$$;
SET reco.progress = off;

SELECT q AS statement, pg_temp.sqlstate_of(q) AS sqlstate FROM (VALUES
	($$INSERT INTO reco_event (user_id, item_id, kind) VALUES (1, 1, 'like')$$),
	($$INSERT INTO reco_event (user_id, item_id, kind, value) VALUES (1, 1, 'view', 'NaN')$$),
	($$INSERT INTO reco_event (user_id, item_id, kind) VALUES (NULL, 1, 'view')$$),
	($$SELECT reco_train('bad', 'als', '{"nope": 1}')$$),
	($$SELECT reco_train('bad', 'als', '{"factors": 0}')$$),
	($$SELECT reco_train('bad', 'bpr')$$),
	($$SELECT reco_train('bad', 'als', '{"value": 1}')$$),
	($$SELECT reco_train(NULL)$$),
	($$SELECT reco_train(repeat('x', 64))$$),
	($$SELECT reco_train('bad', 'als', '{"weights": {"view": 0, "purchase": 0, "rating": 0}}')$$),
	($$SELECT reco_train_agg(1, 1, NULL, 'bad')$$),
	($$SELECT reco_train_agg(1, 1, 'Infinity', 'bad')$$),
	($$SELECT reco_train_agg(1, 1, 1, 'bad') WHERE false$$),
	($$SELECT * FROM reco_recommend(1, 0, 'shop')$$),
	($$SELECT * FROM reco_recommend(NULL, 1, 'shop')$$),
	($$SELECT * FROM reco_recommend(1, 1, 'missing')$$),
	($$SELECT reco_score(1, 999, 'shop')$$),
	($$SELECT * FROM reco_similar_items(999, 3, 'shop')$$),
	($$SELECT * FROM reco_rank(1, ARRAY[1], 'missing')$$),
	($$SELECT reco_online_update(NULL, 1, 'view', 1, 'shop')$$),
	($$SELECT reco_online_update(1, 1, 'like', 1, 'shop')$$),
	($$SELECT reco_online_update(1, 1, 'view', 'NaN', 'shop')$$),
	($$SELECT reco_online_update(1, 1, 'view', 1, 'missing')$$),
	($$SELECT reco_online_trigger()$$),
	($$SELECT reco_registry_changed()$$),
	($$SELECT reco_refresh('missing')$$),
	($$SELECT reco_activate('shop', 99)$$),
	($$SELECT reco_activate('missing', 1)$$),
	($$SELECT reco_drop_model('missing')$$),
	($$SET reco.train_threads = 0$$),
	($$SET reco.max_train_memory = '100kB'$$)
) v(q);
