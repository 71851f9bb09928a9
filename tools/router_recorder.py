"""The torch-free part of the router trace recorder: top-k from router logits, grouping of recorded
routing into (step, layer, rank) blocks, prompt files. Standard library only; used by
record_router_trace.py and tested without torch."""

import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import trace_format  # noqa: E402  (tools/trace_format.py, standard library only)


def _note(message):
    print(f"note: {message}", file=sys.stderr)


def _rows(value):
    """Plain nested lists from a list, a tuple or anything with .tolist() (a tensor, an array)."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    return value


# --------------------------------------------------------------------------------------------
# Core: torch-free
# --------------------------------------------------------------------------------------------


def topk_from_logits(logits_rows, k, normalize):
    """Softmax then top-k of each row of router logits, in pure Python.

    Returns (ids, weights): per row, the k expert ids in descending probability (ties: the lower
    expert id first) and their softmax probabilities over all experts; with `normalize` the k
    probabilities are rescaled to sum to 1 (Mixtral; Qwen-MoE/OLMoE with norm_topk_prob).
    A -inf logit is a masked expert (probability 0); NaN or +inf is an error.
    For torch tensors the recorder uses torch.softmax/torch.topk instead (same rule)."""
    rows = _rows(logits_rows)
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    ids_out, weights_out = [], []
    for r, row in enumerate(rows):
        row = [float(x) for x in _rows(row)]
        if k > len(row):
            raise ValueError(f"row {r}: k={k} but only {len(row)} logits")
        if any(math.isnan(x) or x == math.inf for x in row):
            raise ValueError(f"row {r}: logits must be finite or -inf")
        top = max(row)
        if top == -math.inf:
            raise ValueError(f"row {r}: every logit is -inf")
        exps = [math.exp(x - top) for x in row]
        total = math.fsum(exps)
        probs = [e / total for e in exps]
        order = sorted(range(len(row)), key=lambda e: (-probs[e], e))[:k]
        ws = [probs[e] for e in order]
        if normalize:
            s = math.fsum(ws)
            ws = [w / s for w in ws] if s > 0 else [1.0 / k] * k
        ids_out.append(order)
        weights_out.append(ws)
    return ids_out, weights_out


class RouterRecorder:
    """Groups per-layer router outputs into moesim trace steps and writes them.

    Call `record(layer, ids, weights)` for every MoE layer of every forward pass, in forward order
    (layer 0 first). Each layer's tokens form one stream; token g of the stream (counting from the
    first record) goes to step g // (ranks * tokens_per_rank), rank (g // tokens_per_rank) % ranks,
    position g % tokens_per_rank: consecutive tokens fill rank 0's block first, then rank 1's, ...
    A step is written as soon as every layer has its tokens. `close()` drops a partial last step
    (with a note through `log`) and raises ValueError when not even one step was complete, in which
    case no file is written (the output file is created with the first complete step).

    `layers` is the number of MoE layers (dense layers are not recorded: layer indices here are
    MoE-layer indices 0..layers-1). With `weights`, every record must carry the gate weights."""

    def __init__(self, path, layers, experts, top_k, ranks=1, tokens_per_rank=1, weights=False, log=_note):
        trace_format._check_range("layers", layers, trace_format.MAX_LAYERS)
        trace_format._check_range("experts", experts, trace_format.MAX_EXPERTS)
        trace_format._check_range("top_k", top_k, min(trace_format.MAX_TOP_K, experts))
        trace_format._check_range("ranks", ranks, trace_format.MAX_RANKS)
        trace_format._check_range("tokens_per_rank", tokens_per_rank, trace_format.MAX_BLOCK_TOKENS)
        self.path, self.layers, self.experts, self.top_k = path, layers, experts, top_k
        self.ranks, self.tokens_per_rank, self.weights = ranks, tokens_per_rank, bool(weights)
        self.step_tokens = ranks * tokens_per_rank
        self.log = log or (lambda message: None)
        self._ids = [[] for _ in range(layers)]      # pending rows per layer (not yet in a step)
        self._ws = [[] for _ in range(layers)]
        self._seen = [0] * layers                    # tokens recorded per layer since the start
        self._writer = None
        self.steps = 0
        self.closed = False

    def tokens_seen(self, layer):
        """Tokens recorded for MoE layer `layer` so far (written or pending)."""
        return self._seen[layer]

    def record(self, layer_index, ids_2d, weights_2d=None):
        """Appends one forward pass's router output of MoE layer `layer_index`: `ids_2d` is
        [tokens][top_k] expert ids (a 1-D list is accepted when top_k == 1), `weights_2d` the
        matching gate weights (required iff the recorder has weights; ignored otherwise)."""
        if self.closed:
            raise ValueError("recorder is closed")
        if not (isinstance(layer_index, int) and 0 <= layer_index < self.layers):
            raise ValueError(f"layer index {layer_index!r} outside [0, {self.layers})")
        ids = [self._token_ids(layer_index, t, row) for t, row in enumerate(_rows(ids_2d))]
        if self.weights:
            if weights_2d is None:
                raise ValueError(f"layer {layer_index}: gate weights are required (recorder has weights)")
            ws = [self._token_weights(layer_index, t, row) for t, row in enumerate(_rows(weights_2d))]
            if len(ws) != len(ids):
                raise ValueError(f"layer {layer_index}: {len(ids)} id rows but {len(ws)} weight rows")
        if layer_index > 0 and self._seen[layer_index] + len(ids) > self._seen[layer_index - 1]:
            raise ValueError(
                f"layer {layer_index} would have {self._seen[layer_index] + len(ids)} tokens but layer "
                f"{layer_index - 1} has {self._seen[layer_index - 1]}: record() calls must come in forward "
                f"order (every layer of a forward pass, layer 0 first)")
        self._seen[layer_index] += len(ids)
        self._ids[layer_index].extend(ids)
        if self.weights:
            self._ws[layer_index].extend(ws)
        self._flush_full_steps()

    def _token_ids(self, layer, t, row):
        row = _rows(row)
        if isinstance(row, (int, float)) and self.top_k == 1:
            row = [row]
        try:
            out = [int(e) for e in row]
            if any(int(e) != e for e in row):
                raise ValueError
        except (TypeError, ValueError):
            raise ValueError(f"layer {layer} token {t}: expert ids must be integers, got {row!r}") from None
        if len(out) != self.top_k or len(set(out)) != self.top_k:
            raise ValueError(f"layer {layer} token {t}: need {self.top_k} distinct expert ids, got {out}")
        if any(not 0 <= e < self.experts for e in out):
            raise ValueError(f"layer {layer} token {t}: expert id outside [0, {self.experts}): {out}")
        return out

    def _token_weights(self, layer, t, row):
        row = _rows(row)
        if isinstance(row, (int, float)) and self.top_k == 1:
            row = [row]
        out = [float(w) for w in row]
        if len(out) != self.top_k or any(not (math.isfinite(w) and w >= 0) for w in out):
            raise ValueError(f"layer {layer} token {t}: need {self.top_k} finite non-negative weights, got {out}")
        return out

    def _flush_full_steps(self):
        n = self.step_tokens
        while all(len(pending) >= n for pending in self._ids):
            tpr = self.tokens_per_rank
            blocks = [[pending[r * tpr:(r + 1) * tpr] for r in range(self.ranks)] for pending in self._ids]
            weights = None
            if self.weights:
                weights = [[pending[r * tpr:(r + 1) * tpr] for r in range(self.ranks)] for pending in self._ws]
            if self._writer is None:
                self._writer = trace_format.TraceWriter(self.path, self.layers, self.experts, self.top_k,
                                                        self.ranks, weights=self.weights)
            self._writer.write_step(self.steps, blocks, weights)
            self.steps += 1
            for layer in range(self.layers):
                del self._ids[layer][:n]
                if self.weights:
                    del self._ws[layer][:n]

    def check_aligned(self):
        """Raises ValueError unless every layer has seen the same number of tokens (true after
        each complete forward pass)."""
        if len(set(self._seen)) > 1:
            counts = ", ".join(f"layer {i}: {c}" for i, c in enumerate(self._seen))
            raise ValueError(f"MoE layers saw different token counts ({counts})")

    def close(self):
        """Finishes the trace; returns a summary dict (path, steps, tokens_per_step,
        tokens_written and tokens_dropped per layer)."""
        if self.closed:
            raise ValueError("recorder is already closed")
        self.check_aligned()
        self.closed = True
        dropped = len(self._ids[0])
        if self._writer is None:
            raise ValueError(
                f"fewer tokens than one step: {dropped} tokens per layer, a step needs ranks x "
                f"tokens_per_rank = {self.ranks} x {self.tokens_per_rank} = {self.step_tokens}; "
                f"nothing was written to {self.path}")
        self._writer.close()
        if dropped:
            self.log(f"dropped the partial last step: {dropped} tokens per layer "
                     f"(a step needs {self.step_tokens})")
        return {"path": self.path, "steps": self.steps, "tokens_per_step": self.step_tokens,
                "tokens_written": self.steps * self.step_tokens, "tokens_dropped": dropped}

    def abort(self):
        """Stops without finishing: a file already started keeps steps = 0 (readers say "not closed")."""
        self.closed = True
        if self._writer is not None and self._writer._file is not None:
            self._writer._file.close()
            self._writer._file = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            if not self.closed:
                self.close()
        else:
            self.abort()
        return False


def read_prompts(path):
    """Prompts from a .txt (one per line, blank lines skipped) or .jsonl file (one object per
    line with a string "text"; blank lines skipped). Errors name the file and line."""
    prompts = []
    jsonl = path.lower().endswith((".jsonl", ".ndjson"))
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            if not jsonl:
                prompts.append(line)
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{number}: not JSON: {e}") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                raise ValueError(f'{path}:{number}: need an object with a string "text"')
            prompts.append(obj["text"])
    if not prompts:
        raise ValueError(f"{path}: no prompts")
    return prompts


# --------------------------------------------------------------------------------------------
# Recording path: torch + transformers, imported lazily
# --------------------------------------------------------------------------------------------

# model_type -> (MoE block attribute names, router attribute names, how to read router logits).
# "softmax_norm": softmax, top-k, renormalise the k weights; "softmax_cfg": the same, renormalised
# iff config.norm_topk_prob; "ids_only": the router must hand out ids (logits alone would need the
# model's own sigmoid + group-limited selection, which its route_tokens_to_experts provides).
ARCHITECTURES = {
    "mixtral": (("block_sparse_moe", "mlp"), ("gate", "router"), "softmax_norm"),
    "qwen2_moe": (("mlp",), ("gate",), "softmax_cfg"),
    "qwen3_moe": (("mlp",), ("gate",), "softmax_cfg"),
    "olmoe": (("mlp",), ("gate",), "softmax_cfg"),
    "deepseek_v2": (("mlp",), ("gate",), "ids_only"),
    "deepseek_v3": (("mlp",), ("gate",), "ids_only"),
    "gpt_oss": (("mlp",), ("router", "gate"), "softmax_norm"),
}
