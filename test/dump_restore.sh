#!/bin/bash
# pg_dump / pg_restore keep trained models of both families: every version,
# the active one, the profiles, and identical recommendations afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

src=reco_dump_src
dst=reco_dump_dst
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; dropdb --if-exists $src; dropdb --if-exists $dst' EXIT

dropdb --if-exists $src
dropdb --if-exists $dst
createdb $src
psql -X -q -v ON_ERROR_STOP=1 -d $src <<'SQL'
CREATE EXTENSION reco;
SET reco.progress = off;
INSERT INTO reco_item (item_id, title) SELECT i, 'item ' || i FROM generate_series(1, 50) i;
INSERT INTO reco_event (user_id, item_id, kind)
SELECT u, 1 + (u * 7 + j * 3) % 50, 'purchase' FROM generate_series(1, 40) u, generate_series(1, 6) j;
SELECT version FROM reco_train('dumped', 'als', '{"factors": 8, "iterations": 5}');
SELECT version FROM reco_train('dumped', 'als', '{"seed": 3}');
SELECT reco_activate('dumped', 1);
-- a network too, with a customer served from the profile alone
INSERT INTO reco_user SELECT u, jsonb_build_object('segment', u % 3) FROM generate_series(1, 41) u;
SELECT version FROM reco_train('dumped_mlp', 'mlp', '{"dim": 4, "hidden": [8], "epochs": 3}');
SQL

query="SELECT m, u, r.item_id, r.rank, r.score, r.source FROM unnest(ARRAY['dumped', 'dumped_mlp']) m, generate_series(1, 41) u, LATERAL reco_recommend(u, 5, m) r ORDER BY 1, 2, 4"
state="SELECT model, version, (version_id = (SELECT active_version FROM reco_model WHERE name = model)) AS active, n_users, n_items FROM reco_model_version ORDER BY 1, 2"

psql -X -At -d $src -c "$query" > "$tmp/before"
psql -X -At -d $src -c "$state" > "$tmp/state_before"
pg_dump -Fc -d $src -f "$tmp/db.dump"
createdb $dst
pg_restore -d $dst "$tmp/db.dump"
psql -X -At -d $dst -c "$query" > "$tmp/after"
psql -X -At -d $dst -c "$state" > "$tmp/state_after"

[ "$(wc -l < "$tmp/before")" -eq 410 ] || { echo "expected 410 recommendations before the dump"; exit 1; }
grep -q '|profile$' "$tmp/before" || { echo "expected customer 41 served from a profile"; exit 1; }
diff "$tmp/state_before" "$tmp/state_after"
diff "$tmp/before" "$tmp/after"
# rollback still works on the restored copy
psql -X -q -v ON_ERROR_STOP=1 -d $dst -c "SELECT reco_activate('dumped', 2)" >/dev/null
echo "restored $(wc -l < "$tmp/state_after") versions and identical recommendations"
