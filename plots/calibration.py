#!/usr/bin/env python3
"""Device profile figure: communication efficiency, roofline, measured kernels.

Panel 1: achievable fraction of link bandwidth vs message size (log x) for
[comm.nvlink] and [comm.scaleout], as the simulator interpolates it (linear in
log bytes, clamped outside the table). Panel 2: the device roofline,
achievable TFLOP/s vs arithmetic intensity (FLOP/byte, log-log): the HBM slope
(hbm_GBps x hbm_efficiency) and the bf16 / fp8 ceilings x matrix_efficiency,
with the datasheet peaks dotted. Panel 3: the [kernels] tables (gate, permute,
combine, expert: measured us vs tokens, continued along their last segment as
the simulator reads them) against the simulator's roofline estimate for the
same kernel, for the model dimensions given by --hidden/--experts/--top-k/
--dispatch-bytes, and the per-call expert curves (expert_e<N>, thin lines); a
profile without tables says so in that panel.

Usage: calibration.py PROFILE_TOML [-o OUT.png|OUT.svg|OUT.pdf]
"""

import argparse
import math
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moesim_results as mr  # noqa: E402

ACT_BYTES = 2.0    # bf16 activations (sim/gpu/compute_model.cpp kActBytes)
LOGIT_BYTES = 4.0  # fp32 router logits (kLogitBytes)
KERNELS = ("gate", "permute", "combine", "expert")


def load_profile(path):
    try:
        import tomllib
    except ImportError:
        raise mr.ResultsError("reading %s needs Python 3.11+ (tomllib); this is %s"
                              % (path, sys.version.split()[0]))
    if not os.path.isfile(path):
        raise mr.ResultsError("%s not found (expected a device profile .toml)" % path)
    try:
        with open(path, "rb") as f:
            prof = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise mr.ResultsError("%s: invalid TOML: %s" % (path, e))
    for section, keys in (("meta", ("device", "source")),
                          ("device", ("hbm_GBps", "hbm_efficiency", "matrix_bf16_TFLOPs",
                                      "matrix_efficiency", "launch_ns"))):
        table = prof.get(section)
        if not isinstance(table, dict):
            raise mr.ResultsError("%s: missing [%s] (is it a device profile?)" % (path, section))
        missing = [k for k in keys if k not in table]
        if missing:
            raise mr.ResultsError("%s: [%s] lacks %s" % (path, section, ", ".join(missing)))
    comm = prof.get("comm") or {}
    for cls in ("nvlink", "scaleout"):
        t = comm.get(cls)
        if not isinstance(t, dict) or "efficiency" not in t or "efficiency_bytes" not in t:
            raise mr.ResultsError("%s: missing [comm.%s] efficiency tables" % (path, cls))
        if len(t["efficiency"]) != len(t["efficiency_bytes"]) or not t["efficiency"]:
            raise mr.ResultsError("%s: [comm.%s] efficiency and efficiency_bytes differ "
                                  "in length" % (path, cls))
    kernels = prof.get("kernels") or {}
    for name in list(KERNELS) + expert_curves(kernels):
        xs, ys = kernels.get(name + "_tokens"), kernels.get(name + "_us")
        if (xs is None) != (ys is None) or (xs is not None and len(xs) != len(ys)):
            raise mr.ResultsError("%s: [kernels] %s_tokens / %s_us must be a pair of equal "
                                  "length" % (path, name, name))
    return prof


def expert_curves(kernels):
    """Names of the per-call expert curves ("expert_e8", ...), by expert count."""
    names = [k[:-len("_tokens")] for k in kernels
             if re.fullmatch(r"expert_e[1-9][0-9]*_tokens", k)]
    return sorted(names, key=lambda n: int(n[len("expert_e"):]))


def log_interp(xs, ys, x, extend=False):
    """The simulator's table lookup: linear in log(x), clamped below; above the last
    point clamped (communication efficiency) or, with extend, continued along the
    last segment (kernel tables, sim/gpu/compute_model.cpp)."""
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        if extend and len(xs) > 1:
            slope = max(0.0, (ys[-1] - ys[-2]) / (xs[-1] - xs[-2]))
            return ys[-1] + slope * (x - xs[-1])
        return ys[-1]
    for i in range(1, len(xs)):
        if x <= xs[i]:
            f = (math.log(x) - math.log(xs[i - 1])) / (math.log(xs[i]) - math.log(xs[i - 1]))
            return ys[i - 1] + f * (ys[i] - ys[i - 1])
    return ys[-1]


def geom(lo, hi, n=200):
    return [lo * (hi / lo) ** (i / (n - 1)) for i in range(n)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("profile", help="device profile, e.g. calibrate/profiles/h100-sxm.toml")
    ap.add_argument("-o", "--output",
                    help="output image, .png, .svg or .pdf "
                         "(default: <profile name>.png next to the profile)")
    ap.add_argument("--hidden", type=int, default=7168,
                    help="model hidden size for the kernel roofline (default 7168, DeepSeek-V3)")
    ap.add_argument("--experts", type=int, default=256,
                    help="routed experts, for the gate GEMM (default 256)")
    ap.add_argument("--top-k", type=int, default=8, help="experts per token (default 8)")
    ap.add_argument("--dispatch-bytes", type=float, default=1.0,
                    help="bytes per element sent to the experts (default 1, fp8)")
    ap.add_argument("--combine-bytes", type=float, default=2.0,
                    help="bytes per element returned (default 2, bf16)")
    ap.add_argument("--expert-ffn", type=int, default=2048,
                    help="intermediate size of one routed expert, for the expert roofline (default 2048)")
    ap.add_argument("--dpi", type=int, default=150, help="PNG resolution (default 150)")
    args = ap.parse_args(argv)

    path = args.profile
    out = mr.output_next_to(path, args.output,
                            os.path.splitext(os.path.basename(path))[0] + ".png")
    prof = load_profile(path)
    meta, dev, comm = prof["meta"], prof["device"], prof["comm"]
    kernels = prof.get("kernels") or {}

    hbm = dev["hbm_GBps"] * dev["hbm_efficiency"]                 # GB/s achievable
    bf16 = dev["matrix_bf16_TFLOPs"] * dev["matrix_efficiency"]   # TFLOP/s achievable
    fp8_peak = dev.get("matrix_fp8_TFLOPs") or 0.0
    fp8 = fp8_peak * dev["matrix_efficiency"]
    launch_us = dev["launch_ns"] / 1e3

    def roofline_us(nbytes, flops):
        # launch + max(memory, math): sim/gpu/compute_model.cpp roofline_ps (bf16 math)
        return launch_us + max(nbytes / (hbm * 1e3), flops / (bf16 * 1e6))

    h, e = float(args.hidden), float(args.experts)
    estimate = {
        "gate": lambda t: roofline_us(h * e * ACT_BYTES + t * h * ACT_BYTES
                                      + t * e * LOGIT_BYTES, 2.0 * t * h * e),
        "permute": lambda t: roofline_us(t * h * ACT_BYTES + t * h * args.dispatch_bytes, 0),
        "combine": lambda c: roofline_us(c * h * args.combine_bytes
                                         + math.ceil(c / args.top_k) * h * ACT_BYTES, 0),
    }
    # One expert's SwiGLU FFN on t tokens, at the precision its table was measured at
    # (sim/gpu/compute_model.cpp experts_ps, for one expert; tiles of gemm_tile_m rows).
    f, wb = float(args.expert_ffn), float(kernels.get("weight_bytes", 2.0))
    tile = float(dev.get("gemm_tile_m", 128))
    estimate["expert"] = lambda t: roofline_us(
        3 * h * f * wb + t * h * (args.dispatch_bytes + args.combine_bytes) + 2 * t * f * ACT_BYTES,
        6 * h * f * math.ceil(t / tile) * tile)

    plt = mr.pyplot_agg()
    fig, (ax_c, ax_r, ax_k) = plt.subplots(1, 3, figsize=(17, 5.4))

    # Panel 1: communication efficiency curves.
    styles = {"nvlink": ("#2ca02c", "NVLink (scale-up)"),
              "scaleout": ("#ff7f0e", "scale-out (NIC + fabric)")}
    lo = min(min(comm[c]["efficiency_bytes"]) for c in styles) / 4
    hi = max(max(comm[c]["efficiency_bytes"]) for c in styles) * 4
    for cls, (colour, label) in styles.items():
        t = comm[cls]
        xs = [float(x) for x in t["efficiency_bytes"]]
        ys = [float(y) for y in t["efficiency"]]
        grid = geom(lo, hi)
        ax_c.plot(grid, [100 * log_interp(xs, ys, x) for x in grid], "-", color=colour,
                  label="%s, latency %g \u00b5s" % (label, t.get("latency_ns", 0) / 1e3))
        ax_c.plot(xs, [100 * y for y in ys], "o", color=colour, markersize=4)
    ax_c.set_xscale("log", base=2)
    ticks = [2 ** k for k in range(0, 64, 4) if lo <= 2 ** k <= hi]
    ax_c.set_xticks(ticks)
    names = {0: "B", 10: "KiB", 20: "MiB", 30: "GiB", 40: "TiB"}
    ax_c.set_xticklabels(["%d %s" % (2 ** (k % 10), names[k - k % 10])
                          for k in (int(math.log2(t)) for t in ticks)], fontsize=8)
    ax_c.minorticks_off()
    ax_c.set_ylim(0, 105)
    ax_c.set_xlabel("Message size (bytes, log scale)")
    ax_c.set_ylabel("Achievable fraction of link bandwidth (%)")
    ax_c.set_title("Communication efficiency (dots: table points)", fontsize=10)
    ax_c.legend(loc="upper left", fontsize=8)
    ax_c.grid(alpha=0.3)

    # Panel 2: roofline.
    ai = geom(0.1, 1e5, 400)
    ridge = {"bf16": bf16 * 1e3 / hbm, "fp8": fp8 * 1e3 / hbm}
    ax_r.plot(ai, [min(bf16, hbm * i / 1e3) for i in ai], color="#1f77b4",
              label="bf16: %g \u00d7 %g = %.4g TFLOP/s (ridge %.0f FLOP/B)"
                    % (dev["matrix_bf16_TFLOPs"], dev["matrix_efficiency"], bf16, ridge["bf16"]))
    ax_r.axhline(dev["matrix_bf16_TFLOPs"], color="#1f77b4", linestyle=":", linewidth=1)
    ax_r.plot([ridge["bf16"]], [bf16], "o", color="#1f77b4", markersize=5)
    if fp8 > 0:
        ax_r.plot(ai, [min(fp8, hbm * i / 1e3) for i in ai], color="#d62728",
                  label="fp8: %g \u00d7 %g = %.4g TFLOP/s (ridge %.0f FLOP/B)"
                        % (fp8_peak, dev["matrix_efficiency"], fp8, ridge["fp8"]))
        ax_r.axhline(fp8_peak, color="#d62728", linestyle=":", linewidth=1)
        ax_r.plot([ridge["fp8"]], [fp8], "o", color="#d62728", markersize=5)
    ax_r.plot(ai, [hbm * i / 1e3 for i in ai], color="grey", linestyle="--", linewidth=0.8,
              label="HBM: %g \u00d7 %g = %.4g GB/s"
                    % (dev["hbm_GBps"], dev["hbm_efficiency"], hbm))
    ax_r.set_xscale("log")
    ax_r.set_yscale("log")
    ax_r.set_xlim(ai[0], ai[-1])
    top = max(dev["matrix_bf16_TFLOPs"], fp8_peak)
    ax_r.set_ylim(hbm * ai[0] / 1e3, top * 2.5)
    ax_r.set_xlabel("Arithmetic intensity (FLOP/byte, log scale)")
    ax_r.set_ylabel("Achievable throughput (TFLOP/s, log scale)")
    ax_r.set_title("Roofline (dotted: datasheet peaks)", fontsize=10)
    ax_r.legend(loc="lower right", fontsize=8)
    ax_r.grid(alpha=0.3)

    # Panel 3: measured kernel tables vs the roofline estimate.
    colours = {"gate": "#9467bd", "permute": "#8c564b", "combine": "#ff7f0e", "expert": "#1f77b4"}
    present = [k for k in KERNELS if kernels.get(k + "_tokens")]
    if present:
        xmin = min(min(kernels[k + "_tokens"]) for k in present)
        xmax = max(max(kernels[k + "_tokens"]) for k in present)
        grid = geom(max(xmin / 2, 0.5), xmax * 2, 100)
        for k in present:
            xs, ys = kernels[k + "_tokens"], kernels[k + "_us"]
            # The table as the simulator reads it (linear in log tokens, extended above).
            ax_k.plot(grid, [log_interp(xs, ys, x, extend=True) for x in grid], "-", color=colours[k],
                      label="%s measured" % k)
            ax_k.plot(xs, ys, "o", color=colours[k], markersize=5)
            ax_k.plot(grid, [estimate[k](x) for x in grid], "--", color=colours[k],
                      linewidth=1, label="%s roofline" % k)
        # Per-call expert curves: one expert's share with only N experts in the grouped GEMM.
        curves = expert_curves(kernels)
        for i, name in enumerate(curves):
            xs, ys = kernels[name + "_tokens"], kernels[name + "_us"]
            ax_k.plot(grid, [log_interp(xs, ys, x, extend=True) for x in grid], "-",
                      color=colours["expert"], linewidth=0.8, alpha=0.3 + 0.5 * i / max(1, len(curves)),
                      label="expert, %s per call" % name[len("expert_e"):])
        ax_k.set_xscale("log")
        ax_k.set_yscale("log")
        ax_k.legend(loc="upper left", fontsize=7, ncol=2)
        ax_k.grid(alpha=0.3)
        ax_k.set_title("Kernel tables (dots, model %s) vs roofline\n(hidden %d, %d experts, top-%d)"
                       % (kernels.get("model", "?"), args.hidden, args.experts, args.top_k), fontsize=10)
    else:
        ax_k.text(0.5, 0.5, "no measured kernel tables\n(source = %s)\n\n"
                  "gate / permute / combine use the roofline" % meta["source"],
                  ha="center", va="center", fontsize=11, transform=ax_k.transAxes,
                  color="#555555")
        ax_k.set_xticks([])
        ax_k.set_yticks([])
        ax_k.set_title("Kernel tables ([kernels])", fontsize=10)
    ax_k.set_xlabel("Tokens (combine: token copies; expert: tokens per expert), log scale")
    ax_k.set_ylabel("Kernel time (\u00b5s, log scale)")

    fig.suptitle("Device profile %s: %s (source = %s)"
                 % (os.path.basename(path), meta["device"], meta["source"]), fontsize=11)
    fig.tight_layout()
    return mr.save(fig, out, args.dpi)


if __name__ == "__main__":
    sys.exit(mr.main_guard(main))
