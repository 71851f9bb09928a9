#!/usr/bin/env python3
"""Queues and KV-cache use of a serving run over time, per pool.

From serving_timeline.csv in a results directory: top, requests waiting (not yet
admitted) and running; bottom, the KV cache in use as a percentage of its capacity,
mean and maximum over the pool's ranks. Colour = quantity, line style = pool
(`colocated`, or `prefill` and `decode` when disaggregated).

Usage: serving_timeline.py RESULTS_DIR [-o OUT.png|OUT.svg|OUT.pdf]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moesim_results as mr  # noqa: E402

# Line style per pool: the pool that decodes is solid, a prefill pool dashed.
POOL_STYLES = {"colocated": "-", "decode": "-", "prefill": "--"}
STYLES = ["-", "--", ":", "-."]
QUEUE = [("waiting", "waiting", "#ff7f0e"), ("running", "running", "#1f77b4")]
KV = [("kv_used_fraction_mean", "mean over ranks", "#2ca02c"),
      ("kv_used_fraction_max", "max over ranks", "#9467bd")]


def pool_styles(pools):
    """{pool: line style}, distinct while there are styles left."""
    styles = {}
    for i, pool in enumerate(pools):
        style = POOL_STYLES.get(pool)
        if style is None or style in styles.values():
            free = [s for s in STYLES if s not in styles.values()]
            style = free[0] if free else STYLES[i % len(STYLES)]
        styles[pool] = style
    return styles


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results_dir", help="directory written by `moesim run` of a "
                    "serving scenario")
    ap.add_argument("-o", "--output", help="output image, .png, .svg or .pdf "
                    "(default: RESULTS_DIR/serving_timeline.png)")
    ap.add_argument("--dpi", type=int, default=150, help="PNG resolution (default 150)")
    args = ap.parse_args(argv)

    out = mr.output_path(args.results_dir, args.output, "serving_timeline.png")
    _, pools = mr.load_serving_timeline(args.results_dir)
    summary = mr.load_summary_optional(args.results_dir)

    plt = mr.pyplot_agg()
    fig, (ax_q, ax_kv) = plt.subplots(2, 1, sharex=True, figsize=(10, 7))
    styles = pool_styles(pools)
    for pool, rows in pools.items():
        t = [r["time_s"] for r in rows]
        for ax, quantities, scale in ((ax_q, QUEUE, 1.0), (ax_kv, KV, 100.0)):
            for column, _, colour in quantities:
                # Queue lengths hold until the next sample; KV use is a level.
                ax.plot(t, [r[column] * scale for r in rows], linestyle=styles[pool],
                        color=colour, lw=1.6,
                        drawstyle="steps-post" if ax is ax_q else "default")

    ax_kv.axhline(100, color="#d62728", lw=0.8, linestyle=":")
    ax_q.set_ylabel("requests")
    ax_kv.set_ylabel("KV cache used (% of capacity)")
    ax_kv.set_xlabel("time (s)")
    ax_q.set_ylim(bottom=0)
    ax_kv.set_ylim(0, 105)
    for ax in (ax_q, ax_kv):
        ax.grid(alpha=0.3)
        ax.set_axisbelow(True)

    # Legends: colour = quantity (per panel), line style = pool (once, on top).
    from matplotlib.lines import Line2D
    for ax, quantities in ((ax_q, QUEUE), (ax_kv, KV)):
        handles = [Line2D([], [], color=c, lw=2, label=label) for _, label, c in quantities]
        handles += [Line2D([], [], color="black", linestyle=styles[p], lw=1.6,
                           label="pool: %s" % p) for p in pools]
        ax.legend(handles=handles, loc="upper left", fontsize=8,
                  bbox_to_anchor=(1.01, 1.0), borderaxespad=0)

    notes = []
    for pool, rows in pools.items():
        notes.append("%s: peak %d waiting, %d running, KV max %.0f%%" % (
            pool, max(r["waiting"] for r in rows), max(r["running"] for r in rows),
            100 * max(r["kv_used_fraction_max"] for r in rows)))
    title = mr.run_title(summary) if summary else os.path.basename(
        os.path.abspath(args.results_dir))
    fig.suptitle("Serving timeline, %s\n%s" % (title, "; ".join(notes)), fontsize=11)
    fig.tight_layout()
    return mr.save(fig, out, args.dpi)


if __name__ == "__main__":
    sys.exit(mr.main_guard(main))
