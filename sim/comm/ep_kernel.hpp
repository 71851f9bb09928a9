#pragma once
// An expert-parallel kernel as the network sees it: the per-message costs its flows carry and
// the fixed cost of each collective (launch, handshake with every peer, completion flags).
#include <string>

#include "comm/ep_layout.hpp"
#include "core/units.hpp"
#include "gpu/profile.hpp"
#include "net/network.hpp"

namespace moesim {

struct EpKernel {
  std::string name;
  EpKernelParams params;

  // The profile's kernel of that name; InputError naming `where` and the known names otherwise.
  static EpKernel from_profile(const Profile& profile, const std::string& name, const std::string& where);
  EpMode mode() const { return params.mode; }
  // Flow costs: nccl keeps [comm.*] (latency per flow, efficiency by message size); the other
  // modes reach the kernel's efficiency on large transfers and pay per message on the port.
  MessageCost message_cost(const Profile& profile) const;
  // Fixed cost of one dispatch (or, with `combine`, one combine) over `layout`'s group.
  TimePs fixed_ps(bool combine, const EpLayout& layout) const;
  // Copy rate of the kernel's SMs, bytes per ps; 0 when SMs do not limit it.
  double sm_bytes_per_ps() const { return params.sms * params.sm_GBps * 1e-3; }
  // InputError (naming `where`) when the kernel cannot run over this group.
  void check_group(const EpLayout& layout, const std::string& where) const;
};

}  // namespace moesim
