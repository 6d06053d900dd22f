#!/bin/bash
# The TAP tests (t/*.pl, PostgreSQL::Test::Cluster): each starts throwaway
# clusters of its own, so PG* variables do not matter.  initdb refuses to run
# as root, so as root the tests run as the postgres user from a copy of t/ in
# a temporary directory it owns.  The node logs are printed on failure; set
# KEEP=1 to keep the directory.
set -euo pipefail
cd "$(dirname "$0")/.."

pg_config=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
bindir=$("$pg_config" --bindir)
pgxs=$(cd "$(dirname "$("$pg_config" --pgxs)")/.." && pwd)	# .../lib/pgxs/src

dir=$(mktemp -d /tmp/reco-tap.XXXXXX)
cleanup() { if [ -n "${KEEP:-}" ]; then echo "tap: kept $dir"; else rm -rf "$dir"; fi; }
trap cleanup EXIT
cp -r t "$dir/"
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$dir"

as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

cd "$dir"
status=0
as_postgres env PATH="$bindir:$PATH" TESTDIR="$dir" \
	PG_REGRESS="$pgxs/test/regress/pg_regress" \
	prove -v -I "$pgxs/test/perl" t/*.pl || status=$?
if [ "$status" -ne 0 ]; then
	for log in tmp_check/log/*; do
		[ -f "$log" ] || continue
		echo "=== $log (last 200 lines)"
		tail -n 200 "$log"
	done
fi
exit "$status"
