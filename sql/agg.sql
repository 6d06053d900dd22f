-- Training from the shop's own tables with the reco_train_agg aggregate
SET reco.progress = off;

CREATE TABLE orders (customer bigint, product bigint, qty int, status text);
INSERT INTO orders
SELECT c, p, 1 + (c + p) % 3, 'paid'
FROM generate_series(1, 6) c, generate_series(1, 6) p
WHERE (c <= 3) = (p <= 3) AND c <> p;
-- a refund cancels customer 1's order of product 2
INSERT INTO orders VALUES (1, 2, -5, 'refund');

SELECT model, version, users, items, interactions, round(loss::numeric, 4) AS loss
FROM (SELECT (reco_train_agg(customer, product, qty, 'orders',
		'{"factors": 3, "iterations": 8, "alpha": 2}')).* FROM orders) t;
-- the refund summed the pair to a negative weight: it is gone
SELECT user_id, items, weights FROM reco_user_factors
WHERE version_id = (SELECT active_version FROM reco_model WHERE name = 'orders')
  AND user_id IN (1, 4) ORDER BY user_id;

-- any slice: only paid orders, weighted as the analyst chooses
SELECT (reco_train_agg(customer, product, ln(1 + qty)::real, 'orders')).version
FROM orders WHERE status = 'paid';
SELECT version, params->>'factors' AS factors_kept FROM reco_model_version
WHERE model = 'orders' ORDER BY version;

-- it serves like any model
SELECT item_id, rank FROM reco_recommend(1, 1, 'orders', available_only => false);
SELECT item_id, rank FROM reco_similar_items(4, 2, 'orders');

-- a serial plan even where parallel query would be chosen: the final
-- function writes the model, which parallel workers cannot do
SELECT proparallel FROM pg_proc WHERE proname = 'reco_train_agg' LIMIT 1;

-- bad input
SELECT reco_train_agg(customer, product, NULL, 'orders') FROM orders;
SELECT reco_train_agg(NULL, product, 1, 'orders') FROM orders;
SELECT reco_train_agg(customer, product, 'NaN', 'orders') FROM orders;
SELECT reco_train_agg(customer, product, 1, NULL) FROM orders;
SELECT reco_train_agg(customer, product, 1, 'orders', '{"iterations": 0}') FROM orders;
SELECT reco_train_agg(customer, product, 1, 'orders') FROM orders WHERE false;
SELECT reco_train_agg(customer, product, -1, 'orders') FROM orders;
SELECT max(version) FROM reco_model_version WHERE model = 'orders';

DROP TABLE orders;
