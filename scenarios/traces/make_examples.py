#!/usr/bin/env python3
"""Regenerates the small example inputs of the trace importers in this folder (standard library only).

    python3 scenarios/traces/make_examples.py

The values follow closed formulas (below) so tests can recompute them; see README.md for the formats.
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def rows_ids(step, layer, rank, token):
    """Top-2 of 8 experts; the second id is offset by 1..7 from the first, so the two differ."""
    e0 = (3 * step + 5 * layer + 7 * rank + token) % 8
    e1 = (e0 + 1 + (token + layer) % 7) % 8
    return [e0, e1]


def npy_ids(token, layer):
    """Top-2 of 16 experts for example_ids.npy (64 tokens x 2 layers x 2)."""
    e0 = (3 * token + 5 * layer) % 16
    e1 = (e0 + 1 + token % 15) % 16
    return [e0, e1]


def count(step, layer, expert):
    """Tokens routed to `expert` in `layer` at `step` (2 steps x 2 layers x 8 experts)."""
    return (7 * expert + 3 * layer + 5 * step) % 11


def write_npy(path, descr, fmt, shape, values):
    """NumPy .npy v1.0: magic, version, u16 header length, dict padded to 64 bytes, raw C-order data."""
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, ", ".join("%d" % d for d in shape) if len(shape) > 1 else "%d," % shape[0])
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * (pad % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        f.write(struct.pack("<%d%s" % (len(values), fmt), *values))


def main():
    # Rows: 2 steps x 2 layers x 2 ranks x 3 tokens, written in reverse order inside each step
    # (any order within a step is allowed; steps must not go backwards).
    keys = [(s, l, r, t) for s in range(2) for l in reversed(range(2)) for r in reversed(range(2))
            for t in reversed(range(3))]
    with open(os.path.join(HERE, "example_rows.csv"), "w") as f:
        f.write("# moesim routing rows: one token per line (see README.md)\n")
        f.write("step,layer,rank,token,e0,e1,w0,w1\n")
        for s, l, r, t in keys:
            e = rows_ids(s, l, r, t)
            f.write("%d,%d,%d,%d,%d,%d,0.625,0.375\n" % (s, l, r, t, e[0], e[1]))
    with open(os.path.join(HERE, "example_rows.jsonl"), "w") as f:
        for s, l, r, t in keys:
            f.write(json.dumps({"step": s, "layer": l, "rank": r, "token": t, "experts": rows_ids(s, l, r, t)}) + "\n")

    ids = [e for t in range(64) for l in range(2) for e in npy_ids(t, l)]
    write_npy(os.path.join(HERE, "example_ids.npy"), "<i2", "h", (64, 2, 2), ids)

    # Counts: a header with step and layer columns; layers of step 1 in reverse order.
    with open(os.path.join(HERE, "example_counts.csv"), "w") as f:
        f.write("step,layer," + ",".join("e%d" % e for e in range(8)) + "\n")
        for s in range(2):
            for l in (range(2) if s == 0 else reversed(range(2))):
                f.write("%d,%d," % (s, l) + ",".join(str(count(s, l, e)) for e in range(8)) + "\n")
    counts = [count(s, l, e) for s in range(2) for l in range(2) for e in range(8)]
    write_npy(os.path.join(HERE, "example_counts.npy"), "<i4", "i", (2, 2, 8), counts)


if __name__ == "__main__":
    main()
