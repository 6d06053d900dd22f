-- Least privilege, each rule proven as an unprivileged role: readers serve,
-- writers feed events, administrators and a model's owner change models,
-- nobody reads the model tables beyond what the functions return
SET reco.progress = off;
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_reco_nobody, regress_reco_app, regress_reco_feed,
	regress_reco_ops, regress_reco_alice, regress_reco_bob;
RESET client_min_messages;
CREATE ROLE regress_reco_nobody;
CREATE ROLE regress_reco_app IN ROLE reco_reader;
CREATE ROLE regress_reco_feed IN ROLE reco_writer;
CREATE ROLE regress_reco_ops IN ROLE reco_admin;
-- alice and bob may train (granted directly), but administer nothing
CREATE ROLE regress_reco_alice;
CREATE ROLE regress_reco_bob;
GRANT EXECUTE ON FUNCTION reco_train(text, text, jsonb), reco_activate(text, int),
	reco_drop_model(text), reco_refresh(text), reco_forget_user(bigint)
	TO regress_reco_alice, regress_reco_bob;
GRANT SELECT ON reco_event TO regress_reco_alice, regress_reco_bob;
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.try(text) TO PUBLIC;

INSERT INTO reco_event (user_id, item_id, kind)
SELECT u, 8100 + (u * 3 + i) % 9, 'purchase' FROM generate_series(8001, 8020) u, generate_series(1, 4) i;
SELECT version FROM reco_train('sec', 'als', '{"factors": 4, "iterations": 4}');
-- a warm cache in this session
SELECT count(*) FROM reco_similar_items(8101, 3, 'sec');

-- no rights at all: nothing is served, warm cache or not
SET ROLE regress_reco_nobody;
SELECT pg_temp.try($$SELECT * FROM reco_similar_items(8101, 3, 'sec')$$);
SELECT pg_temp.try($$SELECT * FROM reco_recommend(8001, 3, 'sec')$$);
SELECT pg_temp.try($$SELECT * FROM reco_recommend_items(ARRAY[8101], 3, 'sec')$$);
SELECT pg_temp.try($$INSERT INTO reco_event (user_id, item_id, kind) VALUES (8001, 8101, 'view')$$);
RESET ROLE;

-- a reader is served, and reads no model table
SET ROLE regress_reco_app;
SELECT count(*) AS served FROM reco_recommend(8001, 3, 'sec');
SELECT count(*) AS similar FROM reco_similar_items(8101, 3, 'sec');
SELECT count(*) AS basket FROM reco_recommend_items(ARRAY[8101], 3, 'sec');
SELECT pg_temp.try($$SELECT * FROM reco_user_factors$$);
SELECT pg_temp.try($$SELECT * FROM reco_item_factors$$);
SELECT pg_temp.try($$SELECT * FROM reco_model$$);
SELECT pg_temp.try($$SELECT * FROM reco_train('sec')$$);
SELECT pg_temp.try($$INSERT INTO reco_event (user_id, item_id, kind) VALUES (8001, 8101, 'view')$$);
RESET ROLE;

-- a writer's INSERT learns online, with no right on the model tables
SET ROLE regress_reco_feed;
INSERT INTO reco_event (user_id, item_id, kind) VALUES (8001, 8108, 'cart');
SELECT reco_online_update(8002, 8108, 'view', 1, 'sec');
SELECT pg_temp.try($$UPDATE reco_user_factors SET factors = '\x00'$$);
SELECT pg_temp.try($$INSERT INTO reco_pending (version_id, user_id, item_id, weight) VALUES (1, 1, 1, 1)$$);
SELECT pg_temp.try($$SELECT * FROM reco_user_factors$$);
SELECT pg_temp.try($$SELECT * FROM reco_event$$);
SELECT pg_temp.try($$SELECT * FROM reco_recommend(8001, 3, 'sec')$$);
SELECT pg_temp.try($$SELECT reco_refresh('sec')$$);
RESET ROLE;
SELECT u.user_id, 8108 = ANY (u.items) AS learned,
	(SELECT count(*) FROM reco_pending p WHERE p.version_id = u.version_id AND p.user_id = u.user_id) AS queued
FROM reco_user_factors u JOIN reco_model m ON m.active_version = u.version_id
WHERE m.name = 'sec' AND u.user_id IN (8001, 8002) ORDER BY 1;

-- a model belongs to who first trained it: alice's is hers (and admins')
SET ROLE regress_reco_alice;
SELECT version FROM reco_train('sec_alice', 'als', '{"factors": 2, "iterations": 2}');
SELECT version FROM reco_train('sec_alice');
SELECT pg_temp.try($$SELECT reco_train('sec')$$);
RESET ROLE;
SELECT name, owner FROM reco_model WHERE name LIKE 'sec%' ORDER BY 1;
SET ROLE regress_reco_bob;
SELECT pg_temp.try($$SELECT reco_train('sec_alice')$$);
SELECT pg_temp.try($$SELECT reco_activate('sec_alice', 1)$$);
SELECT pg_temp.try($$SELECT reco_refresh('sec_alice')$$);
SELECT pg_temp.try($$SELECT reco_drop_model('sec_alice')$$);
-- forgetting touches every model: administrators only
SELECT pg_temp.try($$SELECT reco_forget_user(8001)$$);
RESET ROLE;
SET ROLE regress_reco_alice;
SELECT pg_temp.try($$SELECT reco_activate('sec_alice', 1)$$);
SELECT pg_temp.try($$SELECT reco_refresh('sec_alice')$$);
RESET ROLE;
-- an administrator may change anyone's model and forget a customer
SET ROLE regress_reco_ops;
SELECT pg_temp.try($$SELECT reco_activate('sec_alice', 2)$$);
SELECT pg_temp.try($$SELECT * FROM reco_forget_user(8020)$$);
SELECT pg_temp.try($$SELECT * FROM reco_user_factors$$);
SELECT pg_temp.try($$SELECT * FROM reco_pending$$);
SELECT count(*) AS versions FROM reco_versions WHERE model = 'sec_alice';
SELECT pg_temp.try($$SELECT reco_drop_model('sec_alice')$$);
RESET ROLE;

-- row security: a model trained through the aggregate holds only the rows
-- its trainer could see, and nobody reads those histories back
CREATE TABLE sec_orders (tenant name, customer bigint, product bigint);
INSERT INTO sec_orders SELECT CASE WHEN u <= 8010 THEN 'regress_reco_ops' ELSE 'someone_else' END,
	u, 8100 + (u + i) % 9 FROM generate_series(8001, 8019) u, generate_series(1, 3) i;
ALTER TABLE sec_orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY sec_tenant ON sec_orders USING (tenant = current_user);
GRANT SELECT ON sec_orders TO regress_reco_ops;
SET ROLE regress_reco_ops;
SELECT (reco_train_agg(customer, product, 1, 'sec_tenant', '{"factors": 2}')).interactions
FROM sec_orders;
SELECT count(*) AS visible FROM sec_orders;
SELECT max(source) AS other_tenant FROM reco_recommend(8015, 3, 'sec_tenant');
SELECT max(source) AS own_tenant FROM reco_recommend(8005, 3, 'sec_tenant');
SELECT pg_temp.try($$SELECT * FROM reco_user_factors$$);
RESET ROLE;
SELECT count(*) AS users, max(user_id) AS last_user FROM reco_user_factors u
JOIN reco_model m ON m.active_version = u.version_id WHERE m.name = 'sec_tenant';

-- the same for reco_train on reco_event itself
ALTER TABLE reco_event ENABLE ROW LEVEL SECURITY;
CREATE POLICY sec_low ON reco_event USING (user_id < 8010 OR user_id > 8100);
SET ROLE regress_reco_ops;
SELECT version FROM reco_train('sec_rls', 'als', '{"factors": 2, "iterations": 2}');
RESET ROLE;
SELECT count(*) AS users, max(u.user_id) < 8010 AS only_visible FROM reco_user_factors u
JOIN reco_model m ON m.active_version = u.version_id WHERE m.name = 'sec_rls' AND u.user_id BETWEEN 8001 AND 8100;
-- and it does not learn online what its trainer could not see
SELECT online FROM reco_model WHERE name = 'sec_rls';
INSERT INTO reco_event (user_id, item_id, kind) VALUES (8050, 8101, 'purchase');
SELECT count(*) AS hidden_user_learned FROM reco_user_factors u
JOIN reco_model m ON m.active_version = u.version_id WHERE m.name = 'sec_rls' AND u.user_id = 8050;

-- a writer feeds models that learn online from reco_event, nothing else:
-- not one switched off, and not one its owner trained on a query
UPDATE reco_model SET online = false WHERE name = 'sec';
SET ROLE regress_reco_feed;
SELECT reco_online_update(8003, 8104, 'view', 1, 'sec') AS applied_while_off;
SELECT pg_temp.try($$SELECT reco_online_update(8003, 8104, 'view', 1, 'sec_tenant')$$);
RESET ROLE;
UPDATE reco_model SET online = true WHERE name = 'sec';

-- one customer repeating an event cannot make an item theirs: solves count
-- a pair's summed weight up to the model's max_weight (16 by default, two
-- purchases), online and in training alike, while the history keeps the
-- whole sum: twenty purchases weigh what two do
SET ROLE regress_reco_feed;
INSERT INTO reco_event (user_id, item_id, kind, value)
SELECT 8190, 8105, 'purchase', 1e6 FROM generate_series(1, 20);
INSERT INTO reco_event (user_id, item_id, kind) VALUES (8191, 8105, 'purchase'), (8191, 8105, 'purchase');
RESET ROLE;
CREATE FUNCTION pg_temp.same_vector(m text) RETURNS TABLE (sums real[], same_vector boolean)
LANGUAGE sql AS $$
	SELECT ARRAY[a.weights[1], b.weights[1]], a.factors = b.factors
	FROM reco_user_factors a, reco_user_factors b, reco_model r
	WHERE r.name = m AND a.version_id = r.active_version AND b.version_id = r.active_version
	  AND a.user_id = 8190 AND b.user_id = 8191 $$;
SELECT * FROM pg_temp.same_vector('sec');
SELECT version FROM reco_train('sec_capped', 'als', '{"factors": 2, "iterations": 2, "solver": "cholesky"}');
SELECT * FROM pg_temp.same_vector('sec_capped');
SELECT reco_drop_model('sec_capped');
DROP POLICY sec_low ON reco_event;
ALTER TABLE reco_event DISABLE ROW LEVEL SECURITY;

-- profiles: the application registers and updates customers but reads no
-- profile back; serving uses them for an mlp model without anyone's right
-- to read them; administrators read them
SET ROLE regress_reco_feed;
INSERT INTO reco_user (user_id, attributes) VALUES (8301, '{"segment": "gold"}');
UPDATE reco_user SET attributes = '{"segment": "silver"}' WHERE user_id = 8301;
SELECT attributes FROM reco_user WHERE user_id = 8301;
RESET ROLE;
SET ROLE regress_reco_app;
SELECT count(*) FROM reco_user;
RESET ROLE;
SET ROLE regress_reco_nobody;
INSERT INTO reco_user (user_id) VALUES (8302);
RESET ROLE;
SELECT version FROM reco_train('sec_mlp', 'mlp', '{"dim": 4, "hidden": [4], "epochs": 2}');
SET ROLE regress_reco_app;
SELECT count(*) > 0 AS served, bool_and(source = 'profile') AS from_profile
FROM reco_recommend(8301, 3, 'sec_mlp');
RESET ROLE;
SET ROLE regress_reco_ops;
SELECT attributes FROM reco_user WHERE user_id = 8301;
RESET ROLE;
SELECT reco_drop_model('sec_mlp');
DELETE FROM reco_user WHERE user_id = 8301;

-- the functions and tables the roles hold, from the catalog
SELECT p.proname, r.rolname
FROM pg_proc p CROSS JOIN unnest(ARRAY['reco_reader', 'reco_writer']) r(rolname)
WHERE p.pronamespace = (SELECT extnamespace FROM pg_extension WHERE extname = 'reco')
  AND p.proname LIKE 'reco\_%' AND has_function_privilege(r.rolname, p.oid, 'EXECUTE')
ORDER BY 2, 1;
SELECT count(*) AS public_functions FROM pg_proc p
WHERE p.pronamespace = (SELECT extnamespace FROM pg_extension WHERE extname = 'reco')
  AND p.proname LIKE 'reco\_%' AND has_function_privilege('regress_reco_nobody', p.oid, 'EXECUTE');

SELECT reco_drop_model('sec');
SELECT reco_drop_model('sec_tenant');
SELECT reco_drop_model('sec_rls');
DROP TABLE sec_orders;
DELETE FROM reco_event WHERE user_id BETWEEN 8001 AND 8200;
REVOKE ALL ON FUNCTION reco_train(text, text, jsonb), reco_activate(text, int),
	reco_drop_model(text), reco_refresh(text), reco_forget_user(bigint)
	FROM regress_reco_alice, regress_reco_bob, regress_reco_ops;
REVOKE ALL ON reco_event FROM regress_reco_alice, regress_reco_bob;
DROP ROLE regress_reco_nobody, regress_reco_app, regress_reco_feed,
	regress_reco_ops, regress_reco_alice, regress_reco_bob;
