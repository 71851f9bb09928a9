// The `moesim-fit` command: measurement files + a base profile -> a fitted profile TOML, and
// optionally the fitted profile's predictions beside recorded layer measurements (validate's
// table, without a GPU). Exit codes as for `moesim`: 0 ok, 1 internal or I/O error, 2 bad input.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>

#include "cli/attention_check.hpp"
#include "cli/validate_table.hpp"
#include "core/error.hpp"
#include "fit/measurements.hpp"
#include "fit/profile_fit.hpp"
#include "io/profile_io.hpp"
#include "io/scenario_loader.hpp"
#include "io/toml_reader.hpp"
#include "spec/model_spec.hpp"

namespace {

struct Args {
  std::vector<std::string> measurements;
  std::string base;
  std::string out;
  std::string device_name;
  std::vector<std::string> check_layers;
  std::vector<std::string> check_attention;
  moesim::fit::FitOptions options;
};

// The fitted profile's prediction of each recorded layer of its model, as `validate` prints it.
std::vector<moesim::calib::ValidateRow> layer_rows(const moesim::Profile& profile,
                                                   const std::vector<std::string>& files) {
  std::vector<moesim::calib::ValidateRow> rows;
  for (const std::string& file : files) {
    for (const moesim::fit::LayerMeasurement& layer : moesim::fit::load_measurements(file).layers) {
      if (layer.model != profile.kernels_model) continue;
      const auto preset = moesim::io::find_model_preset(layer.model);
      if (!preset) throw moesim::InputError(fmt::format("{}: layer of unknown model \"{}\"", file, layer.model));
      const moesim::ModelSpec spec = moesim::calib::spec_as_run(*preset, layer.weight_bytes);
      const auto r = moesim::calib::predict_layer(profile, spec, layer);
      rows.insert(rows.end(), r.begin(), r.end());
    }
  }
  if (rows.empty())
    throw moesim::InputError(fmt::format("--check-layers: no recorded layer of {} in the files given",
                                         profile.kernels_model.empty() ? "the fitted model" : profile.kernels_model));
  return rows;
}

// The fitted profile's core attention beside each recorded attention row of its model.
std::vector<moesim::calib::ValidateRow> attention_rows(const moesim::Profile& profile,
                                                       const std::vector<std::string>& files) {
  const auto preset = moesim::io::find_model_preset(profile.kernels_model);
  if (!preset)
    throw moesim::InputError(fmt::format("--check-attention: the fitted profile's model \"{}\" is not a preset",
                                         profile.kernels_model));
  std::vector<moesim::calib::ValidateRow> rows;
  for (const std::string& file : files) {
    const auto r = moesim::calib::predict_attention(profile, *preset, moesim::fit::load_measurements(file).attention);
    rows.insert(rows.end(), r.begin(), r.end());
  }
  if (rows.empty())
    throw moesim::InputError(
        fmt::format("--check-attention: no recorded attention row of {} in the files given", profile.kernels_model));
  return rows;
}

int run(const Args& a) {
  moesim::fit::Measurements m = moesim::fit::load_measurements(a.measurements.front());
  for (std::size_t i = 1; i < a.measurements.size(); ++i) {
    const moesim::fit::Measurements more = moesim::fit::load_measurements(a.measurements[i]);
    if (more.meta.device != m.meta.device)
      throw moesim::InputError(fmt::format("{}: device \"{}\" differs from \"{}\" in {} (fit one device at a time)",
                                           a.measurements[i], more.meta.device, m.meta.device, a.measurements.front()));
    moesim::fit::merge_measurements(m, more);
  }
  const moesim::Profile base = moesim::io::load_profile(a.base);
  moesim::fit::FitReport report = moesim::fit::fit_profile(m, base, a.options);
  if (!a.device_name.empty()) report.profile.meta.device = a.device_name;
  for (const std::string& note : report.notes) std::cout << "  " << note << "\n";
  // Bad layer files fail before anything is written.
  const auto rows =
      a.check_layers.empty() ? std::vector<moesim::calib::ValidateRow>{} : layer_rows(report.profile, a.check_layers);
  const auto attention = a.check_attention.empty() ? std::vector<moesim::calib::ValidateRow>{}
                                                   : attention_rows(report.profile, a.check_attention);

  const std::string text = moesim::io::profile_to_toml(report.profile);
  {
    // The fitted profile must be one the simulator accepts (every range, core/limits.hpp) before
    // anything is written: absurd measurements make absurd efficiencies.
    const std::string origin = a.out + " (fitted profile, not written)";
    moesim::io::load_profile_table(moesim::io::parse_toml_text(text, origin), origin);
  }
  std::ofstream out(a.out, std::ios::binary);
  out << text;
  out.close();
  if (!out) throw moesim::Error(fmt::format("cannot write {}", a.out));
  // What was written must load back as the same profile (the reader is strict).
  if (!(moesim::io::load_profile(a.out) == report.profile))
    throw moesim::Error(fmt::format("{}: the written profile does not load back identically", a.out));
  std::cout << fmt::format("profile written to {} (source {})\n", a.out, report.profile.meta.source);
  if (!rows.empty()) std::cout << "\nfitted profile vs recorded layers\n" << moesim::calib::validate_table_text(rows);
  if (!attention.empty())
    std::cout << "\nfitted profile vs recorded attention kernels\n" << moesim::calib::attention_table_text(attention);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"moesim-fit: fit a device profile from moesim-calibrate measurements"};
  Args a;
  app.add_option("--measurements", a.measurements,
                 "measurement JSON (calibrate/MEASUREMENTS.md); repeat to merge runs of one device")
      ->required()
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--base", a.base, "base profile: datasheet ceilings and whatever was not measured")->required();
  app.add_option("--model", a.options.model, "model whose kernel tables to fit (default: the only one measured)");
  app.add_option("--nvlink-GBps", a.options.nvlink_GBps,
                 "one GPU's NVLink bandwidth per direction, GB/s, to fit comm.nvlink from all-to-all "
                 "(0 = keep the base profile's)")
      ->check(CLI::Range(0.0, 1e9));
  app.add_option("--out", a.out, "fitted profile to write (TOML)")->required();
  app.add_option("--device-name", a.device_name, "meta.device of the fitted profile (default: the measured name)");
  app.add_option("--check-layers", a.check_layers,
                 "measurement JSON with layer rows (validate --out): print the fitted profile's prediction of "
                 "each layer of its model beside the measurement; repeatable")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--check-attention", a.check_attention,
                 "measurement JSON with attention rows (attention --out), e.g. a grid between the fitted points: "
                 "print the fitted profile's core attention beside each row of its model; repeatable")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // usage errors are bad input too
  }
  try {
    return run(a);
  } catch (const moesim::InputError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
