// moesim-calibrate's argument parsing: lists, gate specs, models and their gates, command lines.
#include <catch2/catch.hpp>

#include "cli/calib_args.hpp"
#include "core/error.hpp"

using namespace moesim::calib;
using moesim::InputError;

TEST_CASE("integer and number lists") {
  CHECK(parse_int_list("1, 2,4", "--tokens", 1, 100) == std::vector<int>{1, 2, 4});
  CHECK_THROWS_AS(parse_int_list("1,,2", "--tokens", 1, 100), InputError);
  CHECK_THROWS_AS(parse_int_list("1,", "--tokens", 1, 100), InputError);
  CHECK_THROWS_AS(parse_int_list("a", "--tokens", 1, 100), InputError);
  CHECK_THROWS_AS(parse_int_list("2x", "--tokens", 1, 100), InputError);
  CHECK_THROWS_AS(parse_int_list("0", "--tokens", 1, 100), InputError);
  CHECK(parse_double_list("0,1.2", "--skews", 0, 20) == std::vector<double>{0, 1.2});
  CHECK_THROWS_AS(parse_double_list("nan", "--skews", 0, 20), InputError);
  CHECK_THROWS_AS(parse_double_list("-1", "--skews", 0, 20), InputError);
  const std::vector<int> p = powers_of_two(8192);
  CHECK(p.size() == 14);
  CHECK(p.front() == 1);
  CHECK(p.back() == 8192);
}

TEST_CASE("synthetic gate specs") {
  const GateArg z = parse_gate_arg("zipf:1.2");
  CHECK(z.spec.kind == moesim::GateModel::zipf);
  CHECK(z.spec.zipf_exponent == 1.2);
  CHECK(z.skew == 1.2);
  CHECK(z.label == "zipf:1.2");
  CHECK(parse_gate_arg("uniform").spec.kind == moesim::GateModel::uniform);
  CHECK(parse_gate_arg("zipf:0").label == "uniform");
  const GateArg l = parse_gate_arg("lognormal:1.5");
  CHECK(l.spec.kind == moesim::GateModel::lognormal);
  CHECK(l.spec.lognormal_sigma == 1.5);
  CHECK(l.skew == 0);
  CHECK(l.label == "lognormal:1.5");
  CHECK(moesim::calib::zipf_family("uniform"));
  CHECK(moesim::calib::zipf_family("zipf:0.6"));
  CHECK_FALSE(moesim::calib::zipf_family("lognormal:1.5"));
  CHECK_FALSE(moesim::calib::zipf_family("scenarios/traces/smoke.moetrace"));
  for (const char* bad : {"zipf:", "zipf:x", "zipf:30", "zipf:1,2", "lognormal", "lognormal:0", "lognormal:11", ""})
    CHECK_THROWS_AS(parse_gate_arg(bad), InputError);
}

TEST_CASE("models resolve to their gates") {
  ModelArgs a;
  a.model = "deepseek-v3";
  const ResolvedModel ds = resolve_model(a);
  CHECK(ds.spec.hidden == 7168);
  CHECK(ds.gate.kind == GateKind::SigmoidGroupTopk);
  CHECK(ds.gate.n_group == 8);
  CHECK(ds.gate.topk_group == 4);
  CHECK(ds.gate.scaling == 2.5f);
  CHECK(ds.gate.experts == 256);
  CHECK(ds.gate.top_k == 8);
  a.model = "qwen3-30b-a3b";
  const ResolvedModel q = resolve_model(a);
  CHECK(q.spec.name == "qwen3-30b-a3b");
  CHECK(q.gate.kind == GateKind::SoftmaxTopk);
  CHECK(q.gate.normalize);
  a.gate_kind = "sigmoid";  // switching kind resets the groups to one
  CHECK(resolve_model(a).gate.n_group == 1);
}

TEST_CASE("explicit dimensions, alone or over a preset") {
  ModelArgs a;
  a.hidden = 1024;
  a.experts = 60;
  a.top_k = 4;
  a.expert_ffn = 512;
  const ResolvedModel r = resolve_model(a);
  CHECK(r.spec.name == "custom");
  CHECK(r.spec.routed_experts == 60);
  CHECK(r.gate.kind == GateKind::SoftmaxTopk);
  a.name = "qwen1.5-moe";
  CHECK(resolve_model(a).spec.name == "qwen1.5-moe");
  ModelArgs o;
  o.model = "deepseek-v3";
  o.experts = 64;  // a smaller DeepSeek-like layer: still 8 groups of 8
  const ResolvedModel s = resolve_model(o);
  CHECK(s.spec.name == "custom");
  CHECK(s.gate.experts == 64);
  CHECK(s.gate.n_group == 8);
}

TEST_CASE("models the kernels cannot run are refused") {
  ModelArgs a;
  a.model = "no-such-model";
  CHECK_THROWS_AS(resolve_model(a), InputError);
  ModelArgs partial;
  partial.hidden = 1024;
  CHECK_THROWS_AS(resolve_model(partial), InputError);
  ModelArgs odd;
  odd.hidden = 1020;  // not a multiple of 8
  odd.experts = 8;
  odd.top_k = 2;
  odd.expert_ffn = 512;
  CHECK_THROWS_AS(resolve_model(odd), InputError);
  odd.hidden = 1024;
  odd.top_k = 9;  // more than the experts
  CHECK_THROWS_AS(resolve_model(odd), InputError);
}

TEST_CASE("command lines and per-model file names") {
  const char* argv[] = {"moesim-calibrate", "layer", "--gate", "zipf:1.0", "a b", "it's"};
  CHECK(join_command_line(6, argv) == "moesim-calibrate layer --gate zipf:1.0 'a b' 'it'\\''s'");
  CHECK(path_with_suffix("dir/h100.toml", "qwen3-30b-a3b") == "dir/h100.qwen3-30b-a3b.toml");
  CHECK(path_with_suffix("h100", "m") == "h100.m");
  CHECK(path_with_suffix("a.b/h100", "m") == "a.b/h100.m");
}
