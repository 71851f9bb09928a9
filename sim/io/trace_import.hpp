#pragma once
// Importers that turn routing data emitted by serving stacks (CSV/JSONL rows, NumPy id arrays,
// per-expert count matrices) into the binary trace format. Formats and rules: scenarios/traces/README.md.
#include <cstdint>
#include <string>
#include <vector>

#include "trace/trace.hpp"

namespace moesim::io {

// 0 (or empty) means "infer from the input" wherever that is possible; a given value is checked.
struct ImportOptions {
  std::string format;       // rows: "csv" | "jsonl"; counts: "csv" | "npy"; empty = by file extension
  int layers = 0;           // rows: max layer + 1; npy: shape[1]; counts: see README
  int ranks = 0;            // rows: max rank + 1; npy ids and counts: 1
  int experts = 0;          // max expert id + 1 (rows, npy), matrix width (counts)
  int top_k = 0;            // rows: id columns; npy: shape[2]; counts: 1
  int tokens_per_rank = 0;  // npy ids: tokens per rank per step (0 = all tokens in one step)
};

struct ImportResult {
  TraceHeader header;
  std::uint64_t steps = 0;
  std::uint64_t tokens = 0;        // sum of TraceStep::tokens over all steps and blocks (token x layer)
  std::vector<std::string> notes;  // what was inferred or dropped, for the user to see
};

// One row per (step, layer, rank, token): CSV with header "step,layer,rank,token,e0..,[w0..]" or
// JSONL objects. Steps must be non-decreasing; rows within a step may come in any order.
ImportResult import_rows(const std::string& in, const std::string& out, const ImportOptions& opt);

// .npy int16/int32 array [tokens, layers, top_k] of expert ids; tokens fill rank 0, 1, ... of
// step 0, then step 1; a partial last step is dropped (with a note).
ImportResult import_npy_ids(const std::string& in, const std::string& out, const ImportOptions& opt);

// Per-layer per-expert token counts (CSV or .npy [layers, experts] / [steps, layers, experts])
// into a counts-only trace.
ImportResult import_counts(const std::string& in, const std::string& out, const ImportOptions& opt);

// kind: "rows" | "npy" | "counts" (anything else is an InputError).
ImportResult import_trace(const std::string& kind, const std::string& in, const std::string& out,
                          const ImportOptions& opt);

}  // namespace moesim::io
