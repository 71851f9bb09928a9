// Tests for the output layer: CSV quoting and splitting, checked writes, and the metric registry.
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "core/error.hpp"
#include "io/csv_text.hpp"
#include "io/csv_writer.hpp"
#include "io/metric_registry.hpp"
#include "test_util.hpp"

using moesim::io::CsvSpaces;
using moesim::io::CsvWriter;
using moesim::io::split_csv;
using Fields = std::vector<std::string>;

TEST_CASE("csv writer: quotes only the fields that need it (RFC 4180)", "[csv][io]") {
  CsvWriter csv;
  csv.fields({"plain", "a,b", "say \"hi\"", "two\nlines", "cr\rhere", ""}).end_row();
  CHECK(csv.str() == "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\"cr\rhere\",\n");
}

TEST_CASE("csv writer: one_line and always quoting, numbers and blank fields", "[csv][io]") {
  CsvWriter csv;
  csv.text("x\ny", {.one_line = true}).text("ok", {.always = true}).empty(2).number(3).number(2.0 / 3, "{:.4f}");
  csv.end_row().number(-1).end_row();
  CHECK(csv.str() == "\"x y\",\"ok\",,,3,0.6667\n-1\n");
}

TEST_CASE("csv: the splitter reads back what the writer wrote", "[csv][io]") {
  const Fields texts = {"plain", "a,b", "say \"hi\"", " padded ", "", "x"};
  CsvWriter csv;
  for (const std::string& t : texts) csv.text(t);
  std::string line = csv.str();
  CHECK(split_csv(line, CsvSpaces::keep) == texts);
  // The importers' form drops blanks around unquoted fields, never inside quotes.
  CHECK(split_csv(" 1 ,\t2,\" 3 \" , x y ") == Fields{"1", "2", " 3 ", "x y"});
  CHECK(split_csv("") == Fields{""});
  CHECK(split_csv("a,") == Fields{"a", ""});
}

TEST_CASE("csv writer: a failed write names the file and the OS reason", "[csv][io]") {
  const auto dir = moesim::test::scratch_dir("csv-writer");
  const auto missing = dir / "no-such-dir" / "out.csv";
  CsvWriter csv;
  csv.fields({"a", "b"}).end_row();
  try {
    csv.save(missing);
    FAIL("expected an error");
  } catch (const moesim::Error& e) {
    const std::string what = e.what();
    CHECK(what.find(missing.string()) != std::string::npos);
    CHECK(what.find(std::strerror(ENOENT)) != std::string::npos);  // "No such file or directory"
  }
  // And a write that works leaves exactly the text; append mode adds to it.
  const auto ok = dir / "ok.csv";
  csv.save(ok);
  moesim::io::OutputFile more(ok, moesim::io::OutputFile::Mode::append);
  more.write("1,2\n");
  more.close();
  std::ifstream in(ok);
  CHECK(std::string(std::istreambuf_iterator<char>(in), {}) == "a,b\n1,2\n");
  // A write that opens but cannot land (a full disk) is caught too.
  if (std::filesystem::exists("/dev/full"))
    CHECK_THROWS_WITH(csv.save("/dev/full"), Catch::Contains("/dev/full") && Catch::Contains(std::strerror(ENOSPC)));
}

TEST_CASE("metric registry: unique names, each read from its own Summary field", "[metrics][io]") {
  using moesim::io::metric;
  std::set<std::string_view> names;
  for (const moesim::io::Metric& m : moesim::io::metrics()) {
    CHECK(names.insert(m.name).second);
    CHECK(!m.unit.empty());
    CHECK(!m.description.empty());
  }
  // Distinct values in every field, so that a metric reading the wrong one is caught.
  moesim::Summary s;
  s.gpus = 8;
  s.step_us_mean = 1.5;
  s.step_us_p50 = 2.5;
  s.step_us_p90 = 3.5;
  s.step_us_p99 = 4.5;
  s.tokens_per_s_total = 1000;
  s.tokens_per_s_per_gpu = 125;
  s.layer_load_max_over_mean = 1.25;
  s.load_max_over_mean = 1.125;
  s.hottest_gpu = 3;
  s.hottest_gpu_share = 0.2;
  s.hottest_link = "gpu3->sw0";
  s.hottest_link_class = "nvlink";
  s.hottest_link_utilization = 0.75;
  s.network_bytes_per_step = moesim::Bytes(4096);
  s.scaleout_bytes_per_step = moesim::Bytes(512);
  s.critical_phase = "experts";
  s.dropped_fraction = 0.0625;
  s.hottest_link_busy_fraction = 0.5;
  s.hottest_link_peak_utilization = 0.875;
  s.straggler_gpu = 5;
  s.straggler_phase = "attention";
  s.straggler_share = 0.375;
  s.straggler_phase_share = 0.25;
  s.serving.ttft_ms_p50 = 101.5;
  s.serving.ttft_ms_p90 = 102.5;
  s.serving.ttft_ms_p99 = 103.5;
  s.serving.tpot_ms_p50 = 104.5;
  s.serving.tpot_ms_p90 = 105.5;
  s.serving.tpot_ms_p99 = 106.5;
  s.serving.e2e_s_p50 = 107.5;
  s.serving.e2e_s_p90 = 108.5;
  s.serving.e2e_s_p99 = 109.5;
  s.serving.output_tokens_per_s_per_gpu = 110.5;
  s.serving.input_tokens_per_s_per_gpu = 111.5;
  s.serving.tokens_per_s_per_user = 112.5;
  s.serving.request_rate_per_s = 113.5;
  s.serving.goodput_rps = 114.5;
  s.serving.slo_attainment = 115.5;
  s.serving.memo_error_p99 = 116.5;
  s.bottleneck_link = "gpu5->leaf0";
  s.bottleneck_link_class = "nic";
  s.bottleneck_link_share = 0.125;
  s.bottleneck_link_class_share = 0.625;
  s.bottleneck_link_utilization = 0.03125;
  s.bottleneck_link_busy_fraction = 0.0625;
  s.bottleneck_link_peak_utilization = 0.9375;
  const auto num = [&](const char* name) { return moesim::io::metric_number(metric(name), s); };
  CHECK(num("gpus") == 8);
  CHECK(num("step_us_mean") == 1.5);
  CHECK(num("step_us_p50") == 2.5);
  CHECK(num("step_us_p90") == 3.5);
  CHECK(num("step_us_p99") == 4.5);
  CHECK(num("tokens_per_s_total") == 1000);
  CHECK(num("tokens_per_s_per_gpu") == 125);
  CHECK(num("layer_gpu_load_max_over_mean") == 1.25);
  CHECK(num("gpu_load_max_over_mean") == 1.125);
  CHECK(num("hottest_gpu") == 3);
  CHECK(num("hottest_gpu_share") == 0.2);
  CHECK(num("hottest_link_utilization") == 0.75);
  CHECK(num("network_bytes_per_step") == 4096);
  CHECK(num("scaleout_bytes_per_step") == 512);
  CHECK(num("balancedness") == 0.8);  // 1 / 1.25
  CHECK(num("dropped_fraction") == 0.0625);
  CHECK(num("hottest_link_busy_fraction") == 0.5);
  CHECK(num("hottest_link_peak_utilization") == 0.875);
  CHECK(num("straggler_gpu") == 5);
  CHECK(num("straggler_share") == 0.375);
  CHECK(num("straggler_phase_share") == 0.25);
  CHECK(num("bottleneck_link_share") == 0.125);
  CHECK(num("bottleneck_link_class_share") == 0.625);
  CHECK(num("bottleneck_link_utilization") == 0.03125);
  CHECK(num("bottleneck_link_busy_fraction") == 0.0625);
  CHECK(num("bottleneck_link_peak_utilization") == 0.9375);
  const auto text = [&](const char* name) { return std::get<std::string>(metric(name).read(s)); };
  CHECK(text("hottest_link") == "gpu3->sw0");
  CHECK(text("hottest_link_class") == "nvlink");
  CHECK(text("dominant_phase") == "experts");
  CHECK(text("straggler_phase") == "attention");
  CHECK(text("bottleneck_link") == "gpu5->leaf0");
  CHECK(text("bottleneck_link_class") == "nic");
  CHECK(num("ttft_ms_p50") == 101.5);
  CHECK(num("ttft_ms_p90") == 102.5);
  CHECK(num("ttft_ms_p99") == 103.5);
  CHECK(num("tpot_ms_p50") == 104.5);
  CHECK(num("tpot_ms_p90") == 105.5);
  CHECK(num("tpot_ms_p99") == 106.5);
  CHECK(num("e2e_s_p50") == 107.5);
  CHECK(num("e2e_s_p90") == 108.5);
  CHECK(num("e2e_s_p99") == 109.5);
  CHECK(num("output_tokens_per_s_per_gpu") == 110.5);
  CHECK(num("input_tokens_per_s_per_gpu") == 111.5);
  CHECK(num("tokens_per_s_per_user") == 112.5);
  CHECK(num("request_rate_per_s") == 113.5);
  CHECK(num("goodput_rps") == 114.5);
  CHECK(num("slo_attainment") == 115.5);
  CHECK(num("memo_error_p99") == 116.5);
  CHECK(names.size() == 48);  // every metric checked above
  // Each formats with its own format; an unknown name is a programming error.
  for (const moesim::io::Metric& m : moesim::io::metrics()) CHECK_NOTHROW(moesim::io::format_metric(m, s));
  CHECK(moesim::io::format_metric(metric("step_us_p50"), s) == "2.5000");
  CHECK(moesim::io::format_metric(metric("tokens_per_s_total"), s, "{:.1f}") == "1000.0");
  CHECK_THROWS_AS(metric("step_us_p42"), std::logic_error);
  CHECK_THROWS_AS(moesim::io::metric_number(metric("hottest_link"), s), std::logic_error);
}
