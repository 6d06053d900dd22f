#!/usr/bin/env python3
"""The 'mlp' network of src/core/recnet.c in PyTorch, on one MovieLens 100K fold.

Usage: OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/recnet_movielens.py DATADIR FOLD [key=value ...]

The same model, features, loss and optimizer as bench/recnet_movielens.c
(same keys and defaults): y = mean + b_u + b_i + <p_u, q_i> + mlp([p_u, f_u,
q_i, f_i]) (with feature_dot=1 the dot product is <p_u + f_u, q_i + f_i>), f the mean of hashed feature-token rows (FNV-1a 64 mod buckets),
ReLU hidden layers with dropout, MSE, torch.optim.Adam (weight_decay), L2
l2/2 |w|^2 on each embedding row a batch touches, ids replaced by row 0 with
probability unknown, rows reshuffled every epoch, RMSE of predictions
clipped to 1..5.  Embeddings are dense (torch.nn.Embedding and Adam, the
usual way), where the C core updates touched rows only.  Prints the lines the
C driver prints.  torch.set_num_threads(2).
"""
import sys
import time

import numpy as np
import torch

DEFAULTS = dict(dim=64, hidden="128,64", batch=256, lr=1e-3, wd=0.0, l2=0.0,
                dropout=0.0, epochs=10, unknown=0.0, std=0.1, seed=1,
                buckets=1024, decay=1.0, feature_dot=0)


def fnv1a(text, buckets):
    h = 0xcbf29ce484222325
    for c in text.encode():
        h = ((h ^ c) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h % buckets


def age_band(age):
    for upto, name in ((17, "-17"), (24, "18-24"), (34, "25-34"), (44, "35-44"),
                       (49, "45-49"), (55, "50-55")):
        if age <= upto:
            return "age:" + name
    return "age:56-"


def padded(tokens, nrows, pad):
    """Rows of bucket ids padded with pad (EmbeddingBag's padding_idx)."""
    width = max(len(t) for t in tokens.values())
    m = np.full((nrows, width), pad, dtype=np.int64)
    for row, t in tokens.items():
        m[row, :len(t)] = t
    return torch.from_numpy(m)


def read_features(d, buckets):
    users, items = {}, {}
    for line in open(f"{d}/u.user", encoding="latin-1"):
        f = line.rstrip("\r\n").split("|")
        users[int(f[0])] = [fnv1a(t, buckets) for t in
                            (age_band(int(f[1])), "gender:" + f[2], "occupation:" + f[3])]
    for line in open(f"{d}/u.item", encoding="latin-1"):
        f = line.rstrip("\r\n").split("|")
        toks = []
        if len(f[2]) >= 4:
            year = int(f[2][-4:])
            toks.append("year:-1949" if year < 1950 else f"year:{year // 5 * 5}")
        toks += [f"genre:{g}" for g in range(19) if f[5 + g] == "1"]
        items[int(f[0])] = [fnv1a(t, buckets) for t in toks]
    return users, items


def read_ratings(path):
    a = np.loadtxt(path, dtype=np.int64)
    return (torch.from_numpy(a[:, 0]), torch.from_numpy(a[:, 1]),
            torch.from_numpy(a[:, 2].astype(np.float32)))


class RecNet(torch.nn.Module):
    def __init__(self, n_users, n_items, buckets, dim, hidden, dropout, mean, std, feature_dot):
        super().__init__()
        self.mean = mean
        self.feature_dot = feature_dot
        self.user = torch.nn.Embedding(n_users, dim)
        self.item = torch.nn.Embedding(n_items, dim)
        self.user_bias = torch.nn.Embedding(n_users, 1)
        self.item_bias = torch.nn.Embedding(n_items, 1)
        # one extra row: the padding of short token lists, left out of the mean
        self.user_feat = torch.nn.EmbeddingBag(buckets + 1, dim, mode="mean", padding_idx=buckets)
        self.item_feat = torch.nn.EmbeddingBag(buckets + 1, dim, mode="mean", padding_idx=buckets)
        with torch.no_grad():
            for e in (self.user, self.item, self.user_feat, self.item_feat):
                e.weight.normal_(0.0, std)
            self.user_feat.weight[buckets].zero_()
            self.item_feat.weight[buckets].zero_()
            self.user_bias.weight.zero_()
            self.item_bias.weight.zero_()
        layers, width = [], 4 * dim
        for h in hidden:
            layers += [torch.nn.Linear(width, h), torch.nn.ReLU(), torch.nn.Dropout(dropout)]
            width = h
        layers.append(torch.nn.Linear(width, 1))
        self.mlp = torch.nn.Sequential(*layers)

    def forward(self, uid, iid, utok, itok):
        p, q = self.user(uid), self.item(iid)
        fu, fi = self.user_feat(utok), self.item_feat(itok)
        x = torch.cat([p, fu, q, fi], dim=1)
        if self.feature_dot:
            p, q = p + fu, q + fi
        return (self.mean + self.user_bias(uid).squeeze(1) + self.item_bias(iid).squeeze(1)
                + (p * q).sum(1) + self.mlp(x).squeeze(1))


def l2_touched(net, uid, iid, utok, itok, buckets):
    """l2/2 |w|^2 over each embedding row the batch touches, once."""
    uu, ii = torch.unique(uid), torch.unique(iid)
    ut, it = torch.unique(utok), torch.unique(itok)
    ut, it = ut[ut != buckets], it[it != buckets]
    return (net.user.weight[uu].pow(2).sum() + net.item.weight[ii].pow(2).sum()
            + net.user_bias.weight[uu].pow(2).sum() + net.item_bias.weight[ii].pow(2).sum()
            + net.user_feat.weight[ut].pow(2).sum() + net.item_feat.weight[it].pow(2).sum())


def main():
    d, fold = sys.argv[1], sys.argv[2]
    s = dict(DEFAULTS)
    for kv in sys.argv[3:]:
        k, v = kv.split("=", 1)
        if k not in s:
            sys.exit(f"unknown setting {k}")
        s[k] = type(s[k])(v) if k != "hidden" else v
    hidden = [int(h) for h in s["hidden"].split(",")]
    torch.set_num_threads(2)
    torch.manual_seed(s["seed"])
    gen = torch.Generator().manual_seed(s["seed"])

    users, items = read_features(d, s["buckets"])
    n_users, n_items = max(users) + 1, max(items) + 1
    utok_all = padded(users, n_users, s["buckets"])
    itok_all = padded(items, n_items, s["buckets"])
    tu, ti, tr = read_ratings(f"{d}/u{fold}.base")
    vu, vi, vr = read_ratings(f"{d}/u{fold}.test")
    mean = tr.double().mean().item()
    net = RecNet(n_users, n_items, s["buckets"], s["dim"], hidden, s["dropout"], mean, s["std"],
                 s["feature_dot"])
    opt = torch.optim.Adam(net.parameters(), lr=s["lr"], weight_decay=s["wd"])
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, s["decay"])
    print(f"fold u{fold}: torch {torch.__version__}, {torch.get_num_threads()} threads; "
          + " ".join(f"{k} {v}" for k, v in s.items()))

    n, b = len(tr), s["batch"]
    for epoch in range(s["epochs"]):
        net.train()
        t0 = time.perf_counter()
        order = torch.randperm(n, generator=gen)
        total = 0.0
        for start in range(0, n, b):
            idx = order[start:start + b]
            uid, iid = tu[idx], ti[idx]
            utok, itok = utok_all[uid], itok_all[iid]
            if s["unknown"] > 0:
                uid = torch.where(torch.rand(len(idx), generator=gen) < s["unknown"], 0, uid)
                iid = torch.where(torch.rand(len(idx), generator=gen) < s["unknown"], 0, iid)
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(net(uid, iid, utok, itok), tr[idx])
            total += loss.item() * len(idx)
            if s["l2"] > 0:
                loss = loss + 0.5 * s["l2"] * l2_touched(net, uid, iid, utok, itok, s["buckets"])
            loss.backward()
            opt.step()
        seconds = time.perf_counter() - t0
        sched.step()
        net.eval()
        with torch.no_grad():
            y = net(vu, vi, utok_all[vu], itok_all[vi]).clamp(1.0, 5.0)
            rmse = ((y - vr) ** 2).mean().sqrt().item()
        print(f"epoch {epoch + 1} loss {total / n:.4f} rmse {rmse:.4f} seconds {seconds:.3f}",
              flush=True)


if __name__ == "__main__":
    main()
