-- Online Retail, temporal protocol (../shared/data/README.md; issue 10):
-- training = purchases before 2011-01-01, test = purchases 2011-01-01 to
-- 2011-03-31 by customers seen in training, unknown customers (CustomerID 0)
-- and non-product stock codes (postage, fees: reco_item.available = false)
-- dropped.  Two variants, nDCG@10 and hit rate@10 averaged over the
-- customers who bought in the test period:
--   new: relevant = test items the customer never bought before; the list
--        excludes their past items (reco_recommend's exclude_seen => true);
--   any: relevant = every test item, repeats count; past items allowed
--        (exclude_seen => false).
-- Loads the data and creates the protocol's tables; bench/retail.sh then
-- fills retail.list per model and scores it with retail.score().
-- Run from the repository root: psql -X -q -v ON_ERROR_STOP=1 -f bench/retail.sql
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET TimeZone = 'Europe/London';	-- InvoiceDate is UK local time

CREATE EXTENSION reco;
\i scripts/retail_catalogue.sql

-- Training: every product line of a known customer before the cut-off, as
-- a shop records it (value = quantity, ts = invoice time)
INSERT INTO reco_event (user_id, item_id, kind, value, ts)
SELECT l.customer_id, p.item_id, 'purchase', l.quantity, l.invoice_date
FROM retail.line l
JOIN retail.product p USING (stock_code)
JOIN reco_item i ON i.item_id = p.item_id AND i.available
WHERE l.customer_id <> 0 AND l.invoice_date < '2011-01-01';

-- What each customer bought in training: purchase lines per product
CREATE TABLE retail.past AS
SELECT user_id, item_id, count(*) AS lines
FROM reco_event GROUP BY user_id, item_id;
ALTER TABLE retail.past ADD PRIMARY KEY (user_id, item_id);

-- Popularity in training: distinct customers per product (as reco's
-- 'popular' source counts), ties to the lower item id
CREATE TABLE retail.popular AS
SELECT item_id, count(*) AS customers,
       row_number() OVER (ORDER BY count(*) DESC, item_id) AS pos
FROM retail.past GROUP BY item_id;

-- The relevant items of each variant
CREATE TABLE retail.truth AS
WITH test AS (
	SELECT DISTINCT l.customer_id AS user_id, p.item_id
	FROM retail.line l
	JOIN retail.product p USING (stock_code)
	JOIN reco_item i ON i.item_id = p.item_id AND i.available
	WHERE l.customer_id <> 0
	  AND l.invoice_date >= '2011-01-01' AND l.invoice_date < '2011-04-01'
	  AND l.customer_id IN (SELECT user_id FROM retail.past)
)
SELECT 'any'::text AS variant, user_id, item_id FROM test
UNION ALL
SELECT 'new', t.user_id, t.item_id FROM test t
WHERE NOT EXISTS (SELECT FROM retail.past p WHERE p.user_id = t.user_id AND p.item_id = t.item_id);
ALTER TABLE retail.truth ADD PRIMARY KEY (variant, user_id, item_id);

-- The customers each variant judges
CREATE TABLE retail.judged AS
SELECT variant, user_id, count(*) AS relevant FROM retail.truth GROUP BY variant, user_id;

-- Top-10 lists: (model, variant, user_id, item_id, rank 1..10)
CREATE TABLE retail.list (model text, variant text, user_id bigint, item_id bigint, rank int);

-- nDCG@10 and hit rate@10 of a model's lists, per variant, averaged over the
-- judged customers (a customer without a list scores 0)
CREATE FUNCTION retail.score(m text)
RETURNS TABLE (variant text, customers bigint, ndcg numeric, hit_rate numeric)
LANGUAGE sql STABLE AS $$
	WITH per_user AS (
		SELECT j.variant, j.user_id,
		       coalesce((SELECT sum(1 / log(2, l.rank + 1))
		                 FROM retail.list l
		                 JOIN retail.truth t ON t.variant = l.variant AND t.user_id = l.user_id
		                                    AND t.item_id = l.item_id
		                 WHERE l.model = m AND l.variant = j.variant AND l.user_id = j.user_id
		                   AND l.rank <= 10), 0)
		       / (SELECT sum(1 / log(2, r + 1)) FROM generate_series(1, least(j.relevant, 10)) r)
		         AS ndcg
		FROM retail.judged j
	)
	SELECT variant, count(*), round(avg(ndcg), 4), round(avg((ndcg > 0)::int), 4)
	FROM per_user GROUP BY variant ORDER BY variant DESC
$$;

-- Baseline "popularity": the most popular products (new: minus the
-- customer's past ones)
INSERT INTO retail.list
SELECT 'popularity', j.variant, j.user_id, p.item_id,
       row_number() OVER (PARTITION BY j.variant, j.user_id ORDER BY p.pos)
FROM retail.judged j
CROSS JOIN LATERAL (
	SELECT pp.item_id, pp.pos FROM retail.popular pp
	WHERE j.variant = 'any'
	   OR NOT EXISTS (SELECT FROM retail.past b WHERE b.user_id = j.user_id AND b.item_id = pp.item_id)
	ORDER BY pp.pos LIMIT 10) p;

-- Baseline "buy again": the customer's own past products by purchase lines,
-- then by popularity; for new items it is popularity
INSERT INTO retail.list
SELECT 'buy again', 'new', user_id, item_id, rank FROM retail.list
WHERE model = 'popularity' AND variant = 'new';
INSERT INTO retail.list
SELECT 'buy again', 'any', j.user_id, c.item_id, c.rank
FROM retail.judged j
CROSS JOIN LATERAL (
	SELECT item_id, row_number() OVER (ORDER BY own DESC, lines DESC, pos) AS rank
	FROM (SELECT pp.item_id, pp.pos, b.lines, b.lines IS NOT NULL AS own
	      FROM retail.popular pp
	      LEFT JOIN retail.past b ON b.user_id = j.user_id AND b.item_id = pp.item_id) x
	ORDER BY own DESC, lines DESC NULLS LAST, pos LIMIT 10) c
WHERE j.variant = 'any';

ANALYZE;
SELECT (SELECT count(*) FROM reco_event) AS training_events,
       (SELECT count(DISTINCT user_id) FROM retail.past) AS training_customers,
       (SELECT count(DISTINCT item_id) FROM retail.past) AS training_products,
       (SELECT count(*) FROM retail.judged WHERE variant = 'new') AS judged_new,
       (SELECT count(*) FROM retail.judged WHERE variant = 'any') AS judged_any;
