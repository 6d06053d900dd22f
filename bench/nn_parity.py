#!/usr/bin/env python3
"""Replay bench/nn_parity's training in PyTorch and compare per-epoch losses.

Usage: OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/nn_parity.py outdir

outdir is what bench/nn_parity wrote: the data, reco's initial weights and
the batch order of every epoch.  The same 10-10-10-1 network (nn.Linear,
torch.sigmoid, MSELoss, torch.optim.Adam lr 0.01, float32) is started from
those weights and trained on the same batches in the same order; the mean
batch loss of each epoch must agree with reco's to 1e-4 relative, which
shows reco's forward pass, backpropagation and Adam are torch's.  Exits 1
when it does not.
"""
import sys

import numpy as np
import torch

TOL = 1e-4
BATCH = 10


def floats(path):
    return [np.array(line.split(), dtype=np.float32) for line in open(path)]


def main():
    d = sys.argv[1]
    torch.set_num_threads(2)
    X = torch.from_numpy(np.loadtxt(f"{d}/X.txt", dtype=np.float32))
    y = torch.from_numpy(np.loadtxt(f"{d}/y.txt", dtype=np.float32))
    train = torch.from_numpy(np.loadtxt(f"{d}/train.txt", dtype=np.int64))
    test = torch.from_numpy(np.loadtxt(f"{d}/test.txt", dtype=np.int64))
    orders = np.loadtxt(f"{d}/order.txt", dtype=np.int64, ndmin=2)
    reco_loss = np.loadtxt(f"{d}/loss.txt", dtype=np.float64, ndmin=1)
    init = floats(f"{d}/init.txt")

    layers = [torch.nn.Linear(10, 10), torch.nn.Linear(10, 10), torch.nn.Linear(10, 1)]
    with torch.no_grad():
        for k, lin in enumerate(layers):
            # reco keeps W out x in row-major: torch's weight memory as is
            lin.weight.copy_(torch.from_numpy(init[2 * k]).view_as(lin.weight))
            lin.bias.copy_(torch.from_numpy(init[2 * k + 1]))
    params = [p for lin in layers for p in lin.parameters()]
    opt = torch.optim.Adam(params, lr=0.01)
    mse = torch.nn.MSELoss()

    def net(x):
        h = torch.sigmoid(layers[0](x))
        h = torch.sigmoid(layers[1](h))
        return layers[2](h).squeeze(1)

    Xtr, ytr = X[train], y[train]
    torch_loss = []
    for order in orders:
        order = torch.from_numpy(order)
        total = 0.0
        for s in range(0, len(order), BATCH):
            idx = order[s:s + BATCH]
            opt.zero_grad()
            loss = mse(net(Xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            total += loss.item()
        torch_loss.append(total / (len(order) // BATCH))
    torch_loss = np.array(torch_loss)

    rel = np.abs(torch_loss - reco_loss) / np.abs(torch_loss)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{len(orders)} epochs of {len(orders[0]) // BATCH} batches")
    print("epoch  reco loss     torch loss    rel. diff")
    shown = sorted({0, 1, 2, 9, 24, 49, 74, len(rel) - 1, int(rel.argmax())})
    for e in shown:
        print(f"{e + 1:5d}  {reco_loss[e]:.9f}  {torch_loss[e]:.9f}  {rel[e]:.2e}")
    worst = rel.max()

    with torch.no_grad():
        test_mse = mse(net(X[test]), y[test]).item()
    mean_mse = ((y[test] - ytr.double().mean()) ** 2).mean().item()
    reco_res = dict(line.split() for line in open(f"{d}/result.txt"))
    print(f"test MSE: reco {float(reco_res['test_mse']):.6f}, torch {test_mse:.6f}, "
          f"mean predictor {mean_mse:.6f}; ratio reco "
          f"{float(reco_res['test_mse']) / mean_mse:.4f}, torch {test_mse / mean_mse:.4f}")
    ok = worst <= TOL
    print(f"max relative difference over {len(rel)} epochs: {worst:.2e} "
          f"(epoch {int(rel.argmax()) + 1}) {'<=' if ok else '>'} {TOL:g}: "
          f"{'PARITY' if ok else 'NO PARITY'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
