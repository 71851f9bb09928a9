#!/usr/bin/env python3
"""Writes a small routing trace with tools/trace_format.py and prints its path; the C++ test
"trace written by the Python writer" (tests/test_trace_format.cpp, hidden tag [python_writer], env
MOESIM_PY_TRACE; run by tests/trace_python_check.cmake) reads it back and checks every value, so
both implementations of FORMAT.md must agree byte for byte.

Expected contents (keep in sync with the constants and formulas of that test case):
  layers 3, experts 300, top_k 4, ranks 5, weights on, 4 steps with step index 10 + s (s = 0..3)
  tokens in block (s, layer l, rank r):  (s + 2*l + 3*r) % 5          (includes empty blocks)
  expert id j of token t:                (7*s + 31*l + 17*r + 13*t + 41*j) % 300   (j = 0..3; distinct)
  weight j of token t:                   (t % 3 + j + 1) * 0.125      (exact in f32)
Usage: trace_python_check.py --out DIR
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import trace_format  # noqa: E402

LAYERS, EXPERTS, TOP_K, RANKS, STEPS, FIRST_STEP = 3, 300, 4, 5, 4, 10


def tokens_in(s, layer, rank):
    return (s + 2 * layer + 3 * rank) % 5


def expert_id(s, layer, rank, t, j):
    return (7 * s + 31 * layer + 17 * rank + 13 * t + 41 * j) % EXPERTS


def weight(t, j):
    return (t % 3 + j + 1) * 0.125


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="directory to write python.trace into")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "python.trace")
    assert trace_format.crc32(b"123456789") == 0xCBF43926  # the standard CRC-32 check value
    writer = trace_format.TraceWriter(path, LAYERS, EXPERTS, TOP_K, RANKS, weights=True)
    for s in range(STEPS):
        blocks = [[[[expert_id(s, l, r, t, j) for j in range(TOP_K)] for t in range(tokens_in(s, l, r))]
                   for r in range(RANKS)] for l in range(LAYERS)]
        weights = [[[[weight(t, j) for j in range(TOP_K)] for t in range(tokens_in(s, l, r))]
                    for r in range(RANKS)] for l in range(LAYERS)]
        writer.write_step(FIRST_STEP + s, blocks, weights)
    writer.close()
    print(path)


if __name__ == "__main__":
    main()
