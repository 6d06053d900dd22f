#!/usr/bin/python3
"""Recompute reco's evaluation metrics with NumPy and compare.

An independent check of reco_evaluate, reco_evaluate_users and
reco_evaluate_sampled: from CSV exports of the raw material (the full
candidate rankings reco_recommend returns, the test pairs, the items of the
model version, the training pairs, the sampled-protocol scores from
reco_score, and for a rating model the rated test pairs and reco_score's
predicted ratings) this script recomputes every per-user metric and every
aggregate, RMSE and MAE included, after the definitions of the SQL contract,
and compares them with what reco returned.  It prints a table (metric, reco, numpy, abs diff) and
exits 1 when a value differs by more than 1e-6, when the user sets differ, or
when the exported rankings break the contract they are read under.

    /usr/bin/python3 test/metrics.py DIR
    /usr/bin/python3 test/metrics.py --self-test DIR

DIR holds the files test/evaluate_check.sh writes (header line, NULL as an
empty field):

    items.csv                      item_id: the items of the model version
    users.csv                      user_id, source: reco_recommend's source for
                                   every user of the test queries
    rankings.csv                   user_id, item_id, score, rank: the full
                                   candidate ranking of every known user
    train.csv                      user_id, item_id: the training pairs
    test.csv                       user_id, item_id: rows of the test query
    sampled_test.csv               user_id, item_id: rows of the sampled test query
    negatives.csv                  user_id, item_id: rows of the negatives query
    sampled_scores.csv             user_id, item_id, score: reco_score of every
                                   pair of the two queries above (NULL where the
                                   user or the item is unknown to the model)
    reco_evaluate_users_kK.csv     reco_evaluate_users(..., K) for each K
    reco_evaluate_kK.csv           reco_evaluate(..., K)
    reco_evaluate_sampled_kK.csv   reco_evaluate_sampled(..., K)

and, of a rating model (trained with "feedback": "explicit"):

    rating_items.csv               item_id: the items of its version
    rating_users.csv               user_id, source: reco_recommend's source for
                                   every user of its test query
    rating_test.csv                user_id, item_id, rating: rows of its test query
    rating_scores.csv              user_id, item_id, score: reco_score of every
                                   pair of its test query (NULL where the user
                                   or the item is unknown)
    reco_evaluate_rating.csv       reco_evaluate(rating model, its test query)

The model of the reco_evaluate_kK.csv files is implicit: rmse and mae are NULL.

--self-test first shows that the checker can fail: it verifies the metric
code on a hand-computed example, then perturbs every value reco returned,
one at a time, and requires each perturbation to be reported as a mismatch
(and NumPy's own values, also nudged by half the tolerance, not to be); then
it compares as without the flag.
"""

import csv
import glob
import math
import os
import re
import sys
import warnings

import numpy as np

TOLERANCE = 1e-6

# columns compared, per function; the integer ones must be equal
USER_COLUMNS = ["relevant", "hits", "precision", "recall", "ndcg", "ap", "hit", "rr", "auc"]
AGGREGATE_COLUMNS = ["users", "precision", "recall", "ndcg", "map", "hit_rate", "mrr", "auc",
                     "coverage", "rmse", "mae"]
SAMPLED_COLUMNS = ["cases", "unscored", "hit_rate", "ndcg"]
RATING_COLUMNS = ["users", "rmse", "mae"]      # of the rating model's reco_evaluate
INTEGER_COLUMNS = {"relevant", "hits", "users", "cases", "unscored"}


class ContractError(Exception):
    """The exported data contradicts what the contract says about it."""


# --- reading the exports -----------------------------------------------------

def read_columns(path):
    """Read a CSV file with a header into a dict of column name -> list of strings."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    return {name: [row[j] for row in rows] for j, name in enumerate(header)}


def read_numeric(path):
    """Read a CSV file of numbers without NULLs into a dict of column name ->
    float64 array (NumPy's parser: the rankings run to a million rows).  A
    float4 printed shortest-exact by PostgreSQL comes back exact through the
    float64 and a cast to float32; ids are exact too."""
    with open(path) as f:
        header = f.readline().strip().split(",")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)        # header only: no rows
        data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    data = data.reshape(-1, len(header))
    return {name: data[:, j] for j, name in enumerate(header)}


def read_pairs(path):
    """The (user_id, item_id) rows of a query export, as two int64 arrays."""
    c = read_numeric(path)
    return c["user_id"].astype(np.int64), c["item_id"].astype(np.int64)


def read_reco_rows(path, key):
    """reco's output rows as {key value: {column: float}}; NULL becomes NaN."""
    c = read_columns(path)
    out = {}
    for j, kv in enumerate(c[key]):
        if int(kv) in out:
            raise ContractError(f"{os.path.basename(path)}: {key} {kv} appears twice")
        out[int(kv)] = {name: (float(vals[j]) if vals[j] != "" else math.nan)
                        for name, vals in c.items() if name != key}
    return out


def read_reco_record(path):
    """A one-row reco output as {column: float}; NULL becomes NaN."""
    c = read_columns(path)
    rows = len(next(iter(c.values())))
    if rows != 1:
        raise ContractError(f"{os.path.basename(path)}: expected one row, found {rows}")
    return {name: (float(vals[0]) if vals[0] != "" else math.nan) for name, vals in c.items()}


def rows_by_user(users):
    """{user: indices of the user's rows, in file order}."""
    order = np.argsort(users, kind="stable")
    sorted_users = users[order]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    ends = np.r_[starts[1:], users.size]
    return {int(sorted_users[s]): order[s:e] for s, e in zip(starts, ends) if users.size}


def group_by_user(users, items):
    """{user: sorted distinct items} from parallel arrays."""
    return {u: np.unique(items[rows]) for u, rows in rows_by_user(users).items()}


class Exports:
    """Everything the check reads from DIR."""

    def __init__(self, directory):
        path = lambda name: os.path.join(directory, name)

        self.items = np.unique(read_numeric(path("items.csv"))["item_id"].astype(np.int64))
        u = read_columns(path("users.csv"))
        self.known_users = {int(x) for x, s in zip(u["user_id"], u["source"]) if s == "personal"}
        self.train = group_by_user(*read_pairs(path("train.csv")))
        self.test = group_by_user(*read_pairs(path("test.csv")))
        self.rankings = self._read_rankings(path("rankings.csv"))

        self.sampled_users, self.sampled_items = read_pairs(path("sampled_test.csv"))
        self.negatives = group_by_user(*read_pairs(path("negatives.csv")))
        s = read_columns(path("sampled_scores.csv"))
        self.scores = {(int(a), int(b)): (np.float32(v) if v != "" else None)
                       for a, b, v in zip(s["user_id"], s["item_id"], s["score"])}

        self.ks = sorted(int(re.search(r"_k(\d+)\.csv$", p).group(1))
                         for p in glob.glob(path("reco_evaluate_k*.csv")))
        if not self.ks:
            raise ContractError(f"no reco_evaluate_k*.csv in {directory}")
        self.reco_users = {k: read_reco_rows(path(f"reco_evaluate_users_k{k}.csv"), "user_id")
                           for k in self.ks}
        self.reco_aggregate = {k: read_reco_record(path(f"reco_evaluate_k{k}.csv"))
                               for k in self.ks}
        self.reco_sampled = {k: read_reco_record(path(f"reco_evaluate_sampled_k{k}.csv"))
                             for k in self.ks}

        self.rating_items = set(
            read_numeric(path("rating_items.csv"))["item_id"].astype(np.int64).tolist())
        u = read_columns(path("rating_users.csv"))
        self.rating_known_users = {int(x) for x, s in zip(u["user_id"], u["source"])
                                   if s == "personal"}
        r = read_columns(path("rating_test.csv"))
        self.rating_rows = [(int(a), int(b), float(v) if v != "" else math.nan)
                            for a, b, v in zip(r["user_id"], r["item_id"], r["rating"])]
        s = read_columns(path("rating_scores.csv"))
        self.rating_scores = {(int(a), int(b)): (np.float32(v) if v != "" else None)
                              for a, b, v in zip(s["user_id"], s["item_id"], s["score"])}
        self.reco_rating = read_reco_record(path("reco_evaluate_rating.csv"))

    @staticmethod
    def _read_rankings(path):
        """{user: (items, float4 scores, reco's ranks)}, each user's rows in file order."""
        c = read_numeric(path)
        items = c["item_id"].astype(np.int64)
        scores = c["score"].astype(np.float32)
        ranks = c["rank"].astype(np.int64)
        return {u: (items[rows], scores[rows], ranks[rows])
                for u, rows in rows_by_user(c["user_id"].astype(np.int64)).items()}


# --- the metrics, after the contract -----------------------------------------

def candidate_ranking(items, scores):
    """Candidates best first: score descending, ties to the lower item id."""
    order = np.lexsort((items, -scores))
    return items[order], scores[order]


def user_metrics(ranked_items, ranked_scores, relevant, k):
    """Per-user metrics of one user: the full candidate ranking (best first,
    float4 scores), the user's distinct test items, the cut-off k."""
    is_rel = np.isin(ranked_items, relevant)
    n_rel = relevant.size

    hit_ranks = np.flatnonzero(is_rel[:k]) + 1          # 1-based ranks of hits in the top k
    hits = hit_ranks.size
    dcg = np.sum(1.0 / np.log2(hit_ranks + 1))
    idcg = np.sum(1.0 / np.log2(np.arange(1, min(n_rel, k) + 1) + 1))
    ap = np.sum(np.arange(1, hits + 1) / hit_ranks) / n_rel

    all_hit_ranks = np.flatnonzero(is_rel) + 1          # over the full ranking
    rr = 1.0 / all_hit_ranks[0] if all_hit_ranks.size else 0.0

    pos = ranked_scores[is_rel].astype(np.float32)
    neg = ranked_scores[~is_rel].astype(np.float32)
    if pos.size and neg.size:
        wins = np.count_nonzero(pos[:, None] > neg[None, :])
        ties = np.count_nonzero(pos[:, None] == neg[None, :])
        auc = (wins + 0.5 * ties) / (pos.size * neg.size)
    else:
        auc = math.nan

    return {"relevant": float(n_rel), "hits": float(hits), "precision": hits / k,
            "recall": hits / n_rel, "ndcg": dcg / idcg, "ap": ap,
            "hit": 1.0 if hits > 0 else 0.0, "rr": rr, "auc": auc}


def aggregate(per_user, top_items, n_items):
    """reco_evaluate's record from the per-user metrics and the union of top-k items."""
    def mean(name, skip_null=False):
        v = np.array([m[name] for m in per_user.values()], dtype=np.float64)
        if skip_null:
            v = v[~np.isnan(v)]
        return float(np.mean(v)) if v.size else math.nan

    return {"users": float(len(per_user)), "precision": mean("precision"),
            "recall": mean("recall"), "ndcg": mean("ndcg"), "map": mean("ap"),
            "hit_rate": mean("hit"), "mrr": mean("rr"), "auc": mean("auc", skip_null=True),
            "coverage": len(top_items) / n_items,
            "rmse": math.nan, "mae": math.nan}        # an implicit model: no ratings


def rating_metrics(rows, known_users, known_items, scores):
    """users, rmse and mae of reco_evaluate on a rating model: rows are the
    (user, item, rating or NaN) rows of the test query, scores the float4
    predicted rating of each pair.  Over the distinct pairs (repeats must
    carry the same rating) of a known user and a known item with a rating;
    also returns how many pairs that is ("rated")."""
    ratings = {}
    for user, item, rating in rows:
        if (user, item) not in ratings:
            ratings[(user, item)] = rating
        elif differs(ratings[(user, item)], rating) != 0:
            raise ContractError(f"pair ({user}, {item}) repeated with ratings "
                                f"{ratings[(user, item)]} and {rating}: which counts is open")
    errors = []
    for (user, item), rating in sorted(ratings.items()):
        if user not in known_users or item not in known_items or math.isnan(rating):
            continue
        score = scores.get((user, item))
        if score is None:
            raise ContractError(f"rating_scores.csv: no score for the known pair ({user}, {item})")
        errors.append(float(np.float32(score)) - float(np.float32(rating)))
    e = np.array(errors, dtype=np.float64)
    return {"users": float(len({user for user, _ in ratings} & known_users)),
            "rmse": float(np.sqrt(np.mean(e * e))) if e.size else math.nan,
            "mae": float(np.mean(np.abs(e))) if e.size else math.nan,
            "rated": e.size}


def sampled_case_rank(positive, negatives):
    """NCF rank of a held-out item's score among its negatives' scores (ties
    count against the held-out item)."""
    return 1 + int(np.count_nonzero(np.asarray(negatives, np.float32) >= np.float32(positive)))


def sampled_metrics(x, k):
    """reco_evaluate_sampled's record: hit rate and nDCG over all cases."""
    known_items = set(x.items.tolist())
    cases = sorted(set(zip(x.sampled_users.tolist(), x.sampled_items.tolist())))
    hits, ndcgs, unscored = [], [], 0
    for user, item in cases:
        if user not in x.known_users or item not in known_items:
            unscored += 1
            hits.append(0.0)
            ndcgs.append(0.0)
            continue
        negatives = [n for n in x.negatives.get(user, np.zeros(0, np.int64)).tolist()
                     if n != item and n in known_items]
        scores = [x.scores.get((user, n)) for n in [item] + negatives]
        if any(s is None for s in scores):
            raise ContractError(f"sampled_scores.csv: no score for a known pair of user {user}")
        rank = sampled_case_rank(scores[0], scores[1:])
        hits.append(1.0 if rank <= k else 0.0)
        ndcgs.append(1.0 / math.log2(rank + 1) if rank <= k else 0.0)
    return {"cases": float(len(cases)), "unscored": float(unscored),
            "hit_rate": float(np.mean(hits)) if cases else math.nan,
            "ndcg": float(np.mean(ndcgs)) if cases else math.nan}


class Expected:
    """NumPy's values for every k: per-user rows, aggregates, sampled records;
    and the rating model's record."""

    def __init__(self, x):
        self.problems = []       # contract violations of the exported rankings
        evaluated = sorted(u for u in x.test if u in x.known_users)
        ranked = {}
        for u in evaluated:
            if u not in x.rankings:
                self.problems.append(f"user {u}: known to the model but no ranking exported")
                continue
            items, scores, ranks = x.rankings[u]
            ranked[u] = candidate_ranking(items, scores)
            self._check_ranking(x, u, items, ranks, ranked[u][0])

        self.users, self.aggregate, self.sampled = {}, {}, {}
        for k in x.ks:
            per_user = {u: user_metrics(ranked[u][0], ranked[u][1], x.test[u], k) for u in ranked}
            top_items = set()
            for u in ranked:
                top_items.update(ranked[u][0][:k].tolist())
            self.users[k] = per_user
            self.aggregate[k] = aggregate(per_user, top_items, x.items.size)
            self.sampled[k] = sampled_metrics(x, k)
        self.rating = rating_metrics(x.rating_rows, x.rating_known_users, x.rating_items,
                                     x.rating_scores)

    def _check_ranking(self, x, u, items, ranks, ranked_items):
        """The exported list is the user's candidates in the contract's order."""
        trained = x.train.get(u, np.zeros(0, np.int64))
        expected = np.setdiff1d(x.items, trained)
        if items.size != np.unique(items).size or not np.array_equal(np.sort(items), expected):
            self.problems.append(
                f"user {u}: reco_recommend's {items.size} candidates are not the version's "
                f"{x.items.size} items minus the user's {trained.size} training items "
                f"({expected.size} expected)")
        by_rank = items[np.argsort(ranks, kind="stable")]
        if not np.array_equal(by_rank, ranked_items):
            first = int(np.flatnonzero(by_rank != ranked_items)[0]) + 1
            self.problems.append(
                f"user {u}: reco_recommend's rank order differs from score descending, "
                f"ties to the lower item id, from rank {first}")


# --- comparing ---------------------------------------------------------------

def differs(a, b):
    """Absolute difference, NULL equal only to NULL."""
    if math.isnan(a) and math.isnan(b):
        return 0.0
    if math.isnan(a) or math.isnan(b):
        return math.inf
    return abs(a - b)


def fmt(v, name):
    """A value for the table."""
    if math.isnan(v):
        return "NULL"
    return f"{int(v)}" if name in INTEGER_COLUMNS else f"{v:.10f}"


def compare(expected, reco_users, reco_aggregate, reco_sampled, reco_rating, ks, out=None):
    """Compare reco's values with NumPy's; return the mismatches as
    (section, metric, user or None) tuples.  Prints the table to out if given."""
    mismatches = []
    say = (lambda line: print(line, file=out)) if out else (lambda line: None)

    def row(label, metric, reco, numpy, d):
        bad = d > TOLERANCE
        say("  {:<28} {:>16} {:>16} {:>10}{}".format(
            label, fmt(reco, metric), fmt(numpy, metric),
            "inf" if math.isinf(d) else f"{d:.1e}", "  MISMATCH" if bad else ""))
        return bad

    for k in ks:
        section = f"reco_evaluate_users k={k}"
        mine, theirs = expected.users[k], reco_users[k]
        say(f"{section}: {len(theirs)} users from reco, {len(mine)} from numpy")
        say("  {:<28} {:>16} {:>16} {:>10}".format("metric", "reco", "numpy", "abs diff"))
        missing, extra = sorted(set(mine) - set(theirs)), sorted(set(theirs) - set(mine))
        if missing or extra:
            mismatches.append((section, "user set", None))
            say(f"  MISMATCH user sets differ: {len(missing)} users missing from reco "
                f"{missing[:5]}, {len(extra)} users only in reco {extra[:5]}")
        common = sorted(set(mine) & set(theirs))
        for metric in USER_COLUMNS:
            if not common:
                break
            value = lambda u: theirs[u].get(metric, math.nan)
            diffs = [(differs(value(u), mine[u][metric]), u) for u in common]
            worst, worst_user = max(diffs, key=lambda d: (d[0], -d[1]))
            row(f"{metric} (worst: user {worst_user})", metric, value(worst_user),
                mine[worst_user][metric], worst)
            bad = [u for d, u in diffs if d > TOLERANCE]
            mismatches.extend((section, metric, u) for u in bad)
            for u in bad[:5]:
                say(f"    user {u}: reco {fmt(value(u), metric)}, "
                    f"numpy {fmt(mine[u][metric], metric)}")
            if len(bad) > 5:
                say(f"    ... {len(bad)} users differ in {metric}")

        for section, columns, theirs, mine in [
                (f"reco_evaluate k={k}", AGGREGATE_COLUMNS, reco_aggregate[k],
                 expected.aggregate[k]),
                (f"reco_evaluate_sampled k={k}", SAMPLED_COLUMNS, reco_sampled[k],
                 expected.sampled[k])]:
            say(f"{section}:")
            for metric in columns:
                reco = theirs.get(metric, math.nan)
                if row(metric, metric, reco, mine[metric], differs(reco, mine[metric])):
                    mismatches.append((section, metric, None))

    section = "reco_evaluate rating model"
    say(f"{section}: {expected.rating['rated']} rated pairs of known users and items")
    for metric in RATING_COLUMNS:
        reco, numpy = reco_rating.get(metric, math.nan), expected.rating[metric]
        if row(metric, metric, reco, numpy, differs(reco, numpy)):
            mismatches.append((section, metric, None))
    return mismatches


# --- self-test ---------------------------------------------------------------

def check_hand_example():
    """The metric code against values worked out by hand; returns failures."""
    failures = []
    # candidates 1..5 with scores; items 2 and 4 relevant, and 9, which is not
    # a candidate (unknown or trained); 3 and 4 tie, 3 ranks first
    items = np.array([5, 4, 3, 2, 1], dtype=np.int64)
    scores = np.array([0.1, 0.7, 0.7, 0.8, 0.9], dtype=np.float32)
    ranked_items, ranked_scores = candidate_ranking(items, scores)
    if ranked_items.tolist() != [1, 2, 3, 4, 5]:
        failures.append(f"candidate order {ranked_items.tolist()}, expected [1, 2, 3, 4, 5]")
    m = user_metrics(ranked_items, ranked_scores, np.array([2, 4, 9]), 3)
    l3 = math.log2(3)
    want = {"relevant": 3, "hits": 1, "precision": 1 / 3, "recall": 1 / 3,
            "ndcg": (1 / l3) / (1 + 1 / l3 + 1 / 2), "ap": (1 / 2) / 3, "hit": 1,
            "rr": 1 / 2,
            # pairs (2,1) 0, (2,3) 1, (2,5) 1, (4,1) 0, (4,3) tie 0.5, (4,5) 1
            "auc": 3.5 / 6}
    for name, value in want.items():
        if abs(m[name] - value) > 1e-12:
            failures.append(f"hand example: {name} = {m[name]}, expected {value}")
    m = user_metrics(ranked_items, ranked_scores, np.array([9]), 3)
    if m["hits"] != 0 or m["rr"] != 0 or not math.isnan(m["auc"]) or m["ndcg"] != 0:
        failures.append(f"hand example without relevant candidates: {m}")
    m = user_metrics(ranked_items, ranked_scores, np.array([5]), 5)
    if m["rr"] != 1 / 5 or m["ap"] != 1 / 5 or m["auc"] != 0:
        failures.append(f"hand example, last item relevant: {m}")
    for pos, negs, rank in [(0.5, [0.1, 0.5, 0.9], 3), (0.5, [], 1), (0.5, [0.4], 1)]:
        if sampled_case_rank(pos, negs) != rank:
            failures.append(f"sampled rank of {pos} among {negs}: "
                            f"{sampled_case_rank(pos, negs)}, expected {rank}")
    # ratings: errors -0.5, +1 (the pair twice, counted once) and 0; left out
    # an unknown user (7), an unknown item (9) and a NULL rating
    rows = [(1, 1, 4.0), (1, 2, 1.0), (1, 2, 1.0), (2, 1, 5.0), (7, 1, 1.0), (1, 9, 1.0),
            (2, 2, math.nan)]
    scores = {(1, 1): 3.5, (1, 2): 2.0, (2, 1): 5.0, (2, 2): 1.0, (1, 9): None, (7, 1): None}
    m = rating_metrics(rows, {1, 2}, {1, 2}, scores)
    want = {"users": 2, "rmse": math.sqrt(1.25 / 3), "mae": 0.5, "rated": 3}
    for name, value in want.items():
        if abs(m[name] - value) > 1e-12:
            failures.append(f"rating example: {name} = {m[name]}, expected {value}")
    try:
        rating_metrics(rows + [(1, 1, 3.0)], {1, 2}, {1, 2}, scores)
        failures.append("rating example: a pair repeated with another rating not refused")
    except ContractError:
        pass
    return failures


def self_test(x, expected):
    """Show that compare() catches every perturbed value; returns failures."""
    failures = check_hand_example()
    ks = x.ks

    def copies(users, agg, sampled, rating):
        return ({k: {u: dict(r) for u, r in users[k].items()} for k in ks},
                {k: dict(agg[k]) for k in ks}, {k: dict(sampled[k]) for k in ks},
                dict(rating))

    def reco_copies():
        return copies(x.reco_users, x.reco_aggregate, x.reco_sampled, x.reco_rating)

    # numpy's own values must pass, also nudged by less than the tolerance
    own = copies(expected.users, expected.aggregate, expected.sampled, expected.rating)
    if compare(expected, *own, ks):
        failures.append("numpy's own values reported as mismatches")
    for users in own[0].values():
        for r in users.values():
            for name in USER_COLUMNS:
                if name not in INTEGER_COLUMNS and not math.isnan(r[name]):
                    r[name] += 0.5 * TOLERANCE
    for name in ("rmse", "mae"):
        own[3][name] += 0.5 * TOLERANCE
    if compare(expected, *own, ks):
        failures.append("a difference of half the tolerance reported as a mismatch")

    # every value reco returned, perturbed alone, must be reported
    tried = 0
    for k in ks:
        for where, columns in [("users", USER_COLUMNS), ("aggregate", AGGREGATE_COLUMNS),
                               ("sampled", SAMPLED_COLUMNS)]:
            for name in columns:
                users, agg, sampled, rating = reco_copies()
                if where == "users":
                    if not users[k]:
                        continue
                    u = min(users[k])
                    target = users[k][u]
                else:
                    u = None
                    target = (agg if where == "aggregate" else sampled)[k]
                v = target.get(name, math.nan)
                target[name] = 0.5 if math.isnan(v) else v + (1 if name in INTEGER_COLUMNS
                                                               else 1e-4)
                found = compare(expected, users, agg, sampled, rating, ks)
                tried += 1
                section = {"users": "reco_evaluate_users", "aggregate": "reco_evaluate",
                           "sampled": "reco_evaluate_sampled"}[where] + f" k={k}"
                if (section, name, u) not in found:
                    failures.append(f"{section} {name} (user {u}) perturbed, not reported")
        # a null auc where numpy has one, and the other way round
        users, agg, sampled, rating = reco_copies()
        if users[k]:
            u = min(users[k])
            users[k][u]["auc"] = math.nan if not math.isnan(users[k][u]["auc"]) else 0.5
            if (f"reco_evaluate_users k={k}", "auc", u) not in compare(expected, users, agg,
                                                                        sampled, rating, ks):
                failures.append(f"k={k}: auc of user {u} nulled, not reported")
            tried += 1
        # a user dropped, a user added
        for change in ("drop", "add"):
            users, agg, sampled, rating = reco_copies()
            if change == "drop" and users[k]:
                del users[k][min(users[k])]
            else:
                users[k][-1] = dict(next(iter(expected.users[k].values())))
            if (f"reco_evaluate_users k={k}", "user set", None) not in compare(
                    expected, users, agg, sampled, rating, ks):
                failures.append(f"k={k}: a user {change}ped, not reported")
            tried += 1

    # the rating model's values: each perturbed, and rmse and mae nulled
    for name in RATING_COLUMNS:
        for nulled in (False, True):
            if nulled and name == "users":
                continue
            users, agg, sampled, rating = reco_copies()
            v = rating.get(name, math.nan)
            if nulled:
                rating[name] = math.nan if not math.isnan(v) else 0.5
            else:
                rating[name] = 0.5 if math.isnan(v) else v + (1 if name in INTEGER_COLUMNS
                                                               else 1e-4)
            if ("reco_evaluate rating model", name, None) not in compare(
                    expected, users, agg, sampled, rating, ks):
                failures.append(f"rating model {name} {'nulled' if nulled else 'perturbed'}, "
                                f"not reported")
            tried += 1
    print(f"self-test: {tried} perturbations of reco's values, hand-computed examples")
    return failures


# --- main --------------------------------------------------------------------

def main(argv):
    args = [a for a in argv[1:] if a != "--self-test"]
    if len(args) != 1:
        print(__doc__.split("\n\n")[2], file=sys.stderr)
        return 2
    try:
        x = Exports(args[0])
        expected = Expected(x)
    except (ContractError, OSError, KeyError, ValueError) as e:
        print(f"metrics.py: {e}", file=sys.stderr)
        return 1

    failures = []
    if "--self-test" in argv:
        failures = self_test(x, expected)
        for f in failures:
            print(f"self-test FAILED: {f}")
        if not failures:
            print("self-test: every perturbation reported, numpy's own values pass")

    for p in expected.problems[:10]:
        print(f"CONTRACT: {p}")
    if len(expected.problems) > 10:
        print(f"CONTRACT: ... {len(expected.problems)} problems in all")
    mismatches = compare(expected, x.reco_users, x.reco_aggregate, x.reco_sampled,
                         x.reco_rating, x.ks, out=sys.stdout)
    print(f"numpy cross-check: {len(mismatches)} mismatches over {TOLERANCE:g}, "
          f"{len(expected.problems)} ranking contract problems")
    return 1 if mismatches or expected.problems or failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
