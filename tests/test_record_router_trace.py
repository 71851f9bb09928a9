#!/usr/bin/env python3
"""Checks tools/record_router_trace.py without torch: RouterRecorder's token -> (step, layer, rank)
mapping, the dropped partial step, weights, errors, topk_from_logits and read_prompts, reading every
trace back with a small FORMAT.md reader written here (header, blocks, CRCs, end marker).

Usage: test_record_router_trace.py [--moesim PATH]   (with PATH: also `PATH trace stats FILE --json`)
Prints OK and exits 0 on success; any failure exits non-zero. Works from any directory.
"""

import argparse
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import zlib

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.join(HERE, "..", "tools")
sys.path.insert(0, TOOLS)
import record_router_trace as rrt  # noqa: E402

LAYERS, STEPS, RANKS, TPR, EXPERTS, TOP_K = 2, 3, 2, 4, 8, 2
STEP_TOKENS = RANKS * TPR


def check(cond, message):
    if not cond:
        raise AssertionError(message)


def expect_error(fn, fragment):
    try:
        fn()
    except ValueError as e:
        check(fragment in str(e), f"error {str(e)!r} lacks {fragment!r}")
        return
    raise AssertionError(f"no ValueError (expected one mentioning {fragment!r})")


# ---- a minimal reader of FORMAT.md v1 (token-level form) --------------------------------------

def read_trace(path):
    data = open(path, "rb").read()
    check(len(data) >= 80, f"{path}: too short")
    magic, version, flags, layers, experts, top_k, ranks, steps = struct.unpack_from("<8sIIIIIIQ", data, 0)
    check(magic == b"MOESIMTR" and version == 1, "bad magic/version")
    (header_crc,) = struct.unpack_from("<I", data, 40)
    check(header_crc == zlib.crc32(data[:40]) & 0xFFFFFFFF, "header CRC mismatch")
    check(data[44:64] == bytes(20), "reserved bytes not zero")
    check(flags & ~0b111 == 0 and not flags & 2, f"unexpected flags {flags}")
    weights = bool(flags & 1)
    id_fmt, id_bytes = ("I", 4) if flags & 4 else ("H", 2)
    pos, out = 64, []
    for _ in range(steps):
        tag, step, length = struct.unpack_from("<4sIQ", data, pos)
        check(tag == b"STEP", f"byte {pos}: expected STEP")
        end = pos + 16 + length
        (block_crc,) = struct.unpack_from("<I", data, end)
        check(block_crc == zlib.crc32(data[pos:end]) & 0xFFFFFFFF, f"step {step}: block CRC mismatch")
        p, blocks, wblocks = pos + 16, [], []
        for _layer in range(layers):
            row_ids, row_ws = [], []
            for _rank in range(ranks):
                (tokens,) = struct.unpack_from("<I", data, p)
                p += 4
                n = tokens * top_k
                flat = struct.unpack_from(f"<{n}{id_fmt}", data, p)
                p += n * id_bytes
                row_ids.append([list(flat[t * top_k:(t + 1) * top_k]) for t in range(tokens)])
                if weights:
                    wf = struct.unpack_from(f"<{n}f", data, p)
                    p += 4 * n
                    row_ws.append([list(wf[t * top_k:(t + 1) * top_k]) for t in range(tokens)])
            blocks.append(row_ids)
            wblocks.append(row_ws)
        check(p == end, f"step {step}: payload length {length} does not match its token counts")
        out.append((step, blocks, wblocks if weights else None))
        pos = end + 4
    tag, done_steps, done_crc = struct.unpack_from("<4sQI", data, pos)
    check(tag == b"DONE" and done_steps == steps, "bad end marker")
    check(done_crc == zlib.crc32(data[pos:pos + 12]) & 0xFFFFFFFF, "end marker CRC mismatch")
    check(pos + 16 == len(data), "bytes after the end marker")
    return {"layers": layers, "experts": experts, "top_k": top_k, "ranks": ranks, "weights": weights, "steps": out}


# ---- synthetic router output ------------------------------------------------------------------

def ids_of(g, layer):
    """Top-2 of 8 for global token g of MoE layer `layer`: distinct, varies with g and layer."""
    a = (3 * g + 5 * layer) % EXPERTS
    return [a, (a + 1 + (g + layer) % (EXPERTS - 1)) % EXPERTS]


def weights_of(g, layer):
    w = ((g + layer) % 4 + 1) * 0.125  # exact in f32
    return [1.0 - w, w]


class FakeTensor:
    """Stands in for a torch tensor: only .tolist()."""

    def __init__(self, rows):
        self.rows = rows

    def tolist(self):
        return [list(r) for r in self.rows]


def drive(path, forward_sizes, weights, use_fake_tensor=False, notes=None):
    """Feeds forward passes of the given token counts, every layer in order, like the hooks do."""
    rec = rrt.RouterRecorder(path, LAYERS, EXPERTS, TOP_K, ranks=RANKS, tokens_per_rank=TPR,
                             weights=weights, log=(notes.append if notes is not None else None))
    g0 = 0
    for n in forward_sizes:
        for layer in range(LAYERS):
            ids = [ids_of(g, layer) for g in range(g0, g0 + n)]
            ws = [weights_of(g, layer) for g in range(g0, g0 + n)] if weights else None
            if use_fake_tensor:
                ids = FakeTensor(ids)
                ws = FakeTensor(ws) if ws is not None else None
            rec.record(layer, ids, ws)
        rec.check_aligned()
        g0 += n
    return rec, rec.close()


def verify_mapping(trace, weights, steps=STEPS):
    check(trace["layers"] == LAYERS and trace["experts"] == EXPERTS and trace["top_k"] == TOP_K
          and trace["ranks"] == RANKS, f"header {trace}")
    check(trace["weights"] == weights, "weights flag")
    check(len(trace["steps"]) == steps, f"{len(trace['steps'])} steps, expected {steps}")
    for s, (index, blocks, wblocks) in enumerate(trace["steps"]):
        check(index == s, f"step index {index} at position {s}")
        for layer in range(LAYERS):
            for rank in range(RANKS):
                check(len(blocks[layer][rank]) == TPR, f"step {s} layer {layer} rank {rank}: block size")
                for pos in range(TPR):
                    g = s * STEP_TOKENS + rank * TPR + pos  # the documented mapping
                    check(blocks[layer][rank][pos] == ids_of(g, layer),
                          f"step {s} layer {layer} rank {rank} pos {pos}: {blocks[layer][rank][pos]} != {ids_of(g, layer)}")
                    if weights:
                        check(wblocks[layer][rank][pos] == weights_of(g, layer), f"weights of token {g}")


def test_recorder(tmp, moesim):
    # 24 tokens = 3 steps of 2 ranks x 4 tokens, in forward passes that do not align with steps.
    path = os.path.join(tmp, "ids.moetrace")
    notes = []
    _, summary = drive(path, [5, 7, 3, 9], weights=False, notes=notes)
    check(summary["steps"] == STEPS and summary["tokens_dropped"] == 0 and not notes, f"summary {summary} {notes}")
    check(summary["tokens_written"] == STEPS * STEP_TOKENS, f"summary {summary}")
    verify_mapping(read_trace(path), weights=False)

    # With weights, .tolist() inputs, and 5 extra tokens: the partial 4th step is dropped with a note.
    wpath = os.path.join(tmp, "weights.moetrace")
    notes = []
    _, summary = drive(wpath, [8, 1, 16, 4], weights=True, use_fake_tensor=True, notes=notes)
    check(summary["steps"] == STEPS and summary["tokens_dropped"] == 5, f"summary {summary}")
    check(len(notes) == 1 and "dropped the partial last step: 5 tokens" in notes[0], f"notes {notes}")
    verify_mapping(read_trace(wpath), weights=True)

    # Fewer tokens than one step: an error, and no file at all.
    small = os.path.join(tmp, "small.moetrace")
    rec = rrt.RouterRecorder(small, LAYERS, EXPERTS, TOP_K, ranks=RANKS, tokens_per_rank=TPR, log=None)
    for layer in range(LAYERS):
        rec.record(layer, [ids_of(g, layer) for g in range(STEP_TOKENS - 1)])
    expect_error(rec.close, "fewer tokens than one step")
    check(not os.path.exists(small), "a trace with no complete step was written")

    # Ranks = 1, top_k = 1 as 1-D rows: every step is one block of tokens_per_rank tokens.
    one = os.path.join(tmp, "one.moetrace")
    rec = rrt.RouterRecorder(one, 1, EXPERTS, 1, ranks=1, tokens_per_rank=3, log=None)
    rec.record(0, [g % EXPERTS for g in range(7)])
    summary = rec.close()
    t = read_trace(one)
    check(summary["steps"] == 2 and summary["tokens_dropped"] == 1, f"summary {summary}")
    check([b[0][0] for _, b, _ in t["steps"]] == [[[0], [1], [2]], [[3], [4], [5]]], f"top-1 trace {t['steps']}")

    if moesim:
        for p in (path, wpath):
            run = subprocess.run([moesim, "trace", "stats", p, "--json"], capture_output=True, text=True)
            check(run.returncode == 0, f"moesim trace stats {p} exited {run.returncode}: {run.stderr}")
            stats = json.loads(run.stdout)
            check(stats["steps"] == STEPS and stats["layers"] == LAYERS, f"stats: {stats['steps']} steps, {stats['layers']} layers")
            check(stats["experts"] == EXPERTS and stats["top_k"] == TOP_K and stats["ranks"] == RANKS, "stats header")
            check(stats["weights"] == (p == wpath), "stats weights flag")
            check([layer["tokens"] for layer in stats["per_layer"]] == [STEPS * STEP_TOKENS] * LAYERS, "stats tokens")


def test_recorder_errors(tmp):
    path = os.path.join(tmp, "err.moetrace")

    def fresh(weights=False):
        return rrt.RouterRecorder(path, LAYERS, EXPERTS, TOP_K, ranks=RANKS, tokens_per_rank=TPR,
                                  weights=weights, log=None)

    expect_error(lambda: fresh().record(1, [[0, 1]]), "forward order")          # layer 1 before layer 0
    expect_error(lambda: fresh().record(2, [[0, 1]]), "outside [0, 2)")
    expect_error(lambda: fresh().record(0, [[0, 1, 2]]), "need 2 distinct")
    expect_error(lambda: fresh().record(0, [[3, 3]]), "need 2 distinct")
    expect_error(lambda: fresh().record(0, [[0, 8]]), "expert id outside")
    expect_error(lambda: fresh().record(0, [[0.5, 1]]), "must be integers")
    expect_error(lambda: fresh(True).record(0, [[0, 1]]), "weights are required")
    expect_error(lambda: fresh(True).record(0, [[0, 1]], [[0.5, -0.1]]), "non-negative")
    expect_error(lambda: fresh(True).record(0, [[0, 1]], [[0.5, 0.5], [0.5, 0.5]]), "weight rows")
    rec = fresh()
    rec.record(0, [[0, 1]] * 3)
    rec.record(1, [[0, 1]] * 2)
    expect_error(rec.check_aligned, "different token counts")
    expect_error(rec.close, "different token counts")
    expect_error(lambda: rrt.RouterRecorder(path, 0, EXPERTS, TOP_K), "layers")
    expect_error(lambda: rrt.RouterRecorder(path, 1, EXPERTS, EXPERTS + 1), "top_k")
    expect_error(lambda: rrt.RouterRecorder(path, 1, EXPERTS, 1, tokens_per_rank=0), "tokens_per_rank")
    check(not os.path.exists(path), "a failed recorder wrote a file")

    # An exception inside `with` leaves a started file unfinished (steps = 0, so readers reject it).
    try:
        with fresh() as rec:
            for layer in range(LAYERS):
                rec.record(layer, [ids_of(g, layer) for g in range(STEP_TOKENS)])
            raise KeyError("boom")
    except KeyError:
        pass
    head = open(path, "rb").read(40)
    check(struct.unpack_from("<Q", head, 32)[0] == 0, "aborted trace claims steps")


def close_to(a, b):
    return len(a) == len(b) and all(math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-15) for x, y in zip(a, b))


def test_topk_from_logits():
    # probs 1/8, 2/8, 5/8, 0 (a -inf logit is a masked expert)
    row = [0.0, math.log(2), math.log(5), -math.inf]
    ids, ws = rrt.topk_from_logits([row], 2, normalize=False)
    check(ids == [[2, 1]] and close_to(ws[0], [0.625, 0.25]), f"plain top-2: {ids} {ws}")
    ids, ws = rrt.topk_from_logits(FakeTensor([row]), 2, normalize=True)
    check(ids == [[2, 1]] and close_to(ws[0], [5 / 7, 2 / 7]), f"normalised top-2: {ids} {ws}")
    # ties: the lower expert id first; top-1 of equal logits
    ids, ws = rrt.topk_from_logits([[1.0, 3.0, 2.0, 3.0], [7.0, 7.0]], 2, normalize=True)
    check(ids == [[1, 3], [0, 1]] and close_to(ws[0], [0.5, 0.5]) and close_to(ws[1], [0.5, 0.5]), f"ties: {ids} {ws}")
    ids, ws = rrt.topk_from_logits([[1000.0, 0.0, -1000.0]], 1, normalize=False)  # no overflow
    check(ids == [[0]] and close_to(ws[0], [1.0]), f"large logits: {ids} {ws}")
    expect_error(lambda: rrt.topk_from_logits([[0.0, 1.0]], 3, False), "only 2 logits")
    expect_error(lambda: rrt.topk_from_logits([[0.0, float("nan")]], 1, False), "finite")
    expect_error(lambda: rrt.topk_from_logits([[-math.inf, -math.inf]], 1, False), "every logit is -inf")
    # The weights feed a recorder as-is (the path the CLI takes for nn.Linear gates without torch).
    ids, ws = rrt.topk_from_logits([[float(e == g % 4) for e in range(EXPERTS)] for g in range(8)], 2, True)
    check(all(len(set(r)) == 2 and r[0] == g % 4 for g, r in enumerate(ids)), f"one-hot-ish logits: {ids}")


def test_read_prompts(tmp):
    txt = os.path.join(tmp, "p.txt")
    with open(txt, "w", encoding="utf-8") as f:
        f.write("first prompt\n\n  second, with spaces  \r\nthird")
    check(rrt.read_prompts(txt) == ["first prompt", "  second, with spaces  ", "third"], "txt prompts")
    jl = os.path.join(tmp, "p.jsonl")
    with open(jl, "w", encoding="utf-8") as f:
        f.write('{"text": "a"}\n\n{"text": "b\\nc", "id": 2}\n')
    check(rrt.read_prompts(jl) == ["a", "b\nc"], "jsonl prompts")
    with open(jl, "w", encoding="utf-8") as f:
        f.write('{"text": "a"}\n{"prompt": "b"}\n')
    expect_error(lambda: rrt.read_prompts(jl), "p.jsonl:2")
    with open(txt, "w", encoding="utf-8") as f:
        f.write("\n\n")
    expect_error(lambda: rrt.read_prompts(txt), "no prompts")


def test_cli_without_torch(tmp):
    script = os.path.join(TOOLS, "record_router_trace.py")
    check("torch" not in sys.modules, "importing the recorder imported torch")
    run = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True, cwd=tmp)
    check(run.returncode == 0 and "--tokens-per-rank" in run.stdout, f"--help: {run.returncode} {run.stderr}")
    prompts = os.path.join(tmp, "cli.txt")
    with open(prompts, "w") as f:
        f.write("hello\n")
    run = subprocess.run([sys.executable, script, "--model", "x", "--prompts", prompts, "--out",
                          os.path.join(tmp, "cli.moetrace"), "--ranks", "0"], capture_output=True, text=True, cwd=tmp)
    check(run.returncode == 2 and "--ranks" in run.stderr, f"--ranks 0: {run.returncode} {run.stderr}")
    import importlib.util
    if importlib.util.find_spec("torch") is None:  # the recording path says what is missing
        run = subprocess.run([sys.executable, script, "--model", "x", "--prompts", prompts, "--out",
                              os.path.join(tmp, "cli.moetrace")], capture_output=True, text=True, cwd=tmp)
        check(run.returncode != 0 and "torch" in run.stderr, f"no torch: {run.returncode} {run.stderr}")
        check(not os.path.exists(os.path.join(tmp, "cli.moetrace")), "a trace was written without torch")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moesim", help="moesim binary: also check `moesim trace stats FILE --json`")
    args = parser.parse_args()
    moesim = os.path.abspath(args.moesim) if args.moesim else None
    if moesim and not os.access(moesim, os.X_OK):
        print(f"FAIL: {moesim} is not an executable", file=sys.stderr)
        return 1
    try:
        with tempfile.TemporaryDirectory(prefix="record_router_trace_") as tmp:
            test_recorder(tmp, moesim)
            test_recorder_errors(tmp)
            test_topk_from_logits()
            test_read_prompts(tmp)
            test_cli_without_torch(tmp)
    except AssertionError as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    print("OK" + (" (with moesim trace stats)" if moesim else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
