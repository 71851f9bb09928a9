"""Writer for the moesim routing-trace format v1 (sim/trace/FORMAT.md), standard library only.

Produces byte-for-byte what the C++ TraceWriter produces for the same steps, assuming the caller
passes plain ints (expert ids) and floats (gate weights, rounded to f32 on write).

    w = TraceWriter("run.trace", layers=2, experts=64, top_k=4, ranks=8, weights=True)
    w.write_step(0, blocks, weights)   # blocks[layer][rank] = [[id, ...] per token]
    w.close()
"""

import math
import struct
import zlib

VERSION = 1
FLAG_WEIGHTS = 1 << 0
FLAG_COUNTS_ONLY = 1 << 1
FLAG_WIDE_IDS = 1 << 2
MAX_LAYERS, MAX_EXPERTS, MAX_TOP_K, MAX_RANKS = 4096, 1 << 20, 64, 65536
MAX_BLOCK_TOKENS = 1 << 24
MAX_PAYLOAD_BYTES = 1 << 30
_HEADER = struct.Struct("<8sIIIIIIQ")  # magic .. steps: 40 bytes, then crc32 and 20 zero bytes
_BLOCK_HEAD = struct.Struct("<4sIQ")


def crc32(data, seed=0):
    """CRC-32/ISO-HDLC, the same function as moesim::crc32 (zlib's)."""
    return zlib.crc32(data, seed) & 0xFFFFFFFF


def _check_range(name, value, hi):
    if not (isinstance(value, int) and 1 <= value <= hi):
        raise ValueError(f"{name} {value!r} out of range [1, {hi}]")


class TraceWriter:
    """Streams steps to `path`; the file is complete only after close() (or a clean `with` exit)."""

    def __init__(self, path, layers, experts, top_k, ranks, weights=False, counts_only=False):
        _check_range("layers", layers, MAX_LAYERS)
        _check_range("experts", experts, MAX_EXPERTS)
        _check_range("top_k", top_k, min(MAX_TOP_K, experts))
        _check_range("ranks", ranks, MAX_RANKS)
        if counts_only and weights:
            raise ValueError("the counts-only form cannot have weights")
        if counts_only and 4 * layers * ranks * experts > MAX_PAYLOAD_BYTES:
            raise ValueError("counts-only steps exceed the 1 GiB payload limit")
        self.path, self.layers, self.experts, self.top_k, self.ranks = path, layers, experts, top_k, ranks
        self.weights, self.counts_only = bool(weights), bool(counts_only)
        self.flags = (FLAG_WEIGHTS if weights else 0) | (FLAG_COUNTS_ONLY if counts_only else 0)
        if not counts_only and experts > 65535:
            self.flags |= FLAG_WIDE_IDS
        self._id_fmt = "I" if self.flags & FLAG_WIDE_IDS else "H"
        self.steps = 0
        self._file = open(path, "wb")
        self._file.write(self._header())

    def _header(self):
        head = _HEADER.pack(b"MOESIMTR", VERSION, self.flags, self.layers, self.experts, self.top_k, self.ranks, self.steps)
        return head + struct.pack("<I", crc32(head)) + bytes(20)

    def _block(self, step, payload):
        if not 0 <= step < 1 << 32:
            raise ValueError(f"step index {step} does not fit in u32")
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise ValueError(f"step {step}: payload of {len(payload)} bytes exceeds the 1 GiB limit")
        block = _BLOCK_HEAD.pack(b"STEP", step, len(payload)) + payload
        self._file.write(block + struct.pack("<I", crc32(block)))
        self.steps += 1

    def write_step(self, step, blocks, weights=None):
        """blocks[layer][rank]: list of tokens, each a list of top_k distinct expert ids;
        weights (required iff the writer has weights): same shape, one float per id."""
        if self.counts_only:
            raise ValueError("counts-only writer: use write_counts")
        if (weights is not None) != self.weights:
            raise ValueError(f"step {step}: weights {'missing' if self.weights else 'given'}")
        if len(blocks) != self.layers or any(len(layer) != self.ranks for layer in blocks):
            raise ValueError(f"step {step}: blocks must be [{self.layers} layers][{self.ranks} ranks]")
        out = bytearray()
        for layer in range(self.layers):
            for rank in range(self.ranks):
                tokens = blocks[layer][rank]
                if len(tokens) > MAX_BLOCK_TOKENS:
                    raise ValueError(f"step {step}: layer {layer} rank {rank}: too many tokens")
                ids, ws = [], []
                for t, token in enumerate(tokens):
                    where = f"step {step}: layer {layer} rank {rank} token {t}"
                    if len(token) != self.top_k or len(set(token)) != self.top_k:
                        raise ValueError(f"{where}: need {self.top_k} distinct expert ids, got {token}")
                    if any(not 0 <= e < self.experts for e in token):
                        raise ValueError(f"{where}: expert id outside [0, {self.experts})")
                    ids.extend(token)
                    if self.weights:
                        tw = weights[layer][rank][t]
                        if len(tw) != self.top_k or any(not (math.isfinite(w) and w >= 0) for w in tw):
                            raise ValueError(f"{where}: need {self.top_k} finite non-negative weights")
                        ws.extend(tw)
                out += struct.pack("<I", len(tokens))
                out += struct.pack(f"<{len(ids)}{self._id_fmt}", *ids)
                if self.weights:
                    out += struct.pack(f"<{len(ws)}f", *ws)
        self._block(step, bytes(out))

    def write_counts(self, step, counts):
        """counts[layer][rank][expert]: tokens of that rank routed to that expert (counts-only form)."""
        if not self.counts_only:
            raise ValueError("token-level writer: use write_step")
        flat = [c for layer in counts for rank in layer for c in rank]
        if len(counts) != self.layers or len(flat) != self.layers * self.ranks * self.experts:
            raise ValueError(f"step {step}: counts must be [{self.layers}][{self.ranks}][{self.experts}]")
        if any(not 0 <= c <= MAX_BLOCK_TOKENS for c in flat):
            raise ValueError(f"step {step}: counts must be in [0, {MAX_BLOCK_TOKENS}]")
        self._block(step, struct.pack(f"<{len(flat)}I", *flat))

    def close(self):
        """Appends the end marker, then patches the step count into the header (FORMAT.md "Writing")."""
        if self._file is None:
            return
        marker = struct.pack("<4sQ", b"DONE", self.steps)
        self._file.write(marker + struct.pack("<I", crc32(marker)))
        self._file.flush()
        self._file.seek(0)
        self._file.write(self._header())
        self._file.close()
        self._file = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        elif self._file is not None:  # leave steps = 0 so readers say "not closed"
            self._file.close()
            self._file = None
        return False
