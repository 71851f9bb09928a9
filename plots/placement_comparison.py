#!/usr/bin/env python3
"""Placement comparison from `moesim compare`'s compare.csv, as grouped bars.

Three panels with one group per placement: step latency p50 and p99 (ms),
throughput per GPU (tokens/s), and the per-layer GPU load max/mean (1 = the
experts' work is perfectly balanced). A placement whose run failed (non-empty
`error` column) is drawn as an empty, labelled gap.

Usage: placement_comparison.py COMPARE_CSV [-o OUT.png|OUT.svg|OUT.pdf]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moesim_results as mr  # noqa: E402

COLUMNS = ["placement", "step_us_p50", "step_us_p99", "tokens_per_s_per_gpu",
           "layer_gpu_load_max_over_mean", "error"]


def short(text, n=28):
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n - 1] + "\u2026"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("compare_csv", help="compare.csv written by `moesim compare -o DIR`")
    ap.add_argument("-o", "--output",
                    help="output image, .png, .svg or .pdf "
                         "(default: placement_comparison.png next to COMPARE_CSV)")
    ap.add_argument("--dpi", type=int, default=150, help="PNG resolution (default 150)")
    args = ap.parse_args(argv)

    path = args.compare_csv
    out = mr.output_next_to(path, args.output, "placement_comparison.png")
    _, rows = mr.read_csv_file(path, COLUMNS, "compare.csv written by `moesim compare`")
    entries = []
    for r in rows:
        e = {"placement": r["placement"], "error": (r.get("error") or "").strip()}
        if not e["error"]:
            e["p50"] = mr.number(path, r, "step_us_p50") / 1e3
            e["p99"] = mr.number(path, r, "step_us_p99") / 1e3
            e["tps"] = mr.number(path, r, "tokens_per_s_per_gpu")
            e["load"] = mr.number(path, r, "layer_gpu_load_max_over_mean")
            e["hot"] = r.get("hottest_link", "")
            e["hot_util"] = mr.maybe_number(r.get("hottest_link_utilization"))
        entries.append(e)
    ok = [e for e in entries if not e["error"]]
    if not ok:
        raise mr.ResultsError("%s: every placement failed (error column set)" % path)

    plt = mr.pyplot_agg()
    n = len(entries)
    fig, axes = plt.subplots(1, 3, figsize=(max(12.0, 3.0 + 2.4 * n), 5.2))
    xs = list(range(n))
    colours = [mr.series_colour(i) for i in xs]

    def gap_labels(ax, top):
        for x, e in zip(xs, entries):
            if e["error"]:
                ax.text(x, top * 0.03, "failed:\n" + short(e["error"]), rotation=90,
                        ha="center", va="bottom", fontsize=8, color="#d62728")

    def finish(ax, ylabel, title):
        ax.set_xticks(xs)
        ax.set_xticklabels([e["placement"] for e in entries],
                           rotation=20 if n > 3 else 0, ha="right" if n > 3 else "center")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)

    def value_labels(ax, bars, fmt):
        for b in bars:
            ax.annotate(fmt % b.get_height(), (b.get_x() + b.get_width() / 2, b.get_height()),
                        textcoords="offset points", xytext=(0, 2), ha="center",
                        va="bottom", fontsize=7)

    # Panel 1: latency p50 / p99 side by side.
    ax = axes[0]
    w = 0.38
    okx = [x for x, e in zip(xs, entries) if not e["error"]]
    b50 = ax.bar([x - w / 2 for x in okx], [e["p50"] for e in ok], w,
                 color=[colours[x] for x in okx], label="p50")
    b99 = ax.bar([x + w / 2 for x in okx], [e["p99"] for e in ok], w,
                 color=[colours[x] for x in okx], alpha=0.55, hatch="//",
                 edgecolor="white", label="p99")
    value_labels(ax, list(b50) + list(b99), "%.3g")
    top = max(e["p99"] for e in ok) * 1.15
    ax.set_ylim(0, top)
    gap_labels(ax, top)
    from matplotlib.patches import Patch
    ax.legend(handles=[Patch(facecolor="grey", label="p50"),
                       Patch(facecolor="grey", alpha=0.55, hatch="//",
                             edgecolor="white", label="p99")],
              loc="upper right", fontsize=8)
    finish(ax, "Step latency (ms)", "Step latency p50 / p99 (lower is better)")

    # Panel 2: throughput per GPU.
    ax = axes[1]
    bars = ax.bar(okx, [e["tps"] for e in ok], 0.6, color=[colours[x] for x in okx])
    value_labels(ax, bars, "%.0f")
    top = max(e["tps"] for e in ok) * 1.15
    ax.set_ylim(0, top)
    gap_labels(ax, top)
    finish(ax, "Throughput per GPU (tokens/s)", "Throughput per GPU (higher is better)")

    # Panel 3: load imbalance.
    ax = axes[2]
    bars = ax.bar(okx, [e["load"] for e in ok], 0.6, color=[colours[x] for x in okx])
    value_labels(ax, bars, "%.3g")
    top = max(e["load"] for e in ok) * 1.15
    ax.set_ylim(0, top)
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle=":")
    gap_labels(ax, top)
    finish(ax, "Per-layer GPU load, max / mean",
           "Expert load imbalance (dotted: 1 = balanced)")

    failed = n - len(ok)
    name = os.path.join(os.path.basename(os.path.dirname(os.path.abspath(path))),
                        os.path.basename(path))
    best = min(ok, key=lambda e: e["p50"])
    note = "%d placements" % n
    if failed:
        note += ", %d failed" % failed
    note += "; fastest p50: %s (%.4g ms)" % (best["placement"], best["p50"])
    fig.suptitle("Placement comparison (%s)\n%s" % (name, note), fontsize=11)
    fig.tight_layout()
    return mr.save(fig, out, args.dpi)


if __name__ == "__main__":
    sys.exit(mr.main_guard(main))
