// SPDX-License-Identifier: MIT
// A consumer of library pmrheap alone (no fmt, no libbacktrace): returns non-zero if anything it
// relies on does not work. PMRHEAP_EXPECTED_VERSION is the version the build system found.
#include <cstdio>
#include <cstring>
#include <memory_resource>
#include <pmrheap/pmrheap.hpp>
#include <vector>

int main() {
  if (std::strcmp(PMRHEAP_VERSION_STRING, PMRHEAP_EXPECTED_VERSION) != 0) {
    std::fprintf(stderr, "version.hpp says %s, the build system found %s\n", PMRHEAP_VERSION_STRING,
                 PMRHEAP_EXPECTED_VERSION);
    return 1;
  }
  pmrheap::arena_resource arena(pmrheap::page_resource::instance());
  std::pmr::vector<int> v(&arena);
  for (int i = 0; i < 1000; ++i) v.push_back(i);
  auto& c = *pmrheap::c_resource::instance();
  void* p = pmrheap::reallocate(c, nullptr, 0, 64);
  std::memset(p, 1, 64);
  p = pmrheap::reallocate(c, p, 64, 4096);
  const bool kept = static_cast<unsigned char*>(p)[63] == 1;
  c.deallocate(p, 4096);
  std::printf("pmrheap %s (%d): resource consumer ok\n", PMRHEAP_VERSION_STRING, PMRHEAP_VERSION);
  return v[999] == 999 && kept ? 0 : 1;
}
