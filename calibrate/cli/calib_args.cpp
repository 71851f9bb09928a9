// Parsing and checking of moesim-calibrate's command-line values (see calib_args.hpp).
#include "cli/calib_args.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <sstream>

#include "core/error.hpp"
#include "io/scenario_loader.hpp"

namespace moesim::calib {

namespace {

std::vector<std::string> split_commas(const std::string& text, const std::string& what) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, ',')) {
    const auto b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    if (b == std::string::npos) throw InputError(fmt::format("{}: empty item in \"{}\"", what, text));
    out.push_back(item.substr(b, e - b + 1));
  }
  if (out.empty() || text.back() == ',') throw InputError(fmt::format("{}: empty item in \"{}\"", what, text));
  return out;
}

}  // namespace

std::vector<int> parse_int_list(const std::string& text, const std::string& what, int min, int max) {
  std::vector<int> out;
  for (const std::string& s : split_commas(text, what)) {
    int v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size())
      throw InputError(fmt::format("{}: \"{}\" is not an integer", what, s));
    if (v < min || v > max) throw InputError(fmt::format("{}: {} outside [{}, {}]", what, v, min, max));
    out.push_back(v);
  }
  return out;
}

std::vector<double> parse_double_list(const std::string& text, const std::string& what, double min, double max) {
  std::vector<double> out;
  for (const std::string& s : split_commas(text, what)) {
    std::size_t used = 0;
    double v = 0;
    try {
      v = std::stod(s, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != s.size() || !std::isfinite(v)) throw InputError(fmt::format("{}: \"{}\" is not a number", what, s));
    if (v < min || v > max) throw InputError(fmt::format("{}: {} outside [{}, {}]", what, v, min, max));
    out.push_back(v);
  }
  return out;
}

std::vector<int> powers_of_two(int max_tokens) {
  std::vector<int> out;
  for (long long t = 1; t <= max_tokens; t *= 2) out.push_back(static_cast<int>(t));
  return out;
}

GateArg zipf_gate(double skew) {
  if (!(skew >= 0 && skew <= 20)) throw InputError(fmt::format("zipf exponent {} outside [0, 20]", skew));
  GateArg g;
  g.skew = skew;
  if (skew == 0) {
    g.spec.kind = GateModel::uniform;
    g.label = "uniform";
    return g;
  }
  g.spec.kind = GateModel::zipf;
  g.spec.zipf_exponent = skew;
  g.label = fmt::format("zipf:{}", skew);
  return g;
}

GateArg lognormal_gate(double sigma) {
  if (!(sigma > 0 && sigma <= 10)) throw InputError(fmt::format("log-normal sigma {} outside (0, 10]", sigma));
  GateArg g;
  g.spec.kind = GateModel::lognormal;
  g.spec.lognormal_sigma = sigma;
  g.label = fmt::format("lognormal:{}", sigma);
  return g;
}

bool zipf_family(const std::string& label) { return label == "uniform" || label.rfind("zipf:", 0) == 0; }

GateArg parse_gate_arg(const std::string& text) {
  if (text == "uniform") return zipf_gate(0);
  for (const std::string prefix : {"zipf:", "lognormal:"}) {
    if (text.rfind(prefix, 0) != 0) continue;
    const bool zipf = prefix == "zipf:";
    const std::vector<double> s =
        parse_double_list(text.substr(prefix.size()), zipf ? "--gate zipf exponent" : "--gate log-normal sigma", 0, 20);
    if (s.size() != 1) throw InputError(fmt::format("--gate \"{}\": one {} expected", text, zipf ? "exponent" : "sigma"));
    return zipf ? zipf_gate(s[0]) : lognormal_gate(s[0]);
  }
  throw InputError(fmt::format(
      "--gate \"{}\": expected uniform, zipf:S (S = Zipf exponent) or lognormal:SIGMA (popularity spread)", text));
}

GateConfig preset_gate_config(const ModelSpec& spec) {
  GateConfig g;
  g.experts = spec.routed_experts;
  g.top_k = spec.top_k;
  if (spec.name == "deepseek-v3") {
    // config.json: scoring_func sigmoid, n_group 8, topk_group 4, norm_topk_prob, scaling 2.5.
    g.kind = GateKind::SigmoidGroupTopk;
    g.n_group = 8;
    g.topk_group = 4;
    g.scaling = 2.5f;
  } else if (spec.name == "olmoe-1b-7b") {
    g.normalize = false;  // config.json: norm_topk_prob false
  }
  return g;
}

ResolvedModel resolve_model(const ModelArgs& a) {
  ResolvedModel r;
  const bool explicit_dims = a.hidden || a.experts || a.top_k || a.expert_ffn;
  if (!a.model.empty()) {
    const auto preset = moesim::io::find_model_preset(a.model);
    if (!preset)
      throw InputError(fmt::format("--model \"{}\": unknown preset (known: {})", a.model,
                                   fmt::join(moesim::io::model_preset_names(), ", ")));
    r.spec = *preset;
    r.gate = preset_gate_config(r.spec);
  } else {
    if (!(a.hidden && a.experts && a.top_k && a.expert_ffn))
      throw InputError("give --model NAME or all of --hidden, --experts, --top-k and --expert-ffn");
    r.spec.layers = 1;
    r.spec.attn_params = 1;
    r.spec.kv_bytes_per_token = 1;
  }
  if (a.hidden) r.spec.hidden = a.hidden;
  if (a.experts) r.spec.routed_experts = a.experts;
  if (a.top_k) r.spec.top_k = a.top_k;
  if (a.expert_ffn) r.spec.expert_ffn = a.expert_ffn;
  if (!a.name.empty())
    r.spec.name = a.name;
  else if (a.model.empty() || explicit_dims)
    r.spec.name = "custom";
  r.gate.experts = r.spec.routed_experts;
  r.gate.top_k = r.spec.top_k;
  if (!a.gate_kind.empty()) {
    const GateKind kind = parse_gate_kind(a.gate_kind);
    if (kind != r.gate.kind) {
      r.gate.kind = kind;
      r.gate.n_group = r.gate.topk_group = 1;
      r.gate.scaling = 1.0f;
    }
  }
  if (a.n_group) r.gate.n_group = a.n_group;
  if (a.topk_group) r.gate.topk_group = a.topk_group;
  for (const auto& [v, n] : {std::pair{r.spec.hidden, "hidden"}, std::pair{r.spec.expert_ffn, "expert_ffn"}})
    if (v < 8 || v % 8 != 0)
      throw InputError(fmt::format("{} = {} must be a positive multiple of 8 (16-byte bf16 vectors)", n, v));
  validate_gate_config(r.gate);
  return r;
}

std::string join_command_line(int argc, const char* const* argv) {
  std::string out;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a.empty() || a.find_first_of(" \t\"'$\\") != std::string::npos) {
      std::string q = "'";
      for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
      a = q + "'";
    }
    if (i) out += ' ';
    out += a;
  }
  return out;
}

std::string path_with_suffix(const std::string& path, const std::string& suffix) {
  const auto slash = path.find_last_of('/');
  const auto dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash) || dot == slash + 1)
    return path + "." + suffix;
  return path.substr(0, dot) + "." + suffix + path.substr(dot);
}

}  // namespace moesim::calib
