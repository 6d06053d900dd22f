#!/bin/bash
# Cross-checks the item-item families against NumPy (test/itemknn_check.py)
# on MovieLens 100K's first 300 users as views: itemknn (BM25 with
# shrinkage, and cosine) and ease.  Exports the events, every item's list as
# reco_similar_items gives it and the scores reco_recommend_items gives
# seeded baskets; the script recomputes similarities, EASE's B and the
# basket scores from the events and fails on a relative difference over
# 1e-3.  It also shows it can fail (--self-test).
set -euo pipefail
cd "$(dirname "$0")/.."
. test/movielens_db.sh

db=reco_knncheck
out=$(mktemp -d)
trap 'rm -rf "$out"; dropdb --if-exists $db' EXIT
movielens_db $db

(cd "$out" && psql -X -q -v ON_ERROR_STOP=1 -d $db) <<'SQL'
SET extra_float_digits = 3;
SET reco.progress = off;
INSERT INTO reco_event (user_id, item_id, kind) SELECT u, i, 'view' FROM ml WHERE u <= 300;
SELECT model FROM reco_train('bm25', 'itemknn', '{"neighbors": 20, "shrink": 3}');
SELECT model FROM reco_train('cosine', 'itemknn', '{"similarity": "cosine", "neighbors": 30}');
SELECT model FROM reco_train('ease', 'ease', '{"lambda": 200, "neighbors": 50}');
CREATE TABLE items AS SELECT DISTINCT item_id FROM reco_event;
CREATE TABLE baskets AS
SELECT b, array_agg(item_id ORDER BY item_id) AS items
FROM (SELECT b, item_id FROM generate_series(1, 8) b, items
	  WHERE hashint8extended(item_id, b) % 40 = 0) s GROUP BY b;
\copy (SELECT user_id, item_id FROM reco_event) TO 'events.csv' CSV HEADER
\copy (SELECT m, i.item_id AS item, s.item_id AS neighbour, s.score FROM unnest(ARRAY['bm25', 'cosine', 'ease']) m, items i, LATERAL reco_similar_items(i.item_id, 50, m) s) TO 'similar.csv' CSV HEADER
\copy (SELECT m, b.b, array_to_string(b.items, ' ') AS items, r.item_id, r.score FROM unnest(ARRAY['bm25', 'cosine', 'ease']) m, baskets b, LATERAL reco_recommend_items(b.items, 20, m, available_only => false) r) TO 'baskets.csv' CSV HEADER
SQL

$python test/itemknn_check.py "$out"
if $python test/itemknn_check.py --self-test "$out" >/dev/null 2>&1; then
	echo "the check passed on a corrupted export: it cannot fail" >&2
	exit 1
fi
echo "itemknn_check.py fails on a corrupted export, as it should"
