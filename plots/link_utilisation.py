#!/usr/bin/env python3
"""Link utilisation of a moesim run: per link class, and the hottest links.

Left: distribution of utilisation (% of the link's bandwidth over the step)
per link class (nvlink, nic, fabric, ...) as box plots with the mean marked
and the link count in the tick label. Right: the --top N links as horizontal
bars labelled "from->to", coloured by class: the time average (solid), and,
where per_link.csv has them, the busy fraction (time with a flow on the link,
hatched) and the peak over a 10 us window (outline); links in order of peak,
then utilisation. The critical path's bottleneck link (summary.json) is
marked with a star.

Usage: link_utilisation.py RESULTS_DIR [-o OUT.png|OUT.svg|OUT.pdf] [--top N]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moesim_results as mr  # noqa: E402

COLUMNS = ["link", "from", "to", "class", "bandwidth_GBps", "bytes", "utilization"]
ACTIVITY = ["busy_fraction", "peak_utilization"]  # newer results only


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results_dir", help="directory written by `moesim run -o DIR`")
    ap.add_argument("-o", "--output",
                    help="output image, .png, .svg or .pdf "
                         "(default: RESULTS_DIR/link_utilisation.png)")
    ap.add_argument("--top", type=int, default=15, help="hottest links shown (default 15)")
    ap.add_argument("--dpi", type=int, default=150, help="PNG resolution (default 150)")
    args = ap.parse_args(argv)
    if args.top < 1:
        ap.error("--top must be at least 1")

    out = mr.output_path(args.results_dir, args.output, "link_utilisation.png")
    summary = mr.load_summary(args.results_dir)
    path = os.path.join(args.results_dir, "per_link.csv")
    if not os.path.isfile(path):
        raise mr.ResultsError("%s not found (is %s a directory written by `moesim run`?)"
                              % (path, args.results_dir))
    columns, rows = mr.read_csv_file(path, COLUMNS, "per_link.csv")
    activity = all(c in columns for c in ACTIVITY)
    links = [{"from": r["from"], "to": r["to"], "class": r["class"],
              "bw": mr.number(path, r, "bandwidth_GBps"),
              "util": 100.0 * mr.number(path, r, "utilization"),
              "busy": 100.0 * mr.number(path, r, "busy_fraction") if activity else 0.0,
              "peak": 100.0 * mr.number(path, r, "peak_utilization") if activity else 0.0}
             for r in rows]
    bottleneck = summary.get("bottlenecks", {}).get("bottleneck_link", "")

    known = [c for c in mr.LINK_CLASS_COLOURS if any(l["class"] == c for l in links)]
    classes = known + sorted({l["class"] for l in links} - set(known))
    colour = {}
    for i, c in enumerate(classes):
        colour[c] = mr.LINK_CLASS_COLOURS.get(c, mr.series_colour(i + 3))
    by_class = {c: [l["util"] for l in links if l["class"] == c] for c in classes}

    plt = mr.pyplot_agg()
    top = sorted(links, key=lambda l: (-l["peak"], -l["util"]))[:args.top]
    fig, (ax_box, ax_top) = plt.subplots(
        1, 2, figsize=(13, max(5.0, 1.5 + 0.3 * len(top))),
        gridspec_kw={"width_ratios": [1, 1.6]})

    data = [by_class[c] for c in classes]
    bp = ax_box.boxplot(data, patch_artist=True, showmeans=True, widths=0.6,
                        meanprops={"marker": "D", "markerfacecolor": "white",
                                   "markeredgecolor": "black", "markersize": 5},
                        medianprops={"color": "black"}, flierprops={"markersize": 3})
    for patch, c in zip(bp["boxes"], classes):
        patch.set_facecolor(colour[c])
        patch.set_alpha(0.75)
    ax_box.set_xticks(range(1, len(classes) + 1))
    bws = {c: sorted({l["bw"] for l in links if l["class"] == c}) for c in classes}
    ax_box.set_xticklabels(
        ["%s\n%d links\n%s GB/s" % (c, len(by_class[c]),
                                    "/".join("%g" % b for b in bws[c])) for c in classes])
    for i, c in enumerate(classes):
        peak = max(by_class[c])
        ax_box.annotate("max %.3g%%" % peak if peak > 0 else "idle (no traffic)",
                        (i + 1, peak),
                        textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax_box.set_ylabel("Link utilisation over the step (% of bandwidth)")
    ax_box.set_ylim(0, max(l["util"] for l in links) * 1.15 or 1)
    ax_box.set_title("Per link class (box: quartiles, \u25c7 mean)", fontsize=10)
    ax_box.grid(axis="y", alpha=0.3)
    ax_box.set_axisbelow(True)

    ys = list(range(len(top)))
    colours = [colour[l["class"]] for l in top]
    if activity:
        ax_top.barh(ys, [l["peak"] for l in top], height=0.8, fill=False,
                    edgecolor=colours, linewidth=1.2)
        ax_top.barh(ys, [l["busy"] for l in top], height=0.8, color=colours, alpha=0.3,
                    hatch="//")
    ax_top.barh(ys, [l["util"] for l in top], height=0.5, color=colours)
    ax_top.set_yticks(ys)
    ax_top.set_yticklabels(["%s%s\u2192%s" % ("\u2605 " if "%s->%s" % (l["from"], l["to"]) == bottleneck
                                               else "", l["from"], l["to"]) for l in top],
                           fontsize=8)
    ax_top.invert_yaxis()
    for y, l in zip(ys, top):
        text = "%.3g%%" % l["util"]
        if activity:
            text += "  busy %.3g%%  peak %.3g%%" % (l["busy"], l["peak"])
        ax_top.annotate(text, (max(l["util"], l["busy"], l["peak"]), y), textcoords="offset points",
                        xytext=(3, 0), va="center", fontsize=7)
    widest = max(max(l["util"], l["busy"], l["peak"]) for l in top)
    ax_top.set_xlim(0, widest * (1.6 if activity else 1.15) or 1)
    ax_top.set_xlabel("Link utilisation over the step (% of bandwidth)" + (
        "; hatched: busy fraction, outline: peak over 10 us" if activity else ""))
    ax_top.set_title("Top %d of %d links" % (len(top), len(links)), fontsize=10)
    from matplotlib.patches import Patch
    shown = [c for c in classes if any(l["class"] == c for l in top)]
    ax_top.legend(handles=[Patch(color=colour[c], label=c) for c in shown],
                  title="class", loc="lower right", fontsize=8)
    ax_top.grid(axis="x", alpha=0.3)
    ax_top.set_axisbelow(True)

    fig.suptitle("%s\nLink utilisation per step" % mr.run_title(summary), fontsize=11)
    fig.tight_layout()
    return mr.save(fig, out, args.dpi)


if __name__ == "__main__":
    sys.exit(mr.main_guard(main))
