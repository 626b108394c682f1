// SPDX-License-Identifier: MIT
// Tests include/pmrheap/stack_fallback_resource.hpp (docs/resources/stack_fallback_resource.md).
// The routing rules are buffer_first_resource's and tested there; this file tests what the
// template adds: the inline buffer, the constructors, and the absence of a resetting get().
#include "pmrheap/stack_fallback_resource.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <memory_resource>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "pmrheap/c_resource.hpp"
#include "pmrheap/testing.hpp"
#include "support/contract.hpp"
#include "support/counting_resource.hpp"
#include "support/poisoning.hpp"

using pmrheap::stack_fallback_resource;
using pmrheap::test::counting_resource;
using pmrheap::test::poisoned_is;

// The fallbacks of these tests count every call. They sit on the C heap because ASan's operator
// new dies on the huge requests of check_contract instead of throwing.

namespace {

template <class T>
constexpr bool has_get = requires(T& r) {
  r.get();
};

}  // namespace

// Zig's footgun (ziglang/zig#16344): a get() that re-initialised the buffer on every call.
static_assert(!has_get<stack_fallback_resource<64>>, "stack_fallback_resource must not have a resetting get()");
static_assert(!std::is_copy_constructible_v<stack_fallback_resource<64>>);
static_assert(!std::is_copy_assignable_v<stack_fallback_resource<64>>);
static_assert(!std::is_move_constructible_v<stack_fallback_resource<64>>);
static_assert(!std::is_move_assignable_v<stack_fallback_resource<64>>);
static_assert(alignof(stack_fallback_resource<1>) >= alignof(std::max_align_t));

// As Zig does: four (here five) separate instances of stack_fallback_resource<4096>, one per check.
TEST_CASE("stack_fallback_resource: conformance, a fresh instance per check") {
  using check = void (*)(std::pmr::memory_resource&);
  for (check run :
       {&pmrheap::testing::check_basic, &pmrheap::testing::check_aligned, &pmrheap::testing::check_large_alignment,
        &pmrheap::testing::check_aligned_shrink, &pmrheap::testing::check_many_aligned}) {
    counting_resource fallback(pmrheap::c_resource::instance());
    {
      stack_fallback_resource<4096> r(&fallback);
      pmrheap::testing::validating_resource v(&r);
      run(v);
      CHECK(v.blocks_in_use() == 0);
    }
    CHECK(fallback.live() == 0);
  }
}

TEST_CASE("stack_fallback_resource: bad input") {
  counting_resource fallback(pmrheap::c_resource::instance());
  stack_fallback_resource<4096> r(&fallback);
  pmrheap::test::check_contract(r);
  CHECK(fallback.live() == 0);
}

// The default constructor takes the default resource as it is when the object is made.
TEST_CASE("stack_fallback_resource: the default constructor falls back on the default resource") {
  counting_resource fallback(pmrheap::c_resource::instance());
  std::pmr::memory_resource* const previous = std::pmr::set_default_resource(&fallback);
  stack_fallback_resource<64> r;
  std::pmr::set_default_resource(previous);
  CHECK(r.upstream_resource() == &fallback);
  void* big = r.allocate(128, 8);
  CHECK_FALSE(r.owns(big));
  CHECK(fallback.allocations == 1);
  r.deallocate(big, 128, 8);
  CHECK(fallback.live() == 0);
}

// The inline buffer starts aligned to max_align_t: such a request takes no padding.
TEST_CASE("stack_fallback_resource: the inline buffer is aligned to max_align_t and holds N bytes") {
  counting_resource fallback(pmrheap::c_resource::instance());
  stack_fallback_resource<100> r(&fallback);
  CHECK(r.capacity() == 100);
  void* p = r.allocate(1, alignof(std::max_align_t));
  CHECK(r.owns(p));
  CHECK(r.used() == 1);
  CHECK(pmrheap::detail::is_aligned(p, alignof(std::max_align_t)));
  void* rest = r.allocate(99, 1);
  CHECK(r.owns(rest));
  CHECK(r.used() == 100);
  void* spilled = r.allocate(1, 1);
  CHECK_FALSE(r.owns(spilled));
  CHECK(fallback.allocations == 1);
  r.deallocate(spilled, 1, 1);
  CHECK(fallback.live() == 0);
}

// reset() is the only way to free the whole buffer, and it leaves fallback blocks alone.
TEST_CASE("stack_fallback_resource: reset() frees the inline buffer only") {
  counting_resource fallback(pmrheap::c_resource::instance());
  stack_fallback_resource<32> r(&fallback);
  void* first = r.allocate(16, 8);
  static_cast<void>(r.allocate(16, 8));
  void* spilled = r.allocate(16, 8);
  CHECK(r.used() == 32);
  r.reset();
  CHECK(r.used() == 0);
  CHECK(r.allocate(8, 8) == first);
  CHECK(fallback.live() == 1);
  r.deallocate(spilled, 16, 8);
  CHECK(fallback.live() == 0);
}

// reallocate tries remap first, and a fallback block's remap is the fallback's (realloc): the block
// stays in the fallback even when the inline buffer has room again. (tests/fuzz/regressions/
// stack_fallback/fallback-block-remapped-by-reallocate: the fuzz model had expected it in the buffer.)
TEST_CASE("stack_fallback_resource: reallocate keeps a fallback block in the fallback while the fallback remaps it") {
  counting_resource fallback(pmrheap::c_resource::instance());
  stack_fallback_resource<4096> r(&fallback);
  void* full = r.allocate(4096, 1);
  auto* spilled = static_cast<unsigned char*>(r.allocate(1, 1));
  CHECK_FALSE(r.owns(spilled));
  *spilled = 0x2a;
  r.deallocate(full, 4096, 1);
  CHECK(r.used() == 0);
  auto* grown = static_cast<unsigned char*>(pmrheap::reallocate(r, spilled, 1, 2048, 1));
  CHECK_FALSE(r.owns(grown));
  CHECK(*grown == 0x2a);
  CHECK(fallback.allocations == 1);  // remapped, not allocated anew
  CHECK(fallback.resizes == 1);
  CHECK(r.used() == 0);
  r.deallocate(grown, 2048, 1);
  CHECK(fallback.live() == 0);
}

// The whole point: a container on the stack that spills into the fallback and gives it all back.
TEST_CASE("stack_fallback_resource: a pmr::vector<pmr::string> spills into the fallback and returns everything") {
  counting_resource fallback(pmrheap::c_resource::instance());
  {
    stack_fallback_resource<1024> r(&fallback);
    std::pmr::vector<std::pmr::string> names(&r);
    for (int i = 0; i < 200; ++i) names.emplace_back(std::size_t{40}, static_cast<char>('a' + i % 26));
    REQUIRE(names.size() == 200);
    int wrong = 0;
    for (int i = 0; i < 200; ++i)
      wrong += std::string_view(names[static_cast<std::size_t>(i)]) != std::string(40, static_cast<char>('a' + i % 26));
    CHECK(wrong == 0);
    CHECK(names.back().get_allocator().resource() == &r);
    CHECK(r.used() > 0);
    CHECK(fallback.allocations > 0);
    CHECK(fallback.live() > 0);
  }
  CHECK(fallback.live() == 0);
  CHECK(fallback.live_bytes == 0);
}

// Its inline buffer is poisoned while it lives and clean once it is gone, so the stack space can
// be reused by whatever comes next.
TEST_CASE("stack_fallback_resource: its storage is poisoned while unused and clean after destruction") {
  using resource_type = stack_fallback_resource<64>;
  alignas(resource_type) std::byte raw[sizeof(resource_type)];
  auto* r = new (raw) resource_type(nullptr);
  auto* p = static_cast<std::byte*>(r->allocate(16, 16));
  CHECK(poisoned_is(p, false));
  CHECK(poisoned_is(p + 16, true));
  r->~resource_type();
  int still_poisoned = 0;
  for (const std::byte& b : raw) still_poisoned += !poisoned_is(&b, false);
  CHECK(still_poisoned == 0);
  std::memset(raw, 0, sizeof raw);
  CHECK(raw[sizeof raw - 1] == std::byte{0});
}
