#!/usr/bin/env python3
"""GPU x MoE-layer heatmap of expert load from a moesim run.

Cell (layer, gpu) = token-expert assignments the GPU received per step in that
MoE layer (--metric received, default) or its routed-expert compute time in
microseconds per step (--metric experts_us). Hot rows/cells are the hotspot
GPUs that stretch the layer's experts and all-to-all phases.

Usage: hotspot_heatmap.py RESULTS_DIR [-o OUT.png|OUT.svg|OUT.pdf]
                          [--metric received|experts_us]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moesim_results as mr  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results_dir", help="directory written by `moesim run -o DIR`")
    ap.add_argument("-o", "--output",
                    help="output image, .png, .svg or .pdf "
                         "(default: RESULTS_DIR/hotspot_<metric>.png)")
    ap.add_argument("--metric", choices=sorted(mr.GPU_LAYER_METRICS), default="received",
                    help="cell value (default: received)")
    ap.add_argument("--cmap", default="viridis", help="matplotlib colormap (default viridis)")
    ap.add_argument("--dpi", type=int, default=150, help="PNG resolution (default 150)")
    args = ap.parse_args(argv)

    column, cbar_label, what = mr.GPU_LAYER_METRICS[args.metric]
    out = mr.output_path(args.results_dir, args.output, "hotspot_%s.png" % args.metric)
    summary = mr.load_summary(args.results_dir)
    gpus, layers, values = mr.load_gpu_layer(args.results_dir, column)

    nan = float("nan")
    grid = [[values.get((g, l), nan) for l in layers] for g in gpus]
    cells = [v for row in grid for v in row if v == v]
    mean = sum(cells) / len(cells)
    # Per layer: max over GPUs / mean over GPUs, the imbalance that matters.
    ratios = []
    for j in range(len(layers)):
        col = [row[j] for row in grid if row[j] == row[j]]
        m = sum(col) / len(col)
        if m > 0:
            ratios.append(max(col) / m)

    plt = mr.pyplot_agg()
    ng, nl = len(gpus), len(layers)
    width = max(7.0, min(18.0, 3.5 + 0.16 * nl))
    height = max(4.5, min(14.0, 2.0 + 0.11 * ng))
    fig, ax = plt.subplots(figsize=(width, height))
    im = ax.imshow(grid, aspect="auto", interpolation="nearest", origin="upper",
                   cmap=args.cmap, vmin=0)
    cbar = fig.colorbar(im, ax=ax, pad=0.02)
    cbar.set_label(cbar_label)

    xstep = mr.tick_step(nl, 30)
    xt = [j for j in range(nl) if layers[j] % xstep == 0] or [0]
    ax.set_xticks(xt)
    ax.set_xticklabels([str(layers[j]) for j in xt])
    ystep = mr.tick_step(ng, 24)
    yt = [i for i in range(ng) if gpus[i] % ystep == 0] or [0]
    ax.set_yticks(yt)
    ax.set_yticklabels([str(gpus[i]) for i in yt])
    ax.set_xlabel("MoE layer index")
    ax.set_ylabel("GPU (expert-parallel rank)"
                  + ("" if ystep == 1 else ", every %dth labelled" % ystep))

    # Separate scale-up domains (e.g. racks) with white lines.
    domains = mr.load_gpu_domains(args.results_dir)
    if len(set(domains.get(g) for g in gpus)) > 1:
        for i in range(1, ng):
            if domains.get(gpus[i]) != domains.get(gpus[i - 1]):
                ax.axhline(i - 0.5, color="white", linewidth=1.2)

    stats = "mean %.4g per cell" % mean
    if args.metric == "experts_us":
        stats = "mean %s per cell" % mr.format_us(mean)
    if ratios:
        stats += "; per-layer max/mean over GPUs: median %.2f, worst %.2f" % (
            sorted(ratios)[len(ratios) // 2], max(ratios))
    ax.set_title("%s\n%s, per step\n(%s)" % (mr.run_title(summary), what, stats),
                 fontsize=11)
    fig.tight_layout()
    return mr.save(fig, out, args.dpi)


if __name__ == "__main__":
    sys.exit(mr.main_guard(main))
