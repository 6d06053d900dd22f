-- The UCI "Online Retail" purchases (CC BY 4.0, data/online-retail/README.md)
-- loaded into schema retail and the catalogue: retail.line (every CSV line),
-- retail.product (stock code -> dense item id) and reco_item (titles, prices,
-- postage and fees marked unavailable).  Shared by scripts/demo.sql and
-- bench/retail.sh; run from the repository root (the data path is relative
-- to it) in a database with the extension, TimeZone set to Europe/London.
CREATE SCHEMA retail;

-- The purchase lines exactly as in the CSV
CREATE TABLE retail.line (
	invoice_no   text,
	stock_code   text,
	description  text,
	quantity     integer,
	invoice_date timestamp,
	unit_price   numeric,
	customer_id  bigint,		-- 0 = unknown customer
	country      text
);
\copy retail.line FROM PROGRAM 'gzip -dc data/online-retail/online_retail_2010_2011_purchases.csv.gz' WITH (FORMAT csv, HEADER true)

-- A few stock codes come in two cases (15056BL and 15056bl: the same
-- parasol), and descriptions have stray spaces
UPDATE retail.line SET stock_code = upper(stock_code), description = btrim(description);

-- reco_item needs bigint ids and stock codes are alphanumeric (85123A):
-- number them densely in stock-code order.  The stock code is also kept in
-- reco_item.attributes.
CREATE TABLE retail.product (
	item_id    bigint PRIMARY KEY,
	stock_code text NOT NULL UNIQUE
);
INSERT INTO retail.product
SELECT row_number() OVER (ORDER BY stock_code COLLATE "C"), stock_code
FROM (SELECT DISTINCT stock_code FROM retail.line) s;

-- The catalogue.
-- title: a stock code can carry several descriptions; the unknown-customer
--   lines hold warehouse notes ("found", "Missing_Description", ...), so take
--   the description most used on known customers' lines, then the most used
--   overall, then the first alphabetically.
-- price: the most frequent non-zero UnitPrice (ties: the lowest).
-- category: left NULL (the data has none).
-- available: false for postage, carriage, fees and manual adjustments, which
--   are order lines but not products; they are kept out of training and
--   never recommended.
WITH descr AS (
	SELECT stock_code, description,
	       row_number() OVER (PARTITION BY stock_code
	                          ORDER BY count(*) FILTER (WHERE customer_id <> 0) DESC,
	                                   count(*) DESC, description COLLATE "C") AS pick
	FROM retail.line
	GROUP BY stock_code, description
), price AS (
	SELECT stock_code, unit_price,
	       row_number() OVER (PARTITION BY stock_code
	                          ORDER BY count(*) DESC, unit_price) AS pick
	FROM retail.line
	WHERE unit_price > 0
	GROUP BY stock_code, unit_price
)
INSERT INTO reco_item (item_id, title, price, available, attributes)
SELECT p.item_id, d.description, pr.unit_price,
       p.stock_code NOT IN ('POST', 'DOT', 'C2', '23444', 'M', 'BANK CHARGES', 'AMAZONFEE', 'S'),
       jsonb_build_object('stock_code', p.stock_code)
FROM retail.product p
JOIN descr d ON d.stock_code = p.stock_code AND d.pick = 1
LEFT JOIN price pr ON pr.stock_code = p.stock_code AND pr.pick = 1;
