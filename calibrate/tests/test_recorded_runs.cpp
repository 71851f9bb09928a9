// The recorded GPU runs under calibrate/profiles/runs/: the shipped measured profiles are exactly
// what moesim-fit makes of them, they predict the recorded single-GPU layers within the validate
// target (median |error| of whole layers under 5%), and their per-call expert curves predict
// layers whose tokens crowd onto a few experts (Zipf 8) within 15%.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "cli/validate_table.hpp"
#include "fit/measurements.hpp"
#include "fit/profile_fit.hpp"
#include "io/profile_io.hpp"
#include "io/scenario_loader.hpp"
#include "spec/model_spec.hpp"

namespace {

std::string src(const std::string& rel) { return std::string(MOESIM_SOURCE_DIR) + "/" + rel; }

struct Run {
  const char* device;  // profile stem: calibrate/profiles/<device>.toml, runs/<device>-<date>/
  const char* date;
};

struct ModelFiles {
  const char* model;
  const char* tag;     // measurement file suffix: kernels-<tag>.json, validate-<tag>.json
  const char* suffix;  // profile name suffix ("" for deepseek-v3, the scenarios' model)
};

constexpr Run kRuns[] = {{"h100-sxm", "2026-11-23"}, {"h200", "2026-11-23"}};
constexpr ModelFiles kModels[] = {{"deepseek-v3", "dsv3", ""}, {"qwen3-30b-a3b", "qwen3", ".qwen3-30b-a3b"}};

std::string run_dir(const Run& run) {
  return src(std::string("calibrate/profiles/runs/") + run.device + "-" + run.date);
}

moesim::Profile shipped_profile(const Run& run, const ModelFiles& mf) {
  return moesim::io::load_profile(src(std::string("calibrate/profiles/") + run.device + mf.suffix + ".toml"));
}

// The model as the calibrator ran it (bf16 weights, dispatch and combine).
moesim::ModelSpec spec_as_run(const ModelFiles& mf) {
  return moesim::calib::spec_as_run(*moesim::io::find_model_preset(mf.model), 2);
}

}  // namespace

TEST_CASE("shipped measured profiles are the fit of their recorded runs", "[recorded]") {
  for (const Run& run : kRuns)
    for (const ModelFiles& mf : kModels) {
      const std::string dir = run_dir(run);
      INFO(dir << " " << mf.model);
      moesim::fit::Measurements m = moesim::fit::load_measurements(dir + "/device.json");
      moesim::fit::merge_measurements(m, moesim::fit::load_measurements(dir + "/kernels-" + mf.tag + ".json"));
      const moesim::Profile base =
          moesim::io::load_profile(src(std::string("calibrate/profiles/") + run.device + "-datasheet.toml"));
      moesim::fit::FitOptions options;
      options.model = mf.model;
      options.nvlink_GBps = 450;
      const moesim::Profile fitted = moesim::fit::fit_profile(m, base, options).profile;
      const moesim::Profile shipped = shipped_profile(run, mf);
      CHECK(fitted == shipped);
      CHECK(shipped.meta.source == "measured");
      CHECK(shipped.kernels_expert_fixed_us > 0);
    }
}

TEST_CASE("measured profiles predict the recorded single-GPU layers within 5% (median)", "[recorded]") {
  for (const Run& run : kRuns)
    for (const ModelFiles& mf : kModels) {
      const std::string dir = run_dir(run);
      INFO(dir << " " << mf.model);
      const moesim::Profile profile = shipped_profile(run, mf);
      const moesim::fit::Measurements m = moesim::fit::load_measurements(dir + "/validate-" + mf.tag + ".json");
      const moesim::ModelSpec spec = spec_as_run(mf);
      std::vector<moesim::calib::ValidateRow> rows;
      for (const auto& layer : m.layers) {
        const auto r = moesim::calib::predict_layer(profile, spec, layer);
        rows.insert(rows.end(), r.begin(), r.end());
      }
      REQUIRE(rows.size() == 48);  // 4 token counts x 3 skews x 4 phases
      // The uniform layers sit on the fit's token counts and skew 0; the Zipf 0.6 / 1.2 ones are held out.
      for (const auto& r : rows) CHECK(r.held_out == (r.skew != 0));
      for (const auto& r : rows) CHECK(r.source == (r.phase == "layer" ? "sum" : "measured"));
      const auto layer = moesim::calib::summarize_errors(rows, "layer");
      CHECK(layer.rows == 12);
      CHECK(layer.median_abs_pct < 5.0);
      CHECK(layer.p90_abs_pct < 15.0);  // a bound on the recorded runs, not the accuracy claim (VALIDATION.md)
      CHECK(moesim::calib::summarize_errors(rows, "").median_abs_pct < 5.0);
    }
}

TEST_CASE("per-call expert curves predict layers crowded onto a few experts within 15%", "[recorded]") {
  // `layer --gate zipf:8`: about 5 experts get every token and 20 to 30 get some, so the grouped
  // GEMM runs few experts; a single curve over all the model's experts missed these by -20% to
  // +57% (H100, deepseek-v3). The bound leaves room for the layer's own spread: the same
  // deepseek-v3 layer (1024 tokens) took 2399 to 2650 us in three runs in a row on one H200.
  for (const Run& run : kRuns)
    for (const ModelFiles& mf : kModels) {
      const std::string dir = run_dir(run);
      const moesim::Profile profile = shipped_profile(run, mf);
      const moesim::ModelSpec spec = spec_as_run(mf);
      int layers = 0;
      for (const auto& layer : moesim::fit::load_measurements(dir + "/hot-layers.json").layers) {
        if (layer.model != mf.model) continue;
        ++layers;
        for (const auto& r : moesim::calib::predict_layer(profile, spec, layer))
          if (r.phase == "experts") {
            INFO(dir << " " << mf.model << " " << r.tokens << " tokens: " << r.error_pct << "%");
            CHECK(std::abs(r.error_pct) < 15.0);
          }
      }
      CHECK(layers == 4);
    }
}
