#!/bin/bash
# Prequential replay: does online learning keep the top-10 fresh?
#
#   bash bench/replay.sh [movielens|retail] [data file]
#
# Runs against the database the PG* variables name (CREATE EXTENSION reco if
# missing; its reco_event must be empty and it must have no model 'replay').
# Everything it creates (schema replay_bench, model 'replay', the events it
# inserted) is removed at the end, also on failure.
#
# Protocol: all events sorted by time (ties by user, item); the first 80 % are
# loaded into reco_event (kind 'rating' of value 1 for MovieLens: implicit
# binary feedback; 'purchase' of value 1 per (customer, stock code, invoice)
# for Online Retail) and a model is trained on them.  The last 20 % are then
# replayed in time order: before each event (u, i) we record whether i is in
# reco_recommend(u, 10, 'replay') (default filters), then apply the event.
# HR@10 = hits / checked events.  Configurations, each from a freshly trained
# model (same parameters, same seed, so all start identical):
#   static     events are not applied (not inserted)
#   online     INSERT into reco_event (AFTER INSERT trigger folds the user in),
#              SELECT * FROM reco_refresh('replay') every $EVERY events
#   online_nr  as online, never reco_refresh (user side only)
#   retrain    INSERT with reco.online = off, reco_train('replay') from scratch
#              on everything so far every $EVERY events
# The loop is a server-side procedure that COMMITs every $EVERY events (after
# the refresh/retrain), so each chunk of events is one transaction.
#
# Environment: ALGO (als, or mlp: its params in PARAMS, and configs without
# reco_refresh, which the mlp family does not have yet), PARAMS (overrides
# the parameters below), EVERY (1000), CONFIGS ("static online online_nr retrain"),
# LIMIT (replay only the first LIMIT events of the last 20 %; 0 = all;
# default 0 for MovieLens, 20000 for Online Retail), SAMPLE (fraction of the
# replayed events whose top-10 is checked, all are applied; default 1),
# RECO_SHARED_DATA.
set -euo pipefail
cd "$(dirname "$0")/.."

dataset=${1:-movielens}
EVERY=${EVERY:-1000}
case $dataset in
movielens)
	data=${2:-${RECO_SHARED_DATA:-../shared/data}/movielens-100k/u.data}
	kind=rating
	sample=${SAMPLE:-1}
	limit=${LIMIT:-0}
	params='{"factors": 64, "iterations": 15, "regularization": 1.5, "reg_exponent": 0.5, "alpha": 0.3, "weights": {"rating": 1}}'
	;;
retail)
	data=${2:-data/online-retail/online_retail_2010_2011_purchases.csv.gz}
	kind=purchase
	sample=${SAMPLE:-1}
	limit=${LIMIT:-20000}
	params='{"factors": 64, "iterations": 15, "regularization": 1.5, "reg_exponent": 0.5, "alpha": 0.3, "weights": {"purchase": 1}}'
	;;
*)
	echo "usage: $0 [movielens|retail] [data file]" >&2
	exit 2
	;;
esac
[ -r "$data" ] || { echo "cannot read $data" >&2; exit 1; }
ALGO=${ALGO:-als}
if [ "$ALGO" = mlp ]; then
	params="{\"dim\": 32, \"hidden\": [64, 32], \"epochs\": 10, \"weights\": {\"$kind\": 1}}"
	CONFIGS=${CONFIGS:-static online_nr}
fi
CONFIGS=${CONFIGS:-static online online_nr retrain}
params=${PARAMS:-$params}

PSQL=(psql -X -q -v ON_ERROR_STOP=1 -A -t)

"${PSQL[@]}" -c "CREATE EXTENSION IF NOT EXISTS reco" 2>/dev/null
busy=$("${PSQL[@]}" -c "SELECT (SELECT count(*) FROM reco_event) + (SELECT count(*) FROM reco_model WHERE name = 'replay')
                        + (SELECT count(*) FROM pg_namespace WHERE nspname = 'replay_bench')")
if [ "$busy" != 0 ]; then
	echo "database ${PGDATABASE:-?} is not empty (reco_event rows, model 'replay' or schema replay_bench exist)" >&2
	exit 1
fi

cleanup() {
	"${PSQL[@]}" -c "SET reco.online = off" \
		-c "DELETE FROM reco_pending WHERE version_id IN (SELECT version_id FROM reco_model_version WHERE model = 'replay')" \
		-c "SELECT reco_drop_model('replay') FROM reco_model WHERE name = 'replay'" \
		-c "TRUNCATE reco_event" \
		-c "DROP SCHEMA IF EXISTS replay_bench CASCADE" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# ---- load and split ---------------------------------------------------------
"${PSQL[@]}" <<'SQL'
CREATE SCHEMA replay_bench;
CREATE TABLE replay_bench.raw (user_id bigint, item_id bigint, rating real, unix_ts bigint);
CREATE TABLE replay_bench.retail (invoice text, stock text, descr text, qty numeric,
	invoice_date timestamp, price numeric, customer bigint, country text);
SQL

t0=$(date +%s.%N)
if [ "$dataset" = movielens ]; then
	"${PSQL[@]}" -c "\\copy replay_bench.raw FROM pstdin" < "$data"
	"${PSQL[@]}" -c "CREATE TABLE replay_bench.ev AS
		SELECT row_number() OVER (ORDER BY unix_ts, user_id, item_id) AS seq,
		       user_id, item_id, to_timestamp(unix_ts) AS ts
		FROM replay_bench.raw"
else
	gzip -dc "$data" | "${PSQL[@]}" -c "\\copy replay_bench.retail FROM pstdin WITH (FORMAT csv, HEADER true)"
	"${PSQL[@]}" <<'SQL'
CREATE TABLE replay_bench.items AS
	SELECT row_number() OVER (ORDER BY code) AS item_id, code
	FROM (SELECT DISTINCT upper(stock) AS code FROM replay_bench.retail WHERE customer <> 0) s;
CREATE TABLE replay_bench.ev AS
	SELECT row_number() OVER (ORDER BY ts, user_id, item_id) AS seq, user_id, item_id, ts
	FROM (SELECT r.customer AS user_id, i.item_id, min(r.invoice_date) AT TIME ZONE 'UTC' AS ts
	      FROM replay_bench.retail r JOIN replay_bench.items i ON i.code = upper(r.stock)
	      WHERE r.customer <> 0
	      GROUP BY r.customer, i.item_id, r.invoice) e;
SQL
fi

"${PSQL[@]}" -v sample="$sample" -v limit="$limit" -v every="$EVERY" <<'SQL'
CREATE TABLE replay_bench.split AS
	SELECT count(*) AS n, (count(*) * 8 / 10) AS ntrain FROM replay_bench.ev;
ALTER TABLE replay_bench.ev ADD PRIMARY KEY (seq);
-- the replay, with what the training period knew about each event
CREATE TABLE replay_bench.test AS
	WITH tu AS (SELECT DISTINCT user_id FROM replay_bench.ev, replay_bench.split WHERE seq <= ntrain),
	     ti AS (SELECT DISTINCT item_id FROM replay_bench.ev, replay_bench.split WHERE seq <= ntrain)
	SELECT e.seq, e.user_id, e.item_id, e.ts,
	       tu.user_id IS NULL AS new_user,
	       ti.item_id IS NULL AS new_item,
	       -- the user's previous event fell in this chunk of EVERY replay events, i.e.
	       -- after the last refresh/retrain: only an online update can know it
	       coalesce((lag(e.seq) OVER (PARTITION BY e.user_id ORDER BY e.seq) - s.ntrain - 1) / :every
	                = (e.seq - s.ntrain - 1) / :every, false) AS same_chunk,
	       (:sample >= 1 OR ('x' || substr(md5(e.seq::text), 1, 8))::bit(32)::bigint < :sample * 4294967296) AS checked
	FROM replay_bench.ev e CROSS JOIN replay_bench.split s
	     LEFT JOIN tu ON tu.user_id = e.user_id LEFT JOIN ti ON ti.item_id = e.item_id
	WHERE e.seq > s.ntrain AND (:limit = 0 OR e.seq <= s.ntrain + :limit);
ALTER TABLE replay_bench.test ADD PRIMARY KEY (seq);
CREATE TABLE replay_bench.hit (cfg text, seq bigint, hit boolean, PRIMARY KEY (cfg, seq));
CREATE TABLE replay_bench.summary (cfg text PRIMARY KEY, events int, checked int, hits int,
	wall float8, maint float8, maint_calls int, train float8);

CREATE PROCEDURE replay_bench.run(cfg text, every int, ev_kind text)
LANGUAGE plpgsql AS $$
DECLARE
	r record;
	n int := 0;
	nchecked int := 0;
	nhits int := 0;
	h boolean;
	t0 timestamptz := clock_timestamp();
	tm timestamptz;
	tmaint float8 := 0;
	calls int := 0;
BEGIN
	PERFORM set_config('reco.online', CASE WHEN cfg IN ('online', 'online_nr') THEN 'on' ELSE 'off' END, false);
	FOR r IN SELECT * FROM replay_bench.test ORDER BY seq LOOP
		IF r.checked THEN
			h := EXISTS (SELECT 1 FROM reco_recommend(r.user_id, 10, 'replay') x WHERE x.item_id = r.item_id);
			INSERT INTO replay_bench.hit VALUES (cfg, r.seq, h);
			nchecked := nchecked + 1;
			IF h THEN nhits := nhits + 1; END IF;
		END IF;
		IF cfg <> 'static' THEN
			INSERT INTO reco_event (event_id, user_id, item_id, kind, value, ts)
			VALUES (r.seq, r.user_id, r.item_id, ev_kind, 1, r.ts);
		END IF;
		n := n + 1;
		IF n % every = 0 THEN
			IF cfg IN ('online', 'retrain') THEN
				tm := clock_timestamp();
				IF cfg = 'online' THEN
					PERFORM * FROM reco_refresh('replay');
				ELSE
					PERFORM * FROM reco_train('replay');
				END IF;
				tmaint := tmaint + extract(epoch FROM clock_timestamp() - tm);
				calls := calls + 1;
			END IF;
			COMMIT;
		END IF;
	END LOOP;
	UPDATE replay_bench.summary SET events = n, checked = nchecked, hits = nhits,
		wall = extract(epoch FROM clock_timestamp() - t0), maint = tmaint, maint_calls = calls
	WHERE summary.cfg = run.cfg;
	COMMIT;
END $$;
SQL

# training events: loaded once, kept across configurations
"${PSQL[@]}" -v kind="$kind" <<'SQL'
SET reco.online = off;
INSERT INTO reco_event (event_id, user_id, item_id, kind, value, ts)
SELECT seq, user_id, item_id, :'kind', 1, ts
FROM replay_bench.ev, replay_bench.split WHERE seq <= ntrain;
SQL
t1=$(date +%s.%N)

read -r n ntrain users_new ev_new_user ev_new_item nchecked nrep < <("${PSQL[@]}" -F ' ' -c "
	SELECT s.n, s.ntrain,
	       (SELECT count(DISTINCT user_id) FROM replay_bench.test WHERE new_user),
	       (SELECT count(*) FROM replay_bench.test WHERE new_user),
	       (SELECT count(*) FROM replay_bench.test WHERE new_item),
	       (SELECT count(*) FROM replay_bench.test WHERE checked),
	       (SELECT count(*) FROM replay_bench.test)
	FROM replay_bench.split s")
split_ts=$("${PSQL[@]}" -c "SELECT min(ts)::date FROM replay_bench.test")

echo "reco prequential replay, dataset $dataset ($data), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores," \
	"reco $(git rev-parse --short HEAD 2>/dev/null || echo ?)"
echo "events $n: train $ntrain, replay $((n - ntrain)) from $split_ts, replayed $nrep (checked: $nchecked);" \
	"replay events of users new in the replay: $ev_new_user ($users_new users), of items new: $ev_new_item"
echo "algorithm: $ALGO; params: $params; refresh/retrain every $EVERY events; COMMIT every $EVERY events; load $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s"

for cfg in $CONFIGS; do
	"${PSQL[@]}" -v params="$params" -v cfg="$cfg" -v algo="$ALGO" >/dev/null <<'SQL'
SET reco.progress = off;
SET reco.online = off;
-- reco_drop_model leaves the dropped versions' reco_pending rows behind
DELETE FROM reco_pending WHERE version_id IN (SELECT version_id FROM reco_model_version WHERE model = 'replay');
SELECT reco_drop_model('replay') FROM reco_model WHERE name = 'replay';
DELETE FROM reco_event USING replay_bench.split WHERE event_id > ntrain;
INSERT INTO replay_bench.summary (cfg) VALUES (:'cfg');
UPDATE replay_bench.summary SET train = (SELECT seconds FROM reco_train('replay', :'algo', :'params'::jsonb))
WHERE cfg = :'cfg';
SQL
	"${PSQL[@]}" -c "SET reco.progress = off" -c "CALL replay_bench.run('$cfg', $EVERY, '$kind')"
done

echo
"${PSQL[@]}" -P format=aligned -P footer=off -P tuples_only=off <<'SQL'
SELECT s.cfg AS config, s.events, s.checked, s.hits,
       round(s.hits::numeric / nullif(s.checked, 0), 4) AS "HR@10",
       round((s.hits::numeric / nullif(s.checked, 0)) /
             nullif((SELECT hits::numeric / checked FROM replay_bench.summary WHERE cfg = 'static'), 0), 3) AS "vs static",
       round((s.hits::numeric / nullif(s.checked, 0)) /
             nullif((SELECT hits::numeric / checked FROM replay_bench.summary WHERE cfg = 'retrain'), 0), 3) AS "vs retrain",
       round(s.wall::numeric, 1) AS "wall s",
       round(s.maint::numeric, 1) AS "refresh/retrain s",
       s.maint_calls AS calls,
       round(s.train::numeric, 2) AS "initial train s"
FROM replay_bench.summary s
ORDER BY array_position(ARRAY['static', 'online', 'online_nr', 'retrain'], s.cfg);

-- where the hits come from: users/items the training period knew or not, and
-- whether the user's previous event came after the last refresh/retrain
SELECT h.cfg AS config,
       round(avg(h.hit::int) FILTER (WHERE NOT t.new_user AND NOT t.new_item), 4) AS "HR known user+item",
       count(*) FILTER (WHERE NOT t.new_user AND NOT t.new_item) AS n,
       round(avg(h.hit::int) FILTER (WHERE t.new_user AND NOT t.new_item), 4) AS "HR new user",
       count(*) FILTER (WHERE t.new_user AND NOT t.new_item) AS n,
       round(avg(h.hit::int) FILTER (WHERE t.new_item), 4) AS "HR new item",
       count(*) FILTER (WHERE t.new_item) AS n,
       round(avg(h.hit::int) FILTER (WHERE t.same_chunk), 4) AS "HR prev event same chunk",
       count(*) FILTER (WHERE t.same_chunk) AS n,
       round(avg(h.hit::int) FILTER (WHERE NOT t.same_chunk), 4) AS "HR otherwise",
       count(*) FILTER (WHERE NOT t.same_chunk) AS n
FROM replay_bench.hit h JOIN replay_bench.test t USING (seq)
GROUP BY h.cfg
ORDER BY array_position(ARRAY['static', 'online', 'online_nr', 'retrain'], h.cfg);
SQL
