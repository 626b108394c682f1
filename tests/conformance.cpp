// SPDX-License-Identifier: MIT
// Every configuration of the catalog (tests/support/resources.hpp) passes the conformance kit
// through a validating_resource, each check on a fresh instance (as Zig's allocator tests do, so a
// buffer meets every check empty). The resources' own test files run the kit only where they need
// a configuration of their own (a bigger buffer, several upstreams, a std upstream).
#include <doctest/doctest.h>

#include <memory_resource>

#include "pmrheap/testing.hpp"
#include "support/resources.hpp"

TEST_CASE("conformance: every configuration of the catalog, through validating_resource") {
  using check = void (*)(std::pmr::memory_resource&);
  const check checks[] = {pmrheap::testing::check_basic, pmrheap::testing::check_aligned,
                          pmrheap::testing::check_large_alignment, pmrheap::testing::check_aligned_shrink,
                          pmrheap::testing::check_many_aligned};
  std::size_t runs = 0;
  for (const pmrheap::test::resource_entry& entry : pmrheap::test::all_resources()) {
    if (!entry.conformance) continue;
    CAPTURE(entry.name);
    for (check run : checks) {
      auto r = entry.make();
      pmrheap::testing::validating_resource v(r.get());
      run(v);
      v.check();
      CHECK(v.blocks_in_use() == 0);
      ++runs;
    }
  }
  MESSAGE(runs << " checks on " << pmrheap::test::all_resources().size() << " configurations");
  CHECK(runs >= 5 * (pmrheap::test::all_resources().size() - 1));
}
