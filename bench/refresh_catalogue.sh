#!/bin/bash
# What a catalogue costs reco_refresh: a 100,000-item catalogue (titles,
# categories, brands), 5,000 users with 300,000 purchases, 32 factors.  After
# a first refresh has given every untouched item its attribute vector, times
# refreshes of one pending event: with nothing new in the catalogue, then with
# one new catalogue item (which needs the attribute scan), then with the
# catalogue emptied (the refresh without any catalogue work).  Medians of RUNS.
#   bash bench/refresh_catalogue.sh      (PG* variables name the server)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
db=reco_bench_refresh_catalogue
runs=${RUNS:-5}

fresh_db $db
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
CREATE EXTENSION reco;
SET reco.progress = off;
SELECT setseed(0.3);
INSERT INTO reco_item (item_id, title, category, brand)
SELECT i, 'item ' || (i % 997) || ' word' || (i % 101) || ' thing' || (i % 13),
	'cat' || (i % 50), 'brand' || (i % 200)
FROM generate_series(1, 100000) i;
INSERT INTO reco_event (user_id, item_id, kind)
SELECT 1 + (random() * 4999)::int, 1 + (random() * 99999)::int, 'purchase'
FROM generate_series(1, 300000);
SELECT reco_train('m', 'als', '{"factors": 32, "iterations": 3}');
SELECT reco_refresh('m');
SQL

refresh() { psql -X -q -At -d $db -c "INSERT INTO reco_event (user_id, item_id, kind) VALUES (1 + (random() * 4999)::int, 5, 'purchase')" -c "SELECT seconds FROM reco_refresh('m')"; }

echo "nothing new in the catalogue: $(for i in $(seq "$runs"); do refresh; done | median)"
echo "one new catalogue item:       $(for i in $(seq "$runs"); do
	psql -X -q -d $db -c "INSERT INTO reco_item (item_id, title, category, brand) VALUES (200000 + $i, 'item 5 word7', 'cat3', 'brand9')"
	refresh; done | median)"
psql -X -q -d $db -c "DELETE FROM reco_item"
echo "empty catalogue:              $(for i in $(seq "$runs"); do refresh; done | median)"
