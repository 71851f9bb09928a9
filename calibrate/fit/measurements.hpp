#pragma once
// Raw calibration measurements (what moesim-calibrate records on a GPU) as plain data, and their
// JSON form (schema in calibrate/MEASUREMENTS.md). CPU only: no CUDA or NCCL here.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace moesim::fit {

struct MeasurementMeta {
  std::string device;    // cudaDeviceProp::name
  std::string driver;    // e.g. "580.65.06"
  std::string cuda;      // runtime version, e.g. "13.0"
  std::string nccl;      // e.g. "2.28.3"; "" when NCCL was not used
  std::string date;      // ISO date of the run
  std::string command;   // the exact command line
  int gpus = 1;          // local GPUs visible to the run
  double memory_GB = 0;  // the GPU's memory (1e9 B)
  int sm_count = 0;
  std::string notes;  // free text (optional in JSON): caveats, what the run was for
  bool operator==(const MeasurementMeta&) const = default;
};

// Device ceilings measured by `moesim-calibrate device`; a field < 0 was not measured.
struct DeviceMeasurement {
  double copy_GBps = -1;           // device-to-device copy: (read + write bytes) / time
  double matrix_bf16_TFLOPs = -1;  // large square bf16 GEMM through cuBLAS
  double matrix_fp8_TFLOPs = -1;   // fp8 (e4m3) GEMM through cuBLASLt; -1 = not measured / no fp8
  double launch_ns = -1;           // empty-kernel launch-to-completion, per launch, in a stream
  bool operator==(const DeviceMeasurement&) const = default;
};

// One timed kernel configuration: CUDA-event times after warm-up, checked against the CPU
// reference before being kept.
struct KernelMeasurement {
  std::string kernel;            // "gate" | "permute" | "expert" | "combine"
  std::string model;             // model preset name the shapes come from
  std::string gate_kind;         // "softmax_topk" | "sigmoid_group_topk" (gate only; else "")
  double skew = 0;               // Zipf exponent of the routing used (0 = uniform)
  std::int64_t tokens = 0;       // gate, permute: tokens; combine: token copies (tokens * top_k);
                                 // expert: total tokens over the grouped GEMM
  int experts = 0;               // expert: experts in the grouped GEMM (else 0)
  double tokens_per_expert = 0;  // expert: tokens / experts (each expert got this many) (else 0)
  double weight_bytes = 2;       // expert: bytes per weight element used (2 = bf16, 1 = fp8);
                                 // not in the JSON of other kinds (they keep this default)
  double median_us = 0;
  double p10_us = 0;
  double p90_us = 0;
  double bytes = 0;  // bytes the kernel must move (for the bandwidth it reached)
  int repeats = 0;   // timed repetitions behind the median
  bool operator==(const KernelMeasurement&) const = default;
};

// One NCCL all-to-all size (nccl-tests conventions: `bytes` is each rank's send buffer, split
// evenly over the ranks; algbw = bytes / time; busbw = algbw * (n - 1) / n).
struct AlltoallMeasurement {
  int gpus = 0;
  double bytes = 0;
  double median_us = 0;
  double algbw_GBps = 0;
  double busbw_GBps = 0;
  bool operator==(const AlltoallMeasurement&) const = default;
};

// One whole single-GPU MoE layer timed per phase by `moesim-calibrate layer` / `validate`.
struct LayerMeasurement {
  std::string model;
  std::string gate;  // the gate spec or trace file that drove it
  std::int64_t tokens = 0;
  double skew = 0;
  double weight_bytes = 2;
  std::vector<int> tokens_per_expert;  // the routing's load, one entry per expert
  double gate_us = 0;                  // router GEMM + top-k
  double permute_us = 0;
  double experts_us = 0;  // grouped GEMMs + fused SwiGLU
  double combine_us = 0;
  double total_us = 0;  // the whole layer timed as one (not the sum of the phases)
  bool operator==(const LayerMeasurement&) const = default;
};

// One timed core-attention configuration (`moesim-calibrate attention`): `batch` sequences, each
// running `queries` new tokens after `context` cached ones, in the model's attention form.
struct AttentionMeasurement {
  std::string model;  // model preset name the shapes come from
  std::string phase;  // "decode" (each query sees every key) | "prefill" (a causal chunk)
  std::string form;   // "gqa" (grouped-query, MHA included) | "mla" (DeepSeek-V3's MLA: absorbed in
                      // decode, expanded in prefill)
  int batch = 0;      // sequences
  int queries = 0;    // new tokens per sequence (decode: 1)
  int context = 0;    // tokens per sequence cached before them
  double median_us = 0;
  double p10_us = 0;
  double p90_us = 0;
  double bytes = 0;  // the kernel's minimum traffic (Q, the KV read, the output)
  double flops = 0;  // 2 x (dk + dv) per visible (query head, key) pair
  int repeats = 0;
  // (query, key) pairs per query head, as the simulator counts them (spec/step_batch.hpp): a
  // prefill chunk's tokens see the context and the chunk causally, self included; a decode
  // sequence's see the context and the earlier new tokens. The x axis of the prefill table.
  double visible_pairs() const;
  bool operator==(const AttentionMeasurement&) const = default;
};

struct Measurements {
  MeasurementMeta meta;
  std::optional<DeviceMeasurement> device;
  std::vector<KernelMeasurement> kernels;
  std::vector<AttentionMeasurement> attention;
  std::vector<AlltoallMeasurement> alltoall;
  std::vector<LayerMeasurement> layers;
  bool operator==(const Measurements&) const = default;
};

// JSON (calibrate/MEASUREMENTS.md): strict; a missing or out-of-range field throws InputError
// naming `where` and the JSON pointer of the bad value (e.g. "m.json: /kernels/3/median_us: ...").
Measurements measurements_from_json(const nlohmann::json& j, const std::string& where);
nlohmann::json measurements_to_json(const Measurements& m);
Measurements load_measurements(const std::string& path);  // throws InputError
void save_measurements(const Measurements& m, const std::string& path);
// Appends b's rows to a (used to merge runs of several subcommands). Meta: a's, except that b's
// command line is appended after "; " unless a already holds it, and an empty nccl takes b's.
// Device ceilings: a's, except that a field a did not measure (< 0) takes b's value (and a without
// a device block takes b's).
void merge_measurements(Measurements& a, const Measurements& b);

}  // namespace moesim::fit
