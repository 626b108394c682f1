// SPDX-License-Identifier: MIT
// The libFuzzer entry points (built with meson option `fuzz`, clang only). The target is chosen by
// the environment: PMRHEAP_FUZZ_TARGET=<name> (one registered in tests/fuzz/models/), or `list` to print
// the names. ./scripts/fuzz sets it for every target in turn.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "harness.hpp"

namespace {

const pmrheap::fuzz::target* chosen = nullptr;

void report() {
  const auto& totals = pmrheap::fuzz::counters();
  std::fprintf(stderr, "pmrheap fuzz: %.*s: %llu operations in %llu inputs\n", static_cast<int>(chosen->name.size()),
               chosen->name.data(), static_cast<unsigned long long>(totals.operations),
               static_cast<unsigned long long>(totals.inputs));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* name = std::getenv("PMRHEAP_FUZZ_TARGET");
  if (name != nullptr && std::string_view(name) == "list") {
    for (const auto& t : pmrheap::fuzz::targets())
      std::printf("%.*s\n", static_cast<int>(t.name.size()), t.name.data());
    std::exit(0);
  }
  chosen = name != nullptr ? pmrheap::fuzz::find_target(name) : nullptr;
  if (chosen == nullptr) {
    std::fprintf(stderr, "set PMRHEAP_FUZZ_TARGET to a target name, or to 'list' to see them\n");
    std::exit(2);
  }
  std::atexit(report);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pmrheap::fuzz::run(*chosen, data, size);
  return 0;
}
