// Device profile tables and checks; tables interpolate linearly in log(x) because kernel times and
// link efficiencies change smoothly per doubling of size, not per byte.
#include "gpu/profile.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string_view>

#include "core/error.hpp"

namespace moesim {

double LogTable::at(double xv) const {
  if (x.empty() || x.size() != y.size()) throw Error("LogTable::at: empty or malformed table");
  // `!(xv > x0)` also catches NaN and non-positive x, where log() is undefined: clamp left.
  if (x.size() == 1 || !(xv > x.front())) return y.front();
  if (xv >= x.back()) return y.back();
  const auto hi = static_cast<std::size_t>(std::upper_bound(x.begin(), x.end(), xv) - x.begin());
  const std::size_t lo = hi - 1;
  const double t = (std::log(xv) - std::log(x[lo])) / (std::log(x[hi]) - std::log(x[lo]));
  return y[lo] + t * (y[hi] - y[lo]);
}

std::string LogTable::check(double y_min, double y_max) const {
  if (x.size() != y.size())
    return fmt::format("has {} x values but {} y values (lengths must match)", x.size(), y.size());
  if (x.empty()) return "is empty";
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i]) || x[i] <= 0) return fmt::format("x[{}] = {} must be finite and > 0", i, x[i]);
    if (i > 0 && !(x[i] > x[i - 1]))
      return fmt::format("x must be strictly increasing (x[{}] = {} after x[{}] = {})", i, x[i], i - 1, x[i - 1]);
    if (!std::isfinite(y[i]) || y[i] < y_min || y[i] > y_max)
      return fmt::format("y[{}] = {} must be in [{}, {}]", i, y[i], y_min, y_max);
  }
  return "";
}

std::vector<std::string> known_kernel_tables() {
  return {"gate_us", "permute_us", "combine_us", "expert_us", "expert_fp8_us", "attn_prefill_us"};
}
std::vector<std::string> known_kernel_spreads() { return {"gate", "permute", "combine", "expert", "attention"}; }

namespace {

// N of "<prefix><N>_us", 1 <= N <= 2^20, one spelling per count (no "e08"); 0 otherwise.
int number_in_name(std::string_view name, std::string_view prefix) {
  constexpr std::string_view suffix = "_us";
  if (!name.starts_with(prefix) || !name.ends_with(suffix) || name.size() <= prefix.size() + suffix.size()) return 0;
  const std::string_view digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits[0] == '0') return 0;
  int n = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  return ec == std::errc{} && end == digits.data() + digits.size() && n <= (1 << 20) ? n : 0;
}

}  // namespace

int expert_calls_of(const std::string& name) { return number_in_name(name, "expert_e"); }
int expert_fp8_calls_of(const std::string& name) { return number_in_name(name, "expert_fp8_e"); }
int attention_decode_batch_of(const std::string& name) { return number_in_name(name, "attn_decode_b"); }

bool is_kernel_table(const std::string& name) {
  const auto known = known_kernel_tables();
  return std::find(known.begin(), known.end(), name) != known.end() || expert_calls_of(name) > 0 ||
         expert_fp8_calls_of(name) > 0 || attention_decode_batch_of(name) > 0;
}

std::string kernel_table_axis(const std::string& name) {
  if (attention_decode_batch_of(name) > 0) return "context";
  return name == "attn_prefill_us" ? "pairs" : "tokens";
}

namespace {

void require(bool ok, const std::string& where, const std::string& what) {
  if (!ok) throw InputError(fmt::format("{}: {}", where, what));
}

void require_positive(double v, const std::string& where, const char* name) {
  require(std::isfinite(v) && v > 0, where, fmt::format("{} must be > 0 (got {})", name, v));
}

void require_fraction(double v, const std::string& where, const char* name) {
  require(std::isfinite(v) && v > 0 && v <= 1, where, fmt::format("{} must be in (0, 1] (got {})", name, v));
}

void require_provenance(const Provenance& p, const std::string& where, const std::string& section) {
  require(p.source.empty() || p.source == "measured" || p.source == "published" || p.source == "derived", where,
          fmt::format("{}.source must be measured, published or derived (got \"{}\")", section, p.source));
}

}  // namespace

void Profile::validate(const std::string& where) const {
  require(!meta.device.empty(), where, "meta.device must name the device");
  require(meta.source == "measured" || meta.source == "published" || meta.source == "derived", where,
          fmt::format("meta.source must be measured, published or derived (got \"{}\")", meta.source));
  require_positive(hbm_bandwidth.GBps(), where, "device.hbm_GBps");
  require_fraction(hbm_efficiency, where, "device.hbm_efficiency");
  require_positive(matrix_bf16_TFLOPs, where, "device.matrix_bf16_TFLOPs");
  require(std::isfinite(matrix_fp8_TFLOPs) && matrix_fp8_TFLOPs >= 0, where,
          fmt::format("device.matrix_fp8_TFLOPs must be >= 0 (0 = no fp8; got {})", matrix_fp8_TFLOPs));
  require(std::isfinite(matrix_fp4_TFLOPs) && matrix_fp4_TFLOPs >= 0, where,
          fmt::format("device.matrix_fp4_TFLOPs must be >= 0 (0 = no fp4; got {})", matrix_fp4_TFLOPs));
  require_fraction(matrix_efficiency, where, "device.matrix_efficiency");
  for (const auto& [key, e] : {std::pair{"matrix_fp8_efficiency", matrix_fp8_efficiency},
                               std::pair{"grouped_fp8_efficiency", grouped_fp8_efficiency}})
    require(std::isfinite(e) && e >= 0 && e <= 1, where,
            fmt::format("device.{} must be in [0, 1] (0 = as matrix_efficiency; got {})", key, e));
  require(std::isfinite(launch_ns) && launch_ns >= 0, where,
          fmt::format("device.launch_ns must be >= 0 (got {})", launch_ns));
  require(gemm_tile_m >= 1, where, fmt::format("device.gemm_tile_m must be >= 1 (got {})", gemm_tile_m));
  require_positive(memory_GB, where, "device.memory_GB");
  require(sms >= 0 && sms <= 1024, where, fmt::format("device.sms must be in [0, 1024] (got {})", sms));
  require_provenance(device_provenance, where, "device");

  for (const char* cls : {"nvlink", "scaleout"})
    require(comm.count(cls) == 1, where, fmt::format("comm.{} is missing", cls));
  for (const auto& [cls, c] : comm) {
    require(cls == "nvlink" || cls == "scaleout", where,
            fmt::format("comm.{}: unknown link class (expected nvlink or scaleout)", cls));
    require(std::isfinite(c.latency_ns) && c.latency_ns >= 0, where,
            fmt::format("comm.{}.latency_ns must be >= 0 (got {})", cls, c.latency_ns));
    const std::string bad = c.efficiency.check(0, 1);
    require(bad.empty(), where, fmt::format("comm.{}.efficiency {}", cls, bad));
    for (double e : c.efficiency.y)
      require(e > 0, where, fmt::format("comm.{}.efficiency values must be > 0 (got {})", cls, e));
    require_provenance(c.provenance, where, "comm." + cls);
  }

  for (const auto& [name, table] : kernels_us) {
    require(is_kernel_table(name), where, fmt::format("kernels.{}: unknown kernel table", name));
    require(expert_calls_of(name) == 0 || kernels_us.count("expert_us"), where,
            fmt::format("kernels.{} needs the expert_us table (all the model's experts) beside it", name));
    require(expert_fp8_calls_of(name) == 0 || kernels_us.count("expert_fp8_us"), where,
            fmt::format("kernels.{} needs the expert_fp8_us table (all the model's experts) beside it", name));
    const std::string bad = table.check(0, 1e12);
    require(bad.empty(), where, fmt::format("kernels.{} {}", name, bad));
  }
  for (const auto& [name, cv] : kernels_cv) {
    const auto known = known_kernel_spreads();
    require(std::find(known.begin(), known.end(), name) != known.end(), where,
            fmt::format("kernels.{}_cv: unknown kernel", name));
    require(std::isfinite(cv) && cv >= 0 && cv <= 1, where, fmt::format("kernels.{}_cv must be in [0, 1] (got {})", name, cv));
  }
  for (const auto& [name, k] : ep_kernels) {
    const std::string sec = "ep_kernel." + name;
    for (const auto& [v, key] : {std::pair{k.dispatch_fixed_us, "dispatch_fixed_us"},
                                 {k.combine_fixed_us, "combine_fixed_us"},
                                 {k.dispatch_fixed_scaleout_us, "dispatch_fixed_scaleout_us"},
                                 {k.combine_fixed_scaleout_us, "combine_fixed_scaleout_us"},
                                 {k.per_peer_ns, "per_peer_ns"},
                                 {k.message_nvlink_ns, "message_nvlink_ns"},
                                 {k.message_scaleout_ns, "message_scaleout_ns"},
                                 {k.sm_GBps, "sm_GBps"}})
      require(std::isfinite(v) && v >= 0 && v <= 1e9, where,
              fmt::format("{}.{} must be in [0, 1e9] (got {})", sec, key, v));
    require_fraction(k.efficiency_nvlink, where, (sec + ".efficiency_nvlink").c_str());
    require_fraction(k.efficiency_scaleout, where, (sec + ".efficiency_scaleout").c_str());
    require(k.sms >= 0 && k.sms <= 1024, where, fmt::format("{}.sms must be in [0, 1024] (got {})", sec, k.sms));
    require(k.sm_GBps == 0 || k.sms > 0, where, fmt::format("{}.sm_GBps needs {}.sms", sec, sec));
    require(!k.pxn || k.mode == EpMode::nccl, where, fmt::format("{}.pxn applies to nccl kernels only", sec));
    require_provenance(k.provenance, where, sec);
  }
  require(kernels_us.empty() || !kernels_model.empty(), where,
          "kernels.model must name the model the kernel tables were measured for");
  require(kernels_weight_bytes == 0 ||
              (std::isfinite(kernels_weight_bytes) && kernels_weight_bytes > 0 && kernels_weight_bytes <= 8),
          where, fmt::format("kernels.weight_bytes must be in (0, 8] (got {})", kernels_weight_bytes));
  require(!kernels_us.count("expert_us") || kernels_weight_bytes > 0, where,
          "kernels.weight_bytes must give the weight precision of the expert_us table");
  require(std::isfinite(kernels_expert_fixed_us) && kernels_expert_fixed_us >= 0 && kernels_expert_fixed_us <= 1e6,
          where, fmt::format("kernels.expert_fixed_us must be in [0, 1e6] us (got {})", kernels_expert_fixed_us));
  require(kernels_expert_fixed_us == 0 || kernels_us.count("expert_us"), where,
          "kernels.expert_fixed_us needs the expert_us table it belongs to");
  require(std::isfinite(kernels_expert_fp8_fixed_us) && kernels_expert_fp8_fixed_us >= 0 &&
              kernels_expert_fp8_fixed_us <= 1e6,
          where,
          fmt::format("kernels.expert_fp8_fixed_us must be in [0, 1e6] us (got {})", kernels_expert_fp8_fixed_us));
  require(kernels_expert_fp8_fixed_us == 0 || kernels_us.count("expert_fp8_us"), where,
          "kernels.expert_fp8_fixed_us needs the expert_fp8_us table it belongs to");
  // Two fp8 sets would leave the compute model to guess which one a model's experts use.
  require(!kernels_us.count("expert_fp8_us") || !kernels_us.count("expert_us") || kernels_weight_bytes != 1, where,
          "kernels.expert_fp8_us beside an expert_us table at weight_bytes = 1: both would be fp8 (keep one)");
  require_provenance(kernels_provenance, where, "kernels");
}

std::optional<EpKernelParams> Profile::ep_kernel(const std::string& name) const {
  if (const auto it = ep_kernels.find(name); it != ep_kernels.end()) return it->second;
  if (name == "nccl") return EpKernelParams{};
  return std::nullopt;
}

std::vector<std::string> Profile::ep_kernel_names() const {
  std::vector<std::string> names;
  for (const auto& [name, k] : ep_kernels) names.push_back(name);
  if (!ep_kernels.count("nccl")) names.insert(names.begin(), "nccl");
  return names;
}

}  // namespace moesim
