// SPDX-License-Identifier: MIT
// Tests include/pmrheap/arena_resource.hpp (docs/resources/arena_resource.md).
#include "pmrheap/arena_resource.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <memory_resource>
#include <random>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "pmrheap/c_resource.hpp"
#include "pmrheap/detail/sanitizer.hpp"
#include "pmrheap/page_resource.hpp"
#include "pmrheap/platform/pages.hpp"
#include "pmrheap/testing.hpp"
#include "support/counting_resource.hpp"
#include "support/opaque.hpp"
#include "support/refusing_resource.hpp"
#include "support/seed.hpp"

using pmrheap::arena_resource;
using pmrheap::reset_mode;
using pmrheap::detail::is_aligned;
using pmrheap::detail::is_poisoned;
using pmrheap::test::counting_resource;
using pmrheap::test::refusing_resource;

namespace {

using bytes_ptr = unsigned char*;

constexpr std::size_t overhead = arena_resource::node_overhead;
constexpr std::size_t first = arena_resource::first_node_size;
// Whether poisoning is visible: outside ASan builds is_poisoned() is always false.
constexpr bool asan = PMRHEAP_HAS_ASAN != 0;

// The alignment std::pmr asks for by default: 16 on most targets, 8 with clang on i386.
constexpr std::size_t align = pmrheap::default_alignment;

// Block offsets and sizes below are written for any default alignment: `rounded(n)` is where a
// block of n bytes ends.
constexpr std::size_t rounded(std::size_t bytes) { return pmrheap::detail::align_up(bytes, align); }

bytes_ptr take(arena_resource& arena, std::size_t bytes, std::size_t alignment = align) {
  return static_cast<bytes_ptr>(arena.allocate(bytes, alignment));
}

}  // namespace

TEST_CASE("arena_resource: conformance over page_resource, c_resource and new_delete_resource") {
  counting_resource page_count(pmrheap::page_resource::instance());
  counting_resource c_count(pmrheap::c_resource::instance());
  counting_resource new_delete_count(std::pmr::new_delete_resource());
  for (counting_resource* upstream : {&page_count, &c_count, &new_delete_count}) {
    {
      arena_resource arena(upstream);
      pmrheap::testing::validating_resource v(&arena);
      pmrheap::testing::check_conformance(v);
      CHECK(v.blocks_in_use() == 0);
      CHECK(upstream->live() > 0);
    }
    CHECK(upstream->live() == 0);
  }
}

// No node can be larger than PTRDIFF_MAX (the arena subtracts pointers within a node): such
// requests fail in the arena, and the upstream never sees them.
TEST_CASE("arena_resource: requests above PTRDIFF_MAX never reach the upstream") {
  refusing_resource upstream;
  arena_resource arena(&upstream);
  bytes_ptr p = take(arena, 16);
  upstream.refuse_allocations = true;  // counts every request that reaches it
  upstream.refuse_resizes = true;
  const std::size_t too_big = pmrheap::detail::size_max / 2 - 8;  // plus the node header: too big
  CHECK(arena.try_allocate(too_big, 1) == nullptr);
  CHECK_THROWS_AS(static_cast<void>(arena.allocate(too_big, 1)), pmrheap::out_of_memory);
  CHECK_FALSE(arena.resize(p, 16, too_big));
  CHECK(upstream.refused == 0);
  CHECK(arena.try_allocate(2000, 1) == nullptr);  // an ordinary request does reach it
  CHECK(upstream.refused > 0);
}

// A null upstream is null_memory_resource: every node is refused, with the documented errors.
TEST_CASE("arena_resource: a null upstream refuses everything but zero-byte blocks") {
  arena_resource arena(nullptr);
  CHECK(arena.upstream_resource() == std::pmr::null_memory_resource());
  CHECK_THROWS_AS(static_cast<void>(arena.allocate(1)), pmrheap::out_of_memory);
  CHECK(arena.try_allocate(1) == nullptr);
  CHECK(arena.allocate(0, 8) == pmrheap::detail::empty_block(8));
  CHECK(arena.capacity() == 0);
  CHECK_THROWS_AS(arena_resource(100, nullptr), pmrheap::out_of_memory);
}

TEST_CASE("arena_resource: final, neither copyable nor movable; upstream_resource") {
  static_assert(std::is_final_v<arena_resource>, "calls through arena_resource must devirtualise");
  static_assert(!std::is_copy_constructible_v<arena_resource> && !std::is_copy_assignable_v<arena_resource>);
  static_assert(!std::is_move_constructible_v<arena_resource> && !std::is_move_assignable_v<arena_resource>);
  counting_resource upstream;
  arena_resource arena(&upstream);
  CHECK(arena.upstream_resource() == &upstream);
  arena_resource by_default;
  CHECK(by_default.upstream_resource() == std::pmr::get_default_resource());
  CHECK(arena.is_equal(arena));
  CHECK_FALSE(arena.is_equal(by_default));
}

// The default resource is read when the arena is made, as std::pmr resources do.
TEST_CASE("arena_resource: the default constructor takes the default resource of the moment") {
  counting_resource upstream;
  std::pmr::memory_resource* const previous = std::pmr::set_default_resource(&upstream);
  arena_resource arena;
  std::pmr::set_default_resource(previous);
  CHECK(arena.upstream_resource() == &upstream);
  static_cast<void>(arena.allocate(8));
  CHECK(upstream.allocations == 1);
}

TEST_CASE("arena_resource: no node until the first allocation; then one node for many small blocks") {
  counting_resource upstream;
  arena_resource arena(&upstream);
  CHECK(upstream.calls() == 0);
  CHECK(arena.capacity() == 0);
  bytes_ptr previous = take(arena, 16);
  for (int i = 0; i < 50; ++i) {
    bytes_ptr p = take(arena, 16);
    REQUIRE(p == previous + 16);  // bumped right after the previous block
    previous = p;
  }
  CHECK(upstream.allocations == 1);
  CHECK(upstream.live_bytes == first);
  CHECK(arena.capacity() == first - overhead);
}

TEST_CASE("arena_resource: every alignment up to 4096 holds, sizes not multiples of it") {
  arena_resource arena;
  for (std::size_t alignment = 1; alignment <= 4096; alignment *= 2) {
    CAPTURE(alignment);
    bytes_ptr p = take(arena, 3, alignment);
    CHECK(is_aligned(p, alignment));
    std::memset(p, 0x5a, 3);
  }
}

// The initial-capacity constructor takes one node up front; it is the first node again after free_all.
TEST_CASE("arena_resource: initial capacity") {
  counting_resource upstream;
  arena_resource arena(5000, &upstream);
  CHECK(upstream.allocations == 1);
  CHECK(arena.capacity() >= 5000);
  CHECK(arena.capacity() < 5000 + 16);
  const std::size_t capacity = arena.capacity();
  static_cast<void>(arena.allocate(5000, 1));
  CHECK(upstream.allocations == 1);
  CHECK(arena.reset(reset_mode::free_all));
  CHECK(upstream.live() == 0);
  static_cast<void>(arena.allocate(1));
  CHECK(arena.capacity() == capacity);

  arena_resource none(0, &upstream);
  CHECK(none.capacity() == 0);
  refusing_resource refusing;
  refusing.refuse_allocations = true;
  CHECK_THROWS_AS(arena_resource(100, &refusing), pmrheap::out_of_memory);
  CHECK_THROWS_AS(arena_resource(pmrheap::detail::size_max, &upstream), pmrheap::out_of_memory);
}

// Regular node sizes: 1024, then 1.5 times the previous one (rounded up to 16).
TEST_CASE("arena_resource: node sizes grow by 1.5") {
  counting_resource upstream;
  arena_resource arena(&upstream);
  std::vector<std::size_t> sizes;
  std::size_t seen = 0;
  while (sizes.size() < 6) {
    static_cast<void>(arena.allocate(48));
    if (upstream.live_bytes != seen) {
      sizes.push_back(upstream.live_bytes - seen);
      seen = upstream.live_bytes;
    }
  }
  CHECK(sizes == std::vector<std::size_t>{1024, 1536, 2304, 3456, 5184, 7776});
}

// Better than Zig, libc++ and Boost: a huge request gets an exact node of its own, the next node
// keeps the size the series gives it, and the current node keeps serving small requests.
TEST_CASE("arena_resource: an oversized request neither inflates the next node nor wastes the current one") {
  counting_resource upstream;
  arena_resource arena(&upstream);
  bytes_ptr small = take(arena, 16);
  const std::size_t huge = std::size_t{1} << 20;
  bytes_ptr big = take(arena, huge);
  CHECK(upstream.allocations == 2);
  CHECK(upstream.live_bytes == first + huge + overhead);  // exactly what the block needs
  std::memset(big, 1, huge);

  CHECK(take(arena, 16) == small + 16);  // the first node still bumps
  CHECK(upstream.allocations == 2);
  while (upstream.allocations == 2) static_cast<void>(arena.allocate(16));
  CHECK(upstream.live_bytes - (first + huge + overhead) == 1536);  // not 1.5 MiB
  CHECK(arena.capacity() == first + (huge + overhead) + 1536 - 3 * overhead);
}

// When the current node has less room left than the oversized node would, the oversized node takes
// over the bumping: its block is then the newest and can give its bytes back.
TEST_CASE("arena_resource: an oversized node becomes the bump node when that wastes less") {
  counting_resource upstream;
  SUBCASE("in an empty arena") {
    arena_resource arena(&upstream);
    bytes_ptr big = take(arena, 100000);
    arena.deallocate(big, 100000);
    CHECK(take(arena, 64) == big);  // the space came back and is reused
    CHECK(upstream.allocations == 1);
  }
  SUBCASE("after a full node") {
    arena_resource arena(&upstream);
    static_cast<void>(arena.allocate(first - overhead, 1));  // fills the first node exactly
    bytes_ptr big = take(arena, 100001, 1);                  // a node of 100001 + overhead, rounded: 7 or 15 bytes left
    CHECK(take(arena, 4, 1) == big + 100001);
    CHECK(upstream.allocations == 2);
  }
  SUBCASE("but not when the current node has more room") {
    arena_resource arena(&upstream);
    bytes_ptr small = take(arena, 8, 1);
    bytes_ptr big = take(arena, 100001, 1);
    arena.deallocate(big, 100001, 1);  // not the newest block of the bump node: nothing happens
    CHECK(take(arena, 8, 1) == small + 8);
    CHECK(upstream.allocations == 2);
  }
}

TEST_CASE("arena_resource: deallocate gives back the newest block only, in stack order") {
  counting_resource upstream;
  arena_resource arena(&upstream);
  bytes_ptr a = take(arena, 32);
  bytes_ptr b = take(arena, 32);
  bytes_ptr c = take(arena, 32);
  arena.deallocate(b, 32);  // not the newest: nothing
  CHECK(take(arena, 32) == c + 32);
  arena.deallocate(c + 32, 32);
  arena.deallocate(c, 32);
  arena.deallocate(b, 32);  // now the newest
  CHECK(take(arena, 32) == b);
  arena.deallocate(b, 32);
  arena.deallocate(a, 32);
  CHECK(take(arena, 32) == a);
  arena.deallocate(a, 0);  // zero bytes: nothing, even at the newest block's address
  CHECK(take(arena, 32) == a + 32);
  CHECK(upstream.allocations == 1);
}

TEST_CASE("arena_resource: resize and remap grow or shrink the newest block in place") {
  arena_resource arena;
  bytes_ptr a = take(arena, 100);
  bytes_ptr b = take(arena, 100);
  std::memset(b, 7, 100);
  CHECK(arena.resize(b, 100, 300));
  CHECK(arena.remap(b, 300, 500) == b);
  CHECK(b[99] == 7);
  CHECK(arena.resize(b, 500, 10));
  CHECK(take(arena, 16) == b + 16);  // the shrink gave the bytes back
  CHECK(b[9] == 7);

  // Any other block: shrink true, nothing reclaimed; growth refused.
  CHECK(arena.resize(a, 100, 50));
  CHECK_FALSE(arena.resize(a, 50, 60));
  CHECK(arena.remap(a, 50, 60) == nullptr);
  CHECK(arena.remap(a, 50, 40) == a);

  // Growth past the node over an upstream that cannot grow it: refused, block intact.
  bytes_ptr c = take(arena, 16);
  std::memset(c, 9, 16);
  CHECK_FALSE(arena.resize(c, 16, 100000));
  CHECK(arena.remap(c, 16, 100000) == nullptr);
  CHECK(c[15] == 9);
  CHECK(arena.resize(c, 16, 32));
}

// Over page_resource a node is a mapping rounded up to whole pages; the arena grows its node into
// that slack through the upstream's resize before it takes a new node.
TEST_CASE("arena_resource: in-place node growth over page_resource") {
  const std::size_t page = pmrheap::platform::page_size();
  counting_resource upstream(pmrheap::page_resource::instance());
  arena_resource arena(&upstream);
  bytes_ptr p = take(arena, 1000);
  bytes_ptr node = p - overhead;
  REQUIRE(is_aligned(node, page));

  bytes_ptr q = take(arena, 100);  // the first node is full: it grows by a next node's size, to 2560
  CHECK(q == p + rounded(1000));
  CHECK(upstream.allocations == 1);
  CHECK(upstream.resizes == 1);
  CHECK(arena.capacity() == 2560 - overhead);

  // Then, once a whole next node would cross the page, to the end of the page in one call.
  bytes_ptr last = q;
  while (upstream.allocations == 1) {
    bytes_ptr r = take(arena, 100);
    if (upstream.allocations == 1) {
      REQUIRE(r == last + rounded(100));
      last = r;
    }
  }
  CHECK(last + 100 <= node + page);
  CHECK(last + rounded(100) + 100 > node + page);  // the page was full
  // One resize per whole next-node step that stays within the page, then one to its end: with 4 KiB
  // pages 1024 -> 2560 -> 4096, with 64 KiB pages seven steps (to 50440) and the last.
  std::size_t steps = 0;
  for (std::size_t size = first, next = 1536; size + next <= page;
       size += next, next = pmrheap::detail::align_up(next + next / 2, alignof(std::max_align_t)))
    ++steps;
  CHECK(upstream.resizes == steps + 1);
  if (page == 4096) CHECK(upstream.failed_resizes == 3);  // 4864 (a step); 6400 and exactly enough once full

  // The newest block grows in place the same way.
  arena_resource other(&upstream);
  bytes_ptr s = take(other, 1000);
  std::memset(s, 3, 1000);
  CHECK(other.resize(s, 1000, 3000));
  CHECK(s[999] == 3);
  s[2999] = 4;
  CHECK(other.capacity() >= 3000);  // one node, grown (the resize takes no new node)
}

// An arena over an arena: the inner arena's node is the outer arena's newest block, so it grows in
// place; growing by whole next-node sizes keeps the upstream calls logarithmic.
TEST_CASE("arena_resource: nested arenas grow the inner node in place, a few times") {
  arena_resource outer(10 << 20, std::pmr::new_delete_resource());
  counting_resource between(&outer);
  {
    arena_resource inner(&between);
    for (int i = 0; i < 10000; ++i) static_cast<void>(inner.allocate(16));
    CHECK(between.allocations == 1);
    CHECK(between.resizes > 5);
    CHECK(between.resizes < 20);
    CHECK(inner.capacity() >= 160000);
  }
  CHECK(between.live() == 0);
}

// Zig's "reset with preheating": 25 rounds of random sizes at alignment 32.
TEST_CASE("arena_resource: reset with preheating") {
  std::mt19937_64 random(pmrheap::test::seed("arena_resource: reset with preheating"));
  counting_resource upstream;
  {
    arena_resource arena(&upstream);
    for (int round = 0; round < 25; ++round) {
      CHECK(arena.reset(reset_mode::retain_capacity));
      const std::size_t total = std::uniform_int_distribution<std::size_t>(256, 16384)(random);
      std::size_t allocated = 0;
      while (allocated < total) {
        const std::size_t size = std::uniform_int_distribution<std::size_t>(16, 256)(random);
        bytes_ptr p = take(arena, size, 32);
        REQUIRE(is_aligned(p, 32));
        std::memset(p, round, size);
        REQUIRE(p[size - 1] == round);
        allocated += size;
      }
    }
  }
  CHECK(upstream.live() == 0);
}

// Zig's "reset while retaining a buffer" (0.15 and HEAD versions). Zig's blocks of 1 and 1000 bytes
// need two nodes there; our first node holds both, so the second block here is 2000 bytes.
TEST_CASE("arena_resource: reset while retaining a buffer") {
  counting_resource upstream;
  arena_resource arena(&upstream);
  static_cast<void>(arena.allocate(1, 1));
  static_cast<void>(arena.allocate(2000, 1));
  CHECK(upstream.live() == 2);
  CHECK(arena.reset(pmrheap::retain_with_limit{1}));
  CHECK(arena.capacity() == 1);
  CHECK(arena.reset(pmrheap::retain_with_limit{2}));  // growing past a capacity of 1 keeps 1
  CHECK(arena.capacity() == 1);

  static_cast<void>(arena.allocate(1, 1));
  static_cast<void>(arena.allocate(2000, 1));
  CHECK(upstream.live() == 2);
  CHECK(arena.reset(pmrheap::retain_with_limit{2}));
  CHECK(upstream.live() == 1);
  CHECK(arena.capacity() == 2);
  bytes_ptr p = take(arena, 2, 1);
  p[1] = 1;
}

TEST_CASE("arena_resource: capacity after every reset mode") {
  counting_resource upstream;
  arena_resource arena(&upstream);
  auto fill = [&] {
    for (int i = 0; i < 200; ++i) static_cast<void>(arena.allocate(40));
  };
  fill();
  const std::size_t held = arena.capacity();
  CHECK(upstream.live() > 1);
  CHECK(held == upstream.live_bytes - upstream.live() * overhead);

  SUBCASE("retain_capacity keeps it, in one node") {
    CHECK(arena.reset(reset_mode::retain_capacity));
    CHECK(arena.capacity() == held);
    CHECK(upstream.live() == 1);
    CHECK(upstream.live_bytes == held + overhead);
  }
  SUBCASE("retain_with_limit keeps at most the limit") {
    CHECK(arena.reset(pmrheap::retain_with_limit{1000}));
    CHECK(arena.capacity() == 1000);
    CHECK(upstream.live() == 1);
    CHECK(arena.reset(pmrheap::retain_with_limit{held * 2}));  // above the capacity: all of it
    CHECK(arena.capacity() == 1000);
  }
  SUBCASE("retain_with_limit 0 is free_all") {
    CHECK(arena.reset(pmrheap::retain_with_limit{0}));
    CHECK(arena.capacity() == 0);
    CHECK(upstream.live() == 0);
  }
  SUBCASE("free_all and release") {
    CHECK(arena.reset(reset_mode::free_all));
    CHECK(arena.capacity() == 0);
    CHECK(upstream.live() == 0);
    fill();
    arena.release();
    CHECK(arena.capacity() == 0);
    CHECK(upstream.live() == 0);
    static_cast<void>(arena.allocate(1));  // starts over at the first node size
    CHECK(upstream.live_bytes == first);
  }
  SUBCASE("reset of an empty arena") {
    arena_resource empty(&upstream);
    CHECK(empty.reset());
    CHECK(empty.capacity() == 0);
  }
}

// The node kept is the smallest one that holds the retained size; over page_resource it shrinks in
// place, so the reset takes no new node and the next block starts where the first one did.
TEST_CASE("arena_resource: reset keeps the node that fits best and shrinks it in place") {
  counting_resource upstream(pmrheap::page_resource::instance());
  arena_resource arena(&upstream);
  bytes_ptr first_block = take(arena, 1000);
  // An oversized node, behind the first (Zig would keep it): more than the first node's page holds.
  static_cast<void>(arena.allocate(pmrheap::platform::page_size()));
  REQUIRE(upstream.live() == 2);
  const std::size_t allocations = upstream.allocations;
  CHECK(arena.reset(pmrheap::retain_with_limit{1000}));  // the first node is the smaller that fits
  CHECK(upstream.allocations == allocations);
  CHECK(upstream.live() == 1);
  CHECK(arena.capacity() == 1000);
  CHECK(take(arena, 1000) == first_block);
}

// After a retaining reset the node series continues from the node kept.
TEST_CASE("arena_resource: the next node after a retaining reset is 1.5 times the kept one") {
  counting_resource upstream;
  arena_resource arena(&upstream);
  for (int i = 0; i < 100; ++i) static_cast<void>(arena.allocate(100));
  CHECK(arena.reset());
  const std::size_t kept = arena.capacity() + overhead;
  REQUIRE(upstream.live_bytes == kept);
  while (upstream.live() == 1) static_cast<void>(arena.allocate(100));
  CHECK(upstream.live_bytes - kept == pmrheap::detail::align_up(kept + kept / 2, 16));
}

// Once one node holds the retained capacity, a steady workload never calls the upstream again,
// not even at reset.
TEST_CASE("arena_resource: no upstream call after the first round with retain_capacity") {
  counting_resource upstream;
  arena_resource arena(&upstream);
  std::size_t after_first = 0;
  for (int round = 0; round < 5; ++round) {
    {
      std::pmr::vector<int> numbers(&arena);
      std::pmr::vector<std::pmr::string> words(&arena);
      for (int i = 0; i < 2000; ++i) numbers.push_back(i);
      for (int i = 0; i < 200; ++i) words.emplace_back(std::string(40 + i % 30, static_cast<char>('a' + i % 26)));
      REQUIRE(numbers[1999] == 1999);
      REQUIRE(words[199].size() == 40 + 199 % 30);
    }
    CHECK(arena.reset(reset_mode::retain_capacity));
    if (round == 0) after_first = upstream.calls();
    CAPTURE(round);
    CHECK(upstream.calls() == after_first);
  }
  CHECK(upstream.live() == 1);
}

TEST_CASE("arena_resource: reset returns false when the upstream refuses the new node; the arena still works") {
  counting_resource counted;
  refusing_resource upstream(&counted);
  arena_resource arena(&upstream);
  static_cast<void>(arena.allocate(1000));
  static_cast<void>(arena.allocate(1000));  // a second node, 1536 bytes
  REQUIRE(counted.live() == 2);
  REQUIRE(arena.capacity() == (first - overhead) + (1536 - overhead));

  upstream.refuse_allocations = true;
  CHECK_FALSE(arena.reset(reset_mode::retain_capacity));  // a 2544-byte node is refused
  CHECK(arena.capacity() == 1536 - overhead);             // the larger node is kept
  CHECK(counted.live() == 1);
  bytes_ptr p = take(arena, 1500);
  std::memset(p, 1, 1500);
  CHECK_THROWS_AS(static_cast<void>(arena.allocate(4000)), pmrheap::out_of_memory);
  CHECK(arena.try_allocate(4000) == nullptr);
  CHECK(take(arena, 16) == p + rounded(1500));  // still bumping in the kept node

  // A shrink refused both in place and as a new node: the larger node stays.
  upstream.refuse_resizes = true;
  CHECK_FALSE(arena.reset(pmrheap::retain_with_limit{100}));
  CHECK(arena.capacity() == 1536 - overhead);

  upstream.refuse_allocations = false;
  upstream.refuse_resizes = false;
  CHECK(arena.reset(pmrheap::retain_with_limit{100}));
  CHECK(arena.capacity() == 100);
  static_cast<void>(arena.allocate(4000));
  CHECK(counted.live() == 2);
}

TEST_CASE("arena_resource: std::pmr containers") {
  counting_resource upstream;
  {
    arena_resource arena(&upstream);
    std::pmr::vector<std::pmr::string> words(&arena);
    for (int i = 0; i < 1000; ++i) words.emplace_back(std::string(30, static_cast<char>('a' + i % 26)));
    CHECK(words.size() == 1000);
    CHECK(std::string_view(words[999]) == std::string(30, static_cast<char>('a' + 999 % 26)));
    CHECK(words[500].get_allocator().resource() == &arena);
    std::pmr::vector<double> numbers({1.5, 2.5, 3.5}, &arena);
    numbers.resize(100000, 0.25);
    CHECK(numbers[2] == 3.5);
    CHECK(numbers[99999] == 0.25);
  }
  CHECK(upstream.live() == 0);
}

TEST_CASE("arena_resource: the destructor returns every node") {
  counting_resource upstream(pmrheap::page_resource::instance());
  {
    arena_resource arena(&upstream);
    for (int i = 0; i < 3000; ++i) static_cast<void>(arena.allocate(static_cast<std::size_t>(i % 97) + 1, 8));
    static_cast<void>(arena.allocate(1 << 20, 4096));  // oversized
    bytes_ptr p = take(arena, 64);
    if (arena.resize(p, 64, 5000)) p[4999] = 1;  // grows the node in place when the page has room
    CHECK(upstream.live() > 3);
    CHECK(upstream.resizes > 0);
  }
  CHECK(upstream.live() == 0);
  CHECK(upstream.live_bytes == 0);
}

// ---- Poisoning --------------------------------------------------------------------------------
// Under ASan the arena poisons what it has not handed out; elsewhere is_poisoned() is always false
// and these tests still check the addresses that make poisoning meaningful.

TEST_CASE("arena_resource: poisoning of blocks handed out and given back") {
  arena_resource arena;
  bytes_ptr p = take(arena, 64);
  CHECK_FALSE(is_poisoned(p));
  CHECK_FALSE(is_poisoned(p + 63));
  CHECK(is_poisoned(p + 64) == asan);
  CHECK(is_poisoned(p + 500) == asan);

  arena.deallocate(p, 64);  // the newest block
  CHECK(is_poisoned(p) == asan);
  bytes_ptr q = take(arena, 64);
  CHECK(q == p);
  CHECK_FALSE(is_poisoned(q + 63));

  CHECK(arena.resize(q, 64, 16));
  CHECK(is_poisoned(q + 16) == asan);
  CHECK_FALSE(is_poisoned(q + 15));
  CHECK(arena.resize(q, 16, 64));
  CHECK_FALSE(is_poisoned(q + 63));

  bytes_ptr r = take(arena, 64);  // a shrunk block that is not the newest: its tail is dead too
  CHECK(arena.resize(q, 64, 16));
  CHECK(is_poisoned(q + 32) == asan);
  CHECK_FALSE(is_poisoned(r));

  CHECK(arena.reset());
  CHECK(is_poisoned(q) == asan);
  CHECK(is_poisoned(r) == asan);
  CHECK(take(arena, 64) == q);  // the retained node starts over at the same address
  CHECK_FALSE(is_poisoned(q));
}

TEST_CASE("arena_resource: oversized nodes and grown nodes are poisoned beyond their blocks") {
  arena_resource arena(pmrheap::page_resource::instance());
  bytes_ptr big = take(arena, 100001, 1);
  CHECK_FALSE(is_poisoned(big + 100000));
  CHECK(is_poisoned(big + 100001) == asan);

  arena_resource grown(pmrheap::page_resource::instance());
  bytes_ptr p = take(grown, 1000);
  bytes_ptr q = take(grown, 100);  // grew the node in place
  CHECK(q == p + rounded(1000));
  CHECK_FALSE(is_poisoned(q + 99));
  CHECK(is_poisoned(q + rounded(100)) == asan);
  CHECK(is_poisoned(p + 2000) == asan);
}

// Nodes go back unpoisoned: an upstream that knows nothing of ASan may hand the memory out again.
TEST_CASE("arena_resource: memory returned to the upstream is not left poisoned") {
  std::pmr::monotonic_buffer_resource keeper;  // never frees, so its memory stays readable
  arena_resource arena(&keeper);
  bytes_ptr p = take(arena, 16);
  bytes_ptr big = take(arena, 3001, 1);  // an oversized node, 15 bytes left at its end
  CHECK(is_poisoned(p + 100) == asan);
  CHECK(is_poisoned(big + 3001) == asan);

  SUBCASE("release") {
    arena.release();
    CHECK(arena.capacity() == 0);
  }
  SUBCASE("a reset that replaces the kept node and frees the other") {
    CHECK(arena.reset(pmrheap::retain_with_limit{50}));
    CHECK(arena.capacity() == 50);
    bytes_ptr q = take(arena, 16);
    CHECK(q != p);
    CHECK(is_poisoned(q + 16) == asan);
  }
  CHECK_FALSE(is_poisoned(p + 100));
  CHECK_FALSE(is_poisoned(big + 3001));
  p[100] = 1;  // the keeper's memory: usable again
  big[3001] = 1;
}

// allocate/deallocate called on the concrete type bind statically (no virtual call) and must keep
// exactly the contract of the virtual path.
TEST_CASE("arena_resource: allocate through the concrete type keeps the contract") {
  pmrheap::arena_resource arena(pmrheap::c_resource::instance());
  CHECK_THROWS_AS(static_cast<void>(arena.allocate(16, pmrheap::test::opaque(3))), std::invalid_argument);
  void* empty = arena.allocate(0, 64);
  CHECK(empty == pmrheap::detail::empty_block(64));
  arena.deallocate(empty, 0, 64);
  CHECK_THROWS_AS(static_cast<void>(arena.allocate(pmrheap::detail::size_max, 8)), std::bad_alloc);
  void* a = arena.allocate(24, 8);
  arena.deallocate(a, 24, 8);  // the last block: its bytes come back
  CHECK(arena.allocate(24, 8) == a);
}
