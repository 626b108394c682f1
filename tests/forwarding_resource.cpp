// SPDX-License-Identifier: MIT
// Tests include/pmrheap/forwarding_resource.hpp (docs/resources/forwarding_resource.md): a resource
// of one's own built on it, and every forwarding configuration of the catalog held to the one
// screening rule and the one null-upstream rule.
#include "pmrheap/forwarding_resource.hpp"

#include <doctest/doctest.h>

#include <cstddef>
#include <limits>
#include <memory_resource>
#include <new>
#include <stdexcept>

#include "pmrheap/c_resource.hpp"
#include "pmrheap/detail/align.hpp"
#include "pmrheap/testing.hpp"
#include "support/counting_resource.hpp"
#include "support/opaque.hpp"
#include "support/resources.hpp"

namespace {

using pmrheap::detail::size_max;
constexpr auto ptrdiff_max = static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max());

// A decorator written the way the docs show: override what it changes, forward the rest.
class counting_allocations final : public pmrheap::forwarding_resource {
 public:
  explicit counting_allocations(std::pmr::memory_resource* upstream) noexcept : forwarding_resource(upstream) {}
  std::size_t allocations = 0;

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    void* p = forward_allocate(bytes, alignment);
    ++allocations;
    return p;
  }
};

}  // namespace

TEST_CASE("forwarding_resource: a decorator of one's own passes the conformance kit") {
  pmrheap::c_resource c;
  counting_allocations counting(&c);
  pmrheap::testing::validating_resource validating(&counting);
  pmrheap::testing::check_conformance(validating);
  CHECK(counting.allocations > 0);
  CHECK(counting.upstream_resource() == &c);
}

TEST_CASE("forwarding_resource: forwardable() is the one screening rule") {
  using pmrheap::forwarding_resource;
  CHECK(forwarding_resource::forwardable(1, 1));
  CHECK(forwarding_resource::forwardable(ptrdiff_max, 1));
  CHECK_FALSE(forwarding_resource::forwardable(ptrdiff_max + 1, 1));
  CHECK_FALSE(forwarding_resource::forwardable(ptrdiff_max, 2));  // rounds up past PTRDIFF_MAX
  CHECK_FALSE(forwarding_resource::forwardable(size_max - 4095, 8));
  CHECK_FALSE(forwarding_resource::forwardable(0, 8));
  CHECK_FALSE(forwarding_resource::forwardable(16, 3));
  CHECK_FALSE(forwarding_resource::forwardable(16, 0));
}

// Over std::pmr::new_delete_resource(), whose operator new aborts the process under ASan for these
// sizes even with allocator_may_return_null=1: the test passing there is the proof that the request
// never reached it.
TEST_CASE("forwarding resources answer sizes that cannot be an object before a std upstream sees them") {
  for (const auto& entry : pmrheap::test::forwarding_resources()) {
    CAPTURE(entry.name);
    pmrheap::test::counting_resource counting(std::pmr::new_delete_resource());
    auto r = entry.over(&counting);
    for (std::size_t bytes : {size_max - 4095, ptrdiff_max + 1, size_max}) {
      CAPTURE(bytes);
      CHECK_THROWS_AS(static_cast<void>(r->allocate(bytes, 8)), pmrheap::out_of_memory);
      CHECK(r->try_allocate(bytes, 8) == nullptr);
    }
    CHECK_THROWS_AS(static_cast<void>(r->allocate(64, pmrheap::test::opaque(std::size_t{24}))), std::invalid_argument);
    CHECK(counting.calls() == 0);
    auto direct = entry.over(std::pmr::new_delete_resource());
    CHECK_THROWS_AS(static_cast<void>(direct->allocate(ptrdiff_max + 1, 8)), pmrheap::out_of_memory);
    CHECK(direct->try_allocate(size_max - 4095, 8) == nullptr);
    // Still works afterwards, through the upstream.
    void* p = r->allocate(1024, 16);
    CHECK(pmrheap::detail::is_aligned(p, 16));
    r->deallocate(p, 1024, 16);
    CHECK(counting.calls() > 0);
  }
}

TEST_CASE("forwarding resources over a null upstream refuse what would reach it, and never crash") {
  for (const auto& entry : pmrheap::test::forwarding_resources()) {
    CAPTURE(entry.name);
    auto r = entry.over(nullptr);
    CHECK_THROWS_AS(static_cast<void>(r->allocate(1024, 8)), std::bad_alloc);
    CHECK(r->try_allocate(1024, 8) == nullptr);
    void* empty = r->allocate(0, 8);  // the contract's empty block needs no upstream
    CHECK(empty != nullptr);
    r->deallocate(empty, 0, 8);
    if (auto* f = dynamic_cast<pmrheap::forwarding_resource*>(r.get()))
      CHECK(f->upstream_resource() == std::pmr::null_memory_resource());
  }
}
