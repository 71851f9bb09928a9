#!/usr/bin/env python3
"""End-to-end test of the plot scripts in plots/.

Runs `moesim run scenarios/smoke.toml` into WORK/plots-test/results, a 4-run
`moesim sweep` and a 2-placement `moesim compare` of the same scenario, then
every plot script (with this interpreter, sys.executable) on those outputs, on
calibrate/profiles/h100-sxm.toml (measured, with its [kernels] tables) and on
h100-sxm-datasheet.toml with hand-made [kernels] tables added, and checks that every output exists, is non-empty and has the right
magic bytes. Also checks that bad inputs give a clean error (exit 1, no
traceback). The serving plots (pareto.py, serving_latency.py,
serving_timeline.py) run on hand-made serving outputs (make_serving_inputs) until
moesim writes them; --serving-only runs just those, without a moesim binary.

Usage: test_plots.py --moesim BUILD/moesim --source-dir REPO --work DIR
       test_plots.py --serving-only --source-dir REPO --work DIR
Exit codes: 0 pass, 1 fail, 77 skip (matplotlib not installed).
"""

import argparse
import csv
import json
import math
import os
import random
import shutil
import subprocess
import sys

SKIP = 77
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PDF_MAGIC = b"%PDF-"

failures = []


def check(cond, what):
    print("%s: %s" % ("ok" if cond else "FAIL", what))
    if not cond:
        failures.append(what)
    return cond


def run(cmd, cwd, env):
    print("$ " + " ".join(cmd))
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True)
    if p.stdout.strip():
        print(p.stdout.rstrip())
    if p.stderr.strip():
        print(p.stderr.rstrip())
    return p


def check_image(path):
    if not check(os.path.isfile(path), "%s exists" % path):
        return
    with open(path, "rb") as f:
        data = f.read()
    if not check(len(data) > 0, "%s is non-empty" % path):
        return
    if path.endswith(".png"):
        check(data.startswith(PNG_MAGIC), "%s starts with the PNG signature" % path)
        check(len(data) > 10000, "%s is larger than 10 kB (%d bytes)" % (path, len(data)))
    elif path.endswith(".svg"):
        check(b"<svg" in data[:4096], "%s contains an <svg> element" % path)
    elif path.endswith(".pdf"):
        check(data.startswith(PDF_MAGIC), "%s starts with %%PDF-" % path)


def fresh_work(work):
    """Recreate the work dir; the environment the scripts run in."""
    if os.path.isdir(work):
        shutil.rmtree(work)
    os.makedirs(work)
    print("work dir: %s" % work)
    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    env["MPLCONFIGDIR"] = os.path.join(work, "mplconfig")  # writable, isolated cache
    return env


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def make_serving_inputs(folder):
    """Hand-made serving outputs in the formats moesim will write: a results directory
    (per_request.csv, 50 requests; serving_timeline.csv, prefill and decode pools;
    summary.json with "serving") and a sweep.csv (2 configurations x 3 loads, plus one
    timed-out run). Returns (results_dir, sweep_csv). Replace its call with `moesim run` /
    `moesim sweep` of a serving scenario once moesim writes these files."""
    rng = random.Random(7)
    results = os.path.join(folder, "results")
    os.makedirs(results)
    rows, t = [], 0.0
    slo_ttft_ms, slo_tpot_ms = 400.0, 40.0
    for i in range(50):
        t += rng.expovariate(4.0)
        prompt = rng.randint(64, 4096)
        output = 1 if i % 10 == 3 else rng.randint(2, 512)
        ttft = 40 + prompt / 25.0 + rng.lognormvariate(3.5, 1.0)
        tpot = 18 + rng.lognormvariate(1.8, 0.6) if output > 1 else None
        first = t + ttft / 1e3
        finish = first + (output - 1) * (tpot or 0) / 1e3
        meets = ttft <= slo_ttft_ms and (tpot is None or tpot <= slo_tpot_ms)
        rows.append([i, "%.6f" % t, prompt, output, 2 + i % 4, i % 2, "%.6f" % first,
                     "%.6f" % finish, "%.3f" % ttft, "" if tpot is None else "%.3f" % tpot,
                     "%.6f" % (finish - t), 1 if i % 17 == 5 else 0, int(meets)])
    write_csv(os.path.join(results, "per_request.csv"),
              ["request", "arrival_s", "prompt_tokens", "output_tokens", "rank",
               "prefill_rank", "first_token_s", "finish_s", "ttft_ms", "tpot_ms", "e2e_s",
               "preemptions", "meets_slo"], rows)
    rows = []
    for k in range(81):
        time_s = 0.25 * k
        load = math.sin(math.pi * time_s / 20.0)  # rises, then drains
        for pool, ranks in (("prefill", 2), ("decode", 4)):
            waiting = max(0, int(round(12 * load - (6 if pool == "decode" else 2))))
            running = int(round((3 if pool == "prefill" else 40) * load)) + (k % 3 == 0)
            kv_mean = min(0.97, (0.2 if pool == "prefill" else 0.85) * load + 0.02)
            kv_max = min(1.0, kv_mean * 1.15)
            rows.append(["%.2f" % time_s, pool, waiting, running, "%.4f" % kv_mean,
                         "%.4f" % kv_max, running * (512 if pool == "prefill" else 1) * ranks,
                         "%.3f" % (8 + 10 * load)])
    write_csv(os.path.join(results, "serving_timeline.csv"),
              ["time_s", "pool", "waiting", "running", "kv_used_fraction_mean",
               "kv_used_fraction_max", "batch_tokens", "step_ms"], rows)
    summary = {
        "scenario": {"name": "serving-handmade"}, "model": {"name": "deepseek-v3"},
        "topology": {"name": "hgx-h100", "gpus_used": 6},
        "serving": {"ttft_ms_p50": 160.0, "ttft_ms_p90": 320.0, "ttft_ms_p99": 700.0,
                    "tpot_ms_p50": 25.0, "tpot_ms_p90": 32.0, "tpot_ms_p99": 45.0,
                    "e2e_s_p50": 6.0, "e2e_s_p90": 11.0, "e2e_s_p99": 14.0,
                    "output_tokens_per_s_per_gpu": 900.0, "input_tokens_per_s_per_gpu": 3000.0,
                    "tokens_per_s_per_user": 38.0, "goodput_rps": 3.1,
                    "slo_ttft_ms": slo_ttft_ms, "slo_tpot_ms": slo_tpot_ms}}
    with open(os.path.join(results, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)

    metrics = ["output_tokens_per_s_per_gpu", "input_tokens_per_s_per_gpu",
               "tokens_per_s_per_user", "ttft_ms_p90", "tpot_ms_p90", "gpus", "goodput_rps"]
    rows, run_id = [], 0
    for mtp in (0, 2):
        for rate in (2, 8, 32):
            # More load: more tokens per GPU, slower per user; at 32/s the queue
            # grows, so throughput drops again (a dominated point) for mtp = 0.
            speed = (60.0 if mtp == 0 else 95.0) / (1 + rate / 16.0)
            tput = (1400.0 if mtp == 0 else 1900.0) * (rate / (rate + 6.0))
            if mtp == 0 and rate == 32:
                tput *= 0.6
            rows.append([run_id, mtp, rate, "ok", "%.1f" % tput, "%.1f" % (3 * tput),
                         "%.2f" % speed, "%.1f" % (150 + 20 * rate), "%.2f" % (1000 / speed),
                         8, "%.2f" % (rate * 0.9), "1.5", "0.1.0+abc", "0" * 16, ""])
            run_id += 1
    rows.append([run_id, 2, 64, "timeout"] + [""] * len(metrics)
                + ["600.0", "0.1.0+abc", "0" * 16, "run took longer than 600 s"])
    sweep_csv = os.path.join(folder, "sweep.csv")
    write_csv(sweep_csv, ["run_id", "serving.mtp_draft_tokens", "serving.rate_per_s", "status"]
              + metrics + ["wall_s", "build", "scenario_hash", "error"], rows)
    return results, sweep_csv


def copy_without(src, dst, column):
    """dst = the CSV file src without one column."""
    with open(src, newline="") as f:
        rows = list(csv.reader(f))
    k = rows[0].index(column)
    write_csv(dst, [c for i, c in enumerate(rows[0]) if i != k],
              [[c for i, c in enumerate(r) if i != k] for r in rows[1:]])


def check_serving_plots(plots, work, env, results, sweep_csv):
    """pareto.py on sweep_csv, serving_latency.py and serving_timeline.py on the results
    directory: outputs in PNG, SVG and PDF, and clean errors for a missing column and an
    empty file. Works on hand-made or real moesim outputs alike."""
    py = sys.executable
    pareto = os.path.join(plots, "pareto.py")
    latency = os.path.join(plots, "serving_latency.py")
    timeline = os.path.join(plots, "serving_timeline.py")
    out = os.path.join(work, "serving-out")
    jobs = [
        ([py, pareto, sweep_csv], os.path.join(os.path.dirname(sweep_csv), "pareto.png")),
        ([py, pareto, sweep_csv, "--slo-tpot-ms", "25", "--series", "serving.mtp_draft_tokens",
          "-o", os.path.join(out, "pareto.svg")], os.path.join(out, "pareto.svg")),
        ([py, latency, results, "-o", os.path.join(out, "serving_latency.png")],
         os.path.join(out, "serving_latency.png")),
        ([py, latency, results, "-o", os.path.join(out, "serving_latency.pdf")],
         os.path.join(out, "serving_latency.pdf")),
        ([py, timeline, results], os.path.join(results, "serving_timeline.png")),
        ([py, timeline, results, "-o", os.path.join(out, "serving_timeline.svg")],
         os.path.join(out, "serving_timeline.svg")),
    ]
    for cmd, image in jobs:
        p = run(cmd, work, env)
        if check(p.returncode == 0, "%s exits 0" % " ".join(
                [os.path.basename(cmd[1])] + [c for c in cmd[3:] if c.startswith("--")])):
            check_image(image)
        check("Traceback" not in p.stderr, "no Python traceback")

    # The frontier: the runs no other run beats on both axes.
    sys.path.insert(0, plots)
    import pareto as pareto_module
    front = pareto_module.pareto_front([(1, 5), (2, 4), (2, 3), (3, 1), (0.5, 4), (3, 0.5)])
    check(front == [(1, 5), (2, 4), (3, 1)], "pareto_front keeps the non-dominated points")
    front = pareto_module.pareto_front([(1, 5), (2, 6), (2, 3), (0.5, 4)], x_low=True)
    check(front == [(0.5, 4), (1, 5), (2, 6)], "pareto_front with lower x better")
    check(pareto_module.lower_is_better("ttft_ms_p90")
          and not pareto_module.lower_is_better("tokens_per_s_per_user"),
          "latency metrics count as better when lower")

    # Bad inputs: a missing column and an empty file, for each script.
    bad = os.path.join(work, "serving-bad")
    os.makedirs(bad)
    no_col_csv = os.path.join(bad, "sweep_no_y.csv")
    copy_without(sweep_csv, no_col_csv, "output_tokens_per_s_per_gpu")
    empty_csv = os.path.join(bad, "sweep_empty.csv")
    open(empty_csv, "w").close()
    cases = [([py, pareto, no_col_csv], "pareto.py on a sweep.csv without its y column"),
             ([py, pareto, empty_csv], "pareto.py on an empty sweep.csv")]
    for script, name, column in ((latency, "per_request.csv", "ttft_ms"),
                                 (timeline, "serving_timeline.csv", "waiting")):
        no_col, empty = (os.path.join(bad, "%s-%s" % (name[:-4], k)) for k in ("no-col", "empty"))
        for d in (no_col, empty):
            os.makedirs(d)
            shutil.copy(os.path.join(results, "summary.json"), d)
        copy_without(os.path.join(results, name), os.path.join(no_col, name), column)
        open(os.path.join(empty, name), "w").close()
        cases += [([py, script, no_col], "%s on a %s without %s" % (
                      os.path.basename(script), name, column)),
                  ([py, script, empty], "%s on an empty %s" % (os.path.basename(script), name))]
    for cmd, what in cases:
        p = run(cmd + ["-o", os.path.join(bad, "x.png")], work, env)
        lines = p.stderr.strip().splitlines()
        check(p.returncode == 1 and len(lines) == 1 and lines[0].startswith("error:")
              and "Traceback" not in p.stderr, "%s fails cleanly" % what)
        check(not os.path.exists(os.path.join(bad, "x.png")), "%s writes no image" % what)


def check_real_serving_plots(moesim, src, plots, work, env):
    """The serving plots on what moesim writes: a trace-driven serving run and a small sweep of it."""
    py = sys.executable
    scenario = os.path.join(src, "scenarios", "serve-trace.toml")
    real = os.path.join(work, "serve-real")
    p = run([moesim, "run", scenario, "-o", real, "-q"], work, env)
    if not check(p.returncode == 0, "moesim run serve-trace.toml exits 0"):
        return
    for name in ("per_request.csv", "serving_timeline.csv", "summary.json"):
        check(os.path.isfile(os.path.join(real, name)), "serve-real/%s written" % name)
    sweep = os.path.join(work, "serve-sweep")
    p = run([moesim, "sweep", scenario, "--vary", "serving.trace_time_scale=1,4",
             "--vary", "serving.max_running=4,64", "-o", sweep, "-j", "2"], work, env)
    check(p.returncode == 0, "moesim sweep serve-trace.toml exits 0")
    jobs = [
        ([py, os.path.join(plots, "serving_latency.py"), real], os.path.join(real, "serving_latency.png")),
        ([py, os.path.join(plots, "serving_timeline.py"), real], os.path.join(real, "serving_timeline.png")),
        ([py, os.path.join(plots, "pareto.py"), os.path.join(sweep, "sweep.csv"), "--series",
          "serving.max_running"], os.path.join(sweep, "pareto.png")),
    ]
    for cmd, image in jobs:
        p = run(cmd, work, env)
        if check(p.returncode == 0, "%s on moesim's serving output exits 0" % os.path.basename(cmd[1])):
            check_image(image)
        check("Traceback" not in p.stderr, "no Python traceback")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--moesim", help="path to the moesim binary")
    ap.add_argument("--source-dir", required=True, help="repository root")
    ap.add_argument("--work", required=True, help="scratch directory (recreated)")
    ap.add_argument("--serving-only", action="store_true",
                    help="only the serving plots on hand-made inputs (no moesim needed)")
    args = ap.parse_args()
    if not args.moesim and not args.serving_only:
        ap.error("--moesim is required (unless --serving-only)")

    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("SKIP: matplotlib not installed (for %s)" % sys.executable)
        return SKIP

    src = os.path.abspath(args.source_dir)
    # Everything goes into a subfolder this test owns, so that only it is wiped.
    work = os.path.join(os.path.abspath(args.work), "plots-test")
    plots = os.path.join(src, "plots")
    if args.serving_only:
        env = fresh_work(work)
        check_serving_plots(plots, work, env, *make_serving_inputs(os.path.join(work, "serving")))
        return report()
    moesim = os.path.abspath(args.moesim)
    scenario = os.path.join(src, "scenarios", "smoke.toml")
    for path in (moesim, scenario, os.path.join(plots, "step_breakdown.py"),
                 os.path.join(plots, "hotspot_heatmap.py"),
                 os.path.join(plots, "link_utilisation.py"),
                 os.path.join(plots, "capacity_curves.py"),
                 os.path.join(plots, "placement_comparison.py"),
                 os.path.join(plots, "calibration.py"),
                 os.path.join(src, "calibrate", "profiles", "h100-sxm.toml")):
        if not os.path.isfile(path):
            print("FAIL: %s not found" % path)
            return 1

    env = fresh_work(work)
    # Run everything from the work dir, so that nothing depends on the caller's cwd.
    cwd = work

    results = os.path.join(work, "results")
    p = run([moesim, "run", scenario, "-o", results, "-q"], cwd, env)
    if not check(p.returncode == 0, "moesim run smoke.toml exits 0"):
        return 1
    for name in ("summary.json", "per_layer.csv", "gpu_layer.csv", "per_gpu.csv"):
        check(os.path.isfile(os.path.join(results, name)), "results/%s written" % name)

    py = sys.executable
    step = os.path.join(plots, "step_breakdown.py")
    heat = os.path.join(plots, "hotspot_heatmap.py")
    jobs = [
        ([py, step, results, "-o", os.path.join(work, "step_breakdown.png")],
         os.path.join(work, "step_breakdown.png")),
        ([py, step, results, "-o", os.path.join(work, "step_breakdown.svg")],
         os.path.join(work, "step_breakdown.svg")),
        ([py, heat, results, "-o", os.path.join(work, "hotspot_received.png")],
         os.path.join(work, "hotspot_received.png")),
        ([py, heat, results, "--metric", "experts_us",
          "-o", os.path.join(work, "out", "hotspot_experts_us.svg")],
         os.path.join(work, "out", "hotspot_experts_us.svg")),
        # No -o: default name inside the results directory.
        ([py, step, results], os.path.join(results, "step_breakdown.png")),
        ([py, heat, results, "--metric", "experts_us"],
         os.path.join(results, "hotspot_experts_us.png")),
    ]
    for cmd, out in jobs:
        p = run(cmd, cwd, env)
        if check(p.returncode == 0, "%s exits 0" % " ".join(os.path.basename(c) for c in cmd[1:2])):
            check_image(out)
        check("Traceback" not in p.stderr, "no Python traceback")

    # A directory that is not a results directory: exit 1 with a one-line error.
    empty = os.path.join(work, "not-results")
    os.makedirs(empty)
    for script in (step, heat):
        p = run([py, script, empty, "-o", os.path.join(work, "x.png")], cwd, env)
        check(p.returncode == 1 and "error:" in p.stderr and "Traceback" not in p.stderr,
              "%s on a non-results dir fails cleanly" % os.path.basename(script))
    # --- The scripts that read other inputs than one results directory. ---
    # per_link.csv comes from the smoke run above.
    link = os.path.join(plots, "link_utilisation.py")
    cap = os.path.join(plots, "capacity_curves.py")
    cmpp = os.path.join(plots, "placement_comparison.py")
    cal = os.path.join(plots, "calibration.py")
    check(os.path.isfile(os.path.join(results, "per_link.csv")), "results/per_link.csv written")

    sweep_dir = os.path.join(work, "sweep")
    p = run([moesim, "sweep", scenario, "--vary", "workload.tokens_per_gpu=8,16",
             "--vary", "placement.kind=contiguous,greedy", "-o", sweep_dir], cwd, env)
    sweep_csv = os.path.join(sweep_dir, "sweep.csv")
    check(p.returncode == 0 and os.path.isfile(sweep_csv), "moesim sweep (4 runs) writes sweep.csv")
    compare_dir = os.path.join(work, "compare")
    p = run([moesim, "compare", scenario, "--placement", "contiguous,greedy",
             "-o", compare_dir], cwd, env)
    compare_csv = os.path.join(compare_dir, "compare.csv")
    check(p.returncode == 0 and os.path.isfile(compare_csv), "moesim compare writes compare.csv")
    # The measured profile (with its [kernels] tables), and the datasheet one with hand-made tables.
    profile = os.path.join(src, "calibrate", "profiles", "h100-sxm.toml")
    datasheet = os.path.join(src, "calibrate", "profiles", "h100-sxm-datasheet.toml")
    profile_k = os.path.join(work, "h100-kernels.toml")
    with open(datasheet) as f, open(profile_k, "w") as g:
        g.write(f.read() + "\n[kernels]\nmodel = \"deepseek-v3\"\nweight_bytes = 1.0\n"
                "gate_tokens = [1.0, 128.0, 4096.0]\n"
                "gate_us = [9.0, 11.0, 40.0]\ncombine_tokens = [1.0, 32768.0]\n"
                "combine_us = [6.0, 90.0]\nexpert_tokens = [1.0, 64.0, 512.0]\n"
                "expert_us = [60.0, 64.0, 120.0]\n")

    jobs = [
        ([py, link, results, "-o", os.path.join(work, "link_utilisation.png")],
         os.path.join(work, "link_utilisation.png")),
        ([py, link, results, "--top", "5", "-o", os.path.join(work, "link_utilisation.svg")],
         os.path.join(work, "link_utilisation.svg")),
        ([py, cap, sweep_csv, "--x", "workload.tokens_per_gpu", "--series", "placement.kind",
          "-o", os.path.join(work, "capacity.png")], os.path.join(work, "capacity.png")),
        ([py, cap, sweep_csv, "--x", "workload.tokens_per_gpu",
          "--where", "placement.kind=greedy", "-o", os.path.join(work, "capacity_where.png")],
         os.path.join(work, "capacity_where.png")),
        ([py, cmpp, compare_csv, "-o", os.path.join(work, "placement_comparison.png")],
         os.path.join(work, "placement_comparison.png")),
        ([py, cal, profile, "-o", os.path.join(work, "calibration.png")],
         os.path.join(work, "calibration.png")),
        ([py, cal, profile_k, "-o", os.path.join(work, "calibration_kernels.png")],
         os.path.join(work, "calibration_kernels.png")),
    ]
    for cmd, out in jobs:
        if not os.path.isfile(cmd[1]):
            check(False, "%s exists" % cmd[1])
            continue
        p = run(cmd, cwd, env)
        if check(p.returncode == 0, "%s exits 0" % " ".join(
                [os.path.basename(cmd[1])] + [c for c in cmd[3:] if c.startswith("--")])):
            check_image(out)
        check("Traceback" not in p.stderr, "no Python traceback")

    # Clean errors: a missing input, a key that was not swept, a file of the wrong kind.
    bad = [
        ([py, link, empty, "-o", os.path.join(work, "x.png")], "link_utilisation on a non-results dir"),
        ([py, cap, sweep_csv, "--x", "no.such_key", "-o", os.path.join(work, "x.png")],
         "capacity_curves with an unswept --x"),
        ([py, cap, compare_csv, "--x", "workload.tokens_per_gpu", "-o", os.path.join(work, "x.png")],
         "capacity_curves on a compare.csv"),
        ([py, cmpp, os.path.join(work, "missing.csv"), "-o", os.path.join(work, "x.png")],
         "placement_comparison on a missing file"),
        ([py, cal, sweep_csv, "-o", os.path.join(work, "x.png")], "calibration on a non-TOML file"),
    ]
    for cmd, what in bad:
        p = run(cmd, cwd, env)
        check(p.returncode == 1 and "error:" in p.stderr and "Traceback" not in p.stderr,
              "%s fails cleanly" % what)

    # Unsupported output extension.
    p = run([py, step, results, "-o", os.path.join(work, "x.txt")], cwd, env)
    check(p.returncode == 1 and "extension" in p.stderr, "bad -o extension is rejected")

    # The serving plots, on hand-made outputs (moesim does not write them yet).
    check_serving_plots(plots, work, env, *make_serving_inputs(os.path.join(work, "serving")))
    check_real_serving_plots(moesim, src, plots, work, env)
    return report()


def report():
    if failures:
        print("%d check(s) failed:" % len(failures))
        for f in failures:
            print("  " + f)
        return 1
    print("all plot checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
