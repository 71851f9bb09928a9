"""Load the files that `moesim run` writes into a results directory.

Shared by the plot scripts in this folder. Standard library only (csv, json);
matplotlib is imported by the scripts themselves, through `pyplot_agg()`.

Results directory layout (the files used here):
  summary.json   scenario / model / topology names, latency.step_us_mean ...
  per_layer.csv  one row per layer; critical_<phase>_us = mean time per step
                 that the layer contributed to the step's critical path
  gpu_layer.csv  long format, MoE layers only: layer,gpu,received_per_step,
                 experts_us_per_step
  per_gpu.csv    one row per GPU: gpu,host,domain,...
"""

import csv
import json
import os
import sys

# Canonical order of the step phases (the order they run in a layer). Phases
# found in a CSV but not listed here are appended after these, in file order.
PHASES = [
    "attention",
    "dense_ffn",
    "gate",
    "shared_experts",
    "dispatch",
    "experts",
    "combine",
    "reduce",
    "stream_wait",
]

# Colours by family: blue = attention + dense FFN, orange = all-to-all
# communication (dispatch, combine), green = expert compute (routed, shared),
# purple = gate, brown = reduce, grey = waiting on the other stream.
PHASE_COLOURS = {
    "attention": "#1f77b4",
    "dense_ffn": "#9ecae1",
    "gate": "#9467bd",
    "shared_experts": "#98df8a",
    "dispatch": "#ff7f0e",
    "experts": "#2ca02c",
    "combine": "#ffbb78",
    "reduce": "#8c564b",
    "stream_wait": "#bdbdbd",
}

PHASE_LABELS = {
    "attention": "attention",
    "dense_ffn": "dense FFN",
    "gate": "gate (router)",
    "shared_experts": "shared experts",
    "dispatch": "dispatch (all-to-all)",
    "experts": "routed experts",
    "combine": "combine (all-to-all)",
    "reduce": "reduce",
    "stream_wait": "stream wait",
}

_EXTRA_COLOURS = ["#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#d62728"]

OUTPUT_FORMATS = ("png", "svg", "pdf")


class ResultsError(Exception):
    """A results directory is missing a file or a file is malformed."""


def phase_colour(phase, index=0):
    return PHASE_COLOURS.get(phase, _EXTRA_COLOURS[index % len(_EXTRA_COLOURS)])


def phase_label(phase):
    return PHASE_LABELS.get(phase, phase.replace("_", " "))


def _path(results_dir, name):
    path = os.path.join(results_dir, name)
    if not os.path.isfile(path):
        raise ResultsError(
            "%s not found (is %s a directory written by `moesim run`?)"
            % (path, results_dir))
    return path


def _read_csv(results_dir, name, required):
    path = _path(results_dir, name)
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        missing = [c for c in required if c not in columns]
        if missing:
            raise ResultsError("%s: missing column(s) %s" % (path, ", ".join(missing)))
        rows = list(reader)
    return path, columns, rows


def _num(path, row, column, kind=float):
    value = row.get(column)
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ResultsError("%s: column %s: bad value %r" % (path, column, value))


def load_summary(results_dir):
    """summary.json as a dict."""
    path = _path(results_dir, "summary.json")
    try:
        with open(path) as f:
            return json.load(f)
    except ValueError as e:
        raise ResultsError("%s: invalid JSON: %s" % (path, e))


def run_title(summary):
    """'<scenario>: <model> on <topology>' from summary.json (missing parts skipped)."""
    def name(key):
        part = summary.get(key)
        return part.get("name") if isinstance(part, dict) else None

    scenario, model, topology = name("scenario"), name("model"), name("topology")
    gpus = (summary.get("topology") or {}).get("gpus_used")
    what = " on ".join(p for p in (model, topology) if p)
    if what and gpus:
        what += " (%s GPUs)" % gpus
    if scenario and what:
        return "%s: %s" % (scenario, what)
    return scenario or what or "moesim run"


def format_us(us):
    """A duration given in microseconds, in a readable unit."""
    if us >= 1e6:
        return "%.3g s" % (us / 1e6)
    if us >= 1e3:
        return "%.4g ms" % (us / 1e3)
    return "%.4g \u00b5s" % us


def load_per_layer(results_dir):
    """per_layer.csv -> (phases, layers).

    phases: phase names with a critical_<phase>_us column, canonical order first.
    layers: list of dicts {layer:int, kind:str, critical:{phase: us per step}},
            sorted by layer.
    """
    path, columns, rows = _read_csv(results_dir, "per_layer.csv", ["layer", "kind"])
    found = [c[len("critical_"):-len("_us")] for c in columns
             if c.startswith("critical_") and c.endswith("_us")]
    if not found:
        raise ResultsError("%s: no critical_<phase>_us columns" % path)
    phases = [p for p in PHASES if p in found] + [p for p in found if p not in PHASES]
    layers = []
    for row in rows:
        layers.append({
            "layer": _num(path, row, "layer", int),
            "kind": row["kind"],
            "critical": {p: _num(path, row, "critical_%s_us" % p) for p in phases},
        })
    if not layers:
        raise ResultsError("%s: no rows" % path)
    layers.sort(key=lambda r: r["layer"])
    return phases, layers


GPU_LAYER_METRICS = {
    # --metric name: (gpu_layer.csv column, colourbar label, title phrase)
    "received": ("received_per_step",
                 "token-expert assignments received per step",
                 "token-expert assignments received per GPU"),
    "experts_us": ("experts_us_per_step",
                   "routed-expert compute per step (\u00b5s)",
                   "routed-expert compute time per GPU"),
}


def load_gpu_layer(results_dir, column):
    """gpu_layer.csv -> (gpus, layers, values) with values[(gpu, layer)] = float."""
    path, _, rows = _read_csv(results_dir, "gpu_layer.csv", ["layer", "gpu", column])
    values = {}
    for row in rows:
        key = (_num(path, row, "gpu", int), _num(path, row, "layer", int))
        values[key] = _num(path, row, column)
    if not values:
        raise ResultsError("%s: no rows (the model has no MoE layers?)" % path)
    gpus = sorted({g for g, _ in values})
    layers = sorted({l for _, l in values})
    return gpus, layers, values


def load_gpu_domains(results_dir):
    """per_gpu.csv -> {gpu: domain}; empty if the file or the column is absent."""
    try:
        path, _, rows = _read_csv(results_dir, "per_gpu.csv", ["gpu", "domain"])
        return {_num(path, r, "gpu", int): _num(path, r, "domain", int) for r in rows}
    except ResultsError:
        return {}


def tick_step(count, max_labels):
    """Label every Nth item so that at most about max_labels labels are shown.
    N is rounded up to 1, 2, 4, 5, 8, 10, 20, 25, 50, ... so labels stay round."""
    if count <= max_labels:
        return 1
    need = -(-count // max_labels)
    scale = 1
    while True:
        for base in (1, 2, 4, 5, 8):
            if base * scale >= need:
                return base * scale
        scale *= 10


def output_path(results_dir, output, default_name):
    """Resolve -o; default <results_dir>/<default_name>. Checks the extension."""
    path = output or os.path.join(results_dir, default_name)
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in OUTPUT_FORMATS:
        raise ResultsError("output %s: extension must be one of %s"
                           % (path, ", ".join("." + f for f in OUTPUT_FORMATS)))
    return path


def save(fig, path, dpi):
    """Save the figure (format from the extension), creating the folder, close it and say where
    it went. Returns 0, the scripts' exit code."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        os.makedirs(parent)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    import matplotlib.pyplot as plt
    plt.close(fig)
    print("wrote %s" % path)
    return 0


def pyplot_agg():
    """matplotlib.pyplot with the non-interactive Agg backend; exits with a clear
    message if matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        sys.stderr.write(
            "error: matplotlib is not installed for %s "
            "(Debian/Ubuntu: apt install python3-matplotlib)\n" % sys.executable)
        sys.exit(2)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def main_guard(main):
    """Run main(); report ResultsError as 'error: ...' with exit code 1."""
    try:
        return main()
    except ResultsError as e:
        sys.stderr.write("error: %s\n" % e)
        return 1


# --- Files outside a results directory (sweep.csv, compare.csv, profiles) ---

# Colours for categorical series (placements, sweep series, link classes).
SERIES_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

LINK_CLASS_COLOURS = {"nvlink": "#2ca02c", "nic": "#ff7f0e", "fabric": "#1f77b4"}


def series_colour(index):
    return SERIES_COLOURS[index % len(SERIES_COLOURS)]


def read_csv_file(path, required, what="CSV file"):
    """Any CSV file -> (columns, rows as dicts); errors for a missing file,
    missing columns or no rows."""
    if not os.path.isfile(path):
        raise ResultsError("%s not found (expected a %s)" % (path, what))
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        missing = [c for c in required if c not in columns]
        if missing:
            raise ResultsError("%s: missing column(s) %s (is it a %s?)"
                               % (path, ", ".join(missing), what))
        rows = list(reader)
    if not rows:
        raise ResultsError("%s: no rows" % path)
    return columns, rows


def number(path, row, column):
    """Float value of a CSV cell; ResultsError naming the file and column if bad."""
    return _num(path, row, column, float)


def maybe_number(text):
    """float(text), or None when the text is not a number."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def output_next_to(input_path, output, default_name):
    """Resolve -o for a single-file input; default: next to the input file."""
    return output_path(os.path.dirname(os.path.abspath(input_path)), output, default_name)


# --- Serving results (per_request.csv, serving_timeline.csv, summary.json "serving") ---

PER_REQUEST_COLUMNS = ["request", "ttft_ms", "tpot_ms", "output_tokens"]
TIMELINE_COLUMNS = ["time_s", "pool", "waiting", "running",
                    "kv_used_fraction_mean", "kv_used_fraction_max"]
# Pools in drawing order; a pool not listed here comes after these, in file order.
POOLS = ["colocated", "prefill", "decode"]


def read_nonempty_csv(path, required, what):
    """read_csv_file, with a clear message for an empty (0-byte or blank) file."""
    if os.path.isfile(path) and os.path.getsize(path) > 0:
        with open(path) as f:
            blank = not f.read(4096).strip()
    else:
        blank = os.path.isfile(path)
    if blank:
        raise ResultsError("%s: empty file (expected a %s with a header line)" % (path, what))
    return read_csv_file(path, required, what)


def percentile(sorted_values, q):
    """The q-th percentile (0..100) of an ascending list, interpolated linearly
    between the closest ranks (numpy's default)."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def load_summary_optional(results_dir):
    """summary.json as a dict, or {} when the directory has none (a malformed one
    is still an error)."""
    if not os.path.isfile(os.path.join(results_dir, "summary.json")):
        return {}
    return load_summary(results_dir)


def serving_summary(summary, results_dir):
    """summary.json's "serving" object ({} when absent); an error if it is not an object."""
    serving = summary.get("serving", {})
    if not isinstance(serving, dict):
        raise ResultsError("%s: \"serving\" is not an object"
                           % os.path.join(results_dir, "summary.json"))
    return serving


def load_per_request(results_dir):
    """per_request.csv -> (path, rows as dicts with ttft_ms (float), tpot_ms (float or
    None when output_tokens == 1 leaves it empty), meets_slo (bool or None))."""
    if not os.path.isdir(results_dir):
        raise ResultsError("%s is not a directory (expected a serving results directory)"
                           % results_dir)
    path = _path(results_dir, "per_request.csv")
    _, rows = read_nonempty_csv(path, PER_REQUEST_COLUMNS,
                                "per_request.csv written by a serving run")
    out = []
    for row in rows:
        tpot = row["tpot_ms"].strip()
        meets = (row.get("meets_slo") or "").strip()
        out.append({
            "ttft_ms": _num(path, row, "ttft_ms"),
            "tpot_ms": _num(path, row, "tpot_ms") if tpot else None,
            "meets_slo": None if not meets else _num(path, row, "meets_slo", int) != 0,
        })
    return path, out


def load_serving_timeline(results_dir):
    """serving_timeline.csv -> (path, {pool: list of rows sorted by time}), pools in
    POOLS order; each row maps the TIMELINE_COLUMNS (but pool) to floats."""
    if not os.path.isdir(results_dir):
        raise ResultsError("%s is not a directory (expected a serving results directory)"
                           % results_dir)
    path = _path(results_dir, "serving_timeline.csv")
    _, rows = read_nonempty_csv(path, TIMELINE_COLUMNS,
                                "serving_timeline.csv written by a serving run")
    pools = {}
    for row in rows:
        pool = row["pool"].strip()
        if not pool:
            raise ResultsError("%s: column pool: empty value" % path)
        pools.setdefault(pool, []).append(
            {c: _num(path, row, c) for c in TIMELINE_COLUMNS if c != "pool"})
    order = [p for p in POOLS if p in pools] + [p for p in pools if p not in POOLS]
    return path, {p: sorted(pools[p], key=lambda r: r["time_s"]) for p in order}
