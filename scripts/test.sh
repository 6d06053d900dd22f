#!/bin/bash
# Run every test of reco on a fresh Debian 12 machine: install what is
# missing, build with warnings as errors, install, then run the suites on a
# throwaway PostgreSQL 15 cluster that is removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
# a throwaway cluster on a port of its own, whatever PG* the caller has set
env -u PGPORT -u PGHOST -u PGDATABASE pg_virtualenv -v 15 bash test/run.sh
