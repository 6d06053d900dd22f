"""Recompute reco's item-item models from their events with NumPy.

itemknn: BM25 (k1 1.2, b 0.75; items are documents, users terms, idf
log((1 + n_items) / (1 + items of the user))) with a dot product, or
cosine; both times common / (common + shrink).  ease: B = I - P / diag(P),
P = (X'X + lambda I)^-1 over binary X, diagonal zero.  Each item keeps its
best neighbours (by value; ease by magnitude); a basket of cart events
(weight 4) scores item j as the sum of 4 * S[i, j] over its items.
"""
import csv
import os
import sys

import numpy as np

VIEW = 1.0
CART = 4.0
MODELS = {
    "bm25": dict(kind="bm25", k=20, shrink=3.0),
    "cosine": dict(kind="cosine", k=30, shrink=0.0),
    "ease": dict(kind="ease", k=50, lam=200.0),
}


def read(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def similarity(X, spec):
    """Item x item weights before truncation; X is users x items of weights."""
    n_items = X.shape[1]
    if spec["kind"] == "ease":
        B = (X > 0).astype(float)
        P = np.linalg.inv(B.T @ B + spec["lam"] * np.eye(n_items))
        S = -P / np.diag(P)[None, :]
        np.fill_diagonal(S, 0.0)
        return S
    W = X.copy()
    present = X > 0
    if spec["kind"] == "bm25":
        length = X.sum(axis=0)
        avg = length[length > 0].mean()
        df = present.sum(axis=1)
        idf = np.log((1.0 + n_items) / (1.0 + df))
        k1, b = 1.2, 0.75
        norm = (1 - b) + b * length / avg
        W = np.where(present, X * (k1 + 1) / (k1 * norm[None, :] + X) * idf[:, None], 0.0)
        S = W.T @ W
    else:
        S = W.T @ W
        nrm = np.sqrt((W * W).sum(axis=0))
        S = S / np.outer(nrm, nrm)
    if spec["shrink"] > 0:
        common = present.T.astype(float) @ present.astype(float)
        S = S * common / (common + spec["shrink"])
    np.fill_diagonal(S, 0.0)
    return S


def truncate(S, spec):
    """Each row's k best entries (ease: by magnitude), positive magnitude only."""
    T = np.zeros_like(S)
    key = np.abs(S) if spec["kind"] == "ease" else S
    for i in range(S.shape[0]):
        order = np.argsort(-key[i], kind="stable")[: spec["k"]]
        keep = order[key[i, order] > 0]
        T[i, keep] = S[i, keep]
    return T


def close(a, b, scale):
    return abs(a - b) <= 1e-3 * max(abs(b), scale)


def main():
    self_test = "--self-test" in sys.argv
    out = [a for a in sys.argv[1:] if a != "--self-test"][0]
    events = read(os.path.join(out, "events.csv"))
    users = sorted({int(e["user_id"]) for e in events})
    items = sorted({int(e["item_id"]) for e in events})
    ui = {u: n for n, u in enumerate(users)}
    ii = {i: n for n, i in enumerate(items)}
    X = np.zeros((len(users), len(items)))
    for e in events:
        X[ui[int(e["user_id"])], ii[int(e["item_id"])]] += VIEW
    similar = read(os.path.join(out, "similar.csv"))
    baskets = read(os.path.join(out, "baskets.csv"))
    if self_test:
        similar[len(similar) // 2]["score"] = str(float(similar[len(similar) // 2]["score"]) * 1.01)
    bad = 0
    for name, spec in MODELS.items():
        S = similarity(X, spec)
        T = truncate(S, spec)
        scale = np.abs(T).max()
        rows = [r for r in similar if r["m"] == name]
        for r in rows:
            want = S[ii[int(r["item"])], ii[int(r["neighbour"])]]
            if not close(float(r["score"]), want, 1e-6 * scale):
                bad += 1
        brows = [r for r in baskets if r["m"] == name]
        for r in brows:
            basket = [ii[int(x)] for x in r["items"].split() if int(x) in ii]
            want = CART * T[basket, ii[int(r["item_id"])]].sum()
            # reco adds popularity below 1e-3 of the least weight as a tie-break
            if not close(float(r["score"]), want, 1e-3 * scale):
                bad += 1
        print(f"{name}: {len(rows)} similarities and {len(brows)} basket scores compared")
    if bad:
        print(f"{bad} values differ from NumPy")
        sys.exit(1)
    print("every similarity and basket score equals NumPy's")


main()
