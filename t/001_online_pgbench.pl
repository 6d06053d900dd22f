# Online learning under concurrency: pgbench inserts 4 x 5,000 events through
# the reco_event trigger while a psql session keeps asking for
# recommendations, every call checked.  Afterwards no event is lost (every user's history holds
# exactly the weights of their committed events), every user's vector is the
# fold-in of that history (a twin user fed the same history serially gets
# bit-identical factors), and reco_refresh empties the queue.
#
# Then 4 x 5,000 more while another session retrains and refreshes the model
# again and again: after one last refresh, every (user, item) weight of the
# version served equals the sum of its events, and no queue is left behind.

use strict;
use warnings;

use IPC::Run;
use File::Path qw(rmtree);
use Time::HiRes qw(time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('online');
$node->init;
# some 30,000 statements: log only the ones that fail
$node->append_conf('postgresql.conf', 'log_statement = none');
$node->start;

# 8,000 purchases of 400 users over 200 items, and a model trained on them
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION reco;
SET reco.progress = off;
SELECT setseed(0.42);
INSERT INTO reco_event (user_id, item_id, kind)
SELECT 1 + (random() * 399)::int, 1 + (random() * 199)::int, 'purchase'
FROM generate_series(1, 8000);
-- values count as they are: the twins below replay histories as values
SELECT version FROM reco_train('live', 'als',
	'{"factors": 16, "iterations": 5, "value": "linear"}');
});
my $fixture = $node->safe_psql('postgres', 'SELECT count(*) FROM reco_event');
is($fixture, 8000, 'fixture: 8000 purchases');

# Events come from 450 users over 220 items, so some users and items are new
# to the model.  Every transaction's end time goes to a per-transaction log.
my $base = $node->basedir;
append_to_file(
	"$base/event.sql", q{\set u random(1, 450)
\set i random(1, 220)
INSERT INTO reco_event (user_id, item_id, kind) VALUES (:u, :i, 'view');
});
mkdir "$base/events_log";
my $events = IPC::Run::start(
	[
		'pgbench', '-n', '-h', $node->host, '-p', $node->port,
		'--log', "--log-prefix=$base/events_log/log",
		'-c', '4', '-j', '2', '-t', '5000', '-f', "$base/event.sql",
		'postgres'
	],
	'>', "$base/events.out", '2>', "$base/events.err");

# Meanwhile one serving session asks for recommendations in batches of 50
# random users as long as the inserts run, and one batch more after they have
# ended.  Every call must give 10 rows (an unknown user gets the popular
# items).
my ($in, $out, $err) = ('', '', '');
my $timer = IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default);
my $serve = IPC::Run::start(
	[
		'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1',
		'-d', $node->connstr('postgres'), '-f', '-'
	],
	'<', \$in, '>', \$out, '2>', \$err, $timer);
my ($batches, $calls, @short, @batch_end) = (0, 0);
my $started = time;
while (1)
{
	my $inserting = $events->pumpable;
	$batches++;
	for (1 .. 50)
	{
		my $u = 1 + int(rand(450));
		$in .= "SELECT $u, count(*) FROM reco_recommend($u, 10, 'live');\n";
	}
	$in .= "\\echo batch $batches\n";
	pump_until($serve, $timer, \$out, qr/^batch $batches$/m) or last;
	push @batch_end, time;
	for my $line (split /\n/, $out)
	{
		next unless $line =~ /^(\d+)\|(\d+)$/;
		$calls++;
		push @short, "user $1: $2 rows" if $2 != 10;
	}
	$out = '';
	last unless $inserting && !$timer->is_expired;
}
my $serving = time - $started;
$in .= "\\q\n";
my $serve_ok = eval { $serve->finish };

# the inserts go on if serving broke off
my $deadline = $started + $PostgreSQL::Test::Utils::timeout_default;
Time::HiRes::sleep(0.1) while $events->pumpable && time < $deadline;
my $ended = !$events->pumpable;
ok($ended, 'pgbench inserting events ended in time');
$events->kill_kill unless $ended;
my $events_ok  = $ended && $events->finish;
my $events_out = slurp_file("$base/events.out");
ok($events_ok, 'pgbench inserting events exits 0')
  or diag($events_out . slurp_file("$base/events.err"));
like(
	$events_out,
	qr/^number of transactions actually processed: 20000\/20000$/m,
	'pgbench committed 20000 event inserts');
note "events: $_" for $events_out =~ /^((?:tps|latency average) = .*)$/mg;

ok($serve_ok && $err eq '', 'the serving session ended without an error')
  or diag("serving stderr: $err");
is($calls, 50 * $batches, 'every recommendation call was answered');
is(scalar @short, 0, 'every recommendation call gave 10 rows')
  or diag(join("\n", @short[ 0 .. ($#short > 9 ? 9 : $#short) ]));
note sprintf('serving: %d calls in %.2f s', $calls, $serving);

# serving throughout: batches ended all along the insert run.  A lock the
# inserts held against serving would empty most tenths; one empty tenth
# (a third of a second) is the scheduler of a loaded two-core machine.
my @inserts;
for my $file (glob("$base/events_log/*"))
{
	for my $line (split /\n/, slurp_file($file))
	{
		my @f = split / /, $line;
		push @inserts, $f[4] + $f[5] / 1e6;    # end time of the transaction
	}
}
@inserts = sort { $a <=> $b } @inserts;
is(scalar @inserts, 20000, 'the insert log holds 20000 transactions');
my ($first, $span) = ($inserts[0], $inserts[-1] - $inserts[0]);
my @tenths = (0) x 10;
for my $t (@batch_end)
{
	next if $t < $first || $t > $first + $span;
	my $i = $span ? int(($t - $first) * 10 / $span) : 0;
	$tenths[ $i > 9 ? 9 : $i ]++;
}
my ($gap, $longest) = (0, 0);
for my $n (@tenths)
{
	$gap = $n ? 0 : $gap + 1;
	$longest = $gap if $gap > $longest;
}
cmp_ok($longest, '<=', 1,
	'recommendations were served in every fifth of the insert run')
  or diag("serving batches per tenth: @tenths");
note sprintf('%.2f s of inserts, serving batches per tenth: %s',
	$span, "@tenths");

my $inserted = $node->safe_psql('postgres', 'SELECT count(*) FROM reco_event');
is($inserted - $fixture, 20000, '20000 new events in reco_event');

# no lost update: each user's history equals the sum of their events
my $weights_differ = q{
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
};
my $lost = $node->safe_psql('postgres', $weights_differ);
is($lost, 0, 'no (user, item) weight differs between events and histories');

# every vector is the fold-in of its history: replay 40 histories serially
# into twin users and compare the factors bit for bit
my $replay_failed = $node->safe_psql(
	'postgres', q{
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
});
is($replay_failed, 0, 'every replayed event was applied');
my ($twins, $mismatch) = split /\|/, $node->safe_psql(
	'postgres', q{
SELECT count(*), count(*) FILTER (WHERE a.factors <> b.factors OR a.items <> b.items)
FROM reco_user_factors a JOIN reco_user_factors b
	ON b.version_id = a.version_id AND b.user_id = a.user_id + 1000000
WHERE a.version_id = (SELECT active_version FROM reco_model WHERE name = 'live');
});
is($twins, 40, '40 twin users replayed beside their originals');
is($mismatch, 0, 'every twin is bit-identical to the fold-in under load');

my $refresh = $node->safe_psql('postgres',
	"SELECT events || ' events, ' || items || ' items' FROM reco_refresh('live')"
);
note "refresh: $refresh";
is($node->safe_psql('postgres', 'SELECT count(*) FROM reco_pending'),
	0, 'reco_refresh empties the queue');


# Part two: inserts with retrains and refreshes running all along.  The
# inserts are held to 2,000 a second at most, so that they last (10 s or
# more) for several trainings and refreshes however fast the write path is.
rmtree("$base/events_log");
mkdir "$base/events_log";
$events = IPC::Run::start(
	[
		'pgbench', '-n', '-h', $node->host, '-p', $node->port,
		'-c', '4', '-j', '2', '-t', '5000', '-R', '2000', '-f', "$base/event.sql",
		'postgres'
	],
	'>', "$base/events2.out", '2>', "$base/events2.err");
my ($trainings, $refreshes) = (0, 0);
$started = time;
while ($events->pumpable && time < $started + $PostgreSQL::Test::Utils::timeout_default)
{
	if ($refreshes % 3 == 2)
	{
		$node->safe_psql('postgres',
			"SET reco.progress = off; SELECT version FROM reco_train('live')");
		$trainings++;
	}
	$node->safe_psql('postgres', "SELECT events FROM reco_refresh('live')");
	$refreshes++;
}
$ended = !$events->pumpable;
ok($ended, 'pgbench inserting events beside retrains ended in time');
$events->kill_kill unless $ended;
ok($ended && $events->finish, 'pgbench beside retrains exits 0')
  or diag(slurp_file("$base/events2.out") . slurp_file("$base/events2.err"));
like(
	slurp_file("$base/events2.out"),
	qr/^number of transactions actually processed: 20000\/20000$/m,
	'pgbench committed 20000 more event inserts');
cmp_ok($trainings, '>=', 2, 'the model was retrained during the inserts');
cmp_ok($refreshes, '>=', 4, 'the model was refreshed during the inserts');
note "$trainings trainings and $refreshes refreshes during the inserts";

# inserts still in flight at an activation wait in the old queue: one last
# refresh replays them into the version served
$node->safe_psql('postgres', "SELECT events FROM reco_refresh('live')");
is( $node->safe_psql(
		'postgres', 'SELECT count(*) FROM reco_event') - $inserted,
	20000, '20000 more events in reco_event');
is($node->safe_psql('postgres', $weights_differ),
	0, 'every weight of the final version equals the sum of its events');
is($node->safe_psql('postgres', 'SELECT count(*) FROM reco_pending'),
	0, 'no queue is left behind, of any version');
my $caught = $node->safe_psql('postgres',
	"SELECT sum((metrics->>'caught_up')::int) FROM reco_model_version WHERE model = 'live'");
cmp_ok($caught, '>', 0, 'trainings caught up events committed while they ran');
note "events caught up at activation: $caught";

$node->stop;
done_testing();
