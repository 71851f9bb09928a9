#!/usr/bin/env python3
"""End-to-end test of the plot scripts in plots/.

Runs `moesim run scenarios/smoke.toml` into WORK/plots-test/results, a 4-run
`moesim sweep` and a 2-placement `moesim compare` of the same scenario, then
every plot script (with this interpreter, sys.executable) on those outputs, on
calibrate/profiles/h100-sxm.toml (measured, with its [kernels] tables) and on
h100-sxm-datasheet.toml with hand-made [kernels] tables added, and checks that every output exists, is non-empty and has the right
magic bytes. Also checks that bad inputs give a clean error (exit 1, no
traceback).

Usage: test_plots.py --moesim BUILD/moesim --source-dir REPO --work DIR
Exit codes: 0 pass, 1 fail, 77 skip (matplotlib not installed).
"""

import argparse
import os
import shutil
import subprocess
import sys

SKIP = 77
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--moesim", required=True, help="path to the moesim binary")
    ap.add_argument("--source-dir", required=True, help="repository root")
    ap.add_argument("--work", required=True, help="scratch directory (recreated)")
    args = ap.parse_args()

    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("SKIP: matplotlib not installed (for %s)" % sys.executable)
        return SKIP

    moesim = os.path.abspath(args.moesim)
    src = os.path.abspath(args.source_dir)
    # Everything goes into a subfolder this test owns, so that only it is wiped.
    work = os.path.join(os.path.abspath(args.work), "plots-test")
    plots = os.path.join(src, "plots")
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

    if os.path.isdir(work):
        shutil.rmtree(work)
    os.makedirs(work)
    print("work dir: %s" % work)
    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    env["MPLCONFIGDIR"] = os.path.join(work, "mplconfig")  # writable, isolated cache
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

    if failures:
        print("%d check(s) failed:" % len(failures))
        for f in failures:
            print("  " + f)
        return 1
    print("all plot checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
