-- reco demo on real data: the UCI "Online Retail" purchases (CC BY 4.0, see
-- data/online-retail/README.md).
--
-- Run from the repository root (the data path below is relative to it):
--     psql -X -q -v ON_ERROR_STOP=1 -f scripts/demo.sql
-- scripts/demo.sh does this on a throwaway cluster.
--
-- What it does: load the shop's catalogue and its customers' purchases,
-- train an ALS model on the purchases made before 2011-11-01, then compare
-- what the model recommends with what the customers actually bought from
-- 2011-11-01 to 2011-12-09, against a "most popular items" baseline.

\set ON_ERROR_STOP 1
\pset footer off
\pset null ''
SET client_min_messages = notice;	-- training progress comes as NOTICEs
SET reco.progress = on;
-- InvoiceDate is the shop's local (UK) time; read it, and the cut-off, as such
SET TimeZone = 'Europe/London';

\echo
\echo '== 1. Load the data ============================================================'
\echo

CREATE EXTENSION reco;
-- schema retail and the catalogue, as bench/retail.sh loads them too
\i scripts/retail_catalogue.sql

-- Every purchase line of a known customer before the cut-off is a
-- 'purchase' event; the later ones arrive after training (section 2)
INSERT INTO reco_event (user_id, item_id, kind, value, ts)
SELECT l.customer_id, p.item_id, 'purchase', l.quantity, l.invoice_date
FROM retail.line l
JOIN retail.product p USING (stock_code)
WHERE l.customer_id <> 0 AND l.invoice_date < '2011-11-01';
-- The customers' profiles: all the shop knows of them is their country
INSERT INTO reco_user (user_id, attributes)
SELECT customer_id, jsonb_build_object('country', min(country))
FROM retail.line WHERE customer_id <> 0 GROUP BY customer_id;
ANALYZE;

SELECT (SELECT count(*) FROM retail.line) AS "CSV lines",
       (SELECT count(*) FROM reco_item) AS "catalogue items",
       (SELECT count(*) FROM reco_item WHERE NOT available) AS "of which not products",
       count(*) AS "purchase events",
       count(DISTINCT user_id) AS customers,
       min(ts)::date AS "first", max(ts)::date AS "last"
FROM reco_event;

\echo
\echo '== 2. Train on the purchases before 2011-11-01 =================================='
\echo
-- The whole history stays in reco_event; the model sees only the earlier
-- part, through reco_train_agg over a query (reco_train would read every
-- event).  Products only: postage and fees are left out.
--
-- Weight: 1 per purchase line, so a product bought on five orders counts
-- five times but the quantity does not count (as reco_train counts events
-- by default, "value": "unit").  Weighting by quantity ("value": "linear")
-- lets wholesale-sized lines swamp everything else.  Chosen on a validation
-- split (train before 2011-10-01, test on October's purchases), hit
-- rate@10 for new products:
-- 8 x quantity 0.34, ln(1 + quantity) 0.43, 1 per line 0.44, 1 per
-- (customer, product) 0.44; most popular 0.25.  With 1 per line the other
-- settings matter little (alpha 1 and regularization 1 scored 0.441, the
-- defaults alpha 10 and regularization 0.1 0.440; 128 factors or 30
-- iterations no better; alpha 30 with regularization 0.1 clearly worse).
SELECT model, version, users AS customers, items AS products, interactions,
       round(loss::numeric, 5) AS loss, round(seconds::numeric, 2) AS seconds
FROM (SELECT (reco_train_agg(e.user_id, e.item_id, 1, 'retail',
                             '{"factors": 64, "iterations": 15, "alpha": 1,
                               "regularization": 1, "seed": 42}')).*
      FROM reco_event e
      JOIN reco_item i USING (item_id)
      WHERE e.ts < '2011-11-01' AND i.available) t;

-- The neural network ('mlp', the seed's model): an embedding per customer
-- and per product, their feature bags (the country; the words of the
-- title and a price bucket; the products the customer bought), two hidden
-- layers, trained by backpropagation against sampled negatives, one
-- NOTICE per epoch.  It reads reco_event, which holds the purchases before
-- the cut-off so far.  One event per line, as ALS (the default "value").
SELECT model, version, users AS customers, items AS products, interactions,
       round(loss::numeric, 5) AS loss, round(seconds::numeric, 2) AS seconds
FROM reco_train('retail_mlp', 'mlp',
                '{"dim": 32, "hidden": [64, 32], "epochs": 6, "validation": 0.05,
                  "seed": 42}');

-- Item to item ('itemknn'): each product keeps its 100 nearest products
-- by BM25-weighted co-occurrence in customers' baskets ("bought together");
-- a customer's score sums their products' lists.  reco_train also fits the
-- buying-again term on each customer's latest order (the NOTICE says what
-- it chose): repeats come back when the shop lets them (section 5b).
SELECT model, version, users AS customers, items AS products, interactions,
       round(seconds::numeric, 2) AS seconds
FROM reco_train('retail_knn', 'itemknn');

-- The shop keeps selling: the purchases from 2011-11-01 on arrive.  Online
-- learning is off while they load, so that both models are judged as they
-- were at the cut-off.
SET reco.online = off;
INSERT INTO reco_event (user_id, item_id, kind, value, ts)
SELECT l.customer_id, p.item_id, 'purchase', l.quantity, l.invoice_date
FROM retail.line l
JOIN retail.product p USING (stock_code)
WHERE l.customer_id <> 0 AND l.invoice_date >= '2011-11-01';
RESET reco.online;
ANALYZE reco_event;

-- The ground truth: what each customer bought from 2011-11-01 on
CREATE TABLE retail.before AS
SELECT DISTINCT e.user_id, e.item_id
FROM reco_event e JOIN reco_item i USING (item_id)
WHERE e.ts < '2011-11-01' AND i.available;
ALTER TABLE retail.before ADD PRIMARY KEY (user_id, item_id);
CREATE TABLE retail.after AS
SELECT e.user_id, e.item_id, count(*) AS lines, b.user_id IS NOT NULL AS repeat
FROM reco_event e
JOIN reco_item i USING (item_id)
LEFT JOIN retail.before b USING (user_id, item_id)
WHERE e.ts >= '2011-11-01' AND i.available
GROUP BY e.user_id, e.item_id, b.user_id;
ALTER TABLE retail.after ADD PRIMARY KEY (user_id, item_id);
-- Customers seen in training who bought again later (customers new after
-- the cut-off get the popular list from both methods, so they are left out)
CREATE TABLE retail.customer AS
SELECT user_id, bool_or(NOT repeat) AS bought_new
FROM retail.after
WHERE user_id IN (SELECT user_id FROM retail.before)
GROUP BY user_id;
ALTER TABLE retail.customer ADD PRIMARY KEY (user_id);
ANALYZE retail.before, retail.after, retail.customer;

\echo
\echo '== 3. Recommendations vs what the customers bought next ======================='
\echo
-- Five customers drawn pseudo-randomly (by the md5 of their id, not by their
-- results) among the regular customers: at least 5 orders before November
-- and 3 after, at most 200 products bought before (no wholesalers) and at
-- least 10 products new to them afterwards.  The model recommends products
-- they had not bought before (exclude_seen, the default); HIT marks the ones
-- they then bought.  Expect misses too: a hit rate of 0.44 (section 4)
-- means more than half of all customers get no hit at all.
CREATE TABLE retail.example AS
WITH orders AS (
	SELECT customer_id AS user_id, min(country) AS country,
	       count(DISTINCT invoice_no) FILTER (WHERE invoice_date < '2011-11-01') AS orders_before,
	       count(DISTINCT invoice_no) FILTER (WHERE invoice_date >= '2011-11-01') AS orders
	FROM retail.line
	WHERE customer_id <> 0
	GROUP BY customer_id
), counts AS (
	SELECT c.user_id,
	       (SELECT count(*) FROM retail.before b WHERE b.user_id = c.user_id) AS before,
	       (SELECT count(*) FROM retail.after a
	        WHERE a.user_id = c.user_id AND NOT a.repeat) AS new_after
	FROM retail.customer c
)
SELECT user_id, row_number() OVER (ORDER BY md5(user_id::text)) AS n,
       o.country, o.orders_before, n.before, o.orders, n.new_after
FROM counts n JOIN orders o USING (user_id)
WHERE o.orders_before >= 5 AND o.orders >= 3
  AND n.before <= 200 AND n.new_after >= 10
ORDER BY n
LIMIT 5;

-- One customer side by side: the top 10, and the new products the customer
-- bought after the cut-off (hits first, then by how often bought)
PREPARE side_by_side(int) AS
WITH c AS (SELECT user_id FROM retail.example WHERE n = $1),
rec AS (
	SELECT r.rank, i.title,
	       EXISTS (SELECT FROM retail.after a
	               WHERE a.user_id = c.user_id AND a.item_id = r.item_id) AS hit
	FROM c, reco_recommend(c.user_id, 10, 'retail') r
	JOIN reco_item i ON i.item_id = r.item_id
), bought AS (
	SELECT row_number() OVER (ORDER BY r.item_id IS NOT NULL DESC, a.lines DESC,
	                                   i.title COLLATE "C") AS rank,
	       i.title
	FROM c
	JOIN retail.after a ON a.user_id = c.user_id AND NOT a.repeat
	JOIN reco_item i ON i.item_id = a.item_id
	LEFT JOIN reco_recommend(c.user_id, 10, 'retail') r ON r.item_id = a.item_id
)
SELECT coalesce(rec.rank, bought.rank) AS "#",
       rec.title AS "recommended (top 10)",
       CASE WHEN rec.hit THEN 'HIT' ELSE '' END AS " ",
       bought.title AS "bought after 2011-11-01 (new to them)"
FROM rec FULL JOIN bought ON bought.rank = rec.rank
WHERE coalesce(rec.rank, bought.rank) <= 10
ORDER BY 1;

PREPARE heading(int) AS
SELECT format('Customer %s (%s): %s orders, %s products before November; then %s orders with %s products new to them%s',
              user_id, country, orders_before, before, orders, new_after,
              CASE WHEN new_after > 10 THEN ' (10 shown)' END) AS heading
FROM retail.example WHERE n = $1;

EXECUTE heading(1) \gset
\echo :heading
EXECUTE side_by_side(1);

\echo
EXECUTE heading(2) \gset
\echo :heading
EXECUTE side_by_side(2);

\echo
EXECUTE heading(3) \gset
\echo :heading
EXECUTE side_by_side(3);

\echo
EXECUTE heading(4) \gset
\echo :heading
EXECUTE side_by_side(4);

\echo
EXECUTE heading(5) \gset
\echo :heading
EXECUTE side_by_side(5);
\echo
\echo '== 4. Hit rate@10 over every customer who bought again after the cut-off ======='
\echo
-- Hit rate@10: the share of customers with at least one of their 10
-- recommendations among the products they bought after 2011-11-01.
-- Baseline: the 10 products most customers bought before the cut-off.
-- Two readings, each method given the same rule:
--   new products: recommendations skip what the customer had already bought,
--     a hit is a product new to the customer (customers who bought only
--     products they already had cannot score, and are left out);
--   any product: repeats allowed on both sides (exclude_seen => false);
--     there each model adds the buying-again term its training fitted
--     (section 5b).
CREATE TABLE retail.popular AS
SELECT item_id, row_number() OVER (ORDER BY count(*) DESC, item_id) AS rank
FROM retail.before
GROUP BY item_id;

WITH als_new AS (
	SELECT c.user_id, r.item_id
	FROM retail.customer c, reco_recommend(c.user_id, 10, 'retail') r
	WHERE c.bought_new
), mlp_new AS (
	SELECT c.user_id, r.item_id
	FROM retail.customer c, reco_recommend(c.user_id, 10, 'retail_mlp') r
	WHERE c.bought_new
), pop_new AS (
	SELECT user_id, item_id
	FROM (SELECT c.user_id, p.item_id, row_number() OVER (PARTITION BY c.user_id ORDER BY p.rank) AS k
	      FROM retail.customer c
	      JOIN retail.popular p ON p.rank <= 500	-- enough to find 10 not yet bought
	      WHERE c.bought_new
	        AND NOT EXISTS (SELECT FROM retail.before b
	                        WHERE b.user_id = c.user_id AND b.item_id = p.item_id)) s
	WHERE k <= 10
), als_any AS (
	SELECT c.user_id, r.item_id
	FROM retail.customer c, reco_recommend(c.user_id, 10, 'retail', exclude_seen => false) r
), knn_new AS (
	SELECT c.user_id, r.item_id
	FROM retail.customer c, reco_recommend(c.user_id, 10, 'retail_knn') r
	WHERE c.bought_new
), knn_any AS (
	SELECT c.user_id, r.item_id
	FROM retail.customer c, reco_recommend(c.user_id, 10, 'retail_knn', exclude_seen => false) r
), mlp_any AS (
	SELECT c.user_id, r.item_id
	FROM retail.customer c, reco_recommend(c.user_id, 10, 'retail_mlp', exclude_seen => false) r
), pop_any AS (
	SELECT c.user_id, p.item_id
	FROM retail.customer c JOIN retail.popular p ON p.rank <= 10
), hits AS (
	SELECT 'new products' AS task, 'als' AS method, user_id, bool_or(NOT a.repeat) AS hit
	FROM als_new LEFT JOIN retail.after a USING (user_id, item_id) GROUP BY user_id
	UNION ALL
	SELECT 'new products', 'mlp', user_id, bool_or(NOT a.repeat)
	FROM mlp_new LEFT JOIN retail.after a USING (user_id, item_id) GROUP BY user_id
	UNION ALL
	SELECT 'new products', 'popular', user_id, bool_or(NOT a.repeat)
	FROM pop_new LEFT JOIN retail.after a USING (user_id, item_id) GROUP BY user_id
	UNION ALL
	SELECT 'any product', 'als', user_id, bool_or(a.item_id IS NOT NULL)
	FROM als_any LEFT JOIN retail.after a USING (user_id, item_id) GROUP BY user_id
	UNION ALL
	SELECT 'new products', 'knn', user_id, bool_or(NOT a.repeat)
	FROM knn_new LEFT JOIN retail.after a USING (user_id, item_id) GROUP BY user_id
	UNION ALL
	SELECT 'any product', 'knn', user_id, bool_or(a.item_id IS NOT NULL)
	FROM knn_any LEFT JOIN retail.after a USING (user_id, item_id) GROUP BY user_id
	UNION ALL
	SELECT 'any product', 'mlp', user_id, bool_or(a.item_id IS NOT NULL)
	FROM mlp_any LEFT JOIN retail.after a USING (user_id, item_id) GROUP BY user_id
	UNION ALL
	SELECT 'any product', 'popular', user_id, bool_or(a.item_id IS NOT NULL)
	FROM pop_any LEFT JOIN retail.after a USING (user_id, item_id) GROUP BY user_id
)
SELECT task AS "hit rate@10",
       count(*) FILTER (WHERE method = 'als') AS customers,
       round(avg(coalesce(hit, false)::int) FILTER (WHERE method = 'als'), 3) AS "ALS (reco_recommend)",
       round(avg(coalesce(hit, false)::int) FILTER (WHERE method = 'knn'), 3) AS "item-kNN",
       round(avg(coalesce(hit, false)::int) FILTER (WHERE method = 'mlp'), 3) AS "neural network (mlp)",
       round(avg(coalesce(hit, false)::int) FILTER (WHERE method = 'popular'), 3) AS "most popular"
FROM hits
GROUP BY task
ORDER BY task DESC;

\echo
\echo '== 5. Customers who bought X also bought (reco_similar_items) =================='
\echo
PREPARE also_bought(text) AS
SELECT s.rank AS "#", i.title AS "also bought", round(s.score::numeric, 3) AS similarity
FROM reco_item x, reco_similar_items(x.item_id, 8, 'retail') s
JOIN reco_item i ON i.item_id = s.item_id
WHERE x.attributes->>'stock_code' = $1
ORDER BY s.rank;

\echo 'WHITE HANGING HEART T-LIGHT HOLDER (85123A):'
EXECUTE also_bought('85123A');
\echo
\echo 'REGENCY CAKESTAND 3 TIER (22423):'
EXECUTE also_bought('22423');
\echo

\echo
\echo '== 5b. The cart, and buying again ============================================='
\echo
-- What goes with a basket (an anonymous session, or a cart before
-- checkout): its products fold in as cart events, written nowhere, and are
-- never recommended.  ALS folds them in exactly; item-kNN sums their lists.
CREATE TABLE retail.cart AS
SELECT array_agg(item_id ORDER BY item_id) AS items FROM reco_item
WHERE attributes->>'stock_code' IN ('22423', '22697');	-- cakestand, green teacup and saucer
\echo 'A basket of REGENCY CAKESTAND 3 TIER and GREEN REGENCY TEACUP AND SAUCER:'
SELECT a.rank AS "#", ia.title AS "ALS (reco_recommend_items)", ik.title AS "item-kNN"
FROM retail.cart c,
     reco_recommend_items(c.items, 6, 'retail') a
JOIN reco_recommend_items((SELECT items FROM retail.cart), 6, 'retail_knn') k ON k.rank = a.rank
JOIN reco_item ia ON ia.item_id = a.item_id
JOIN reco_item ik ON ik.item_id = k.item_id
ORDER BY a.rank;

-- A known customer's cart shifts their own list in the same call
SELECT e.user_id AS customer FROM retail.example e WHERE e.n = 3 \gset
SELECT coalesce(o.rank, w.rank) AS "#", io.title AS "customer's top 5", iw.title AS "with that basket in the cart"
FROM reco_recommend(:customer, 5, 'retail_knn') o
FULL JOIN reco_recommend_items((SELECT items FROM retail.cart), 5, 'retail_knn', user_id => :customer) w
  ON w.rank = o.rank
JOIN reco_item io ON io.item_id = o.item_id
JOIN reco_item iw ON iw.item_id = w.item_id
ORDER BY 1;

-- Buying again: with their own products allowed (exclude_seen => false),
-- the buying-again term reco_train fitted lifts what the customer tends to
-- rebuy (BOUGHT: in their history; HIT: bought again after 2011-11-01)
SELECT format('buying again: weight %s, half-life %s orders (nDCG@10 on %s customers'' latest order %s, %s without)',
              metrics->'repeat'->>'weight', metrics->'repeat'->>'half_life',
              metrics->'repeat'->>'customers', round((metrics->'repeat'->>'ndcg')::numeric, 3),
              round((metrics->'repeat'->>'ndcg_without')::numeric, 3)) AS fitted
FROM reco_model_version WHERE model = 'retail_knn' \gset
\echo :fitted
SELECT r.rank AS "#", i.title AS "customer's top 5, repeats allowed",
       CASE WHEN b.item_id IS NOT NULL THEN 'BOUGHT' ELSE '' END AS "before",
       CASE WHEN a.item_id IS NOT NULL THEN 'HIT' ELSE '' END AS "after"
FROM reco_recommend(:customer, 5, 'retail_knn', exclude_seen => false) r
JOIN reco_item i ON i.item_id = r.item_id
LEFT JOIN retail.before b ON b.user_id = :customer AND b.item_id = r.item_id
LEFT JOIN retail.after a ON a.user_id = :customer AND a.item_id = r.item_id
ORDER BY r.rank;

\echo
\echo '== 5c. The neural network: a customer from a profile, and one click ============'
\echo
-- A customer the shop has never seen sell anything to, known only by their
-- country, is served from that profile; then one purchase moves their
-- list inside the inserting transaction (the network's online step).
INSERT INTO reco_user (user_id, attributes) VALUES (900001, '{"country": "Germany"}');
SELECT r.rank AS "#", i.title AS "a new customer from Germany: top 5", r.source
FROM reco_recommend(900001, 5, 'retail_mlp') r JOIN reco_item i USING (item_id)
ORDER BY r.rank;
BEGIN;
INSERT INTO reco_event (user_id, item_id, kind)
SELECT 900001, item_id, 'purchase' FROM reco_item WHERE attributes->>'stock_code' = '22423';
SELECT r.rank AS "#", i.title AS "after buying a REGENCY CAKESTAND 3 TIER", r.source
FROM reco_recommend(900001, 5, 'retail_mlp') r JOIN reco_item i USING (item_id)
ORDER BY r.rank;
ROLLBACK;

\echo
\echo '== 6. The analyst''s view: every metric, one explanation, the versions ========='
\echo
-- reco_evaluate on the same held-out purchases (products new to each
-- customer): its hit rate is section 4's ALS figure, computed by the
-- extension; the other metrics come with it.  Definitions: README.
SELECT users AS customers, round(hit_rate::numeric, 3) AS "hit rate@10",
       round(precision::numeric, 3) AS "P@10", round(recall::numeric, 3) AS "R@10",
       round(ndcg::numeric, 3) AS "nDCG@10", round(map::numeric, 3) AS "MAP@10",
       round(mrr::numeric, 3) AS mrr, round(auc::numeric, 3) AS auc,
       round(coverage::numeric, 3) AS coverage
FROM reco_evaluate('retail',
	'SELECT a.user_id, a.item_id FROM retail.after a JOIN retail.customer c USING (user_id) WHERE NOT a.repeat', 10);

-- Why is the first example customer's top recommendation there?  The past
-- purchases that contribute most to its score, and their share of it.
SELECT format('Why customer %s gets "%s":', e.user_id, i.title) AS why
FROM retail.example e, reco_recommend(e.user_id, 1, 'retail') r
JOIN reco_item i ON i.item_id = r.item_id
WHERE e.n = 1 \gset
\echo :why
SELECT x.rank AS "#", i.title AS "because they bought", round(x.share::numeric, 3) AS share
FROM retail.example e, reco_recommend(e.user_id, 1, 'retail') r,
     reco_explain(e.user_id, r.item_id, 'retail', 5) x
JOIN reco_item i ON i.item_id = x.item_id
WHERE e.n = 1
ORDER BY x.rank;

\echo
SELECT model, version, active, factors, users, items, size, round(final_loss::numeric, 5) AS "final loss", trained
FROM reco_versions;

\echo
\echo '== 7. The DBA''s view: least privilege, and a customer forgotten ==============='
\echo
-- The shop's application roles need no right on the model tables: a role
-- that may only INSERT events (reco_writer) feeds the event table (and the
-- online learning of models trained on it; 'retail' was trained on a query,
-- so it waits for its next training), a role that may only serve
-- (reco_reader) gets recommendations.
SET client_min_messages = warning;
DROP ROLE IF EXISTS demo_shop_writer, demo_shop_web;
RESET client_min_messages;
CREATE ROLE demo_shop_writer IN ROLE reco_writer;
CREATE ROLE demo_shop_web IN ROLE reco_reader;
SELECT e.user_id AS customer, r.item_id AS product
FROM retail.example e, reco_recommend(e.user_id, 1, 'retail') r WHERE e.n = 2 \gset
SET ROLE demo_shop_writer;
INSERT INTO reco_event (user_id, item_id, kind) VALUES (:customer, :product, 'purchase');
RESET ROLE;
SELECT count(*) AS "their events, the new purchase included" FROM reco_event WHERE user_id = :customer;
SELECT r.rolname AS role,
       has_table_privilege(r.rolname, 'reco_event', 'INSERT') AS "insert events",
       has_function_privilege(r.rolname, 'reco_recommend(bigint,int,text,boolean,text,boolean,bigint[])', 'EXECUTE') AS serve,
       has_table_privilege(r.rolname, 'reco_user_factors', 'SELECT') AS "read histories",
       has_function_privilege(r.rolname, 'reco_train(text,text,jsonb)', 'EXECUTE') AS train
FROM pg_roles r WHERE r.rolname IN ('demo_shop_writer', 'demo_shop_web') ORDER BY 1;

-- The customer asks to be forgotten: their events, their rows in every
-- version, and every product vector they shaped, re-solved without them.
SELECT events, versions, items AS "products re-solved"
FROM reco_forget_user(:customer);
SELECT source AS "how they are served now" FROM reco_recommend(:customer, 1, 'retail');
DROP ROLE demo_shop_writer, demo_shop_web;
