// The recorded GPU runs under calibrate/profiles/runs/: the shipped measured profiles are exactly
// what moesim-fit makes of them, and they predict the recorded single-GPU layers within the
// validate target (median |error| of whole layers under 5%).
#include <catch2/catch.hpp>

#include <string>

#include "cli/validate_table.hpp"
#include "fit/measurements.hpp"
#include "fit/profile_fit.hpp"
#include "io/profile_io.hpp"
#include "moe/model_spec.hpp"

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

}  // namespace

TEST_CASE("shipped measured profiles are the fit of their recorded runs", "[recorded]") {
  for (const Run& run : kRuns)
    for (const ModelFiles& mf : kModels) {
      const std::string dir = src(std::string("calibrate/profiles/runs/") + run.device + "-" + run.date);
      INFO(dir << " " << mf.model);
      moesim::fit::Measurements m = moesim::fit::load_measurements(dir + "/device.json");
      moesim::fit::merge_measurements(m, moesim::fit::load_measurements(dir + "/kernels-" + mf.tag + ".json"));
      const moesim::Profile base =
          moesim::io::load_profile(src(std::string("calibrate/profiles/") + run.device + "-datasheet.toml"));
      moesim::fit::FitOptions options;
      options.model = mf.model;
      options.nvlink_GBps = 450;
      const moesim::Profile fitted = moesim::fit::fit_profile(m, base, options).profile;
      const moesim::Profile shipped =
          moesim::io::load_profile(src(std::string("calibrate/profiles/") + run.device + mf.suffix + ".toml"));
      CHECK(fitted == shipped);
      CHECK(shipped.meta.source == "measured");
      CHECK(shipped.kernels_expert_fixed_us > 0);
    }
}

TEST_CASE("measured profiles predict the recorded single-GPU layers within 5% (median)", "[recorded]") {
  for (const Run& run : kRuns)
    for (const ModelFiles& mf : kModels) {
      const std::string dir = src(std::string("calibrate/profiles/runs/") + run.device + "-" + run.date);
      INFO(dir << " " << mf.model);
      const moesim::Profile profile =
          moesim::io::load_profile(src(std::string("calibrate/profiles/") + run.device + mf.suffix + ".toml"));
      const moesim::fit::Measurements m = moesim::fit::load_measurements(dir + "/validate-" + mf.tag + ".json");
      const moesim::ModelSpec spec = moesim::calib::spec_as_run(*moesim::model_preset(mf.model), 2);
      std::vector<moesim::calib::ValidateRow> rows;
      for (const auto& layer : m.layers) {
        const auto r = moesim::calib::predict_layer(profile, spec, layer);
        rows.insert(rows.end(), r.begin(), r.end());
      }
      REQUIRE(rows.size() == 48);  // 4 token counts x 3 skews x 4 phases
      for (const auto& r : rows) CHECK(r.source == (r.phase == "layer" ? "sum" : "profile"));
      const auto layer = moesim::calib::summarize_errors(rows, "layer");
      CHECK(layer.rows == 12);
      CHECK(layer.median_abs_pct < 5.0);
      CHECK(layer.p90_abs_pct < 10.0);
      CHECK(moesim::calib::summarize_errors(rows, "").median_abs_pct < 5.0);
    }
}
