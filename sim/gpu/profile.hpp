#pragma once
// A device profile: calibrated or published cost parameters for one GPU type and its links.
// Every profile says where its numbers come from ([meta] source = measured | published | derived;
// optionally per section, with a citation).
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/units.hpp"
#include "spec/settings.hpp"

namespace moesim {

struct ProfileMeta {
  std::string device;
  std::string source;  // measured | published | derived
  std::string driver;
  std::string cuda;
  std::string nccl;
  std::string date;
  std::string command;
  std::string notes;  // citations for published figures
  bool operator==(const ProfileMeta&) const = default;
};

// y(x) by piecewise-linear interpolation in log(x) (clamped at both ends); x strictly increasing.
struct LogTable {
  std::vector<double> x;
  std::vector<double> y;
  bool empty() const { return x.empty(); }
  double at(double xv) const;  // throws Error when empty
  // "" when the table is usable: same lengths, non-empty, x > 0 and strictly increasing,
  // y finite and in [y_min, y_max]; otherwise what is wrong, for an error message.
  std::string check(double y_min, double y_max) const;
  bool operator==(const LogTable&) const = default;
};

// Where one section's figures come from; both optional ("" = not stated).
struct Provenance {
  std::string source;    // "" | measured | published | derived
  std::string citation;  // the run, paper or datasheet behind the figures
  bool operator==(const Provenance&) const = default;
};

// Communication parameters of one link class ("nvlink", "scaleout").
struct CommParams {
  double latency_ns = 0;  // per message (alpha), added once per flow on top of link latency
  LogTable efficiency;    // achievable fraction of link bandwidth by message size (bytes)
  Provenance provenance;  // [comm.<class>] source / citation
  bool operator==(const CommParams&) const = default;
};

// One expert-parallel communication kernel (DeepEP normal or low-latency, Hybrid-EP, pplx, NCCL):
// how it moves tokens (its mode) and what it costs beyond link bandwidth; [ep_kernel.<name>].
// The "nccl" mode keeps the per-message latency and size-dependent efficiency of [comm.*].
struct EpKernelParams {
  EpMode mode = EpMode::nccl;
  // Fixed cost of one dispatch / combine (launch, notify/layout handshake, completion flags), in
  // us: for an EP group inside one NVLink domain, and for one that spans the scale-out network.
  double dispatch_fixed_us = 0;
  double combine_fixed_us = 0;
  double dispatch_fixed_scaleout_us = 0;
  double combine_fixed_scaleout_us = 0;
  double per_peer_ns = 0;  // handshake per peer of the EP group, on top of the fixed cost
  // Occupancy of the sending port per message (the NIC's message rate, per-token headers and
  // signals), in ns; charged on the link, so it matters only where messages crowd a port.
  double message_nvlink_ns = 0;
  double message_scaleout_ns = 0;
  double efficiency_nvlink = 1;  // fraction of the link rate a large transfer reaches (not "nccl")
  double efficiency_scaleout = 1;
  bool pxn = false;    // nccl: a send to another domain goes over NVLink to the sender's peer on
                       // the destination's rail, then through that peer's NIC (NCCL's PXN)
  int sms = 0;         // SMs the kernel occupies while it runs (0 = not stated)
  double sm_GBps = 0;  // copy rate of one of its SMs (0 = SMs do not limit the copy)
  Provenance provenance;
  bool operator==(const EpKernelParams&) const = default;
};

struct Profile {
  ProfileMeta meta;
  Bandwidth hbm_bandwidth;                 // HBM bandwidth (datasheet; the file's hbm_GBps)
  double hbm_efficiency = 0.8;             // achievable fraction for streaming kernels
  double matrix_bf16_TFLOPs = 0;           // dense bf16 tensor-core rate (datasheet, no sparsity)
  double matrix_fp8_TFLOPs = 0;            // dense fp8 rate; 0 = no fp8
  double matrix_fp4_TFLOPs = 0;            // dense fp4 rate (Blackwell); 0 = no fp4
  double matrix_efficiency = 0.7;          // achievable fraction for large (bf16) GEMMs
  // Achievable fractions of the fp8 (and fp4) rate: large dense GEMMs, and the routed experts'
  // grouped GEMM with per-block scales. 0 = matrix_efficiency / matrix_fp8_efficiency.
  double matrix_fp8_efficiency = 0;
  double grouped_fp8_efficiency = 0;
  double fp8_efficiency() const { return matrix_fp8_efficiency > 0 ? matrix_fp8_efficiency : matrix_efficiency; }
  double grouped_fp8() const { return grouped_fp8_efficiency > 0 ? grouped_fp8_efficiency : fp8_efficiency(); }
  double launch_ns = 4000;                 // per kernel launch / phase fixed overhead
  int gemm_tile_m = 128;                   // token-dimension tile of the grouped GEMM (tile quantisation)
  double memory_GB = 0;                    // HBM capacity
  int sms = 0;                             // streaming multiprocessors (0 = not stated): an EP
                                           // kernel's share of them slows compute beside it
  Provenance device_provenance;            // [device] source / citation
  std::map<std::string, CommParams> comm;  // by class: "nvlink", "scaleout"
  // Measured kernel tables (filled by calibration): name -> time in us by token count.
  // Known names: known_kernel_tables(). Absent = roofline. They hold for one model's shapes only.
  std::map<std::string, LogTable> kernels_us;
  std::string kernels_model;           // model the tables were measured for (required with tables)
  double kernels_weight_bytes = 0;     // bytes per weight of the expert_us table (0 = not stated;
                                       // required with expert_us)
  double kernels_expert_fixed_us = 0;  // fixed cost of one grouped expert GEMM call (launches,
                                       // set-up), on top of expert_us per expert; needs expert_us
  // The same for the fp8 expert tables (expert_fp8_us, expert_fp8_e<N>_us: e4m3 weights with
  // DeepSeek-V3's 128 x 128 block scales), beside the expert_us set at weight_bytes.
  double kernels_expert_fp8_fixed_us = 0;
  Provenance kernels_provenance;       // [kernels] source / citation
  // [kernels] <kernel>_cv: the relative spread of a measured kernel's time over repeated runs,
  // (p90 - p10) / (2.563 x median) (a normal's sigma), the median over its rows; by kernel name
  // (known_kernel_spreads()). Drives the optional kernel jitter.
  std::map<std::string, double> kernels_cv;
  // [kernels] fit_skews: the routing skews the tables' rows were measured at. With the tables' token
  // counts they are the fit set; `validate` reports layers outside it as held out.
  std::vector<double> kernels_fit_skews;
  // Expert-parallel kernels by name ([ep_kernel.<name>]); a scenario picks one. ep_kernel() adds
  // the built-in "nccl" (plain [comm.*] behaviour) when the profile does not define it.
  std::map<std::string, EpKernelParams> ep_kernels;
  // The named kernel, or std::nullopt when the profile has none of that name (and it is not "nccl").
  std::optional<EpKernelParams> ep_kernel(const std::string& name) const;
  std::vector<std::string> ep_kernel_names() const;  // including "nccl"

  // Throws InputError (prefixed with `where`) when a field is out of range or a table is bad.
  void validate(const std::string& where) const;
  bool operator==(const Profile&) const = default;
};

// Names of the kernel tables the compute model understands ("gate_us", ...); x is tokens
// (token copies for "combine_us", tokens routed to one expert for "expert_us"), y is
// microseconds ("expert_us": one expert's share of a grouped GEMM over all the model's experts,
// the call's fixed cost kernels_expert_fixed_us apart; "expert_fp8_us" the same in fp8).
// "attn_prefill_us": core attention of prompt chunks by (query, key) pairs per query head.
std::vector<std::string> known_kernel_tables();
// Kernels whose measured spread a profile may give ([kernels] <name>_cv): gate, permute, ...
std::vector<std::string> known_kernel_spreads();

// Per-expert curves for grouped GEMMs over fewer experts: "expert_e<N>_us" (N experts with tokens
// in the call, 1 <= N <= 2^20), same axes as "expert_us". Returns N, or 0 for any other name.
int expert_calls_of(const std::string& table_name);
int expert_fp8_calls_of(const std::string& table_name);  // "expert_fp8_e<N>_us" -> N
// Decode core attention of B sequences by the context each has cached: "attn_decode_b<B>_us"
// (1 <= B <= 2^20) -> B, or 0 for any other name.
int attention_decode_batch_of(const std::string& table_name);
// known_kernel_tables() or one of the numbered curves above.
bool is_kernel_table(const std::string& table_name);
// What a kernel table's x axis counts, the suffix of its x key in a profile file: "tokens",
// "context" (attn_decode_b<B>_us) or "pairs" (attn_prefill_us).
std::string kernel_table_axis(const std::string& table_name);

}  // namespace moesim
