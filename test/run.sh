#!/bin/bash
# The test suites, run against the cluster that PG* variables point at
# (scripts/test.sh starts a throwaway one with pg_virtualenv).
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0

suite() {
	local name=$1
	shift
	echo "=== $name"
	if "$@"; then
		passed=$((passed + 1))
		echo "=== $name: ok"
	else
		failed=$((failed + 1))
		echo "=== $name: FAILED"
	fi
}

regress() {
	make -s installcheck && return 0
	[ -f regression.diffs ] && cat regression.diffs
	return 1
}

suite "numerical core unit tests (test/core_test.c)" make -s core-test
suite "pg_regress (sql/, expected/)" regress
suite "pg_dump and pg_restore keep models" bash test/dump_restore.sh
suite "ALTER EXTENSION reco UPDATE from release 1.0 (test/upgrade.sh)" bash test/upgrade.sh
suite "TAP tests (t/*.pl): 20,000 concurrent pgbench events through the trigger" bash test/tap.sh
suite "a hot standby serves the same recommendations" bash test/standby.sh
suite "MovieLens 100K ranking quality bar" bash test/quality.sh
suite "itemknn and ease similarities and basket scores equal NumPy's (test/itemknn_check.py)" bash test/itemknn_check.sh
suite "reco_evaluate* equal an independent NumPy computation (test/metrics.py), plot.sh draws a PNG" bash test/evaluate_check.sh

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
