#!/bin/bash
# The 'mlp' network (src/core/recnet.c) on MovieLens 100K against the same
# network in PyTorch (bench/recnet_movielens.py), no PostgreSQL needed:
#  1. epoch seconds on u1.base, hidden [128, 64], batch 256 and 1024: the
#     median over SPEED_EPOCHS epochs of each side, run one after the other
#     in this script (the machine is shared: compare within one run);
#  2. test RMSE per fold u1..u5 with SETTINGS (C; also PyTorch with
#     TORCH_FOLDS=1, slower, with TORCH_SETTINGS: bench/recnet_movielens.py
#     has no per-example l2_id / l2_bias / l2_layers).
# The speed runs use SPEED_SETTINGS on both sides.
# C on the serial OpenBLAS, one thread; PyTorch with torch.set_num_threads(2).
#   bash bench/recnet_movielens.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
data=${DATA:-${RECO_SHARED_DATA:-../shared/data}/movielens-100k}
speed_epochs=${SPEED_EPOCHS:-5}
base="dim=64 hidden=128,64 batch=256 lr=1e-3 l2=0.1 dropout=0.3 decay=0.9 epochs=25 feature_dot=1"
speed_settings=${SPEED_SETTINGS:-$base}
torch_settings=${TORCH_SETTINGS:-$base}
settings=${SETTINGS:-dim=128 hidden=128,64 batch=256 lr=5e-3 l2=0.01 l2_id=0.1 l2_bias=0.05 l2_layers=0.01 dropout=0.3 decay=0.9 epochs=30 feature_dot=1}

py=${PYTHON:-/usr/bin/python3}
if ! "$py" -c 'import torch' 2>/dev/null; then
	sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get install -y -qq python3-torch python3-numpy
fi
make -s bench/recnet_movielens
export OPENBLAS_NUM_THREADS=1
blas=$(ldd bench/recnet_movielens | awk '/openblas/ {print $3}')
echo "C: $(readlink -f "$blas"), OPENBLAS_NUM_THREADS=1; PyTorch $("$py" -c 'import torch; print(torch.__version__)'), 2 threads"
echo "settings: $settings"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
seconds() { awk '/^epoch/ {print $8}' "$1" | median_value; }
rmse() { awk '/^epoch/ {r = $6} END {print r}' "$1"; }

echo
echo "| batch | C s/epoch | PyTorch s/epoch | C / PyTorch |"
echo "|---|---|---|---|"
for b in 256 1024; do
	bench/recnet_movielens "$data" 1 $speed_settings hidden=128,64 batch=$b epochs=$speed_epochs > "$out/c$b"
	"$py" bench/recnet_movielens.py "$data" 1 $speed_settings hidden=128,64 batch=$b epochs=$speed_epochs > "$out/t$b"
	c=$(seconds "$out/c$b")
	t=$(seconds "$out/t$b")
	echo "| $b | $c | $t | $(awk -v c="$c" -v t="$t" 'BEGIN {printf "%.2f", c / t}') |"
done

echo
echo "| fold | C RMSE | PyTorch RMSE |"
echo "|---|---|---|"
sum=0
for f in 1 2 3 4 5; do
	bench/recnet_movielens "$data" $f $settings > "$out/f$f"
	c=$(rmse "$out/f$f")
	sum=$(awk -v s="$sum" -v c="$c" 'BEGIN {print s + c}')
	t=-
	if [ "${TORCH_FOLDS:-0}" = 1 ]; then
		"$py" bench/recnet_movielens.py "$data" $f $torch_settings > "$out/tf$f"
		t=$(rmse "$out/tf$f")
	fi
	echo "| u$f | $c | $t |"
done
echo "mean C RMSE over u1..u5: $(awk -v s="$sum" 'BEGIN {printf "%.4f", s / 5}') (bar 0.90)"
