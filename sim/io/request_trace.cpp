// Request-trace importers (see request_trace.hpp and scenarios/requests/README.md). Each format's
// rows become (time in ns, prompt, output) with the line they came from checked as they are read;
// one common tail then sorts them and turns times into arrivals relative to the earliest request.
#include "io/request_trace.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/error.hpp"
#include "core/units.hpp"
#include "io/csv_text.hpp"

namespace moesim::io {

namespace {

// Times are kept as integer ns; 9e18 ns (about 285 years) holds ns since 1970 up to the year 2200,
// and the difference of two such non-negative times cannot overflow.
constexpr std::int64_t kMaxTimeNs = 9'000'000'000'000'000'000;
constexpr int kMinYear = 1970, kMaxYear = 2200;

struct Row {
  std::int64_t t_ns = 0;
  int prompt = 0, output = 0;
};

// The text as numbered lines: CR before LF dropped, a UTF-8 BOM at the start dropped.
class Lines {
 public:
  explicit Lines(std::string_view text) : text_(text) {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") text_.remove_prefix(3);
  }
  bool next(std::string_view& line) {
    if (at_ > text_.size() || (at_ == text_.size() && at_ > 0)) return false;  // past a last '\n': no line
    const auto nl = text_.find('\n', at_);
    const auto end = nl == std::string_view::npos ? text_.size() : nl;
    line = text_.substr(at_, end - at_);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    at_ = end + 1;
    ++no_;
    return true;
  }
  std::uint64_t no() const { return no_; }

 private:
  std::string_view text_;
  std::size_t at_ = 0;
  std::uint64_t no_ = 0;
};

bool blank(std::string_view line) { return line.find_first_not_of(" \t") == std::string_view::npos; }

// A field as it appears in a message: quoted, long ones cut.
std::string shown(std::string_view s) {
  return s.size() <= 40 ? fmt::format("\"{}\"", s) : fmt::format("\"{}...\"", s.substr(0, 40));
}

// A JSON value as it appears in a message: long ones cut.
std::string shown_json(const nlohmann::json& v) {
  const std::string s = v.dump();
  return s.size() <= 40 ? s : s.substr(0, 40) + "...";
}

// Reads rows and collects them with what the common tail needs; fail() names the current line.
class Reader {
 public:
  Reader(std::string_view text, const std::string& name) : lines_(text), name_(name) {}

  [[noreturn]] void fail(const std::string& what) const { fail_at(lines_.no(), what); }
  [[noreturn]] void fail_at(std::uint64_t line, const std::string& what) const {
    throw InputError(fmt::format("{}:{}: {}", name_, line, what));
  }

  // The next non-blank line, counted against the row limit; false at the end.
  bool next_row(std::string_view& line) {
    while (lines_.next(line)) {
      if (blank(line)) continue;
      if (++row_count_ > kMaxRequestTraceRows)
        fail(fmt::format("more than {} rows (the importer's limit: cut the trace to a shorter window)",
                         kMaxRequestTraceRows));
      return true;
    }
    return false;
  }
  bool next_line(std::string_view& line) { return lines_.next(line); }

  // A token count field: an integer (one past int64 is out of range, not "not an integer").
  std::int64_t integer(std::string_view column, std::string_view s) const {
    std::string_view d = s;
    if (!d.empty() && d.front() == '+') d.remove_prefix(1);
    std::int64_t v = 0;
    const auto [p, ec] = std::from_chars(d.data(), d.data() + d.size(), v);
    if (d.empty() || p != d.data() + d.size() || (ec != std::errc() && ec != std::errc::result_out_of_range))
      fail(fmt::format("{}: {} is not an integer", column, shown(s)));
    if (ec == std::errc::result_out_of_range) out_of_range(column, s);
    return v;
  }
  // A token count in [1, kMaxRequestTokens]; `text` is the value as the input wrote it.
  int tokens(std::string_view column, std::int64_t v, std::string_view text, std::string_view extra = {}) const {
    if (v < 1 || v > kMaxRequestTokens) out_of_range(column, text, extra);
    return static_cast<int>(v);
  }
  [[noreturn]] void out_of_range(std::string_view column, std::string_view text, std::string_view extra = {}) const {
    fail(fmt::format("{}: {} is out of range [1, {}]{}", column, text.size() <= 40 ? std::string(text) : shown(text),
                     kMaxRequestTokens, extra));
  }
  // A non-negative time in `unit_ns` units, as integer ns.
  std::int64_t time_ns(std::string_view column, double v, double unit_ns, std::string_view unit) const {
    if (!std::isfinite(v)) fail(fmt::format("{}: {} is not a finite number", column, v));
    if (v < 0) fail(fmt::format("{}: {} is negative", column, v));
    const double limit = static_cast<double>(kMaxTimeNs) / unit_ns;
    if (v > limit) fail(fmt::format("{}: {} is out of range [0, {:g}] {}", column, v, limit, unit));
    return std::llround(v * unit_ns);
  }

  void add(std::int64_t t_ns, int prompt, int output) {
    if (rows_.empty() || t_ns > rows_[latest_].t_ns) {
      latest_ = rows_.size();
      latest_line_ = lines_.no();
    }
    rows_.push_back({t_ns, prompt, output});
  }

  // Sorts the rows and makes the requests; `time_column` names the field a too-late arrival is in.
  RequestTrace finish(std::string_view time_column, double time_scale, std::vector<std::string> notes) {
    if (rows_.empty()) fail(notes.empty() ? std::string("no requests") : "no requests: " + notes.front());
    const std::int64_t t0 =
        std::min_element(rows_.begin(), rows_.end(), [](const Row& a, const Row& b) { return a.t_ns < b.t_ns; })->t_ns;
    const auto ps_of = [&](std::int64_t t) {
      return static_cast<long double>(t - t0) * 1000.0L / static_cast<long double>(time_scale);
    };
    const long double last_ps = ps_of(rows_[latest_].t_ns);
    if (!(last_ps < static_cast<long double>(kTimeLimitPs)))
      fail_at(latest_line_,
              fmt::format("{}: this request arrives {:.6g} days after the first{}, past the simulator's limit of "
                          "{:.3g} days",
                          time_column, static_cast<double>(last_ps) / (86400 * 1e12),
                          time_scale == 1 ? std::string() : fmt::format(" (time scale {:g})", time_scale),
                          static_cast<double>(kTimeLimitPs) / (86400 * 1e12)));
    std::stable_sort(rows_.begin(), rows_.end(), [](const Row& a, const Row& b) { return a.t_ns < b.t_ns; });
    RequestTrace out;
    out.requests.reserve(rows_.size());
    for (const Row& r : rows_) {
      Request q;
      q.id = static_cast<std::int64_t>(out.requests.size());
      q.arrival_ps = static_cast<TimePs>(std::llround(ps_of(r.t_ns)));
      q.prompt_tokens = r.prompt;
      q.output_tokens = r.output;
      out.requests.push_back(q);
    }
    out.notes = std::move(notes);
    return out;
  }

 private:
  Lines lines_;
  const std::string& name_;
  std::vector<Row> rows_;
  std::size_t latest_ = 0;         // index of the row with the latest time
  std::uint64_t latest_line_ = 0;  // and its line
  std::uint64_t row_count_ = 0;    // data rows read, skipped ones included
};

// ---------------------------------------------------------------------------------------------
// CSV (Azure, BurstGPT)

// Where the time, prompt and output columns are, and how many fields a row has.
struct CsvColumns {
  std::size_t count = 0;
  std::array<std::size_t, 3> at{};
};

CsvColumns read_header(Reader& in, const std::array<const char*, 3>& names, std::string_view format,
                       std::string_view expected) {
  std::string_view line;
  if (!in.next_line(line) || blank(line))
    in.fail(fmt::format("missing header: the first line of a {} trace is \"{}\"", format, expected));
  const auto cols = split_csv(line);
  CsvColumns c;
  c.count = cols.size();
  for (std::size_t k = 0; k < names.size(); ++k) {
    const auto found = std::find(cols.begin(), cols.end(), names[k]);
    if (found == cols.end())
      in.fail(fmt::format("missing column \"{}\" (the first line of a {} trace is the header \"{}\")", names[k], format,
                          expected));
    if (std::find(found + 1, cols.end(), names[k]) != cols.end())
      in.fail(fmt::format("column \"{}\" appears twice in the header", names[k]));
    c.at[k] = static_cast<std::size_t>(found - cols.begin());
  }
  return c;
}

std::vector<std::string> fields(Reader& in, std::string_view line, const CsvColumns& c) {
  auto f = split_csv(line);
  if (f.size() != c.count) in.fail(fmt::format("{} fields, the header has {}", f.size(), c.count));
  return f;
}

// "2023-11-16 18:15:46.6805900" (or with 'T'; up to 9 fractional digits; optional "Z" or +-HH:MM)
// as ns since 1970-01-01 UTC; nullopt if it is not one, or outside [kMinYear, kMaxYear].
std::optional<std::int64_t> datetime_ns(std::string_view s) {
  std::size_t i = 0;
  const auto num = [&](std::size_t digits) -> std::optional<int> {
    if (i + digits > s.size()) return std::nullopt;
    int v = 0;
    for (std::size_t k = 0; k < digits; ++k, ++i) {
      if (s[i] < '0' || s[i] > '9') return std::nullopt;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  const auto sep = [&](std::string_view any) { return i < s.size() && any.find(s[i++]) != std::string_view::npos; };
  const auto y = num(4);
  if (!y || !sep("-")) return std::nullopt;
  const auto mo = num(2);
  if (!mo || !sep("-")) return std::nullopt;
  const auto d = num(2);
  if (!d || !sep(" T")) return std::nullopt;
  const auto h = num(2);
  if (!h || !sep(":")) return std::nullopt;
  const auto mi = num(2);
  if (!mi || !sep(":")) return std::nullopt;
  const auto sec = num(2);
  if (!sec) return std::nullopt;
  std::int64_t frac_ns = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    int digits = 0;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9' && digits < 9; ++i, ++digits)
      frac_ns = frac_ns * 10 + (s[i] - '0');
    if (digits == 0) return std::nullopt;
    for (int k = digits; k < 9; ++k) frac_ns *= 10;
  }
  int offset_s = 0;
  if (i < s.size() && s[i] == 'Z') {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    const int sign = s[i++] == '-' ? -1 : 1;
    const auto oh = num(2);
    if (i < s.size() && s[i] == ':') ++i;
    const auto om = num(2);
    if (!oh || !om || *oh > 23 || *om > 59) return std::nullopt;
    offset_s = sign * (*oh * 3600 + *om * 60);
  }
  if (i != s.size()) return std::nullopt;
  static constexpr std::array<int, 12> kDays{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (*y % 4 == 0 && *y % 100 != 0) || *y % 400 == 0;
  if (*y < kMinYear || *y > kMaxYear || *mo < 1 || *mo > 12 || *d < 1 ||
      *d > kDays[static_cast<std::size_t>(*mo - 1)] + (*mo == 2 && leap ? 1 : 0) || *h > 23 || *mi > 59 || *sec > 59)
    return std::nullopt;
  // Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
  const int yy = *y - (*mo <= 2 ? 1 : 0);
  const int era = yy / 400, yoe = yy - era * 400;
  const int doy = (153 * (*mo + (*mo > 2 ? -3 : 9)) + 2) / 5 + *d - 1;
  const std::int64_t days = std::int64_t{era} * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
  const std::int64_t secs = days * 86400 + *h * 3600 + *mi * 60 + *sec - offset_s;
  return secs * 1'000'000'000 + frac_ns;
}

RequestTrace parse_azure(Reader& in, double time_scale) {
  static constexpr std::string_view kHeader = "TIMESTAMP,ContextTokens,GeneratedTokens";
  const auto c = read_header(in, {"TIMESTAMP", "ContextTokens", "GeneratedTokens"}, "Azure", kHeader);
  std::string_view line;
  while (in.next_row(line)) {
    const auto f = fields(in, line, c);
    const auto t = datetime_ns(f[c.at[0]]);
    if (!t)
      in.fail(fmt::format("TIMESTAMP: {} is not a date and time like 2023-11-16 18:15:46.6805900 (years {} to {})",
                          shown(f[c.at[0]]), kMinYear, kMaxYear));
    const int prompt = in.tokens("ContextTokens", in.integer("ContextTokens", f[c.at[1]]), f[c.at[1]]);
    const int output = in.tokens("GeneratedTokens", in.integer("GeneratedTokens", f[c.at[2]]), f[c.at[2]]);
    in.add(*t, prompt, output);
  }
  return in.finish("TIMESTAMP", time_scale, {});
}

RequestTrace parse_burstgpt(Reader& in, double time_scale) {
  static constexpr std::string_view kHeader = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type";
  const auto c = read_header(in, {"Timestamp", "Request tokens", "Response tokens"}, "BurstGPT", kHeader);
  std::string_view line;
  std::uint64_t failed = 0;
  while (in.next_row(line)) {
    const auto f = fields(in, line, c);
    const auto& ts = f[c.at[0]];
    const auto s = parse_double(ts);
    if (!s) in.fail(fmt::format("Timestamp: {} is not a number of seconds", shown(ts)));
    const std::int64_t t = in.time_ns("Timestamp", *s, 1e9, "s");
    const std::int64_t prompt = in.integer("Request tokens", f[c.at[1]]);
    const std::int64_t output = in.integer("Response tokens", f[c.at[2]]);
    if (output == 0) {  // a failed request in BurstGPT: its other fields are checked, not its counts
      ++failed;
      continue;
    }
    in.add(t, in.tokens("Request tokens", prompt, f[c.at[1]]),
           in.tokens("Response tokens", output, f[c.at[2]], " (0 marks a failed request, which is skipped)"));
  }
  std::vector<std::string> notes;
  if (failed > 0)
    notes.push_back(
        fmt::format("skipped {} row{} with Response tokens = 0 (failed requests)", failed, failed == 1 ? "" : "s"));
  return in.finish("Timestamp", time_scale, std::move(notes));
}

// ---------------------------------------------------------------------------------------------
// JSONL (Mooncake)

RequestTrace parse_mooncake(Reader& in, double time_scale) {
  using nlohmann::json;
  static constexpr std::array<std::string_view, 4> kKeys{"timestamp", "input_length", "output_length", "hash_ids"};
  std::array<bool, 4> seen{};
  bool hashes = false;
  std::string_view line;
  while (in.next_row(line)) {
    json j;
    seen.fill(false);
    try {
      // nlohmann keeps the last of repeated keys silently; a request must say each thing once.
      j = json::parse(line, [&](int depth, json::parse_event_t event, json& parsed) {
        if (event != json::parse_event_t::key || depth != 1) return true;
        const auto k = std::find(kKeys.begin(), kKeys.end(), parsed.get_ref<const std::string&>());
        if (k == kKeys.end()) return true;
        auto& was = seen[static_cast<std::size_t>(k - kKeys.begin())];
        if (was) in.fail(fmt::format("duplicate key \"{}\"", *k));
        was = true;
        return true;
      });
    } catch (const json::exception& e) {  // syntax errors and out-of-range numbers alike
      in.fail(fmt::format("malformed JSON: {}", e.what()));
    }
    if (!j.is_object()) in.fail("expected a JSON object per line");
    for (const char* key : {"timestamp", "input_length", "output_length"})
      if (!j.contains(key)) in.fail(fmt::format("missing key \"{}\"", key));
    const auto& ts = j["timestamp"];
    if (!ts.is_number()) in.fail(fmt::format("\"timestamp\": expected a number of ms, got {}", shown_json(ts)));
    const double ms = ts.is_number_unsigned()  ? static_cast<double>(ts.get<std::uint64_t>())
                      : ts.is_number_integer() ? static_cast<double>(ts.get<std::int64_t>())
                                               : ts.get<double>();
    const std::int64_t t = in.time_ns("\"timestamp\"", ms, 1e6, "ms");
    int counts[2] = {};
    for (int k = 0; k < 2; ++k) {
      const char* key = k == 0 ? "input_length" : "output_length";
      const std::string column = fmt::format("\"{}\"", key);
      const auto& v = j[key];
      if (!v.is_number_integer()) in.fail(fmt::format("{}: expected an integer, got {}", column, shown_json(v)));
      if (v.is_number_unsigned() && v.get<std::uint64_t>() > kMaxRequestTokens) in.out_of_range(column, v.dump());
      counts[k] = in.tokens(column, v.get<std::int64_t>(), v.dump());
    }
    if (j.contains("hash_ids")) {
      const auto& h = j["hash_ids"];
      if (!h.is_array()) in.fail(fmt::format("\"hash_ids\": expected an array, got {}", shown_json(h)));
      hashes = hashes || !h.empty();
    }
    in.add(t, counts[0], counts[1]);
  }
  std::vector<std::string> notes;
  if (hashes) notes.push_back("hash_ids (prefix-cache block ids) are ignored: prefix caching is not modelled");
  return in.finish("\"timestamp\"", time_scale, std::move(notes));
}

}  // namespace

RequestTrace parse_request_trace(std::string_view text, const std::string& name, RequestTraceFormat format,
                                 double time_scale) {
  if (!std::isfinite(time_scale) || time_scale <= 0)
    throw InputError(fmt::format("{}: time scale {} must be a finite number > 0", name, time_scale));
  Reader in(text, name);
  switch (format) {
    case RequestTraceFormat::azure:
      return parse_azure(in, time_scale);
    case RequestTraceFormat::burstgpt:
      return parse_burstgpt(in, time_scale);
    case RequestTraceFormat::mooncake:
      return parse_mooncake(in, time_scale);
  }
  throw InputError(fmt::format("{}: unknown request-trace format", name));
}

RequestTrace load_request_trace(const std::string& path, RequestTraceFormat format, double time_scale) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw InputError(fmt::format("{}: is a directory", path));
  std::ifstream f(path, std::ios::binary);
  if (!f) throw InputError(fmt::format("{}: cannot open", path));
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) throw InputError(fmt::format("{}: read error", path));
  return parse_request_trace(text, path, format, time_scale);
}

}  // namespace moesim::io
