// SPDX-License-Identifier: MIT
// Tests include/pmrheap/arena_resource.hpp, part two (docs/resources/arena_resource.md): the reset
// API, pointers the arena did not hand out, an arena that starts in the caller's buffer, and the
// bump core every bump resource shares (include/pmrheap/detail/bump.hpp).
#include <doctest/doctest.h>

#include <concepts>
#include <cstring>
#include <memory_resource>
#include <vector>

#include "pmrheap/arena_resource.hpp"
#include "pmrheap/detail/bump.hpp"
#include "pmrheap/detail/sanitizer.hpp"
#include "pmrheap/testing.hpp"
#include "support/contract.hpp"
#include "support/counting_resource.hpp"

using pmrheap::arena_resource;
using pmrheap::reset_mode;
using pmrheap::detail::is_aligned;
using pmrheap::detail::is_poisoned;
using pmrheap::test::counting_resource;

namespace {
// Whether poisoning is visible: outside ASan builds is_poisoned() is always false.
constexpr bool asan = PMRHEAP_HAS_ASAN != 0;
}  // namespace

// ---- the reset API -------------------------------------------------------------------------------

// A limit cannot be left out, nor given to a mode: reset(retain_with_limit{n}) is the only way.
template <class A>
constexpr bool takes_a_bare_limit = requires(A& a) {
  a.reset(std::size_t{4096});
};
template <class A>
constexpr bool takes_a_mode_and_a_limit = requires(A& a) {
  a.reset(reset_mode::retain_capacity, std::size_t{4096});
};
static_assert(!takes_a_bare_limit<arena_resource>);
static_assert(!takes_a_mode_and_a_limit<arena_resource>);
static_assert(requires(arena_resource & a) {
  { a.reset() } -> std::same_as<bool>;
  { a.reset(reset_mode::free_all) } -> std::same_as<bool>;
  { a.reset(pmrheap::retain_with_limit{4096}) } -> std::same_as<bool>;
});

// ---- foreign pointers ----------------------------------------------------------------------------

// Blocks the arena never handed out, right next to its own or far from them: deallocate, resize
// and remap leave them alone. Under ASan a wrongful poison makes the reads below abort.
TEST_CASE("arena_resource: a pointer it did not hand out is never poisoned or written") {
  std::vector<unsigned char> foreign(4096, 0x5a);
  unsigned char stack[256];
  std::memset(stack, 0x3c, sizeof stack);
  alignas(16) unsigned char buffer[512];
  for (int variant = 0; variant < 2; ++variant) {
    CAPTURE(variant);
    counting_resource upstream;
    arena_resource plain(&upstream);
    arena_resource buffered(buffer, sizeof buffer, &upstream);
    arena_resource& arena = variant == 0 ? plain : buffered;
    static_cast<void>(arena.allocate(100));
    for (unsigned char* p : {foreign.data(), foreign.data() + 1000, stack + 16}) {
      arena.deallocate(p, 200, 1);
      CHECK(arena.resize(p, 200, 50, 1));  // a shrink of a block not ours: true, nothing done
      CHECK_FALSE(arena.resize(p, 200, 400, 1));
      CHECK(arena.remap(p, 200, 50, 1) == p);
      CHECK(arena.remap(p, 200, 400, 1) == nullptr);
      CHECK_FALSE(is_poisoned(p));
      CHECK_FALSE(is_poisoned(p + 199));
    }
    for (unsigned char c : foreign) REQUIRE(c == 0x5a);  // every byte readable and unchanged
    for (unsigned char c : stack) REQUIRE(c == 0x3c);
    // A foreign block that ends exactly at the cursor is still not the newest block.
    void* own = arena.allocate(64, 1);
    auto* at_cursor = static_cast<unsigned char*>(own) + 64;
    void* next = arena.allocate(8, 1);
    CHECK(next == at_cursor);
    arena.deallocate(next, 8, 1);                                             // now the cursor is at_cursor again
    arena.deallocate(static_cast<unsigned char*>(own) - 4096, 4096 + 64, 1);  // runs below the region
    CHECK(arena.allocate(8, 1) == at_cursor);                                 // the cursor did not move
  }
}

// ---- an arena that starts in the caller's buffer --------------------------------------------------

TEST_CASE("arena_resource: starts in the caller's buffer, never gives it upstream") {
  alignas(64) unsigned char storage[4096 + 64];
  for (std::size_t skew : {0, 1, 3, 7, 13}) {
    CAPTURE(skew);
    counting_resource upstream;
    unsigned char* const buffer = storage + skew;
    const std::size_t size = 1000;
    {
      arena_resource arena(buffer, size, &upstream);
      CHECK(arena.capacity() == size);
      CHECK(arena.upstream_resource() == &upstream);
      auto* a = static_cast<unsigned char*>(arena.allocate(10, 1));
      CHECK(a == buffer);
      void* b = arena.allocate(100, 16);
      CHECK(is_aligned(b, 16));
      CHECK(b >= buffer);
      CHECK(static_cast<unsigned char*>(b) + 100 <= buffer + size);
      CHECK(upstream.allocations == 0);
      void* c = arena.allocate(2000);  // does not fit: a node from upstream
      CHECK(upstream.allocations == 1);
      CHECK((c < buffer || c >= buffer + size));
      CHECK(arena.capacity() > size);
      // reset(retain_capacity) bumps in the buffer first again, the node kept for later.
      CHECK(arena.reset());
      CHECK(upstream.live() == 1);
      CHECK(arena.allocate(10, 1) == buffer);
      CHECK(is_poisoned(buffer + 10) == asan);
      const std::size_t allocated = upstream.allocations;
      static_cast<void>(arena.allocate(900, 1));
      void* d = arena.allocate(500, 1);  // into the kept node: no upstream call
      CHECK((d < buffer || d >= buffer + size));
      CHECK(upstream.allocations == allocated);
      arena.release();
      CHECK(upstream.live() == 0);
      CHECK(arena.capacity() == size);
      CHECK(arena.allocate(10, 1) == buffer);
    }
    CHECK(upstream.live() == 0);
    CHECK_FALSE(is_poisoned(buffer));  // the caller's again
    CHECK_FALSE(is_poisoned(buffer + size - 1));
  }
}

TEST_CASE("arena_resource: tiny, null and empty buffers") {
  counting_resource upstream;
  for (std::size_t size : {1, 2, 3, 7, 15, 16, 17}) {
    CAPTURE(size);
    unsigned char tiny[17];
    arena_resource arena(tiny, size, &upstream);
    CHECK(arena.capacity() == size);
    CHECK(arena.allocate(1, 1) == tiny);
    void* big = arena.allocate(64);
    CHECK(big != nullptr);
    CHECK(upstream.live() == 1);
    CHECK(arena.reset(reset_mode::free_all));
    CHECK(arena.allocate(1, 1) == tiny);
    pmrheap::test::still_works(arena);
  }
  arena_resource none(nullptr, 100, &upstream);
  CHECK(none.capacity() == 0);
  arena_resource empty(&upstream, 0, &upstream);
  CHECK(empty.capacity() == 0);
  static_cast<void>(none.allocate(10));
  CHECK(upstream.live() == 1);
  arena_resource refused(static_cast<void*>(nullptr), 0, nullptr);  // a null upstream refuses nodes
  CHECK(refused.try_allocate(1) == nullptr);
}

TEST_CASE("arena_resource: a buffer arena's newest block shrinks and grows within the buffer only") {
  unsigned char buffer[256];
  arena_resource arena(buffer, sizeof buffer, nullptr);
  void* p = arena.allocate(100, 1);
  CHECK(arena.resize(p, 100, 200, 1));
  CHECK_FALSE(arena.resize(p, 200, 300, 1));  // a buffer cannot grow
  CHECK(arena.resize(p, 200, 50, 1));
  CHECK(arena.allocate(10, 1) == buffer + 50);
  CHECK(arena.try_allocate(1000) == nullptr);  // no upstream
}

TEST_CASE("arena_resource: conformance over a buffer (over new_delete, and alone)") {
  alignas(16) unsigned char buffer[3000];
  arena_resource over(buffer + 1, sizeof buffer - 1, std::pmr::new_delete_resource());
  pmrheap::testing::validating_resource v(&over);
  pmrheap::testing::check_conformance(v);
  CHECK(v.blocks_in_use() == 0);
}

TEST_CASE("arena_resource: reset(retain_with_limit) over a buffer limits the upstream's share") {
  unsigned char buffer[512];
  counting_resource upstream;
  arena_resource arena(buffer, sizeof buffer, &upstream);
  for (int i = 0; i < 20; ++i) static_cast<void>(arena.allocate(1000));
  CHECK(arena.reset(pmrheap::retain_with_limit{3000}));
  CHECK(arena.capacity() == sizeof buffer + 3000);
  CHECK(arena.reset(pmrheap::retain_with_limit{0}));
  CHECK(arena.capacity() == sizeof buffer);
  CHECK(upstream.live() == 0);
}

// ---- the bump core (detail/bump.hpp), which every bump resource shares ---------------------------

TEST_CASE("detail::bump, is_newest and holds: edges") {
  using pmrheap::detail::bump;
  using pmrheap::detail::holds;
  using pmrheap::detail::is_newest;
  // On the heap, so that g++ does not warn about the pointer arithmetic of a branch not taken.
  std::vector<std::byte> storage(256 + 64);
  std::byte* const region = storage.data() + pmrheap::detail::align_offset(storage.data(), 64);
  std::byte* const end = region + 256;
  std::byte* cursor = region + 1;
  std::byte* block = nullptr;
  CHECK_FALSE(bump(cursor, end, 0, 1, block));  // zero bytes never fit
  CHECK(cursor == region + 1);
  CHECK(bump(cursor, end, 10, 16, block));
  CHECK(block == region + 16);
  CHECK(cursor == region + 26);
  CHECK_FALSE(bump(cursor, end, 231, 1, block));  // one byte too many
  // An alignment whose padding alone may pass the end: fits exactly when padding + 1 <= room.
  std::byte* probe = cursor;
  const bool fits = pmrheap::detail::align_offset(cursor, 1024) + 1 <= 230;
  CHECK(bump(probe, end, 1, 1024, block) == fits);
  CHECK(probe == (fits ? block + 1 : cursor));
  CHECK(bump(cursor, end, 230, 1, block));  // exactly the rest
  CHECK(cursor == end);
  CHECK_FALSE(bump(cursor, end, 1, 1, block));
  CHECK_FALSE(bump(cursor, end, pmrheap::detail::size_max, 1, block));

  std::byte* const top = region + 100;
  CHECK(is_newest(region + 90, 10, region, top));
  CHECK_FALSE(is_newest(region + 90, 9, region, top));
  CHECK_FALSE(is_newest(region + 100, 0, region, top));
  CHECK(is_newest(region, 100, region, top));
  CHECK_FALSE(is_newest(region - 1, 101, region, top));  // ends at the cursor, starts below the region
  CHECK_FALSE(is_newest(region + 90, pmrheap::detail::size_max, region, top));

  CHECK(holds(region, 256, region, end));
  CHECK(holds(region + 255, 1, region, end));
  CHECK_FALSE(holds(region + 255, 2, region, end));
  CHECK_FALSE(holds(region - 1, 2, region, end));
  CHECK_FALSE(holds(end, 1, region, end));
  CHECK_FALSE(holds(region, 0, region, end));
  CHECK_FALSE(holds(region + 10, pmrheap::detail::size_max, region, end));
}
