// SPDX-License-Identifier: MIT
// Replays every committed fuzz input through the harness, in every build (no libFuzzer needed):
// for each registered target (tests/fuzz/models/), the seed corpus DIR/corpus/<target>/ and the crashes
// found so far, DIR/regressions/<target>/. A target without a seed corpus is an error, and so is a
// seed corpus without a target. With --campaign, the inputs the long campaign kept for their
// coverage instead, DIR/campaign/<target>/ (scripts/fuzz-campaign): thousands of inputs, so test
// fuzz_campaign runs them in the native builds only, not under valgrind or an emulator.
// Usage: fuzz_replay DIR [--campaign]
#include <fmt/format.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string_view>
#include <vector>

#include "harness.hpp"

namespace fs = std::filesystem;

namespace {

// Runs every file of `dir` (if it exists); returns how many.
std::size_t replay(const pmrheap::fuzz::target& t, const fs::path& dir) {
  std::error_code error;
  if (!fs::is_directory(dir, error)) return 0;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file()) files.push_back(entry.path());
  for (const fs::path& file : files) {
    pmrheap::fuzz::input_name() = file.string();
    std::ifstream in(file, std::ios::binary);
    const std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    pmrheap::fuzz::run(t, bytes.data(), bytes.size());
  }
  return files.size();
}

}  // namespace

int main(int argc, char** argv) {
  const bool campaign = argc == 3 && std::string_view(argv[2]) == "--campaign";
  if (argc != 2 && !campaign) {
    fmt::print(stderr, "usage: fuzz_replay DIR [--campaign] (DIR: the tests/fuzz directory)\n");
    return 2;
  }
  const fs::path root = argv[1];
  int status = 0;
  if (campaign) {
    for (const auto& t : pmrheap::fuzz::targets()) {
      const auto before = pmrheap::fuzz::counters();
      const std::size_t inputs = replay(t, root / "campaign" / std::string(t.name));
      fmt::print("{}: {} campaign inputs, {} operations\n", t.name, inputs,
                 pmrheap::fuzz::counters().operations - before.operations);
    }
    return status;
  }
  for (const auto& t : pmrheap::fuzz::targets()) {
    const auto before = pmrheap::fuzz::counters();
    const std::size_t seeds = replay(t, root / "corpus" / std::string(t.name));
    const std::size_t regressions = replay(t, root / "regressions" / std::string(t.name));
    const auto after = pmrheap::fuzz::counters();
    fmt::print("{}: {} seed inputs, {} regression inputs, {} operations\n", t.name, seeds, regressions,
               after.operations - before.operations);
    if (seeds == 0) {
      fmt::print(stderr, "{}: no seed corpus in {}\n", t.name, (root / "corpus" / std::string(t.name)).string());
      status = 1;
    }
  }
  // A seed corpus without a target means a model file is no longer built (tests/fuzz/meson.build).
  for (const auto& entry : fs::directory_iterator(root / "corpus")) {
    if (entry.is_directory() && pmrheap::fuzz::find_target(entry.path().filename().string()) == nullptr) {
      fmt::print(stderr, "{}: a seed corpus, but no fuzz target of that name is registered\n", entry.path().string());
      status = 1;
    }
  }
  return status;
}
