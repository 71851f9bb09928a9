#!/usr/bin/env python3
"""Latency-throughput Pareto front of a serving sweep: per-GPU throughput vs per-user speed.

From a `moesim sweep` sweep.csv of a serving scenario: x = tokens/s per user (how fast
each user sees tokens), y = output tokens/s per GPU (what each GPU delivers). One
colour per configuration (the values of the --series keys; default: every swept key
but the load keys, which are what moves a point along its curve). All runs are
markers; each configuration's Pareto frontier (the runs no other run of it beats on
both axes; latency metrics such as ttft_ms_p90 count as better when lower) is a
line. Rows whose status is not `ok` are skipped (counted in the title).

Usage: pareto.py SWEEP_CSV [--series KEY ...] [--x METRIC] [--y METRIC]
                 [--slo-tpot-ms MS] [-o OUT.png|OUT.svg|OUT.pdf]
"""

import argparse
import math
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moesim_results as mr  # noqa: E402

# Swept keys that set the offered load: they move a point along a configuration's curve.
LOAD_KEYS = ["serving.rate_per_s", "serving.users", "serving.max_running", "serving.trace_time_scale"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "h"]

AXIS_LABELS = {
    "tokens_per_s_per_user": "Per-user speed (output tokens/s per user)",
    "output_tokens_per_s_per_gpu": "Throughput (output tokens/s per GPU)",
    "input_tokens_per_s_per_gpu": "Input throughput (tokens/s per GPU)",
    "goodput_rps": "Goodput (requests/s meeting the SLOs)",
}


def lower_is_better(metric):
    """Latency metrics (ttft_ms_p90, tpot_ms_p50, e2e_s_p99, step_us_p50, ...) are better
    low; throughputs, speeds and goodput are better high."""
    return re.match(r"^(ttft|tpot|e2e|step|latency)_|.*_(ms|us|s)_p\d+$", metric) is not None


def pareto_front(points, x_low=False, y_low=False):
    """The points (x, y, ...) that no other point beats on both x and y (higher is
    better, or lower where x_low / y_low), sorted by x ascending."""
    sx, sy = (-1 if x_low else 1), (-1 if y_low else 1)
    front, best_y = [], -math.inf
    for p in sorted(points, key=lambda p: (-sx * p[0], -sy * p[1])):
        if sy * p[1] > best_y:
            front.append(p)
            best_y = sy * p[1]
    return sorted(front, key=lambda p: p[0])


def fmt_value(text):
    num = mr.maybe_number(text)
    return "%g" % num if num is not None else text


def short_key(key):
    """serving.max_running -> max_running (for point labels)."""
    return key.rsplit(".", 1)[-1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sweep_csv", help="sweep.csv written by `moesim sweep -o DIR` "
                    "of a serving scenario")
    ap.add_argument("-o", "--output", help="output image, .png, .svg or .pdf "
                    "(default: pareto.png next to SWEEP_CSV)")
    ap.add_argument("--series", nargs="+", action="extend", metavar="KEY",
                    help="swept key(s) whose values make a configuration, one curve each "
                         "(default: every swept key except %s)" % ", ".join(LOAD_KEYS))
    ap.add_argument("--x", default="tokens_per_s_per_user",
                    help="metric column for x (default tokens_per_s_per_user)")
    ap.add_argument("--y", default="output_tokens_per_s_per_gpu",
                    help="metric column for y (default output_tokens_per_s_per_gpu)")
    ap.add_argument("--slo-tpot-ms", type=float, metavar="MS",
                    help="draw the per-user speed this TPOT target implies (1000 / MS "
                         "tokens/s) as a vertical line")
    ap.add_argument("--no-labels", action="store_true",
                    help="do not write the load value next to each point")
    ap.add_argument("--dpi", type=int, default=150, help="PNG resolution (default 150)")
    args = ap.parse_args(argv)

    path = args.sweep_csv
    out = mr.output_next_to(path, args.output, "pareto.png")
    if args.slo_tpot_ms is not None and not args.slo_tpot_ms > 0:
        raise mr.ResultsError("--slo-tpot-ms must be > 0 (got %g)" % args.slo_tpot_ms)
    columns, rows = mr.read_nonempty_csv(path, ["run_id", "status", args.x, args.y],
                                         "sweep.csv written by `moesim sweep`")
    i, j = columns.index("run_id"), columns.index("status")
    keys = columns[i + 1:j]
    if args.series is not None:
        for key in args.series:
            if key not in keys:
                raise mr.ResultsError("--series %s is not a swept key of %s (swept: %s)"
                                      % (key, path, ", ".join(keys) or "none"))
        series = list(dict.fromkeys(args.series))
    else:
        series = [k for k in keys if k not in LOAD_KEYS]
    along = [k for k in keys if k not in series]  # what varies along one curve

    failed = [r for r in rows if r["status"] != "ok"]
    ok = [r for r in rows if r["status"] == "ok"]
    # config tuple -> list of (x, y, label of the point)
    configs = {}
    no_data = 0
    for r in ok:
        if not r[args.x].strip() or not r[args.y].strip():
            no_data += 1  # e.g. a run that completed no request
            continue
        x, y = mr.number(path, r, args.x), mr.number(path, r, args.y)
        if not (math.isfinite(x) and math.isfinite(y)):
            no_data += 1
            continue
        # The point's load: its value alone when one key varies along the curves.
        label = (fmt_value(r[along[0]]) if len(along) == 1 else
                 ", ".join("%s=%s" % (short_key(k), fmt_value(r[k])) for k in along))
        configs.setdefault(tuple(r[k] for k in series), []).append((x, y, label))
    if not configs:
        raise mr.ResultsError("%s: no ok run with numbers in %s and %s (%d rows, %d not ok)"
                              % (path, args.x, args.y, len(rows), len(failed)))
    order = list(configs)
    if all(mr.maybe_number(v) is not None for c in order for v in c):
        order.sort(key=lambda c: [float(v) for v in c])

    x_low, y_low = lower_is_better(args.x), lower_is_better(args.y)
    plt = mr.pyplot_agg()
    fig, ax = plt.subplots(figsize=(9, 6.5))
    points = sum(len(p) for p in configs.values())
    label_points = not args.no_labels and along and points <= 60
    for n, config in enumerate(order):
        pts = configs[config]
        colour = mr.series_colour(n)
        marker = MARKERS[n % len(MARKERS)]
        if series:
            name = (fmt_value(config[0]) if len(series) == 1 else
                    ", ".join("%s=%s" % (k, fmt_value(v)) for k, v in zip(series, config)))
        else:
            name = "all runs"
        front = pareto_front(pts, x_low, y_low)
        ax.plot([p[0] for p in front], [p[1] for p in front], "-", color=colour, lw=2,
                alpha=0.85, zorder=2)
        # Frontier runs filled, dominated runs open.
        on_front = set(id(p) for p in front)
        dominated = [p for p in pts if id(p) not in on_front]
        ax.scatter([p[0] for p in front], [p[1] for p in front], marker=marker, s=46,
                   color=colour, edgecolor="white", linewidth=0.6, zorder=3,
                   label="%s (%d run%s)" % (name, len(pts), "s" if len(pts) > 1 else ""))
        if dominated:
            ax.scatter([p[0] for p in dominated], [p[1] for p in dominated], marker=marker,
                       s=40, facecolor="none", edgecolor=colour, linewidth=1.2, zorder=3)
        if label_points:
            # Runs landing on the same point (a limit that did not bind) share one label.
            merged = {}
            for x, y, text in pts:
                merged.setdefault((round(x, 6), round(y, 6)), []).append(text)
            for (x, y), texts in merged.items():
                ax.annotate(" | ".join(texts), (x, y), xytext=(4, 4), textcoords="offset points",
                            fontsize=7, color=colour, zorder=4)

    if args.slo_tpot_ms is not None:
        speed = 1000.0 / args.slo_tpot_ms
        ax.axvline(speed, color="#d62728", linestyle="--", lw=1.3, zorder=1,
                   label="TPOT SLO %g ms = %.3g tokens/s/user (shaded: slower)"
                   % (args.slo_tpot_ms, speed))
        ax.axvspan(0, speed, color="#d62728", alpha=0.06, zorder=0)

    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.set_xlabel(AXIS_LABELS.get(args.x, args.x))
    ax.set_ylabel(AXIS_LABELS.get(args.y, args.y))
    ax.grid(alpha=0.3)
    ax.set_axisbelow(True)
    from matplotlib.lines import Line2D
    handles, _ = ax.get_legend_handles_labels()
    handles += [Line2D([], [], color="grey", lw=2, label="Pareto frontier"),
                Line2D([], [], color="grey", marker="o", linestyle="none",
                       markerfacecolor="none", label="dominated run")]
    title = ", ".join(series) if series else None
    ax.legend(handles=handles, title=title, loc="best", fontsize=8, title_fontsize=8)

    notes = ["%d runs" % points]
    if along:
        notes.append("along a curve: " + ", ".join(along)
                     + (" (point labels)" if label_points else ""))
    if failed:
        counts = {}
        for r in failed:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        notes.append("%d run%s skipped (%s)" % (
            len(failed), "s" if len(failed) > 1 else "",
            ", ".join("%d %s" % (c, st) for st, c in sorted(counts.items()))))
    if no_data:
        notes.append("%d ok run%s without %s/%s" % (no_data, "s" if no_data > 1 else "",
                                                    args.x, args.y))
    name = os.path.join(os.path.basename(os.path.dirname(os.path.abspath(path))),
                        os.path.basename(path))
    better = "%s and to the %s" % ("down" if y_low else "up", "left" if x_low else "right")
    ax.set_title("Serving Pareto front (%s): %s is better\n%s"
                 % (name, better, "; ".join(notes)), fontsize=10)
    fig.tight_layout()
    return mr.save(fig, out, args.dpi)


if __name__ == "__main__":
    sys.exit(mr.main_guard(main))
