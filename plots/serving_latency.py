#!/usr/bin/env python3
"""TTFT and TPOT distributions of a serving run, as empirical CDFs.

From per_request.csv in a results directory: left, time to first token (ms) per
request; right, time per output token (ms) of the requests with more than one output
token. The p50, p90 and p99 are marked on each curve; the SLOs from summary.json's
"serving" object (slo_ttft_ms, slo_tpot_ms; drawn when > 0) are red vertical lines,
with the share of requests that meet each.

Usage: serving_latency.py RESULTS_DIR [--logx auto|on|off] [-o OUT.png|OUT.svg|OUT.pdf]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moesim_results as mr  # noqa: E402

PERCENTILES = [(50, "#2ca02c"), (90, "#ff7f0e"), (99, "#9467bd")]


def format_ms(ms):
    if ms >= 1e4:
        return "%.3g s" % (ms / 1e3)
    return "%.3g ms" % ms


def draw_cdf(ax, values, what, colour, slo_ms, logx):
    """One panel: the empirical CDF of values (ms), percentiles and the SLO."""
    values = sorted(values)
    n = len(values)
    if n == 0:
        ax.text(0.5, 0.5, "no values\n(every request has 1 output token)",
                ha="center", va="center", transform=ax.transAxes, color="grey")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("%s (ms)" % what)
        return
    # Step CDF: the fraction of requests with a value <= x.
    xs = [values[0]] + values
    ys = [0.0] + [(i + 1) / n for i in range(n)]
    ax.step(xs, ys, where="post", color=colour, lw=1.8, label="%d requests" % n)
    use_log = logx == "on" or (logx == "auto" and values[0] > 0
                               and values[-1] >= 20 * values[0])
    if use_log and values[0] <= 0:
        raise mr.ResultsError("--logx on needs positive %s values" % what)
    if use_log:
        ax.set_xscale("log")
        # Plain numbers (100, 200) rather than 2x10^2; some minor ticks labelled (fewer
        # the more decades the axis spans) so that labels do not collide.
        from matplotlib.ticker import FuncFormatter
        span = values[-1] / values[0]
        digits = "2345" if span < 10 else "25" if span < 100 else ""
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: "%g" % v))
        ax.xaxis.set_minor_formatter(FuncFormatter(
            lambda v, _: "%g" % v if ("%.0e" % v)[0] in digits else ""))
    for q, qc in PERCENTILES:
        v = mr.percentile(values, q)
        ax.axvline(v, color=qc, linestyle=":", lw=1.2)
        ax.plot([v], [q / 100.0], "o", color=qc, ms=6, zorder=4,
                label="p%d = %s" % (q, format_ms(v)))
    if slo_ms > 0:
        meet = sum(1 for v in values if v <= slo_ms) / n
        ax.axvline(slo_ms, color="#d62728", lw=1.6,
                   label="SLO %s: %.1f%% meet it" % (format_ms(slo_ms), 100 * meet))
    for y in (0.5, 0.9, 0.99):
        ax.axhline(y, color="grey", lw=0.6, alpha=0.5)
    ax.set_ylim(0, 1.02)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 0.9, 0.99])
    ax.set_yticklabels(["0", "25%", "50%", "75%", "90%", "99%"])
    ax.set_xlabel("%s (ms)%s" % (what, " (log scale)" if use_log else ""))
    ax.grid(alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(loc="lower right", fontsize=8)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results_dir", help="directory written by `moesim run` of a "
                    "serving scenario")
    ap.add_argument("-o", "--output", help="output image, .png, .svg or .pdf "
                    "(default: RESULTS_DIR/serving_latency.png)")
    ap.add_argument("--logx", choices=("auto", "on", "off"), default="auto",
                    help="log x axes (auto: when a panel's values span 20x or more)")
    ap.add_argument("--dpi", type=int, default=150, help="PNG resolution (default 150)")
    args = ap.parse_args(argv)

    out = mr.output_path(args.results_dir, args.output, "serving_latency.png")
    _, rows = mr.load_per_request(args.results_dir)
    summary = mr.load_summary_optional(args.results_dir)
    serving = mr.serving_summary(summary, args.results_dir)

    def slo(key):
        v = serving.get(key, 0)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0.0

    ttft = [r["ttft_ms"] for r in rows]
    tpot = [r["tpot_ms"] for r in rows if r["tpot_ms"] is not None]

    plt = mr.pyplot_agg()
    fig, (ax_ttft, ax_tpot) = plt.subplots(1, 2, figsize=(12, 5))
    draw_cdf(ax_ttft, ttft, "TTFT, time to first token", "#1f77b4", slo("slo_ttft_ms"),
             args.logx)
    draw_cdf(ax_tpot, tpot, "TPOT, time per output token", "#17becf", slo("slo_tpot_ms"),
             args.logx)
    ax_ttft.set_ylabel("fraction of requests (CDF)")

    notes = ["%d requests" % len(rows)]
    if not tpot:
        notes.append("no TPOT (every request has 1 output token)")
    elif len(tpot) < len(rows):
        notes.append("TPOT of %d (the others have 1 output token)" % len(tpot))
    meets = [r["meets_slo"] for r in rows if r["meets_slo"] is not None]
    if meets and (slo("slo_ttft_ms") > 0 or slo("slo_tpot_ms") > 0):
        notes.append("%.1f%% meet both SLOs" % (100.0 * sum(meets) / len(meets)))
    title = mr.run_title(summary) if summary else os.path.basename(
        os.path.abspath(args.results_dir))
    fig.suptitle("Serving latency, %s\n%s" % (title, "; ".join(notes)), fontsize=11)
    fig.tight_layout()
    return mr.save(fig, out, args.dpi)


if __name__ == "__main__":
    sys.exit(mr.main_guard(main))
