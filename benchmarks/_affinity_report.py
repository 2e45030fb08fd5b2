"""Analysis, tables and plot of `affinity_evidence.py` (imported by it; no training here)."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

import mtl_keras as mtl
from mtl_keras._tables import format_table
from mtl_keras.evaluation import delta_m


def partitions(items):
    """Every partition of `items` (groups in order of their first item)."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in partitions(rest):
        yield [[first]] + part
        for k in range(len(part)):
            yield part[:k] + [[first] + part[k]] + part[k + 1:]


def key_of(groups, names):
    """`species,sex|body_mass`: groups and their tasks in task order."""
    groups = sorted((sorted(g, key=names.index) for g in groups), key=lambda g: names.index(g[0]))
    return "|".join(",".join(g) for g in groups)


def mean_ci(values):
    v = np.asarray(values, dtype=np.float64)
    if len(v) < 2:
        return float(v.mean()), math.nan
    return float(v.mean()), float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / len(v) ** .5)


def fmt(values, digits=2, sign="+"):
    m, h = mean_ci(values)
    text = f"{m:{sign}.{digits}f}"
    return f"{text} ± {h:.{digits}f}" if math.isfinite(h) else text


def paired(a, b, digits=2):
    """`mean diff [95 % CI], t-test p, Wilcoxon p` of a - b over seeds."""
    d = np.asarray(a) - np.asarray(b)
    m, h = mean_ci(d)
    text = f"{m:+.{digits}f} [{m - h:+.{digits}f}, {m + h:+.{digits}f}]"
    if np.allclose(d, 0):
        return text, 1.0, 1.0
    return text, float(stats.ttest_rel(a, b).pvalue), float(stats.wilcoxon(a, b).pvalue)


def analyse(table, done):
    """Per-seed figures of a table's complete seeds."""
    names = [t.name for t in table.tasks]
    keys = [key_of(p, names) for p in partitions(names)]
    seeds = sorted(s for s in {s for s, _ in done}
                   if all((s, k) in done for k in keys + ["affinity"]))
    related = [t for t in table.tasks if t.name in table.related]
    metric = {t.name: f"{t.name}_{t.primary_metric}" for t in related}
    direction = {t.name: t.metric_direction(t.primary_metric) for t in related}
    single, together = "|".join(names), ",".join(names)
    without = ",".join(table.related) + "|" + table.noise
    out = {"table": table, "names": names, "keys": keys, "seeds": seeds, "metric": metric,
           "single": single, "together": together, "without": without, "rows": []}
    for s in seeds:
        def dm(key, split="test"):
            scores = done[(s, key)][split]
            base = done[(s, single)][split]
            return delta_m({t: scores[metric[t]] for t in metric},
                           {t: base[metric[t]] for t in metric}, direction)
        aff = mtl.affinity.AffinityResult.from_dict(done[(s, "affinity")]["affinity"])
        z = aff.matrix
        noise = names.index(table.noise)
        rel = [names.index(t) for t in table.related]
        off = [z[i, j] for i in rel for j in rel if i != j]
        groupings = {k: mtl.affinity.grouping_score(
            z, names, [g.split(",") for g in k.split("|")]).score for k in keys}
        val = {k: dm(k, "validation") for k in keys}
        test = {k: dm(k) for k in keys}
        picked = max(keys, key=lambda k: val[k])
        rec = done[(s, "affinity")]["recommended"]
        out["rows"].append({
            "seed": s, "matrix": z, "recommended": rec, "picked": picked,
            "noise_alone": [table.noise] in [g.split(",") for g in rec.split("|")],
            "from_noise": float(np.mean([z[noise, j] for j in rel])),
            "to_noise": float(np.mean([z[i, noise] for i in rel])), "related": float(np.mean(off)),
            "test": test, "val": val, "affinity_score": groupings,
            "spearman": float(stats.spearmanr([groupings[k] for k in keys],
                                              [test[k] for k in keys]).statistic),
            "metrics": {k: {t: done[(s, k)]["test"][metric[t]] for t in metric} for k in keys},
            "seconds": {"affinity": done[(s, "affinity")]["seconds"],
                        "exhaustive": sum(done[(s, k)]["seconds"] for k in keys)},
        })
    return out


def _label(key, a):
    names = {a["single"]: "single-task (every task alone)", a["together"]: "all together",
             a["without"]: f"related together, {a['table'].noise} alone"}
    return names.get(key, key.replace(",", "+").replace("|", " / "))


def report(table, done):
    a = analyse(table, done)
    rows, metric, keys = a["rows"], a["metric"], a["keys"]
    if not rows:
        return f"### {table.name}\n\nNo complete seed yet.\n"
    settings = done[(rows[0]["seed"], "affinity")]["settings"]
    n = len(rows)
    lines = [f"### {table.name}: {', '.join(table.related)} + `{table.noise}` (shuffled copy)", "",
             f"{n} seeds (each: split, label permutation, initialization); every group an MLP "
             f"{settings['units']}, Adam({settings['learning_rate']}), {settings['epochs']} "
             f"epochs, batch {settings['batch_size']}; affinity measured in the first "
             f"{settings['affinity_epochs']} epochs of the hard-sharing model of all 4 tasks, "
             f"every {settings['every']} step(s). Test metrics; mean ± 95 % t-interval over "
             "seeds.", ""]
    z = np.mean([r["matrix"] for r in rows], axis=0)
    cells = [[t] + [f"{v:+.4f}" for v in z[i]] for i, t in enumerate(a["names"])]
    lines += ["**(a) Affinity** (mean matrix; row: task stepped, column: loss watched):", "",
              format_table(["step on \\ loss of"] + a["names"], cells, markdown=True), ""]
    recs = {}
    for r in rows:
        recs[r["recommended"]] = recs.get(r["recommended"], 0) + 1
    lines += [f"Mean affinity between related tasks {fmt([r['related'] for r in rows], 4)}; "
              f"from `{table.noise}` onto them {fmt([r['from_noise'] for r in rows], 4)}; "
              f"from them onto it {fmt([r['to_noise'] for r in rows], 4)}. The recommended "
              f"grouping puts `{table.noise}` alone in {sum(r['noise_alone'] for r in rows)}"
              f"/{n} seeds; recommendations: "
              + "; ".join(f"{_label(k, a)} ({c})" for k, c in sorted(recs.items(),
                                                                   key=lambda kv: -kv[1])) + ".",
              ""]
    related = [r["related"] for r in rows]
    arows = [[f"related pairs − from `{table.noise}` onto related",
              *paired(related, [r["from_noise"] for r in rows], 5)],
             [f"related pairs − from related onto `{table.noise}`",
              *paired(related, [r["to_noise"] for r in rows], 5)]]
    lines += [format_table(["mean affinity, paired over seeds", "mean [95 % CI]", "t-test p",
                            "Wilcoxon p"], arows, markdown=True), ""]
    configs = [("single", lambda r: a["single"]), ("together", lambda r: a["together"]),
               ("without", lambda r: a["without"]), ("recommended", lambda r: r["recommended"]),
               ("exhaustive, picked on validation", lambda r: r["picked"]),
               ("exhaustive, best on test (hindsight)",
                lambda r: max(keys, key=lambda k: r["test"][k]))]
    out, dms = [], {}
    for label, pick in configs:
        chosen = [pick(r) for r in rows]
        label = _label(chosen[0], a) if label in ("single", "together", "without") else label
        dms[label] = [r["test"][k] for r, k in zip(rows, chosen)]
        row = [label] + [fmt([r["metrics"][k][t] for r, k in zip(rows, chosen)], 3, "")
                         for t in metric] + [fmt(dms[label])]
        out.append(row)
    lines += ["**(b), (c) Related tasks** (Δm over single-task learning, %; higher is better):",
              "", format_table(["configuration"] + list(metric.values()) + ["Δm related"], out,
                               markdown=True), ""]
    tests = [("(b) all together − related together", dms[_label(a["together"], a)],
              dms[_label(a["without"], a)]),
             ("(c) recommended − single-task", dms["recommended"], dms[_label(a["single"], a)]),
             ("recommended − all together", dms["recommended"], dms[_label(a["together"], a)]),
             ("recommended − exhaustive pick", dms["recommended"],
              dms["exhaustive, picked on validation"])]
    trows = [[label, *paired(x, y)] for label, x, y in tests]
    lines += ["Paired over seeds (difference of Δm, percentage points):", "",
              format_table(["comparison", "mean [95 % CI]", "t-test p", "Wilcoxon p"], trows,
                           markdown=True), ""]
    prow = []
    for k in sorted(keys, key=lambda k: -np.mean([r["test"][k] for r in rows])):
        prow.append([_label(k, a), f"{np.mean([r['affinity_score'][k] for r in rows]):+.4f}",
                     f"{np.mean([r['val'][k] for r in rows]):+.2f}",
                     fmt([r["test"][k] for r in rows]),
                     sum(r["recommended"] == k for r in rows), sum(r["picked"] == k for r in rows)])
    cost = (np.mean([r["seconds"]["affinity"] for r in rows]),
            np.mean([r["seconds"]["exhaustive"] for r in rows]))
    lines += [f"**Exhaustive search**: all {len(keys)} partitions trained for every seed, sorted "
              "by test Δm (affinity score: the grouping objective on that seed's matrix):", "",
              format_table(["partition", "affinity score", "Δm val", "Δm test",
                            "recommended", "picked on val"], prow, markdown=True), "",
              f"Rank correlation (Spearman) between a partition's affinity score and its test Δm, "
              f"per seed: {fmt([r['spearman'] for r in rows])}. Cost per seed: affinity run "
              f"{cost[0]:.0f} s, the {len(keys)} trainings of the exhaustive search "
              f"{cost[1]:.0f} s.", ""]
    return "\n".join(lines)


def plot(table, done, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = analyse(table, done)
    rows, names, keys = a["rows"], a["names"], a["keys"]
    if not rows:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2),
                                      gridspec_kw={"width_ratios": [1, 1.5]})
    z = np.mean([r["matrix"] for r in rows], axis=0)
    shown = z.copy()
    np.fill_diagonal(shown, np.nan)
    scale = np.nanmax(np.abs(shown)) or 1.0
    left.imshow(shown, cmap="RdBu_r", vmin=-scale, vmax=scale)
    for i in range(len(names)):
        for j in range(len(names)):
            left.text(j, i, f"{z[i, j]:+.1e}", ha="center", va="center", fontsize=7)
    left.set_xticks(range(len(names)), names, rotation=30, ha="right")
    left.set_yticks(range(len(names)), names)
    left.set_xlabel("loss watched")
    left.set_ylabel("look-ahead step on")
    left.set_title(f"mean affinity, {len(rows)} seeds")
    order = sorted(keys, key=lambda k: np.mean([r["test"][k] for r in rows]))
    means = [mean_ci([r["test"][k] for r in rows]) for k in order]
    colors = []
    for k in order:
        rec = sum(r["recommended"] == k for r in rows)
        colors.append("tab:green" if rec else "tab:red" if k == a["together"]
                      else "tab:gray" if k == a["single"] else "tab:blue")
    right.barh(range(len(order)), [m for m, _ in means], xerr=[h for _, h in means],
               color=colors, capsize=3)
    labels = [_label(k, a) + (f"  [recommended {sum(r['recommended'] == k for r in rows)}x]"
                              if any(r["recommended"] == k for r in rows) else "") for k in order]
    right.set_yticks(range(len(order)), labels, fontsize=8)
    right.axvline(0, color="black", lw=0.8)
    right.set_xlabel("Δm of the related tasks over single-task, %\n(test; mean and 95 % CI)")
    right.set_title("every partition trained\n(green: recommended, red: all together)")
    fig.suptitle(f"{table.name}: {', '.join(a['table'].related)} + {a['table'].noise}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


