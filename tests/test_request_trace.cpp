// Request-trace importers: the examples in scenarios/requests/ read back as written (counts, first
// and last arrival, token sums, rows checked by hand); time scale, sorting, header rules; every bad
// input names its file and line.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/request_trace.hpp"
#include "test_util.hpp"

using Catch::Contains;
using Catch::StartsWith;
using moesim::InputError;
using moesim::Request;
using moesim::RequestTraceFormat;
using moesim::io::load_request_trace;
using moesim::io::parse_request_trace;
using moesim::io::RequestTrace;

namespace {

constexpr std::int64_t kPsPerS = 1'000'000'000'000;

RequestTrace example(const std::string& file, RequestTraceFormat format, double scale = 1) {
  return load_request_trace(moesim::test::source_path("scenarios/requests/" + file), format, scale);
}

std::int64_t prompt_sum(const RequestTrace& t) {
  return std::accumulate(t.requests.begin(), t.requests.end(), std::int64_t{0},
                         [](std::int64_t s, const Request& r) { return s + r.prompt_tokens; });
}
std::int64_t output_sum(const RequestTrace& t) {
  return std::accumulate(t.requests.begin(), t.requests.end(), std::int64_t{0},
                         [](std::int64_t s, const Request& r) { return s + r.output_tokens; });
}

void check_request(const Request& r, std::int64_t id, std::int64_t arrival_ps, int prompt, int output) {
  CHECK(r.id == id);
  CHECK(r.arrival_ps == arrival_ps);
  CHECK(r.prompt_tokens == prompt);
  CHECK(r.output_tokens == output);
}

// The message of the InputError that parsing `text` throws (fails the test when it throws nothing).
std::string error_of(const std::string& text, RequestTraceFormat format, const std::string& name, double scale = 1) {
  try {
    (void)parse_request_trace(text, name, format, scale);
  } catch (const InputError& e) {
    return e.what();
  }
  FAIL("expected an InputError for:\n" << text);
  return {};
}
std::string azure_error(const std::string& text) { return error_of(text, RequestTraceFormat::azure, "t.csv"); }
std::string burst_error(const std::string& text) { return error_of(text, RequestTraceFormat::burstgpt, "b.csv"); }
std::string moon_error(const std::string& text) { return error_of(text, RequestTraceFormat::mooncake, "m.jsonl"); }

const std::string kAzureHeader = "TIMESTAMP,ContextTokens,GeneratedTokens\n";
const std::string kBurstHeader = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n";

}  // namespace

TEST_CASE("Azure example: 40 requests from 18:15:46.6805900 to 18:15:59.7981149", "[serve][request_trace]") {
  const auto t = example("azure_example.csv", RequestTraceFormat::azure);
  REQUIRE(t.requests.size() == 40);
  CHECK(t.notes.empty());
  check_request(t.requests.front(), 0, 0, 1468, 98);
  // Line 3: 2023-11-16 18:15:47.8477454,1156,63 is 1.1671554 s after the first.
  check_request(t.requests[1], 1, 1'167'155'400'000, 1156, 63);
  // 59.7981149 - 46.6805900 = 13.1175249 s.
  check_request(t.requests.back(), 39, 13'117'524'900'000, 2277, 171);
  CHECK(prompt_sum(t) == 44312);
  CHECK(output_sum(t) == 4576);
}

TEST_CASE("BurstGPT example: failed rows skipped with a note", "[serve][request_trace]") {
  const auto t = example("burstgpt_example.csv", RequestTraceFormat::burstgpt);
  REQUIRE(t.requests.size() == 38);  // 40 rows, 2 with Response tokens = 0 (lines 13 and 39)
  REQUIRE(t.notes.size() == 1);
  CHECK_THAT(t.notes[0], Contains("skipped 2 rows with Response tokens = 0"));
  check_request(t.requests.front(), 0, 0, 812, 60);
  check_request(t.requests[10], 10, 29 * kPsPerS, 223, 25);   // line 12
  check_request(t.requests[11], 11, 32 * kPsPerS, 905, 477);  // line 14: after the skipped line 13
  check_request(t.requests.back(), 37, 107 * kPsPerS, 1441, 60);
  CHECK(prompt_sum(t) == 58565);
  CHECK(output_sum(t) == 5140);
}

TEST_CASE("Mooncake example: ms timestamps, hash_ids ignored with a note", "[serve][request_trace]") {
  const auto t = example("mooncake_example.jsonl", RequestTraceFormat::mooncake);
  REQUIRE(t.requests.size() == 40);
  REQUIRE(t.notes.size() == 1);
  CHECK_THAT(t.notes[0], Contains("prefix caching is not modelled"));
  check_request(t.requests.front(), 0, 0, 924, 115);
  check_request(t.requests[1], 1, 1405 * kPsPerS / 1000, 2022, 72);
  check_request(t.requests.back(), 39, 66283 * kPsPerS / 1000, 1602, 85);
  CHECK(prompt_sum(t) == 50716);
  CHECK(output_sum(t) == 6054);
}

TEST_CASE("time scale divides arrivals", "[serve][request_trace]") {
  for (auto [file, format] : {std::pair{"azure_example.csv", RequestTraceFormat::azure},
                              {"burstgpt_example.csv", RequestTraceFormat::burstgpt},
                              {"mooncake_example.jsonl", RequestTraceFormat::mooncake}}) {
    INFO(file);
    const auto one = example(file, format), two = example(file, format, 2), half = example(file, format, 0.5);
    REQUIRE(two.requests.size() == one.requests.size());
    REQUIRE(half.requests.size() == one.requests.size());
    for (std::size_t i = 0; i < one.requests.size(); ++i) {
      CHECK(two.requests[i].arrival_ps * 2 == one.requests[i].arrival_ps);
      CHECK(half.requests[i].arrival_ps == one.requests[i].arrival_ps * 2);
      CHECK(two.requests[i].prompt_tokens == one.requests[i].prompt_tokens);
    }
  }
  for (double bad : {0.0, -1.0, std::nan(""), HUGE_VAL})
    CHECK_THAT(error_of(kAzureHeader + "2023-11-16 18:15:46,1,1\n", RequestTraceFormat::azure, "t.csv", bad),
               StartsWith("t.csv: time scale"));
}

TEST_CASE("unsorted rows are sorted by arrival, ties keep their order", "[serve][request_trace]") {
  const auto t = parse_request_trace(kAzureHeader +
                                         "2023-11-16 18:15:50.5,100,1\n"
                                         "2023-11-16 18:15:46.25,200,2\n"
                                         "2023-11-16 18:15:50.5,300,3\n"
                                         "2023-11-16 18:15:48,400,4\n",
                                     "t.csv", RequestTraceFormat::azure);
  REQUIRE(t.requests.size() == 4);
  check_request(t.requests[0], 0, 0, 200, 2);
  check_request(t.requests[1], 1, 1'750'000'000'000, 400, 4);
  check_request(t.requests[2], 2, 4'250'000'000'000, 100, 1);
  check_request(t.requests[3], 3, 4'250'000'000'000, 300, 3);

  const auto m = parse_request_trace(
      "{\"timestamp\": 500, \"input_length\": 10, \"output_length\": 1}\n"
      "{\"output_length\": 2, \"input_length\": 20, \"timestamp\": 200, \"hash_ids\": []}\n",
      "m.jsonl", RequestTraceFormat::mooncake);
  REQUIRE(m.requests.size() == 2);
  CHECK(m.notes.empty());  // no hash ids given: nothing ignored
  check_request(m.requests[0], 0, 0, 20, 2);
  check_request(m.requests[1], 1, 300 * kPsPerS / 1000, 10, 1);
}

TEST_CASE("header columns by name, CRLF, BOM, blank lines, time zones", "[serve][request_trace]") {
  // BurstGPT columns in another order, extra ones, quotes, CRLF, fractional seconds.
  const auto b = parse_request_trace(
      "\xEF\xBB\xBF"
      "Log Type,Response tokens,Extra,Timestamp,Request tokens\r\n"
      "\"API log\",40,x,12.5,300\r\n"
      "\r\n"
      "\"Conversation log, long\",0,y,3,9\r\n"
      "API log,7,z,10.25,1000\r\n",
      "b.csv", RequestTraceFormat::burstgpt);
  REQUIRE(b.requests.size() == 2);
  CHECK_THAT(b.notes.at(0), Contains("skipped 1 row with"));
  check_request(b.requests[0], 0, 0, 1000, 7);
  check_request(b.requests[1], 1, 2'250'000'000'000, 300, 40);
  // Azure 2024 style: an offset, 'T', 6 fractional digits; the maximum token counts.
  const auto a = parse_request_trace(kAzureHeader +
                                         "2024-05-10T00:00:00.009930+00:00,4194304,4194304\n"
                                         "2024-05-10 01:00:00.000001+01:00,5,6\n"
                                         "2024-05-09 23:59:59.0000001Z,7,8\n",
                                     "t.csv", RequestTraceFormat::azure);
  REQUIRE(a.requests.size() == 3);
  check_request(a.requests[0], 0, 0, 7, 8);
  check_request(a.requests[1], 1, 1'000'000'900'000, 5, 6);  // 00:00:00.000001Z
  check_request(a.requests[2], 2, 1'009'929'900'000, 4194304, 4194304);
}

TEST_CASE("bad Azure traces name the file and line", "[serve][request_trace][errors]") {
  CHECK_THAT(azure_error(""), StartsWith("t.csv:1: missing header"));
  CHECK_THAT(azure_error("\n" + kAzureHeader), StartsWith("t.csv:1: missing header"));
  CHECK_THAT(azure_error("TIMESTAMP,ContextTokens\n2023-11-16 18:15:46,1\n"),
             StartsWith("t.csv:1: missing column \"GeneratedTokens\""));
  CHECK_THAT(azure_error("2023-11-16 18:15:46,1,1\n"), StartsWith("t.csv:1: missing column \"TIMESTAMP\""));
  CHECK_THAT(azure_error("TIMESTAMP,ContextTokens,GeneratedTokens,TIMESTAMP\n"),
             StartsWith("t.csv:1: column \"TIMESTAMP\" appears twice"));
  const std::string ok = "2023-11-16 18:15:46.6805900,100,10\n";
  CHECK_THAT(azure_error(kAzureHeader + ok + "2023-11-16 18:15:47,100\n"),
             StartsWith("t.csv:3: 2 fields, the header has 3"));
  CHECK_THAT(azure_error(kAzureHeader + ok + "2023-11-16 18:15:47,100,10,5\n"),
             StartsWith("t.csv:3: 4 fields, the header has 3"));
  CHECK(azure_error(kAzureHeader + ok + "2023-11-16 18:15:47,abc,10\n") ==
        "t.csv:3: ContextTokens: \"abc\" is not an integer");
  CHECK_THAT(azure_error(kAzureHeader + ok + "2023-11-16 18:15:47,12.5,10\n"),
             StartsWith("t.csv:3: ContextTokens: \"12.5\" is not an integer"));
  CHECK_THAT(azure_error(kAzureHeader + ok + "2023-11-16 18:15:47,-5,10\n"),
             StartsWith("t.csv:3: ContextTokens: -5 is out of range [1, 4194304]"));
  CHECK_THAT(azure_error(kAzureHeader + ok + "2023-11-16 18:15:47,0,10\n"),
             StartsWith("t.csv:3: ContextTokens: 0 is out of range"));
  CHECK_THAT(azure_error(kAzureHeader + ok + "2023-11-16 18:15:47,4194305,10\n"),
             StartsWith("t.csv:3: ContextTokens: 4194305 is out of range"));
  CHECK_THAT(azure_error(kAzureHeader + ok + "2023-11-16 18:15:47,99999999999999999999,10\n"),
             StartsWith("t.csv:3: ContextTokens: 99999999999999999999 is out of range"));
  CHECK_THAT(azure_error(kAzureHeader + ok + "2023-11-16 18:15:47,100,0\n"),
             StartsWith("t.csv:3: GeneratedTokens: 0 is out of range"));
  CHECK_THAT(azure_error(kAzureHeader + ok + "2023-11-16 18:15:47,100,\n"),
             StartsWith("t.csv:3: GeneratedTokens: \"\" is not an integer"));
  for (const char* bad : {"yesterday", "2023-11-16 24:00:00", "2023-02-29 00:00:00", "2023-11-16 18:15:46.",
                          "2023-11-16 18:15:46.1234567890", "2023-11-16 18:15:46+25:00", "1969-12-31 23:59:59",
                          "2023-11-16", "2023-11-16 18:15:46 UTC", "nan", ""}) {
    INFO(bad);
    CHECK_THAT(azure_error(kAzureHeader + ok + bad + ",100,10\n"),
               StartsWith("t.csv:3: TIMESTAMP: ") && Contains("is not a date and time"));
  }
  CHECK_THAT(azure_error(kAzureHeader), StartsWith("t.csv:1: no requests"));
  CHECK_THAT(azure_error(kAzureHeader + "\n\n"), StartsWith("t.csv:3: no requests"));
  // 30 days apart: past the simulator's time limit (about 26.7 days), fine at twice the rate.
  const std::string late = kAzureHeader + "2023-12-16 00:00:00,1,1\n2023-11-16 00:00:00,1,1\n";
  CHECK_THAT(azure_error(late), StartsWith("t.csv:2: TIMESTAMP: this request arrives 30 days after the first"));
  CHECK(parse_request_trace(late, "t.csv", RequestTraceFormat::azure, 2).requests.back().arrival_ps ==
        15 * 86400 * kPsPerS);
}

TEST_CASE("bad BurstGPT traces name the file and line", "[serve][request_trace][errors]") {
  CHECK_THAT(burst_error("Timestamp,Model,Request tokens,Total tokens\n0,m,1,2\n"),
             StartsWith("b.csv:1: missing column \"Response tokens\""));
  const std::string ok = "0,ChatGPT,100,10,110,API log\n";
  CHECK_THAT(burst_error(kBurstHeader + ok + "1,ChatGPT,100,10,110\n"),
             StartsWith("b.csv:3: 5 fields, the header has 6"));
  for (auto [ts, what] : {std::pair{"x", "Timestamp: \"x\" is not a number of seconds"},
                          {"", "Timestamp: \"\" is not a number of seconds"},
                          {"-1", "Timestamp: -1 is negative"},
                          {"nan", "Timestamp: nan is not a finite number"},
                          {"inf", "Timestamp: inf is not a finite number"},
                          {"1e300", "Timestamp: 1e+300 is out of range"}}) {
    INFO(ts);
    CHECK_THAT(burst_error(kBurstHeader + ok + ts + ",ChatGPT,100,10,110,API log\n"),
               StartsWith(std::string("b.csv:3: ") + what));
  }
  CHECK_THAT(burst_error(kBurstHeader + ok + "1,ChatGPT,0,10,10,API log\n"),
             StartsWith("b.csv:3: Request tokens: 0 is out of range [1, 4194304]"));
  CHECK_THAT(burst_error(kBurstHeader + ok + "1,ChatGPT,100,-3,97,API log\n"),
             StartsWith("b.csv:3: Response tokens: -3 is out of range [1, 4194304] (0 marks a failed request"));
  CHECK_THAT(burst_error(kBurstHeader + ok + "1,ChatGPT,100,4194305,0,API log\n"),
             StartsWith("b.csv:3: Response tokens: 4194305 is out of range"));
  // A failed row's counts are not range-checked, but they must still be integers.
  CHECK_THAT(burst_error(kBurstHeader + ok + "1,ChatGPT,many,0,0,API log\n"),
             StartsWith("b.csv:3: Request tokens: \"many\" is not an integer"));
  CHECK_THAT(burst_error(kBurstHeader + "0,ChatGPT,0,0,0,API log\n1,GPT-4,5,0,5,API log\n"),
             StartsWith("b.csv:3: no requests: skipped 2 rows with Response tokens = 0"));
}

TEST_CASE("bad Mooncake traces name the file and line", "[serve][request_trace][errors]") {
  const std::string ok = "{\"timestamp\": 0, \"input_length\": 100, \"output_length\": 10, \"hash_ids\": [1]}\n";
  CHECK_THAT(moon_error(""), StartsWith("m.jsonl:1: no requests"));
  CHECK_THAT(moon_error(ok + "{\"timestamp\": 5, \"input_length\": 100,\n"), StartsWith("m.jsonl:2: malformed JSON"));
  CHECK_THAT(moon_error(ok + "timestamp,input_length\n"), StartsWith("m.jsonl:2: malformed JSON"));
  CHECK_THAT(moon_error(ok + "[1, 2, 3]\n"), StartsWith("m.jsonl:2: expected a JSON object"));
  CHECK_THAT(moon_error(ok + "{\"timestamp\": 5, \"input_length\": 100}\n"),
             StartsWith("m.jsonl:2: missing key \"output_length\""));
  CHECK_THAT(moon_error(ok + "{\"input_length\": 100, \"output_length\": 1}\n"),
             StartsWith("m.jsonl:2: missing key \"timestamp\""));
  CHECK_THAT(moon_error(ok + "{\"timestamp\": 5, \"timestamp\": 6, \"input_length\": 100, \"output_length\": 1}\n"),
             StartsWith("m.jsonl:2: duplicate key \"timestamp\""));
  const auto line = [](const std::string& ts, const std::string& in, const std::string& out) {
    return "{\"timestamp\": " + ts + ", \"input_length\": " + in + ", \"output_length\": " + out + "}\n";
  };
  CHECK_THAT(moon_error(ok + line("-5", "100", "10")), StartsWith("m.jsonl:2: \"timestamp\": -5 is negative"));
  CHECK_THAT(moon_error(ok + line("\"5\"", "100", "10")),
             StartsWith("m.jsonl:2: \"timestamp\": expected a number of ms, got \"5\""));
  CHECK_THAT(moon_error(ok + line("1e300", "100", "10")),
             StartsWith("m.jsonl:2: \"timestamp\": 1e+300 is out of range"));
  CHECK_THAT(moon_error(ok + line("5", "\"100\"", "10")),
             StartsWith("m.jsonl:2: \"input_length\": expected an integer"));
  CHECK_THAT(moon_error(ok + line("5", "100.5", "10")), StartsWith("m.jsonl:2: \"input_length\": expected an integer"));
  CHECK_THAT(moon_error(ok + line("5", "0", "10")), StartsWith("m.jsonl:2: \"input_length\": 0 is out of range"));
  CHECK_THAT(moon_error(ok + line("5", "100", "0")), StartsWith("m.jsonl:2: \"output_length\": 0 is out of range"));
  CHECK_THAT(moon_error(ok + line("5", "100", "-1")), StartsWith("m.jsonl:2: \"output_length\": -1 is out of range"));
  CHECK_THAT(moon_error(ok + line("5", "18446744073709551615", "1")),
             StartsWith("m.jsonl:2: \"input_length\": 18446744073709551615 is out of range"));
  CHECK_THAT(moon_error(ok + "{\"timestamp\": 5, \"input_length\": 100, \"output_length\": 1, \"hash_ids\": 3}\n"),
             StartsWith("m.jsonl:2: \"hash_ids\": expected an array"));
  // 30 days in ms: past the simulator's time limit; the message names the latest request's line.
  CHECK_THAT(moon_error(line("2592000000", "1", "1") + ok),
             StartsWith("m.jsonl:1: \"timestamp\": this request arrives 30 days after the first"));
}

TEST_CASE("request traces: the row limit, missing files", "[serve][request_trace][errors]") {
  // 10 million rows are read (failed requests here, so none is kept); the next one is the error.
  std::string text = "Timestamp,Request tokens,Response tokens\n";
  text.reserve(text.size() + 6 * (moesim::io::kMaxRequestTraceRows + 1));
  for (std::uint64_t i = 0; i <= moesim::io::kMaxRequestTraceRows; ++i) text += "0,1,0\n";
  CHECK_THAT(error_of(text, RequestTraceFormat::burstgpt, "b.csv"),
             StartsWith("b.csv:10000002: more than 10000000 rows"));

  const auto dir = moesim::test::scratch_dir("request-trace");
  CHECK_THROWS_WITH(load_request_trace((dir / "none.csv").string(), RequestTraceFormat::azure),
                    Contains("none.csv: cannot open"));
  CHECK_THROWS_WITH(load_request_trace(dir.string(), RequestTraceFormat::azure), Contains("is a directory"));
  const auto crlf = moesim::test::write_file(dir, "crlf.csv",
                                             "TIMESTAMP,ContextTokens,GeneratedTokens\r\n"
                                             "2023-11-16 18:15:46.6805900,10,2\r\n");
  CHECK(load_request_trace(crlf, RequestTraceFormat::azure).requests.size() == 1);
  CHECK_THAT(error_of("TIMESTAMP,ContextTokens,GeneratedTokens\r\n2023-11-16 18:15:46,x\r\n", RequestTraceFormat::azure,
                      "t.csv"),
             StartsWith("t.csv:2: 2 fields"));
  std::filesystem::remove_all(dir);
}
