#!/bin/bash
# ALTER EXTENSION reco UPDATE on a database made by release 1.0 (commit
# 5b33797, its own build and script) with models and events: afterwards it
# serves the same recommendations, keeps learning online, and has the same
# extension objects as a fresh install (compared from the catalogs by
# test/catalog.sql).  Installs release 1.0 for a moment, then this tree again.
set -euo pipefail
cd "$(dirname "$0")/.."

release=5b33797
pg_config=${PG_CONFIG:-pg_config}
old=reco_upgrade_old
new=reco_upgrade_new
tmp=$(mktemp -d)
restore() {
	make -s PG_CONFIG="$pg_config" install >/dev/null
	rm -rf "$tmp"
	dropdb --if-exists $old
	dropdb --if-exists $new
}
trap restore EXIT

git cat-file -e "$release^{commit}" 2>/dev/null ||
	{ echo "upgrade: release commit $release is not in this clone's history"; exit 1; }
git archive "$release" | tar -x -C "$tmp"
make -s -C "$tmp" PG_CONFIG="$pg_config" COPT=-w >/dev/null
make -s -C "$tmp" PG_CONFIG="$pg_config" install >/dev/null

dropdb --if-exists $old
dropdb --if-exists $new
createdb $old
psql -X -q -v ON_ERROR_STOP=1 -d $old >/dev/null <<'SQL'
CREATE EXTENSION reco;
SET reco.progress = off;
INSERT INTO reco_item (item_id, title, category)
SELECT i, 'item ' || i, 'c' || (i % 5) FROM generate_series(1, 120) i;
INSERT INTO reco_event (user_id, item_id, kind, value)
SELECT u, 1 + (u * 7 + j * j * 3) % 100, CASE WHEN j % 3 = 0 THEN 'purchase' ELSE 'view' END, 1
FROM generate_series(1, 80) u, generate_series(1, 12) j;
SELECT FROM reco_train('default', 'als', '{"factors": 8, "iterations": 6}');
SELECT version FROM reco_train('default');
SELECT reco_train_agg(user_id, item_id, 1, 'agg', '{"factors": 4}') FROM reco_event;
-- online events, some refreshed into the item side, some still queued
INSERT INTO reco_event (user_id, item_id, kind) VALUES (3, 50, 'purchase'), (81, 7, 'view');
SELECT FROM reco_refresh('default');
INSERT INTO reco_event (user_id, item_id, kind) VALUES (4, 51, 'cart'), (82, 110, 'view');
SQL
[ "$(psql -X -At -d $old -c "SELECT extversion FROM pg_extension WHERE extname = 'reco'")" = "1.0" ]

serve="SELECT m, u, r.item_id, r.rank, round(r.score::numeric, 5) FROM unnest(ARRAY['default', 'agg']) m,
	generate_series(1, 84) u, LATERAL reco_recommend(u, 5, m) r ORDER BY 1, 2, 4"
psql -X -At -d $old -c "$serve" > "$tmp/before"
psql -X -At -d $old -c "SELECT version_id, user_id, item_id, weight FROM reco_pending ORDER BY 1, 2, 3" > "$tmp/pending"

# the new build, as a package upgrade would leave it, then the update
make -s PG_CONFIG="$pg_config" install >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d $old -c "ALTER EXTENSION reco UPDATE"
psql -X -At -d $old -c "$serve" > "$tmp/after"
diff "$tmp/before" "$tmp/after"
[ "$(wc -l < "$tmp/after")" -eq 840 ] || { echo "upgrade: expected 840 recommendations"; exit 1; }

# the same objects as a fresh install
createdb $new
psql -X -q -v ON_ERROR_STOP=1 -d $new -c "CREATE EXTENSION reco"
psql -X -At -v ON_ERROR_STOP=1 -d $old -f test/catalog.sql > "$tmp/catalog_updated"
psql -X -At -v ON_ERROR_STOP=1 -d $new -f test/catalog.sql > "$tmp/catalog_fresh"
diff "$tmp/catalog_fresh" "$tmp/catalog_updated"
grep -q "^extension reco 1.1 " "$tmp/catalog_updated"

# still learning online: the queue survived, a new event moves the user,
# a refresh takes the queue, a retrain works
psql -X -At -d $old -c "SELECT version_id, user_id, item_id, weight FROM reco_pending ORDER BY 1, 2, 3" |
	diff "$tmp/pending" -
psql -X -q -At -v ON_ERROR_STOP=1 -d $old > "$tmp/online" <<'SQL'
SET reco.progress = off;
CREATE TEMP TABLE b AS SELECT item_id FROM reco_recommend(5, 10);
INSERT INTO reco_event (user_id, item_id, kind) VALUES (5, (SELECT item_id FROM b LIMIT 1), 'purchase');
SELECT count(*) FROM reco_recommend(5, 10) r WHERE r.item_id = (SELECT item_id FROM b LIMIT 1);
SELECT count(*) > 0 FROM reco_pending p JOIN reco_model m ON m.active_version = p.version_id
	WHERE m.name = 'default' AND p.user_id = 5;
SELECT events >= 3 FROM reco_refresh('default');
SELECT count(*) FROM reco_pending p JOIN reco_model m ON m.active_version = p.version_id
	WHERE m.name = 'default';
SELECT version FROM reco_train('default');
SELECT count(*) FROM reco_recommend(5, 10);
SQL
printf '0\nt\nt\n0\n3\n10\n' | diff - "$tmp/online"
echo "updated 1.0 to 1.1: same recommendations, same objects as a fresh install, still learning online"
