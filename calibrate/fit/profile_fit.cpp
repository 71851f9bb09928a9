// Fits a Profile from measurements. Assumptions: the base profile's ceilings are the datasheet's,
// and a kernel's time never falls as its input grows (noise that says otherwise is pooled away).
#include "fit/profile_fit.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <map>
#include <set>

#include "core/error.hpp"
#include "fit/attention_fit.hpp"
#include "fit/expert_fit.hpp"
#include "spec/model_spec.hpp"

namespace moesim::fit {

namespace {

std::string join(const std::set<std::string>& items) {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : ", ") + i;
  return s;
}

// The model whose kernel rows to fit: the one asked for, else the only one measured ("" = none).
std::string chosen_model(const Measurements& m, const FitOptions& options) {
  std::set<std::string> models;
  for (const auto& k : m.kernels) models.insert(k.model);
  for (const auto& a : m.attention) models.insert(a.model);
  if (!options.model.empty()) {
    if (!models.count(options.model))
      throw InputError(fmt::format("fit: no kernel measurements for model \"{}\" (measured: {})", options.model,
                                   models.empty() ? "none" : join(models)));
    return options.model;
  }
  if (models.size() > 1)
    throw InputError(
        fmt::format("fit: kernel measurements for several models ({}): choose one (--model)", join(models)));
  return models.empty() ? "" : *models.begin();
}

void fit_device(const Measurements& m, const Profile& base, Profile& p, std::vector<std::string>& notes) {
  if (!m.device) {
    notes.push_back("device: not measured; kept from the base profile");
    return;
  }
  const DeviceMeasurement& d = *m.device;
  std::vector<std::string> parts;
  auto efficiency = [&](double measured, double ceiling, const char* key, const char* what, const char* unit) {
    double e = measured / ceiling;
    if (e > 1) {
      notes.push_back(
          fmt::format("device.{}: measured {} {} exceeds the base ceiling {} (ratio {:.3f}); "
                      "clamped to 1: check the base profile's datasheet figure",
                      key, measured, unit, ceiling, e));
      e = 1;
    }
    notes.push_back(fmt::format("device.{} = {:.4f} ({} {} {} of {})", key, e, what, measured, unit, ceiling));
    parts.push_back(fmt::format("{} = {} {} {} / {}", key, what, measured, unit, ceiling));
    return e;
  };
  if (d.copy_GBps > 0)
    p.hbm_efficiency = efficiency(d.copy_GBps, base.hbm_bandwidth.GBps(), "hbm_efficiency", "copy", "GB/s");
  if (d.matrix_bf16_TFLOPs > 0)
    p.matrix_efficiency =
        efficiency(d.matrix_bf16_TFLOPs, base.matrix_bf16_TFLOPs, "matrix_efficiency", "bf16 GEMM", "TFLOP/s");
  if (d.matrix_fp8_TFLOPs > 0) {
    if (base.matrix_fp8_TFLOPs > 0)
      p.matrix_fp8_efficiency = efficiency(d.matrix_fp8_TFLOPs, base.matrix_fp8_TFLOPs, "matrix_fp8_efficiency",
                                           "fp8 GEMM", "TFLOP/s");
    else
      notes.push_back(fmt::format("device: fp8 GEMM {} TFLOP/s measured but the base profile has no fp8 ceiling",
                                  d.matrix_fp8_TFLOPs));
  }
  if (d.launch_ns >= 0) {
    p.launch_ns = d.launch_ns;
    notes.push_back(fmt::format("device.launch_ns = {} (measured)", d.launch_ns));
    parts.push_back(fmt::format("launch_ns = {} measured", d.launch_ns));
  }
  if (parts.empty()) {
    notes.push_back("device: no ceiling measured; kept from the base profile");
    return;
  }
  std::string citation = fmt::format("moesim-calibrate device on {} ({}): ", m.meta.device, m.meta.date);
  for (std::size_t i = 0; i < parts.size(); ++i) citation += (i ? "; " : "") + parts[i];
  citation += fmt::format(
      ". Ceilings (hbm_GBps, matrix_*_TFLOPs), gemm_tile_m and memory_GB from the base "
      "profile \"{}\"",
      base.meta.device);
  if (!base.device_provenance.citation.empty()) citation += ": " + base.device_provenance.citation;
  p.device_provenance = {"measured", citation};
}

// Gate kind to fit when both were measured: the model's own router.
std::string gate_kind_for(const std::string& model) {
  return model == "deepseek-v3" ? "sigmoid_group_topk" : "softmax_topk";
}

// Each kernel's spread over repeated runs: (p90 - p10) / (2.563 x median), a normal's sigma
// relative to its median, taken as the median over the kernel's rows.
std::map<std::string, double> kernel_spreads(const Measurements& m, const std::string& model,
                                             const std::string& gate_kind, std::vector<std::string>& notes) {
  std::map<std::string, double> out;
  const auto spread = [](double p10, double median, double p90) { return (p90 - p10) / (2.563 * median); };
  for (const std::string& kernel : known_kernel_spreads()) {
    std::vector<double> cv;
    for (const auto& k : m.kernels)
      if (k.model == model && k.kernel == kernel && (kernel != "gate" || k.gate_kind == gate_kind) &&
          k.median_us > 0 && k.p90_us >= k.p10_us)
        cv.push_back(spread(k.p10_us, k.median_us, k.p90_us));
    if (kernel == "attention")
      for (const auto& a : m.attention)
        if (a.model == model && a.median_us > 0 && a.p90_us >= a.p10_us)
          cv.push_back(spread(a.p10_us, a.median_us, a.p90_us));
    if (cv.empty()) continue;
    std::nth_element(cv.begin(), cv.begin() + static_cast<std::ptrdiff_t>(cv.size() / 2), cv.end());
    out[kernel] = std::min(1.0, cv[cv.size() / 2]);
    notes.push_back(fmt::format("kernels.{}_cv = {:.4f} (median over {} rows)", kernel, out[kernel], cv.size()));
  }
  return out;
}

bool fit_kernels(const Measurements& m, const std::string& model, Profile& p, std::vector<std::string>& notes) {
  std::map<std::string, LogTable> tables;
  std::set<double> skews;
  std::set<std::string> gate_kinds;
  for (const auto& k : m.kernels)
    if (k.model == model && k.kernel == "gate") gate_kinds.insert(k.gate_kind);
  std::string gate_kind = gate_kinds.size() == 1 ? *gate_kinds.begin() : gate_kind_for(model);
  if (gate_kinds.size() > 1)
    notes.push_back(fmt::format("gate: rows for {} gate kinds ({}); fitted {} (the {} router)", gate_kinds.size(),
                                join(gate_kinds), gate_kind, model));

  for (const char* kernel : {"gate", "permute", "combine"}) {
    std::vector<std::pair<double, double>> points;
    for (const auto& k : m.kernels) {
      if (k.model != model || k.kernel != kernel || (k.kernel == "gate" && k.gate_kind != gate_kind)) continue;
      points.emplace_back(static_cast<double>(k.tokens), k.median_us);
      skews.insert(k.skew);
    }
    if (points.empty()) {
      notes.push_back(fmt::format("{}: not measured (the simulator uses its roofline)", kernel));
      continue;
    }
    tables[std::string(kernel) + "_us"] = monotone_table(points, kernel, "tokens", notes);
    notes.push_back(fmt::format("kernels.{}_us: {} points from {} rows", kernel,
                                tables[std::string(kernel) + "_us"].x.size(), points.size()));
  }

  // Expert rows: the fixed cost per call and the per-expert curves, a set per precision
  // (expert_fit.hpp); then core attention.
  ExpertFit experts = fit_expert_tables(m, model, false, notes);
  ExpertFit fp8 = fit_expert_tables(m, model, true, notes);
  for (const ExpertFit* e : {&experts, &fp8}) {
    tables.insert(e->tables.begin(), e->tables.end());
    skews.insert(e->skews.begin(), e->skews.end());
  }
  const auto attention = fit_attention_tables(m, model, notes);
  tables.insert(attention.begin(), attention.end());
  if (tables.empty()) return false;

  if (!p.kernels_us.empty())
    notes.push_back(fmt::format("kernels: the base profile's tables (for {}) replaced", p.kernels_model));
  p.kernels_us = tables;
  p.kernels_cv = kernel_spreads(m, model, gate_kind, notes);
  p.kernels_fit_skews.assign(skews.begin(), skews.end());
  p.kernels_model = model;
  p.kernels_weight_bytes = tables.count("expert_us") ? experts.weight_bytes : 0;
  p.kernels_expert_fixed_us = tables.count("expert_us") ? experts.fixed_us : 0;
  p.kernels_expert_fp8_fixed_us = tables.count("expert_fp8_us") ? fp8.fixed_us : 0;
  p.kernels_provenance = {
      "measured",
      fmt::format("moesim-calibrate kernels{} on {} ({}), model {}: median over skews {{{}}} per size{}, made "
                  "non-decreasing by pool-adjacent-violators; <kernel>_cv = (p90 - p10) / (2.563 x median), the "
                  "median over the kernel's rows{}{}",
                  attention.empty() ? "" : " and attention", m.meta.device, m.meta.date, model, join_numbers(skews),
                  tables.count("gate_us") ? fmt::format(", gate kind {}", gate_kind) : "",
                  tables.count("expert_fp8_us")
                      ? "; expert_fp8_*: e4m3 experts through cuBLASLt with 1x128 activation and 128x128 weight "
                        "block scales"
                      : "",
                  attention.empty() ? ""
                                    : "; attn_*: core attention by moesim's own kernels (not FlashAttention / "
                                      "FlashMLA), decode by context per batch size, prefill by visible pairs")};
  return true;
}

bool fit_alltoall(const Measurements& m, const FitOptions& options, Profile& p, std::vector<std::string>& notes) {
  int gpus = 1;
  std::set<int> counts;
  for (const auto& a : m.alltoall)
    if (a.gpus > 1) {
      counts.insert(a.gpus);
      gpus = std::max(gpus, a.gpus);
    }
  if (gpus == 1) {
    notes.push_back(m.alltoall.empty() ? "comm.nvlink: no all-to-all measured; kept from the base profile"
                                       : "comm.nvlink: all-to-all rows are single-GPU only; kept from the base "
                                         "profile");
    return false;
  }
  if (!(options.nvlink_GBps > 0)) {
    notes.push_back(
        "comm.nvlink: all-to-all rows not fitted without the NVLink bandwidth per GPU and direction "
        "(--nvlink-GBps); kept from the base profile");
    return false;
  }
  if (counts.size() > 1)
    notes.push_back(
        fmt::format("comm.nvlink: all-to-all measured at several GPU counts; fitted the {}-GPU rows", gpus));
  std::vector<std::pair<double, double>> points;
  int clamped = 0, dropped = 0;
  double smallest = 0;
  std::vector<double> smallest_us;
  for (const auto& a : m.alltoall) {
    if (a.gpus != gpus) continue;
    double e = a.busbw_GBps / options.nvlink_GBps;
    if (!(e > 0)) {
      ++dropped;
      continue;
    }
    if (e > 1) {
      ++clamped;
      e = 1;
    }
    points.emplace_back(a.bytes / gpus, e);
    if (smallest_us.empty() || a.bytes < smallest) {
      smallest = a.bytes;
      smallest_us.clear();
    }
    if (a.bytes == smallest) smallest_us.push_back(a.median_us);
  }
  if (dropped > 0) notes.push_back(fmt::format("comm.nvlink: {} rows with zero bus bandwidth dropped", dropped));
  if (clamped > 0)
    notes.push_back(
        fmt::format("comm.nvlink: {} rows above {} GB/s clamped to efficiency 1: is --nvlink-GBps the "
                    "per-direction bandwidth of one GPU?",
                    clamped, options.nvlink_GBps));
  if (points.empty()) return false;
  CommParams& c = p.comm["nvlink"];
  c.efficiency = monotone_table(points, "comm.nvlink", "bytes per peer", notes);
  c.latency_ns = median(smallest_us) * 1e3;
  notes.push_back(
      fmt::format("comm.nvlink.efficiency: {} sizes from {} rows ({}-GPU NCCL all-to-all busbw / {} "
                  "GB/s, x = bytes per peer); large-message level {:.3f}",
                  c.efficiency.x.size(), points.size(), gpus, options.nvlink_GBps, c.efficiency.y.back()));
  notes.push_back(
      fmt::format("comm.nvlink.latency_ns = {} (the whole all-to-all at its smallest size, {} bytes "
                  "per rank: an upper bound on the per-message cost)",
                  c.latency_ns, smallest));
  c.provenance = {"measured",
                  fmt::format("NCCL {} all-to-all on {} GPUs of {} ({}): efficiency = busbw / {} GB/s "
                              "by bytes per peer; latency_ns = the all-to-all time at {} bytes per rank",
                              m.meta.nccl, gpus, m.meta.device, m.meta.date, options.nvlink_GBps, smallest)};
  return true;
}

}  // namespace

std::vector<double> monotone_non_decreasing(const std::vector<double>& y) {
  // Blocks of pooled neighbours (sum, count); merge backwards while a block's mean is below its
  // predecessor's.
  std::vector<double> sum;
  std::vector<std::size_t> count;
  for (double v : y) {
    sum.push_back(v);
    count.push_back(1);
    while (sum.size() > 1) {
      const std::size_t n = sum.size();
      if (sum[n - 2] / static_cast<double>(count[n - 2]) <= sum[n - 1] / static_cast<double>(count[n - 1])) break;
      sum[n - 2] += sum[n - 1];
      count[n - 2] += count[n - 1];
      sum.pop_back();
      count.pop_back();
    }
  }
  std::vector<double> out;
  out.reserve(y.size());
  for (std::size_t b = 0; b < sum.size(); ++b) out.insert(out.end(), count[b], sum[b] / static_cast<double>(count[b]));
  return out;
}

FitReport fit_profile(const Measurements& m, const Profile& base, const FitOptions& options) {
  base.validate("base profile");
  FitReport r{base, {}};
  Profile& p = r.profile;
  const std::string model = chosen_model(m, options);
  bool measured = m.device && (m.device->copy_GBps > 0 || m.device->matrix_bf16_TFLOPs > 0 || m.device->launch_ns >= 0);
  fit_device(m, base, p, r.notes);
  if (!model.empty()) {
    measured = fit_kernels(m, model, p, r.notes) || measured;
  } else {
    r.notes.push_back(p.kernels_us.empty() ? "kernels: none measured (the simulator uses its roofline)"
                                           : "kernels: none measured; the base profile's tables kept");
  }
  measured = fit_alltoall(m, options, p, r.notes) || measured;
  const std::string& scaleout = p.comm.at("scaleout").provenance.source;
  r.notes.push_back(fmt::format("comm.scaleout: kept from the base profile (source {})",
                                scaleout.empty() ? base.meta.source : scaleout));
  if (!m.layers.empty())
    r.notes.push_back(
        fmt::format("{} layer rows not used by the fit (they check the simulator's prediction)", m.layers.size()));

  if (!measured) {
    r.notes.push_back("nothing measured that the fit uses: the profile is the base profile");
  } else {
    p.meta = {m.meta.device,
              "measured",
              m.meta.driver,
              m.meta.cuda,
              m.meta.nccl,
              m.meta.date,
              m.meta.command,
              fmt::format("Fitted by moesim-fit over the base profile \"{}\" (source {}); each section's source "
                          "and citation say which figures were measured.{}",
                          base.meta.device, base.meta.source, m.meta.notes.empty() ? "" : " Run: " + m.meta.notes)};
  }
  p.validate("fitted profile");
  return r;
}

}  // namespace moesim::fit
