// Tests for the unit types (sim/core/units.hpp) and path kinds: arithmetic, transfer_ps by hand, names.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string_view>
#include <type_traits>

#include "core/units.hpp"
#include "net/topology.hpp"

namespace moesim {
namespace {

// Construction is explicit: a bare double never becomes bytes or a bandwidth by accident.
static_assert(!std::is_convertible_v<double, Bytes>);
static_assert(!std::is_convertible_v<Bytes, double>);
static_assert(!std::is_constructible_v<Bandwidth, double>);  // only Bandwidth::from_GBps
static_assert(std::is_trivially_copyable_v<Bytes> && std::is_standard_layout_v<Bytes>);
static_assert(std::is_trivially_copyable_v<Bandwidth> && std::is_standard_layout_v<Bandwidth>);
// Usable in constant expressions.
static_assert(transfer_ps(Bytes(1e6), Bandwidth::from_GBps(100)) == 10'000'000);

}  // namespace

TEST_CASE("Bytes: arithmetic is the double arithmetic it names", "[units]") {
  CHECK(Bytes().count() == 0.0);
  CHECK((Bytes(3) + Bytes(4)) == Bytes(7));
  CHECK((Bytes(10) - Bytes(4)) == Bytes(6));
  CHECK((Bytes(3) * 2.5) == Bytes(7.5));
  CHECK((2.5 * Bytes(3)) == Bytes(7.5));
  CHECK((Bytes(9) / 2.0) == Bytes(4.5));
  CHECK(Bytes(9) / Bytes(3) == 3.0);  // a ratio is a plain number
  Bytes b(1);
  b += Bytes(2);
  b -= Bytes(0.5);
  b *= 4;
  b /= 5;
  CHECK(b.count() == 2.0);
  CHECK(Bytes(2.5e9).GB() == 2.5);
  CHECK(Bytes(1) < Bytes(2));
  CHECK(Bytes(2) >= Bytes(2));
  CHECK(Bytes(2) != Bytes(3));
  CHECK(std::max(Bytes(5), Bytes(7)) == Bytes(7));
  // Same value as the untyped expression, bit for bit (fractional sizes included).
  const double x = 1e5 * (1.0 + 37.0 / 10.0), k = 1.0 / 3.0;
  CHECK((Bytes(x) / 2 / 7).count() == x / 2 / 7);
  CHECK((Bytes(x) * k + Bytes(k)).count() == x * k + k);
}

TEST_CASE("Bandwidth: held in GB/s, exact through from_GBps and GBps()", "[units]") {
  const Bandwidth nvlink = Bandwidth::from_GBps(450);
  CHECK(nvlink.GBps() == 450.0);
  CHECK(Bandwidth().GBps() == 0.0);
  CHECK(nvlink.bytes_per_ps() == 450 * 1e-3);  // 1 GB/s = 1e9 B / 1e12 ps
  CHECK((nvlink + Bandwidth::from_GBps(50)).GBps() == 500.0);
  CHECK((nvlink * 2.0).GBps() == 900.0);
  CHECK((0.5 * nvlink).GBps() == 225.0);
  CHECK((nvlink / 9.0).GBps() == 50.0);
  CHECK(nvlink / Bandwidth::from_GBps(900) == 0.5);
  Bandwidth b = Bandwidth::from_GBps(100);
  b += Bandwidth::from_GBps(20);
  b *= 0.5;
  CHECK(b == Bandwidth::from_GBps(60));
  CHECK(Bandwidth::from_GBps(50) < nvlink);
  CHECK(std::max(Bandwidth::from_GBps(50), nvlink) == nvlink);
  const double odd = 1.0 / 3.0;  // a value that a round trip through B/s would not keep
  CHECK(Bandwidth::from_GBps(odd).GBps() == odd);
}

TEST_CASE("transfer_ps: bytes x 1e3 / GB/s, rounded up to whole picoseconds", "[units]") {
  // Hand-computed: 1e6 B / 100 GB/s = 1e9 / 100 ps = 10 us exactly;
  // 1 B / 3 GB/s = 333.33.. ps -> 334; 1 B / 0.3 GB/s = 3333.33.. ps -> 3334;
  // 4096 B / 450 GB/s = 9102.22.. ps -> 9103; 14336 B / 900 GB/s = 15928.88.. ps -> 15929;
  // 3 B / 1000 GB/s = 3 ps exactly (an integer stays); 0 B takes 0 ps.
  CHECK(transfer_ps(Bytes(1e6), Bandwidth::from_GBps(100)) == 10'000'000);
  CHECK(transfer_ps(Bytes(1), Bandwidth::from_GBps(3)) == 334);
  CHECK(transfer_ps(Bytes(1), Bandwidth::from_GBps(0.3)) == 3334);
  CHECK(transfer_ps(Bytes(4096), Bandwidth::from_GBps(450)) == 9103);
  CHECK(transfer_ps(Bytes(14336), Bandwidth::from_GBps(900)) == 15929);
  CHECK(transfer_ps(Bytes(3), Bandwidth::from_GBps(1000)) == 3);
  CHECK(transfer_ps(Bytes(0), Bandwidth::from_GBps(50)) == 0);
  // The untyped formula on the same doubles, over many sizes and rates.
  for (int i = 1; i < 500; ++i) {
    const double bytes = 977.0 * i + 0.25 * (i % 4), gbps = 0.7 + 3.3 * (i % 17);
    CHECK(transfer_ps(Bytes(bytes), Bandwidth::from_GBps(gbps)) == ceil_ps(bytes * 1e3 / gbps));
  }
  // And the bytes a rate moves in a time: 0.45 B/ps for 2 us.
  CHECK(transfer_bytes(Bandwidth::from_GBps(450), 2'000'000) == Bytes(450 * 1e-3 * 2e6));
  CHECK(transfer_bytes(Bandwidth::from_GBps(450), 2'000'000).count() == Approx(900'000.0));
}

TEST_CASE("PathKind: names, and which GPU pairs are NVLink only", "[units][net]") {
  CHECK(std::string_view(path_kind_name(PathKind::nvlink)) == "nvlink");
  CHECK(std::string_view(path_kind_name(PathKind::scale_out)) == "scale_out");
  CHECK(static_cast<int>(PathKind::nvlink) == 0);  // index of MessageCost::alpha_ns
  CHECK(static_cast<int>(PathKind::scale_out) == 1);
  CHECK(kPathKindCount == 2);
  // g0 and g1 share an NVSwitch (cheaper than their NICs); g2 has only a NIC.
  Topology t("kinds");
  const int g0 = t.add_node(TopoNode{"g0", NodeKind::gpu, -1, 0, 0});
  const int g1 = t.add_node(TopoNode{"g1", NodeKind::gpu, -1, 0, 0});
  const int g2 = t.add_node(TopoNode{"g2", NodeKind::gpu, -1, 1, 1});
  const int sw = t.add_node(TopoNode{"sw", NodeKind::nvswitch, -1, -1, -1});
  const int leaf = t.add_node(TopoNode{"leaf", NodeKind::network_switch, -1, -1, -1});
  for (int g : {g0, g1}) t.add_duplex(g, sw, Bandwidth::from_GBps(450), 100, "nvlink");
  for (int g : {g0, g1, g2}) t.add_duplex(g, leaf, Bandwidth::from_GBps(50), 1000, "nic");
  t.finalize();
  CHECK(t.path_kind(0, 1) == PathKind::nvlink);
  CHECK(t.path_kind(1, 0) == PathKind::nvlink);
  CHECK(t.path_kind(0, 2) == PathKind::scale_out);
  CHECK(t.path_kind(2, 1) == PathKind::scale_out);
}

}  // namespace moesim
