#!/usr/bin/env python3
"""Capacity curves from a `moesim sweep` sweep.csv: throughput and latency vs one key.

Two panels sharing x (a numeric swept key, --x): tokens/s per GPU on top,
step latency p50 (solid) and p99 (dashed) in ms below, one colour per value of
--series. Rows whose status is not `ok` are skipped (counted in the title).
Other swept keys are averaged over unless pinned with --where KEY=VALUE.

Usage: capacity_curves.py SWEEP_CSV --x KEY [--series KEY] [--where KEY=VALUE ...]
                          [-o OUT.png|OUT.svg|OUT.pdf]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moesim_results as mr  # noqa: E402

METRICS = ["step_us_p50", "step_us_p99", "tokens_per_s_per_gpu"]


def load_sweep(path):
    """sweep.csv -> (varied keys, rows). The varied keys are the columns between
    run_id and status."""
    columns, rows = mr.read_csv_file(path, ["run_id", "status"] + METRICS,
                                     "sweep.csv written by `moesim sweep`")
    i, j = columns.index("run_id"), columns.index("status")
    return columns[i + 1:j], rows


def fmt_value(v):
    return "%g" % v if isinstance(v, float) else str(v)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sweep_csv", help="sweep.csv written by `moesim sweep -o DIR`")
    ap.add_argument("-o", "--output",
                    help="output image, .png, .svg or .pdf "
                         "(default: capacity_<x>.png next to SWEEP_CSV)")
    ap.add_argument("--x", required=True, help="numeric swept key for the x axis, "
                    "e.g. workload.tokens_per_gpu")
    ap.add_argument("--series", help="swept key with one line per value, e.g. placement.kind")
    ap.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                    help="keep only rows with KEY=VALUE (repeatable)")
    ap.add_argument("--logx", choices=("auto", "on", "off"), default="auto",
                    help="log2 x axis (auto: when x spans 8x or more)")
    ap.add_argument("--dpi", type=int, default=150, help="PNG resolution (default 150)")
    args = ap.parse_args(argv)

    path = args.sweep_csv
    out = mr.output_next_to(path, args.output,
                            "capacity_%s.png" % args.x.replace(".", "_"))
    keys, rows = load_sweep(path)
    for key, what in ((args.x, "--x"), (args.series, "--series")):
        if key is not None and key not in keys:
            raise mr.ResultsError("%s %s is not a swept key of %s (swept: %s)"
                                  % (what, key, path, ", ".join(keys) or "none"))
    if args.series == args.x:
        raise mr.ResultsError("--x and --series must be different keys")

    where = {}
    for w in args.where:
        key, sep, value = w.partition("=")
        if not sep or key not in keys:
            raise mr.ResultsError("--where %s: expected KEY=VALUE with KEY one of %s"
                                  % (w, ", ".join(keys)))
        where.setdefault(key, set()).add(value)

    def matches(row, key, values):
        cell = row[key]
        num = mr.maybe_number(cell)
        return any(cell == v or (num is not None and num == mr.maybe_number(v))
                   for v in values)

    rows = [r for r in rows if all(matches(r, k, v) for k, v in where.items())]
    if not rows:
        raise mr.ResultsError("%s: no rows match %s" % (path, " ".join(args.where)))
    failed = [r for r in rows if r["status"] != "ok"]
    rows = [r for r in rows if r["status"] == "ok"]
    rows.sort(key=lambda r: mr.maybe_number(r["run_id"]) or 0)
    if not rows:
        raise mr.ResultsError("%s: all %d matching runs failed (status != ok)"
                              % (path, len(failed)))

    averaged = [k for k in keys if k not in (args.x, args.series) and k not in where]
    # (series value, x) -> list of (p50, p99, tok/s/gpu); averaged over the other keys.
    groups = {}
    series_order = []
    for r in rows:
        x = mr.maybe_number(r[args.x])
        if x is None:
            raise mr.ResultsError("%s: --x %s has non-numeric value %r"
                                  % (path, args.x, r[args.x]))
        s = r[args.series] if args.series else None
        if s not in series_order:
            series_order.append(s)
        groups.setdefault((s, x), []).append([mr.number(path, r, m) for m in METRICS])
    if args.series and all(mr.maybe_number(s) is not None for s in series_order):
        series_order.sort(key=float)

    plt = mr.pyplot_agg()
    fig, (ax_tp, ax_lat) = plt.subplots(2, 1, sharex=True, figsize=(8.5, 7.5))
    xs_all = sorted({x for _, x in groups})
    for i, s in enumerate(series_order):
        # Every x of the sweep; a value missing for this series (its runs failed
        # or were filtered out) leaves a gap in the line.
        xs = xs_all
        nan = [float("nan")] * len(METRICS)
        mean = [[sum(col) / len(col) for col in zip(*groups[(s, x)])]
                if (s, x) in groups else nan for x in xs]
        p50 = [m[0] / 1e3 for m in mean]
        p99 = [m[1] / 1e3 for m in mean]
        tps = [m[2] for m in mean]
        colour = mr.series_colour(i)
        label = s if s is not None else "all runs"
        ax_tp.plot(xs, tps, "o-", color=colour, label=label)
        ax_lat.plot(xs, p50, "o-", color=colour, label="%s p50" % label)
        ax_lat.plot(xs, p99, "s--", color=colour, markerfacecolor="none",
                    label="%s p99" % label)

    positive = all(x > 0 for x in xs_all)
    logx = args.logx == "on" or (args.logx == "auto" and positive and len(xs_all) > 2
                                 and max(xs_all) >= 8 * min(xs_all))
    if logx and not positive:
        raise mr.ResultsError("--logx on needs positive x values")
    if logx:
        ax_lat.set_xscale("log", base=2)
    if len(xs_all) <= 16:
        ax_lat.set_xticks(xs_all)
        ax_lat.set_xticklabels([fmt_value(x) for x in xs_all])
        ax_lat.minorticks_off()
        ax_tp.minorticks_off()

    ax_tp.set_ylabel("Throughput per GPU (tokens/s)")
    ax_lat.set_ylabel("Step latency (ms)")
    ax_lat.set_xlabel(args.x + (" (log scale)" if logx else ""))
    ax_tp.set_ylim(bottom=0)
    ax_lat.set_ylim(bottom=0)
    for ax in (ax_tp, ax_lat):
        ax.grid(alpha=0.3)
        ax.set_axisbelow(True)
    if args.series:
        ax_tp.legend(title=args.series, loc="best", fontsize=9)
    # Latency legend: colours as above, plus which line style is which percentile.
    from matplotlib.lines import Line2D
    style = [Line2D([], [], color="black", marker="o", label="p50"),
             Line2D([], [], color="black", marker="s", linestyle="--",
                    markerfacecolor="none", label="p99")]
    ax_lat.legend(handles=style, loc="upper left", fontsize=9,
                  title="colour = series" if args.series else None)

    notes = ["%d runs" % len(rows)]
    if failed:
        counts = {}
        for r in failed:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        notes.append("%d run%s skipped (%s)" % (len(failed), "s" if len(failed) > 1 else "",
                                                ", ".join("%d %s" % (n, st) for st, n in sorted(counts.items()))))
    if where:
        notes.append(", ".join("%s=%s" % (k, "|".join(sorted(v)))
                               for k, v in sorted(where.items())))
    if averaged:
        notes.append("averaged over " + ", ".join(averaged))
    name = os.path.join(os.path.basename(os.path.dirname(os.path.abspath(path))),
                        os.path.basename(path))
    fig.suptitle("Capacity sweep (%s): throughput and latency vs %s\n%s"
                 % (name, args.x, "; ".join(notes)), fontsize=11)
    fig.tight_layout()
    return mr.save(fig, out, args.dpi)


if __name__ == "__main__":
    sys.exit(mr.main_guard(main))
