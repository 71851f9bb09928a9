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
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from router_recorder import RouterRecorder, _note, _rows, read_prompts, topk_from_logits  # noqa: E402,F401


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
