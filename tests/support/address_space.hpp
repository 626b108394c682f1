// SPDX-License-Identifier: MIT
// The process's address-space size, for tests that set RLIMIT_AS just above it. Linux only.
#ifndef PMRHEAP_TESTS_SUPPORT_ADDRESS_SPACE_HPP
#define PMRHEAP_TESTS_SUPPORT_ADDRESS_SPACE_HPP

#include <cstddef>
#include <cstdio>

namespace pmrheap::test {

/// VmSize from /proc/self/status in bytes, 0 if unknown.
inline std::size_t address_space_size() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  std::size_t kib = 0;
  while (std::fgets(line, sizeof line, f) != nullptr)
    if (std::sscanf(line, "VmSize: %zu kB", &kib) == 1) break;
  std::fclose(f);
  return kib * 1024;
}

}  // namespace pmrheap::test

#endif  // PMRHEAP_TESTS_SUPPORT_ADDRESS_SPACE_HPP
