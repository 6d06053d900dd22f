#!/bin/bash
# PyTorch parity of the neural core on the seed's case (issue 9): reco trains
# 10-10-10-1 / MSE / Adam 0.01 / batch 10 / 100 epochs (bench/nn_parity.c),
# torch replays it from reco's initial weights on the same batches
# (bench/nn_parity.py); per-epoch losses must agree to 1e-4 relative.
# Runs training seeds 1..SEEDS (default 5) on the one seeded data set and
# prints the test MSE over the mean predictor's, for each seed and averaged.
#   bash bench/nn_parity.sh          (no PostgreSQL needed)
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${SEEDS:-5}

# The issue's bench scripts install their peers: Debian's torch
# (for the system python: a pyenv or venv python3 earlier on PATH lacks it)
py=${PYTHON:-/usr/bin/python3}
if ! "$py" -c 'import torch' 2>/dev/null; then
	sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get install -y -qq python3-torch python3-numpy
fi
make -s bench/nn_parity

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail=0
for s in $(seq 1 "$seeds"); do
	echo "== training seed $s"
	bench/nn_parity "$out/$s" "$s"
	OPENBLAS_NUM_THREADS=1 "$py" bench/nn_parity.py "$out/$s" | tee "$out/$s.log" || fail=1
done
# Mean over seeds of each side's test-MSE ratio; the issue's bar is 0.85
grep -h '^test MSE' "$out"/*.log | sed 's/.*ratio reco \([0-9.]*\), torch \([0-9.]*\)/\1 \2/' |
	awk '{r += $1; t += $2; n++} END {printf "test MSE / mean predictor'"'"'s over %d seeds: reco %.4f, torch %.4f (bar 0.85)\n", n, r / n, t / n}'
grep -h '^max relative' "$out"/*.log | awk '{if ($7 > m) m = $7} END {printf "max relative difference of per-epoch losses over all seeds: %.2e\n", m}'
exit $fail
