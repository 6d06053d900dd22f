#!/bin/bash
# New products first (the Tmall case) on Online Retail: how many of the
# products first sold in the 30 days before a cut-off reach anyone's top-10,
# with and without fresh_days/fresh_boost, and what it does to the hit rate.
#
# Training: the purchases before 2011-10-01 (known customers, products
# only), value 1 a line; reco_item.created is each product's first sale,
# moved so that "now" is the cut-off.  Judged: the customers seen in
# training who bought in October 2011; their top-10 of products new to them
# (reco_recommend's default exclude_seen).  Against the PG* server.
#   bash bench/fresh.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

db=reco_bench_fresh
fresh_db $db
psql() { command psql -X -q -v ON_ERROR_STOP=1 -d $db "$@"; }

psql <<'SQL'
SET client_min_messages = warning;
SET TimeZone = 'Europe/London';
CREATE EXTENSION reco;
\i scripts/retail_catalogue.sql
SET reco.online = off;
INSERT INTO reco_event (user_id, item_id, kind, ts)
SELECT l.customer_id, p.item_id, 'purchase', l.invoice_date
FROM retail.line l JOIN retail.product p USING (stock_code)
JOIN reco_item i ON i.item_id = p.item_id AND i.available
WHERE l.customer_id <> 0 AND l.invoice_date < '2011-10-01';
-- created = first sale, "now" standing for the cut-off
UPDATE reco_item i SET created = now() - ('2011-10-01'::timestamp - f.first)
FROM (SELECT p.item_id, min(l.invoice_date) AS first
      FROM retail.line l JOIN retail.product p USING (stock_code) GROUP BY p.item_id) f
WHERE f.item_id = i.item_id;
CREATE TABLE retail.fresh AS
SELECT item_id FROM reco_item WHERE available AND created >= now() - interval '30 days'
  AND created <= now();
CREATE TABLE retail.oct AS
SELECT DISTINCT l.customer_id AS user_id, p.item_id
FROM retail.line l JOIN retail.product p USING (stock_code)
JOIN reco_item i ON i.item_id = p.item_id AND i.available
WHERE l.customer_id <> 0 AND l.invoice_date >= '2011-10-01' AND l.invoice_date < '2011-11-01'
  AND l.customer_id IN (SELECT user_id FROM reco_event)
  AND NOT EXISTS (SELECT FROM reco_event e WHERE e.user_id = l.customer_id AND e.item_id = p.item_id);
CREATE TABLE retail.lists (label text, user_id bigint, item_id bigint);
SQL
echo "New products first on Online Retail, $(date -u '+%Y-%m-%d %H:%M UTC'), reco $(git rev-parse --short HEAD 2>/dev/null || echo ?)"
psql -A -t -F' ' -c "SELECT (SELECT count(*) FROM retail.fresh), (SELECT count(*) FROM retail.fresh f WHERE EXISTS (SELECT FROM reco_event e WHERE e.item_id = f.item_id)), (SELECT count(DISTINCT user_id) FROM retail.oct)" |
	while read -r fresh trained customers; do
		echo "products first sold in the 30 days before 2011-10-01: $fresh ($trained with a purchase before the cut-off); customers judged: $customers"
	done
printf "%-28s | %-18s | %-12s | %-16s | %s\n" "ALS (defaults, value unit)" "fresh in anyone's top-10" "fresh slots" "hit rate@10 new" "hits on fresh products"
for boost in 0 0.05 0.1 0.3 0.5 1; do
	params="{\"value\": \"unit\", \"repeat\": false, \"fresh_days\": $([ "$boost" = 0 ] && echo 0 || echo 30), \"fresh_boost\": ${boost/#0/0}}"
	psql -v params="$params" -v label="boost $boost" <<'SQL'
SET reco.progress = off;
SELECT 1 FROM reco_train('fresh', 'als', :'params') \g /dev/null
INSERT INTO retail.lists
SELECT :'label', c.user_id, r.item_id
FROM (SELECT DISTINCT user_id FROM retail.oct) c, reco_recommend(c.user_id, 10, 'fresh') r;
SQL
	psql -A -t -F' ' -v label="boost $boost" <<'SQL' |
SELECT (SELECT count(DISTINCT l.item_id) FROM retail.lists l JOIN retail.fresh f USING (item_id) WHERE l.label = :'label'),
       (SELECT round(avg((f.item_id IS NOT NULL)::int), 3) FROM retail.lists l LEFT JOIN retail.fresh f USING (item_id) WHERE l.label = :'label'),
       (SELECT round(avg(hit::int), 3) FROM (SELECT c.user_id, EXISTS (SELECT FROM retail.lists l JOIN retail.oct o USING (user_id, item_id) WHERE l.label = :'label' AND l.user_id = c.user_id) AS hit FROM (SELECT DISTINCT user_id FROM retail.oct) c) h),
       (SELECT count(*) FROM retail.lists l JOIN retail.oct o USING (user_id, item_id) JOIN retail.fresh f USING (item_id) WHERE l.label = :'label')
SQL
	while read -r shown share hr fresh_hits; do
		printf "%-28s | %-18s | %-12s | %-16s | %s\n" "fresh_boost $boost" "$shown" "$share" "$hr" "$fresh_hits"
	done
done
