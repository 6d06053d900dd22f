-- reco_forget_user: after it, no table and no version names or encodes the
-- customer
SET reco.progress = off;
SET reco.online = off;	-- the other tests' models stay out of it
INSERT INTO reco_event (user_id, item_id, kind, value)
SELECT u, 9100 + i, 'purchase', 1
FROM generate_series(9001, 9012) u, generate_series(1, 7) i
WHERE (u * 3 + i) % 4 <> 0;
-- customer 9013 bought items others bought, and item 9108 nobody else did
INSERT INTO reco_event (user_id, item_id, kind, value)
VALUES (9013, 9101, 'purchase', 1), (9013, 9102, 'purchase', 1), (9013, 9108, 'purchase', 1);
INSERT INTO reco_event (user_id, item_id, kind, value)
SELECT user_id, item_id, 'rating', 1 + (user_id + item_id) % 5 FROM reco_event
WHERE user_id BETWEEN 9001 AND 9013;
RESET reco.online;
CREATE TEMP VIEW forget_events AS
SELECT * FROM reco_event WHERE user_id BETWEEN 9001 AND 9013;
CREATE TEMP TABLE forget_params AS
SELECT '{"factors": 3, "iterations": 6, "regularization": 0.1, "solver": "cholesky"}'::jsonb AS p;

-- two versions of an implicit model (one served), and a rating model, all
-- trained on the slice with 9013; 9013's next event waits in the queue
SELECT (reco_train_agg(user_id, item_id, value, 'forget', p)).version
FROM forget_events, forget_params WHERE kind = 'purchase';
SELECT (reco_train_agg(user_id, item_id, value, 'forget', p || '{"seed": 7}')).version
FROM forget_events, forget_params WHERE kind = 'purchase';
SELECT reco_online_update(9013, 9103, 'view', 1, 'forget');
SELECT (reco_train_agg(user_id, item_id, value, 'forget_rated', p || '{"feedback": "explicit"}')).version
FROM forget_events, forget_params WHERE kind = 'rating';
SELECT m.model, m.active_version, v.version, v.n_users, v.n_items
FROM reco_models m JOIN reco_model_version v ON v.model = m.model
WHERE m.model LIKE 'forget%' ORDER BY 1, 3;
SELECT source FROM reco_recommend(9013, 1, 'forget');

SELECT * FROM reco_forget_user(9013);

-- nothing names them any more: no event, no row, no queued event, in any version
SELECT (SELECT count(*) FROM reco_event WHERE user_id = 9013) AS events,
	(SELECT count(*) FROM reco_user_factors WHERE user_id = 9013) AS rows,
	(SELECT count(*) FROM reco_pending WHERE user_id = 9013) AS queued;
-- they are served as a stranger, by every version
SELECT source FROM reco_recommend(9013, 1, 'forget');
SELECT reco_score(9013, 9101, 'forget') IS NULL AS unknown;
SELECT reco_activate('forget', 1);
SELECT source FROM reco_recommend(9013, 1, 'forget');
SELECT reco_activate('forget', 2);
-- the item only they bought left every version; the sizes went down
SELECT count(*) AS item_9108 FROM reco_item_factors WHERE item_id = 9108;
SELECT m.model, v.version, v.n_users, v.n_items, v.n_interactions
FROM reco_models m JOIN reco_model_version v ON v.model = m.model
WHERE m.model LIKE 'forget%' ORDER BY 1, 2;

-- against a model trained without them: the same users with the same
-- histories, the same items
SELECT (reco_train_agg(user_id, item_id, value, 'forget_never', p)).version
FROM forget_events, forget_params WHERE kind = 'purchase';
SELECT count(*) AS users, count(*) FILTER (WHERE a.items = b.items AND a.weights = b.weights) AS same_history
FROM reco_user_factors a JOIN reco_user_factors b USING (user_id)
WHERE a.version_id = (SELECT active_version FROM reco_model WHERE name = 'forget')
  AND b.version_id = (SELECT active_version FROM reco_model WHERE name = 'forget_never');
SELECT (SELECT array_agg(item_id ORDER BY item_id) FROM reco_item_factors
		WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'forget'))
	= (SELECT array_agg(item_id ORDER BY item_id) FROM reco_item_factors
		WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'forget_never'))
	AS same_items;
-- and the items they touched are exactly what the item solve gives from the
-- users left: solving them again (a refresh of those items) changes no bit
-- (had they only lost their row, the solve would move 9101 and 9102)
CREATE TEMP TABLE forgotten_items AS
SELECT item_id, factors FROM reco_item_factors
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'forget')
  AND item_id IN (9101, 9102, 9103);
INSERT INTO reco_pending (version_id, user_id, item_id, weight)
SELECT (SELECT active_version FROM reco_model WHERE name = 'forget'), 9001, item_id, 0
FROM forgotten_items;
SELECT items FROM reco_refresh('forget');
SELECT count(*) AS items, count(*) FILTER (WHERE f.factors = i.factors) AS unchanged
FROM forgotten_items f JOIN reco_item_factors i USING (item_id)
WHERE i.version_id = (SELECT active_version FROM reco_model WHERE name = 'forget');

-- the rating model still predicts for everyone else
SELECT count(*) AS scored FROM generate_series(9001, 9012) u,
	LATERAL (SELECT reco_score(u, 9101, 'forget_rated') AS s) x WHERE x.s BETWEEN 0 AND 6;

-- forgetting someone unknown changes nothing
SELECT * FROM reco_forget_user(9999);
SELECT * FROM reco_forget_user(NULL);

SELECT reco_drop_model('forget');
SELECT reco_drop_model('forget_rated');
SELECT reco_drop_model('forget_never');
DELETE FROM reco_event WHERE user_id BETWEEN 9001 AND 9013;
