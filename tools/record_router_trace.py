#!/usr/bin/env python3
"""Record real MoE routing from a Hugging Face transformers model into a moesim trace.

    python3 tools/record_router_trace.py --model PATH_OR_ID --prompts prompts.txt --out run.moetrace \
        [--ranks 8] [--tokens-per-rank 32] [--phase prefill|decode] [--max-new-tokens 32] [--weights] \
        [--device cpu|cuda|auto] [--dtype auto|bfloat16|float16|float32]

The model's own router decides every token's experts: forward hooks on the router modules (or a
wrapper around the MoE block's `route_tokens_to_experts`) capture the top-k expert ids, optionally
the gate weights, and the trace is written with tools/trace_format.py (sim/trace/FORMAT.md).
See tools/README_recorder.md for supported architectures and the token -> (step, rank) mapping.

Everything except the recording path is standard library only: torch and transformers are
imported inside `record_with_transformers`, so `RouterRecorder`, `topk_from_logits` and
`read_prompts` can be used (and tested) without them.
"""

import argparse
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
GENERIC_BLOCKS = ("block_sparse_moe", "mlp", "moe", "sparse_moe", "feed_forward", "ffn")
GENERIC_ROUTERS = ("gate", "router")


class MoeSite:
    """One MoE layer: where its routing is read."""

    def __init__(self, model_layer, name, block, router, rule):
        self.model_layer, self.name, self.block, self.router, self.rule = model_layer, name, block, router, rule


def _config_value(config, names, default=None):
    for name in names:
        value = getattr(config, name, None)
        if value is not None:
            return value
    return default


def _text_config(config):
    get = getattr(config, "get_text_config", None)
    if callable(get):
        try:
            return get()
        except Exception:  # noqa: BLE001 - older configs
            pass
    return config


def _decoder_layers(model):
    """(prefix, layers) of the ModuleList of decoder layers: the longest ModuleList named *layers."""
    import torch.nn as nn

    best = None
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and name.split(".")[-1] in ("layers", "h", "blocks"):
            if best is None or len(module) > len(best[1]):
                best = (name, module)
    return best


def discover_routers(model, model_type):
    """The MoE sites in forward order. Raises RuntimeError listing candidates when none is found."""
    import torch.nn as nn

    blocks, routers, rule = ARCHITECTURES.get(model_type, (GENERIC_BLOCKS, GENERIC_ROUTERS, "softmax_cfg"))
    known = model_type in ARCHITECTURES
    sites = []
    found = _decoder_layers(model)
    if found is not None:
        prefix, layers = found
        for i, layer in enumerate(layers):
            for block_name in blocks:
                block = getattr(layer, block_name, None)
                if not isinstance(block, nn.Module):
                    continue
                router_name = next((r for r in routers if isinstance(getattr(block, r, None), nn.Module)), None)
                if router_name is None:
                    continue  # a dense layer (e.g. DeepSeek first_k_dense_replace): not recorded
                if not known and not hasattr(block, "experts"):
                    continue
                sites.append(MoeSite(i, f"{prefix}.{i}.{block_name}.{router_name}", block,
                                     getattr(block, router_name), rule))
                break
    if not sites:  # generic scan: any gate/router whose parent holds experts, in module order
        modules = dict(model.named_modules())
        for name, module in modules.items():
            parent_name, _, leaf = name.rpartition(".")
            parent = modules.get(parent_name)
            if leaf in GENERIC_ROUTERS and parent is not None and hasattr(parent, "experts"):
                sites.append(MoeSite(len(sites), name, parent, module, rule))
    if not sites:
        words = ("gate", "router", "expert", "moe")
        candidates = [f"{n} ({type(m).__name__})" for n, m in model.named_modules()
                      if any(w in n.split(".")[-1].lower() for w in words)]
        shown = "\n  ".join(candidates[:40]) or "(none)"
        more = f"\n  ... and {len(candidates) - 40} more" if len(candidates) > 40 else ""
        raise RuntimeError(
            f"no MoE router found in model_type {model_type!r} (known: {', '.join(sorted(ARCHITECTURES))}); "
            f"looked for <layer>.{{{','.join(blocks)}}}.{{{','.join(routers)}}} and for gate/router modules "
            f"whose parent has `experts`. Modules with gate/router/expert/moe in their name:\n  {shown}{more}")
    return sites


def _tensors(out):
    import torch

    if torch.is_tensor(out):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (tuple, list)):
        return [t for t in out if torch.is_tensor(t)]
    return []


def interpret_router_output(out, experts, top_k, rule, normalize, want_weights):
    """(ids [N, k] long tensor, weights [N, k] float tensor or None, from_logits) from what a router returned:
    integer ids with score / dense-score tensors (DeepSeek MoEGate, gpt-oss, transformers-5
    TopKRouters, route_tokens_to_experts), or bare logits [..., experts] (nn.Linear gates)."""
    import torch

    tensors = _tensors(out)
    ints = [t for t in tensors if not t.is_floating_point() and t.dim() >= 1 and t.shape[-1] == top_k]
    floats = [t for t in tensors if t.is_floating_point() and t.dim() >= 1]
    if ints:
        ids = ints[0].reshape(-1, top_k).long()
        weights = None
        if want_weights:
            for f in floats:
                if f.shape[-1] == top_k and f.numel() == ids.numel():
                    weights = f.reshape(-1, top_k).float()
                    break
            else:
                for f in floats:
                    if f.shape[-1] == experts and f.numel() == ids.shape[0] * experts:
                        weights = f.reshape(-1, experts).float().gather(1, ids)
                        break
            if weights is None:
                raise RuntimeError("router output has expert ids but no gate weights I can match; run without --weights")
        return ids, weights, False
    logits = [f for f in floats if f.shape[-1] == experts]
    if logits and rule != "ids_only":
        probs = torch.softmax(logits[0].reshape(-1, experts).float(), dim=-1)
        weights, ids = torch.topk(probs, top_k, dim=-1)
        if normalize:
            weights = weights / weights.sum(dim=-1, keepdim=True).clamp_min(1e-20)
        return ids, weights, True
    shapes = ", ".join(f"{type(x).__name__}{tuple(x.shape) if torch.is_tensor(x) else ''}"
                       for x in (out if isinstance(out, (tuple, list)) else [out]))
    why = " (this architecture's routing cannot be rebuilt from logits)" if logits else ""
    raise RuntimeError(f"cannot read top-{top_k} expert ids of {experts} experts from router output [{shapes}]{why}")


def _torch_dtype(torch, name, device):
    if name == "auto":
        return torch.float32 if device == "cpu" else torch.bfloat16
    return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[name]


def _load_model(args):
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = _torch_dtype(torch, args.dtype, args.device)
    kwargs = {"local_files_only": not args.allow_download, "trust_remote_code": args.trust_remote_code}
    version = tuple(int(p) for p in transformers.__version__.split(".")[:2] if p.isdigit())
    kwargs["dtype" if version >= (4, 56) else "torch_dtype"] = dtype
    if args.device == "auto":
        kwargs["device_map"] = "auto"
    tokenizer = AutoTokenizer.from_pretrained(args.model, local_files_only=not args.allow_download,
                                              trust_remote_code=args.trust_remote_code)
    model = AutoModelForCausalLM.from_pretrained(args.model, **kwargs)
    if args.device != "auto":
        model.to(args.device)
    model.eval()
    return model, tokenizer


def _input_device(model):
    try:
        return model.get_input_embeddings().weight.device
    except Exception:  # noqa: BLE001
        return next(model.parameters()).device


def record_with_transformers(args, prompts, log=_note):
    """Loads the model, hooks its routers, runs the prompts and writes the trace; returns the summary."""
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as e:
        raise SystemExit(f"error: recording needs torch and transformers ({e}); "
                         f"pip install torch transformers") from None

    model, tokenizer = _load_model(args)
    config = _text_config(model.config)
    model_type = getattr(config, "model_type", None) or getattr(model.config, "model_type", "?")
    sites = discover_routers(model, model_type)
    experts = args.experts or _config_value(config, ("num_local_experts", "num_experts", "n_routed_experts"))
    top_k = args.top_k or _config_value(config, ("num_experts_per_tok", "experts_per_token", "moe_top_k", "top_k"))
    if not experts or not top_k:
        raise SystemExit(f"error: the config of model_type {model_type!r} names no expert count or top-k; "
                         f"give --experts and --top-k")
    rule = sites[0].rule
    normalize = rule == "softmax_norm" or bool(getattr(config, "norm_topk_prob", False))
    if model_type not in ARCHITECTURES:
        log(f"model_type {model_type!r} is not a known architecture: routers found by a generic scan")
    dense = (_config_value(config, ("num_hidden_layers",), len(sites)) or len(sites)) - len(sites)
    log(f"{model_type}: {len(sites)} MoE layers (model layers {sites[0].model_layer}..{sites[-1].model_layer}"
        f"{f'; {dense} dense layer(s) not recorded' if dense > 0 else ''}), {experts} experts, top-{top_k}")

    recorder = RouterRecorder(args.out, len(sites), int(experts), int(top_k), args.ranks, args.tokens_per_rank,
                              weights=args.weights, log=log)
    state = {"active": False, "warned": model_type in ARCHITECTURES}

    def capture(index, out):
        if not state["active"]:
            return
        ids, weights, from_logits = interpret_router_output(out, int(experts), int(top_k), rule, normalize, args.weights)
        if from_logits and not state["warned"]:
            state["warned"] = True
            log(f"the routers return bare logits: read as softmax + top-{top_k}"
                f"{' + renormalise' if normalize else ''} (check that this is the model's own routing rule)")
        recorder.record(index, ids.cpu().tolist(), weights.float().cpu().tolist() if args.weights else None)

    handles, wrapped = [], []
    for index, site in enumerate(sites):
        route = getattr(site.block, "route_tokens_to_experts", None)
        if callable(route):  # transformers >= 4.57 / 5: the block turns the router's logits into ids
            def wrapper(*a, _route=route, _index=index, **kw):
                result = _route(*a, **kw)
                capture(_index, result)
                return result
            site.block.route_tokens_to_experts = wrapper
            wrapped.append(site.block)
        else:
            handles.append(site.router.register_forward_hook(
                lambda module, inputs, output, _index=index: capture(_index, output)))

    device = _input_device(model)
    eos = getattr(tokenizer, "eos_token_id", None)
    eos = set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None}
    prompt_tokens = generated = 0

    def forward(input_ids, past=None):
        before = recorder.tokens_seen(0)
        out = model(input_ids=input_ids, past_key_values=past, use_cache=args.phase == "decode")
        if state["active"]:
            recorder.check_aligned()
            got = recorder.tokens_seen(0) - before
            if got != input_ids.numel():
                raise RuntimeError(f"routers saw {got} tokens in a forward of {input_ids.numel()} tokens")
        return out

    try:
        with torch.inference_mode():
            for p, text in enumerate(prompts):
                input_ids = tokenizer(text, return_tensors="pt").input_ids.to(device)
                if input_ids.numel() == 0:
                    log(f"prompt {p} has no tokens; skipped")
                    continue
                prompt_tokens += input_ids.numel()
                state["active"] = args.phase == "prefill"
                out = forward(input_ids)
                if args.phase == "prefill":
                    continue
                state["active"] = True
                past = out.past_key_values
                for _ in range(args.max_new_tokens):
                    next_id = out.logits[:, -1, :].argmax(dim=-1, keepdim=True)
                    if int(next_id) in eos:
                        break
                    out = forward(next_id, past)
                    past = out.past_key_values
                    generated += 1
                state["active"] = False
        summary = recorder.close()
    except BaseException:
        recorder.abort()
        raise
    finally:
        for handle in handles:
            handle.remove()
        for block in wrapped:
            del block.route_tokens_to_experts
    summary.update({"model_type": model_type, "moe_layers": len(sites), "experts": int(experts),
                    "top_k": int(top_k), "ranks": args.ranks, "prompt_tokens": prompt_tokens,
                    "generated_tokens": generated, "model_layers": [s.model_layer for s in sites]})
    return summary


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="local model directory or hub id (your own weights)")
    p.add_argument("--prompts", required=True, help='.txt (one prompt per line) or .jsonl (objects with "text")')
    p.add_argument("--out", required=True, help="trace file to write (e.g. run.moetrace)")
    p.add_argument("--ranks", type=int, default=8, help="source ranks (EP GPUs) per step (default 8)")
    p.add_argument("--tokens-per-rank", type=int, default=32, help="tokens per rank per step (default 32)")
    p.add_argument("--phase", choices=("prefill", "decode"), default="prefill",
                   help="prefill: route the prompt tokens; decode: route only greedily generated tokens")
    p.add_argument("--max-new-tokens", type=int, default=None,
                   help="decode: tokens generated per prompt, greedy, stopping early at EOS (default 32)")
    p.add_argument("--weights", action="store_true", help="also record the gate weights")
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu",
                   help="cpu, cuda, or auto (device_map=auto across GPUs; needs accelerate)")
    p.add_argument("--dtype", choices=("auto", "bfloat16", "float16", "float32"), default="auto",
                   help="auto: float32 on cpu, bfloat16 otherwise")
    p.add_argument("--allow-download", action="store_true", help="let transformers download (default: local files only)")
    p.add_argument("--trust-remote-code", action="store_true", help="allow the model's own modeling code (e.g. DeepSeek repos)")
    p.add_argument("--experts", type=int, default=0, help="override the routed expert count from the config")
    p.add_argument("--top-k", type=int, default=0, help="override top-k from the config")
    args = p.parse_args(argv)
    if args.ranks < 1 or args.tokens_per_rank < 1:
        p.error("--ranks and --tokens-per-rank must be >= 1")
    if args.phase == "prefill" and args.max_new_tokens is not None:
        _note("--max-new-tokens is ignored in the prefill phase")
    if args.max_new_tokens is None:
        args.max_new_tokens = 32
    if args.phase == "decode" and args.max_new_tokens < 1:
        p.error("--phase decode needs --max-new-tokens >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        prompts = read_prompts(args.prompts)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir) or not os.access(out_dir, os.W_OK):
        print(f"error: cannot write into {out_dir}", file=sys.stderr)
        return 2
    try:
        summary = record_with_transformers(args, prompts)
    except (RuntimeError, ValueError, OSError) as e:
        hint = ""
        if isinstance(e, OSError) and not args.allow_download:
            hint = " (only local files are used; give a local directory, or --allow-download)"
        elif str(e).startswith("fewer tokens than one step"):
            hint = " (add prompts, or lower --ranks / --tokens-per-rank)"
        print(f"error: {e}{hint}", file=sys.stderr)
        return 1
    print(f"wrote {summary['path']}: {summary['steps']} steps x {summary['moe_layers']} MoE layers x "
          f"{summary['ranks']} ranks x {args.tokens_per_rank} tokens, {summary['experts']} experts, "
          f"top-{summary['top_k']}{', with weights' if args.weights else ''} "
          f"({summary['prompt_tokens']} prompt tokens, {summary['generated_tokens']} generated, "
          f"{summary['tokens_dropped']} dropped)")
    print(f"inspect: moesim trace stats {summary['path']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
