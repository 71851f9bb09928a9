// Result directories are replaced as a whole: never a mix of new and partial files, never the old
// results lost to a failed write.
#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "app/scenario_run.hpp"
#include "core/error.hpp"
#include "io/csv_writer.hpp"
#include "io/results_writer.hpp"
#include "io/scenario_loader.hpp"
#include "test_util.hpp"

using namespace moesim;
namespace fs = std::filesystem;

namespace {

using Files = std::map<std::string, std::string>;  // file name -> bytes

Files read_dir(const fs::path& dir) {
  Files files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    files[entry.path().filename().string()] = bytes.str();
  }
  return files;
}

std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename().string());
  return names;
}

ScenarioRun smoke_run(int seed) {
  return run_scenario(io::load_scenario(test::source_path("scenarios/smoke.toml"),
                                        {"workload.steps=2", "seed=" + std::to_string(seed)}));
}

// Files past `bytes` cannot be written while it lives: write() fails with EFBIG ("File too large"),
// a full disk as far as the writers can tell, even for root.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    rlimit limited = saved_;
    limited.rlim_cur = bytes;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &limited) == 0);
    saved_handler_ = std::signal(SIGXFSZ, SIG_IGN);  // the error, not the signal's default (death)
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, saved_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit saved_{};
  void (*saved_handler_)(int) = SIG_DFL;
};

}  // namespace

TEST_CASE("results written over a result directory replace it completely", "[io][atomic]") {
  const auto root = test::scratch_dir("atomic-replace");
  const fs::path dir = root / "res";
  write_run(smoke_run(1), dir.string());
  const Files first = read_dir(dir);
  REQUIRE(first.count("summary.json") == 1);
  test::write_file(dir, "stray.png", "from a plot of the earlier run");

  const ScenarioRun second = smoke_run(2);
  write_run(second, dir.string());
  write_run(second, (root / "fresh").string());
  const Files got = read_dir(dir);
  CHECK(got.count("stray.png") == 0);
  CHECK(got == read_dir(root / "fresh"));  // the same files, the same bytes
  CHECK(got.at("summary.json") != first.at("summary.json"));
  CHECK(names_in(root) == std::set<std::string>{"fresh", "res"});  // no temporary or old copy left
  fs::remove_all(root);
}

TEST_CASE("a write that fails midway leaves the previous results as they were", "[io][atomic]") {
  const auto root = test::scratch_dir("atomic-fail");
  const fs::path dir = root / "res";
  write_run(smoke_run(1), dir.string());
  const Files before = read_dir(dir);
  // summary.json, written first, fits; timeline.json, written later, does not.
  const std::size_t limit = 2 * before.at("summary.json").size();
  REQUIRE(before.at("timeline.json").size() > 2 * limit);

  const ScenarioRun second = smoke_run(2);
  std::string what;
  try {
    const FileSizeLimit small(limit);
    write_run(second, dir.string());
  } catch (const Error& e) {
    what = e.what();
  }
  INFO(what);
  REQUIRE(!what.empty());
  CHECK(what.find("timeline.json") != std::string::npos);
  CHECK(what.find(dir.string()) != std::string::npos);
  CHECK(what.find(std::strerror(EFBIG)) != std::string::npos);
  CHECK(read_dir(dir) == before);
  CHECK(names_in(root) == std::set<std::string>{"res"});
  fs::remove_all(root);
}

TEST_CASE("replace_directory: failures and directories it must not replace", "[io][atomic]") {
  const auto root = test::scratch_dir("atomic-refuse");
  const fs::path dir = root / "res";
  write_run(smoke_run(1), dir.string());
  const Files before = read_dir(dir);

  SECTION("an error in the middle of writing: the temporary goes, the results stay") {
    const auto half_done = [](const fs::path& tmp) {
      io::write_file(tmp / "summary.json", "{}\n");
      fs::create_directory(tmp / "per_step.csv");  // a directory in the way of the next file
      io::write_file(tmp / "per_step.csv", "step\n");
    };
    try {
      io::replace_directory(dir, half_done);
      FAIL("expected an error");
    } catch (const Error& e) {
      const std::string what = e.what();
      INFO(what);
      CHECK(what.find("per_step.csv") != std::string::npos);
      CHECK(what.find(std::strerror(EISDIR)) != std::string::npos);
    }
    CHECK(read_dir(dir) == before);
    CHECK(names_in(root) == std::set<std::string>{"res"});
  }
  SECTION("a directory that holds other things than results is never deleted") {
    const fs::path other = root / "papers";
    fs::create_directory(other);
    test::write_file(other, "thesis.tex", "precious");
    CHECK_THROWS_AS(write_run(smoke_run(1), other.string()), InputError);
    CHECK(names_in(other) == std::set<std::string>{"thesis.tex"});
    CHECK(names_in(root) == std::set<std::string>{"papers", "res"});
  }
  SECTION("a path under a regular file names the path and the OS reason") {
    const std::string file = test::write_file(root, "plain", "x");
    try {
      write_run(smoke_run(1), file + "/res");
      FAIL("expected an error");
    } catch (const Error& e) {
      const std::string what = e.what();
      INFO(what);
      CHECK(what.find(file) != std::string::npos);
      CHECK((what.find(std::strerror(ENOTDIR)) != std::string::npos ||
             what.find(std::strerror(EEXIST)) != std::string::npos));
    }
  }
  SECTION("a trailing slash and an empty directory are fine") {
    const fs::path empty = root / "empty";
    fs::create_directory(empty);
    write_run(smoke_run(1), empty.string() + "/");
    CHECK(read_dir(empty) == before);
    CHECK(names_in(root) == std::set<std::string>{"empty", "res"});
  }
  fs::remove_all(root);
}
