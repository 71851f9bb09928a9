#!/usr/bin/env python3
"""Per-layer critical-path breakdown of a moesim step, as stacked bars.

x = layer index, y = microseconds per step that the layer contributed to the
step's critical path, one colour per phase (phases that are zero in every
layer are omitted). The bars add up to the mean step time.

Usage: step_breakdown.py RESULTS_DIR [-o OUT.png|OUT.svg|OUT.pdf]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moesim_results as mr  # noqa: E402


def ranges(numbers):
    """[0,1,2,5,6,9] -> '0-2, 5-6, 9'."""
    out, start, prev = [], None, None
    for n in sorted(numbers):
        if start is None:
            start = prev = n
        elif n == prev + 1:
            prev = n
        else:
            out.append((start, prev))
            start = prev = n
    if start is not None:
        out.append((start, prev))
    return ", ".join("%d" % a if a == b else "%d\u2013%d" % (a, b) for a, b in out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results_dir", help="directory written by `moesim run -o DIR`")
    ap.add_argument("-o", "--output",
                    help="output image, .png, .svg or .pdf "
                         "(default: RESULTS_DIR/step_breakdown.png)")
    ap.add_argument("--dpi", type=int, default=150, help="PNG resolution (default 150)")
    args = ap.parse_args(argv)

    out = mr.output_path(args.results_dir, args.output, "step_breakdown.png")
    summary = mr.load_summary(args.results_dir)
    phases, layers = mr.load_per_layer(args.results_dir)
    shown = [p for p in phases if any(l["critical"][p] > 0 for l in layers)]
    if not shown:
        raise mr.ResultsError("per_layer.csv: every critical_<phase>_us is zero")

    total = sum(sum(l["critical"].values()) for l in layers)
    step_us = (summary.get("latency") or {}).get("step_us_mean", total)

    plt = mr.pyplot_agg()
    n = len(layers)
    fig, ax = plt.subplots(figsize=(max(8.0, min(20.0, 4.0 + 0.2 * n)), 5.2))
    xs = list(range(n))
    bottoms = [0.0] * n
    for i, phase in enumerate(shown):
        heights = [l["critical"][phase] for l in layers]
        ax.bar(xs, heights, bottom=bottoms, width=0.85 if n > 1 else 0.5,
               color=mr.phase_colour(phase, i), label=mr.phase_label(phase),
               linewidth=0)
        bottoms = [b + h for b, h in zip(bottoms, heights)]

    step = mr.tick_step(n, 30)
    ticks = [x for x in xs if layers[x]["layer"] % step == 0] or xs[:1]
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(layers[x]["layer"]) for x in ticks])
    ax.set_xlim(-0.6, n - 0.4)

    kinds = {}
    for l in layers:
        kinds.setdefault(l["kind"], []).append(l["layer"])
    if len(kinds) > 1:
        detail = "; ".join("%s: %s" % ({"moe": "MoE"}.get(k, k), ranges(v))
                           for k, v in sorted(kinds.items()))
        ax.set_xlabel("Layer index (%s)" % detail)
    else:
        ax.set_xlabel("Layer index")
    ax.set_ylabel("Critical-path time per step (\u00b5s)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)

    # Legend in stacking order (top of the bar first), outside the axes.
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles[::-1], labels[::-1], title="Phase", loc="upper left",
              bbox_to_anchor=(1.01, 1.0), frameon=False)

    ax.set_title("%s\nCritical path per layer, mean step %s (sum of all bars)"
                 % (mr.run_title(summary), mr.format_us(step_us)), fontsize=11)
    fig.tight_layout()
    return mr.save(fig, out, args.dpi)


if __name__ == "__main__":
    sys.exit(mr.main_guard(main))
