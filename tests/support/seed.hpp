// SPDX-License-Identifier: MIT
// The seed of a randomised test: PMRHEAP_SEED from the environment when set, else a fresh one.
// Printed either way, so a failure replays with `PMRHEAP_SEED=<seed> build/tests/test_<name>`.
#ifndef PMRHEAP_TESTS_SUPPORT_SEED_HPP
#define PMRHEAP_TESTS_SUPPORT_SEED_HPP

#include <fmt/format.h>

#include <cstdint>
#include <cstdlib>
#include <random>

namespace pmrheap::test {

/// The seed for the test named `test`; printed to stdout with the test's name.
[[nodiscard]] inline std::uint64_t seed(const char* test) {
  const char* const env = std::getenv("PMRHEAP_SEED");
  std::uint64_t value = 0;
  if (env != nullptr && *env != '\0') {
    value = std::strtoull(env, nullptr, 0);
  } else {
    std::random_device device;
    value = (std::uint64_t{device()} << 32) | device();
  }
  fmt::print("{}: PMRHEAP_SEED={}\n", test, value);
  return value;
}

}  // namespace pmrheap::test

#endif  // PMRHEAP_TESTS_SUPPORT_SEED_HPP
