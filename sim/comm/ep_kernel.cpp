// EP kernel costs (see ep_kernel.hpp).
#include "comm/ep_kernel.hpp"

#include <fmt/format.h>

#include "core/error.hpp"

namespace moesim {

EpKernel EpKernel::from_profile(const Profile& profile, const std::string& name, const std::string& where) {
  const auto params = profile.ep_kernel(name);
  if (!params) {
    std::string known;
    for (const std::string& n : profile.ep_kernel_names()) known += (known.empty() ? "" : ", ") + n;
    throw InputError(
        fmt::format("{}: ep_kernel \"{}\" is not in profile {} (it has: {})", where, name, profile.meta.device, known));
  }
  return EpKernel{name, *params};
}

MessageCost EpKernel::message_cost(const Profile& profile) const {
  MessageCost c;
  const auto nv = static_cast<std::size_t>(PathKind::nvlink);
  const auto out = static_cast<std::size_t>(PathKind::scale_out);
  if (params.mode == EpMode::nccl) {
    const CommParams& up = profile.comm.at("nvlink");
    const CommParams& so = profile.comm.at("scaleout");
    c.alpha_ns[nv] = up.latency_ns;
    c.alpha_ns[out] = so.latency_ns;
    c.efficiency = [up_eff = up.efficiency, out_eff = so.efficiency](PathKind kind, Bytes bytes) {
      const LogTable& t = kind == PathKind::nvlink ? up_eff : out_eff;
      return t.empty() ? 1.0 : t.at(bytes.count());
    };
    return c;
  }
  c.message_ns[nv] = params.message_nvlink_ns;
  c.message_ns[out] = params.message_scaleout_ns;
  c.efficiency = [nv_eff = params.efficiency_nvlink, out_eff = params.efficiency_scaleout](PathKind kind, Bytes) {
    return kind == PathKind::nvlink ? nv_eff : out_eff;
  };
  return c;
}

TimePs EpKernel::fixed_ps(bool combine, const EpLayout& layout) const {
  const bool wide = layout.spans_scaleout();
  const double us = combine ? (wide ? params.combine_fixed_scaleout_us : params.combine_fixed_us)
                            : (wide ? params.dispatch_fixed_scaleout_us : params.dispatch_fixed_us);
  return ps_from_us(us) + ps_from_ns(params.per_peer_ns * (layout.gpus() - 1));
}

void EpKernel::check_group(const EpLayout& layout, const std::string& where) const {
  if (params.mode == EpMode::one_sided && layout.spans_scaleout())
    throw InputError(
        fmt::format("{}: ep_kernel \"{}\" (one_sided) moves tokens by NVLink loads and stores, but the "
                    "EP group of {} GPUs spans {} NVLink domains; use a hierarchical or low_latency "
                    "kernel, or an EP group inside one domain",
                    where, name, layout.gpus(), layout.domains()));
}

}  // namespace moesim
