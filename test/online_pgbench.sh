#!/bin/bash
# Online learning under concurrency: pgbench inserts 4 x 5,000 events through
# the reco_event trigger while another client keeps asking for
# recommendations.  Afterwards no event is lost (every user's history holds
# exactly the weights of their committed events) and every user's vector is
# the fold-in of that history (a twin user fed the same history serially
# gets bit-identical factors).  Then reco_refresh empties the queue.
set -euo pipefail
cd "$(dirname "$0")/.."

db=reco_online_pgbench
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; dropdb --if-exists $db >/dev/null 2>&1 || true' EXIT
dropdb --if-exists $db >/dev/null 2>&1
createdb $db
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d $db "$@"; }

q <<'SQL'
CREATE EXTENSION reco;
SET reco.progress = off;
SELECT setseed(0.42);
INSERT INTO reco_event (user_id, item_id, kind)
SELECT 1 + (random() * 399)::int, 1 + (random() * 199)::int, 'purchase'
FROM generate_series(1, 8000);
SELECT version FROM reco_train('live', 'als', '{"factors": 16, "iterations": 5}') \g /dev/null
SQL
fixture=$(q -c "SELECT count(*) FROM reco_event")

cat > "$tmp/event.sql" <<'SQL'
\set u random(1, 450)
\set i random(1, 220)
INSERT INTO reco_event (user_id, item_id, kind) VALUES (:u, :i, 'view');
SQL
cat > "$tmp/serve.sql" <<'SQL'
\set u random(1, 450)
SELECT count(*) FROM reco_recommend(:u, 10, 'live');
SQL

pgbench -n -d $db -c 4 -j 2 -t 5000 -f "$tmp/event.sql" > "$tmp/events.log" 2>&1 &
events_pid=$!
pgbench -n -d $db -c 1 -j 1 -t 3000 -f "$tmp/serve.sql" > "$tmp/serve.log" 2>&1 &
serve_pid=$!
wait $events_pid || { cat "$tmp/events.log"; echo "event inserts failed"; exit 1; }
wait $serve_pid || { cat "$tmp/serve.log"; echo "serving failed during the inserts"; exit 1; }
grep -E "^(number of transactions actually processed|tps|latency average)" "$tmp/events.log" | sed 's/^/events: /'
grep -E "^(number of transactions actually processed|tps|latency average)" "$tmp/serve.log" | sed 's/^/serving: /'

inserted=$(q -c "SELECT count(*) FROM reco_event")
[ $((inserted - fixture)) -eq 20000 ] || { echo "expected 20000 new events, found $((inserted - fixture))"; exit 1; }

# no lost update: each user's history equals the sum of their events
lost=$(q <<'SQL'
WITH v AS (SELECT active_version AS id FROM reco_model WHERE name = 'live'),
events AS (
	SELECT user_id, item_id, sum(CASE kind WHEN 'purchase' THEN 8 ELSE 1 END * value) AS w
	FROM reco_event GROUP BY 1, 2),
history AS (
	SELECT u.user_id, h.item_id, h.w
	FROM reco_user_factors u, v, unnest(u.items, u.weights) AS h(item_id, w)
	WHERE u.version_id = v.id)
SELECT count(*) FROM events e FULL JOIN history h USING (user_id, item_id)
WHERE e.w IS DISTINCT FROM h.w;
SQL
)
[ "$lost" -eq 0 ] || { echo "$lost (user, item) pairs differ between events and histories"; exit 1; }

# every vector is the fold-in of its history: replay 40 histories serially
# into twin users and compare the factors bit for bit
differ=$(q <<'SQL'
SET reco.progress = off;
WITH v AS (SELECT active_version AS id FROM reco_model WHERE name = 'live'),
sample AS (
	SELECT u.user_id, u.items, u.weights FROM reco_user_factors u, v
	WHERE u.version_id = v.id AND u.user_id <= 450 ORDER BY u.user_id LIMIT 40)
SELECT count(*) FILTER (WHERE NOT ok) FROM (
	SELECT s.user_id,
		(SELECT bool_and(reco_online_update(1000000 + s.user_id, h.item, 'view', h.w, 'live'))
		 FROM unnest(s.items, s.weights) WITH ORDINALITY AS h(item, w, n)) AS ok
	FROM sample s) t;
SQL
)
[ "$differ" -eq 0 ] || { echo "replays failed for $differ users"; exit 1; }
mismatch=$(q <<'SQL'
SELECT count(*) FROM reco_user_factors a JOIN reco_user_factors b
	ON b.version_id = a.version_id AND b.user_id = a.user_id + 1000000
WHERE a.version_id = (SELECT active_version FROM reco_model WHERE name = 'live')
  AND (a.factors <> b.factors OR a.items <> b.items);
SQL
)
twins=$(q -c "SELECT count(*) FROM reco_user_factors WHERE user_id > 1000000")
[ "$twins" -eq 40 ] && [ "$mismatch" -eq 0 ] || { echo "$mismatch of $twins twins differ from the fold-in"; exit 1; }

refresh=$(q -c "SELECT events || ' events, ' || items || ' items' FROM reco_refresh('live')")
left=$(q -c "SELECT count(*) FROM reco_pending")
[ "$left" -eq 0 ] || { echo "$left events still pending after reco_refresh"; exit 1; }
echo "20000 concurrent events: none lost, 40 sampled vectors equal their fold-in, serving never failed; refresh took $refresh"
