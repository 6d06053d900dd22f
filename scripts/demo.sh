#!/bin/bash
# The reco demo on real data (UCI "Online Retail", data/online-retail/).
#
# Installs what is needed and builds and installs the extension
# (scripts/setup.sh), then runs scripts/demo.sql on a throwaway PostgreSQL 15
# cluster created by pg_virtualenv, which removes it afterwards: nothing is
# left running but a PNG of the model's curves in ${TMPDIR:-/tmp}.  Run as root, or as a user with sudo, on Debian 12:
#     bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

start=$(date +%s)

bash scripts/setup.sh

echo "demo: running scripts/demo.sql on a throwaway PostgreSQL 15 cluster"
# -X: ignore ~/.psqlrc; -q: no command tags; demo.sql reads its data file
# relative to the repository root, the current directory here
# and draws the model's loss and quality curves (scripts/plot.sh) into a PNG
png=${TMPDIR:-/tmp}/reco-demo-retail.png
env -u PGPORT -u PGHOST -u PGDATABASE pg_virtualenv -v 15 bash -c '
	psql -X -q -v ON_ERROR_STOP=1 -f scripts/demo.sql &&
	scripts/plot.sh retail "SELECT a.user_id, a.item_id FROM retail.after a JOIN retail.customer c USING (user_id) WHERE NOT a.repeat" "$1"' \
	plot "$png"

echo "demo: done in $(( $(date +%s) - start )) s (throwaway cluster removed)"
