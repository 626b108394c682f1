// SPDX-License-Identifier: MIT
// Tests include/pmrheap/concurrent_arena_resource.hpp (docs/resources/concurrent_arena_resource.md):
// one thread first, then many (Zig 0.16's "fuzz multi threaded" test, ported, and a stress test).
#include "pmrheap/concurrent_arena_resource.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <memory>
#include <memory_resource>
#include <new>
#include <random>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "pmrheap/arena_resource.hpp"
#include "pmrheap/c_resource.hpp"
#include "pmrheap/detail/sanitizer.hpp"
#include "pmrheap/fixed_buffer_resource.hpp"
#include "pmrheap/page_resource.hpp"
#include "pmrheap/testing.hpp"
#include "support/contract.hpp"
#include "support/counting_resource.hpp"
#include "support/refusing_resource.hpp"

using pmrheap::concurrent_arena_resource;
using pmrheap::reset_mode;
using pmrheap::retain_with_limit;
using pmrheap::detail::is_aligned;
using pmrheap::detail::is_poisoned;
using pmrheap::test::counting_resource;
using pmrheap::test::refusing_resource;

namespace {

using bytes_ptr = unsigned char*;
constexpr bool asan = PMRHEAP_HAS_ASAN != 0;
constexpr std::size_t overhead = concurrent_arena_resource::node_overhead;
constexpr std::size_t small = concurrent_arena_resource::span_block_limit / 2;  // from the span
constexpr std::size_t large = concurrent_arena_resource::span_block_limit * 2;  // from the node

bytes_ptr take(concurrent_arena_resource& arena, std::size_t bytes, std::size_t alignment = 16) {
  return static_cast<bytes_ptr>(arena.allocate(bytes, alignment));
}

// An upstream that throws something other than std::bad_alloc.
struct throwing_resource final : std::pmr::memory_resource {
  void* do_allocate(std::size_t, std::size_t) override { throw 42; }
  void do_deallocate(void*, std::size_t, std::size_t) override {}
  bool do_is_equal(const std::pmr::memory_resource& o) const noexcept override { return this == &o; }
};

}  // namespace

TEST_CASE("concurrent_arena_resource: conformance over page_resource, c_resource and new_delete_resource") {
  counting_resource page_count(pmrheap::page_resource::instance());
  counting_resource c_count(pmrheap::c_resource::instance());
  counting_resource new_delete_count(std::pmr::new_delete_resource());
  for (counting_resource* upstream : {&page_count, &c_count, &new_delete_count}) {
    {
      concurrent_arena_resource arena(upstream);
      pmrheap::testing::validating_resource v(&arena);
      pmrheap::testing::check_conformance(v);
      CHECK(v.blocks_in_use() == 0);
      CHECK(upstream->live() > 0);
    }
    CHECK(upstream->live() == 0);
  }
}

TEST_CASE("concurrent_arena_resource: bad input") {
  concurrent_arena_resource arena(pmrheap::c_resource::instance());
  pmrheap::test::check_contract(arena);
}

TEST_CASE("concurrent_arena_resource: a null upstream refuses everything but zero-byte blocks") {
  concurrent_arena_resource arena(nullptr);
  CHECK(arena.upstream_resource() == std::pmr::null_memory_resource());
  CHECK_THROWS_AS(static_cast<void>(arena.allocate(1)), pmrheap::out_of_memory);
  CHECK(arena.try_allocate(1) == nullptr);
  CHECK(arena.try_allocate(large, 4096) == nullptr);
  CHECK(arena.allocate(0, 8) == pmrheap::detail::empty_block(8));
  CHECK(arena.capacity() == 0);
  CHECK_THROWS_AS(concurrent_arena_resource(100, nullptr), pmrheap::out_of_memory);
}

TEST_CASE("concurrent_arena_resource: an upstream that throws anything is a plain allocation failure") {
  throwing_resource upstream;
  concurrent_arena_resource arena(&upstream);
  CHECK_THROWS_AS(static_cast<void>(arena.allocate(8)), pmrheap::out_of_memory);
  CHECK(arena.try_allocate(large) == nullptr);
  CHECK_THROWS_AS(concurrent_arena_resource(100, &upstream), pmrheap::out_of_memory);
}

TEST_CASE("concurrent_arena_resource: final, not copyable; upstream; the default resource of the moment") {
  static_assert(std::is_final_v<concurrent_arena_resource>);
  static_assert(!std::is_copy_constructible_v<concurrent_arena_resource>);
  static_assert(!std::is_move_constructible_v<concurrent_arena_resource>);
  counting_resource upstream;
  std::pmr::memory_resource* const previous = std::pmr::set_default_resource(&upstream);
  concurrent_arena_resource arena;
  std::pmr::set_default_resource(previous);
  CHECK(arena.upstream_resource() == &upstream);
  CHECK(upstream.allocations == 0);
  static_cast<void>(arena.allocate(8));
  CHECK(upstream.allocations == 1);
  CHECK(arena.capacity() == concurrent_arena_resource::first_node_size - overhead);
  for (int i = 0; i < 50; ++i) static_cast<void>(arena.allocate(16));  // all in the first node
  CHECK(upstream.allocations == 1);
}

TEST_CASE("concurrent_arena_resource: every alignment up to 128 KiB holds, in spans and in nodes") {
  concurrent_arena_resource arena(pmrheap::c_resource::instance());
  for (std::size_t alignment = 1; alignment <= (std::size_t{128} << 10); alignment *= 2) {
    for (std::size_t bytes : {std::size_t{1}, std::size_t{24}, small, large + 3}) {
      bytes_ptr p = take(arena, bytes, alignment);
      CHECK(is_aligned(p, alignment));
      std::memset(p, 0x5a, bytes);
    }
  }
}

TEST_CASE("concurrent_arena_resource: initial capacity, and again after free_all") {
  counting_resource upstream(pmrheap::c_resource::instance());
  concurrent_arena_resource arena(100000, &upstream);
  CHECK(upstream.allocations == 1);
  CHECK(arena.capacity() >= 100000);
  CHECK(arena.capacity() < 100000 + 64);
  for (int i = 0; i < 1000; ++i) static_cast<void>(arena.allocate(64));
  CHECK(upstream.allocations == 1);
  CHECK(arena.reset(reset_mode::free_all));
  CHECK(arena.capacity() == 0);
  CHECK(upstream.live() == 0);
  static_cast<void>(arena.allocate(1));
  CHECK(arena.capacity() >= 100000);
  CHECK(concurrent_arena_resource(0, &upstream).capacity() == 0);
}

TEST_CASE("concurrent_arena_resource: deallocate gives back the thread's newest block, in stack order") {
  concurrent_arena_resource arena(pmrheap::c_resource::instance());
  bytes_ptr a = take(arena, 48);
  bytes_ptr b = take(arena, 48);
  arena.deallocate(a, 48);  // not the newest: nothing comes back
  bytes_ptr c = take(arena, 48);
  CHECK(c != a);
  arena.deallocate(c, 48);
  arena.deallocate(b, 48);
  CHECK(take(arena, 96) == b);  // b and c came back, in stack order

  bytes_ptr big = take(arena, large);  // from the node: the node's newest block comes back
  arena.deallocate(big, large);
  CHECK(take(arena, large) == big);
}

// "Newest" is per thread: another thread's allocations in between do not matter, and a block freed
// by another thread does not come back.
TEST_CASE("concurrent_arena_resource: the newest block is the calling thread's newest") {
  concurrent_arena_resource arena(pmrheap::c_resource::instance());
  bytes_ptr mine = take(arena, 48);
  std::thread([&] { static_cast<void>(take(arena, 48)); }).join();
  arena.deallocate(mine, 48);
  CHECK(take(arena, 48) == mine);
  CHECK(arena.resize(mine, 48, 96));  // and it grows, though the other thread allocated later

  bytes_ptr other = nullptr;
  std::thread([&] { other = take(arena, 48); }).join();
  arena.deallocate(other, 48);  // freed here, not by its thread: nothing comes back
  bytes_ptr next = nullptr;
  std::thread([&] { next = take(arena, 48); }).join();
  CHECK(next != other);
}

TEST_CASE("concurrent_arena_resource: resize and remap grow or shrink the newest block in place") {
  concurrent_arena_resource arena(std::size_t{1} << 20, pmrheap::c_resource::instance());
  bytes_ptr a = take(arena, 100);
  CHECK(arena.resize(a, 100, 200));
  CHECK(arena.remap(a, 200, 300) == a);
  bytes_ptr b = take(arena, 16);
  CHECK(b >= a + 300);
  CHECK_FALSE(arena.resize(a, 300, 400));  // not the newest
  CHECK(arena.remap(a, 300, 400) == nullptr);
  CHECK(arena.resize(a, 300, 50));  // any block shrinks
  CHECK(arena.resize(b, 16, 8));
  CHECK(take(arena, 8, 8) == b + 8);             // the newest gave its tail back
  CHECK_FALSE(arena.resize(b + 8, 8, 1 << 20));  // past the span

  bytes_ptr big = take(arena, large);
  CHECK(arena.resize(big, large, large + 1000));  // grows within the node
  CHECK(arena.resize(big, large + 1000, 10));
  CHECK(take(arena, large, 1) == big + 10);
  CHECK_FALSE(arena.resize(big + 10, large, std::numeric_limits<std::size_t>::max() / 2));  // past the node
}

// Found by the fuzz campaign (tests/fuzz/regressions/concurrent_arena/): the model had it wrong, the
// arena right. "Newest" means "ends at the span's cursor": a block reserved from the node just
// before the thread's span is the newest once the span's own blocks are gone, and its bytes join
// the span.
TEST_CASE("concurrent_arena_resource: a node block just below the thread's empty span gives its bytes to the span") {
  concurrent_arena_resource arena(std::size_t{1} << 20, pmrheap::c_resource::instance());
  bytes_ptr big = take(arena, 8192, 64);  // from the node, ending 64-aligned
  bytes_ptr small = take(arena, 1, 1);    // a new span, reserved right after it
  REQUIRE(small == big + 8192);
  arena.deallocate(small, 1);  // the span is empty: its cursor is where big ends
  CHECK(arena.resize(big, 8192, 100));
  CHECK(take(arena, 1, 1) == big + 100);     // the cut-off tail is the span's now
  CHECK_FALSE(arena.resize(big, 100, 200));  // no longer the newest
}

// Over an arena, the node is the outer arena's newest block, so it grows in place.
TEST_CASE("concurrent_arena_resource: the head node grows in place through the upstream") {
  pmrheap::arena_resource outer(std::size_t{16} << 20, std::pmr::new_delete_resource());
  counting_resource upstream(&outer);
  concurrent_arena_resource arena(&upstream);
  std::vector<bytes_ptr> blocks;
  for (int i = 0; i < 200; ++i) {
    blocks.push_back(take(arena, large));
    std::memset(blocks.back(), i, large);
  }
  CHECK(upstream.resizes > 0);
  CHECK(upstream.allocations == 1);
  CHECK(arena.capacity() >= 200 * large);
  for (int i = 0; i < 200; ++i) CHECK(blocks[static_cast<std::size_t>(i)][large - 1] == static_cast<unsigned char>(i));
}

TEST_CASE("concurrent_arena_resource: capacity after every reset mode") {
  counting_resource upstream(pmrheap::c_resource::instance());
  concurrent_arena_resource arena(&upstream);
  const auto fill = [&arena] {
    for (int i = 0; i < 100; ++i) static_cast<void>(arena.allocate(1000));
    static_cast<void>(arena.allocate(50000));
  };
  fill();
  const std::size_t before = arena.capacity();
  CHECK(arena.reset());
  CHECK(arena.capacity() == before);
  CHECK(upstream.live() == 1);
  bytes_ptr first = take(arena, 16);
  fill();
  CHECK(arena.capacity() == before);  // everything fitted in the kept node
  CHECK(upstream.live() == 1);
  CHECK(arena.reset(retain_with_limit{5000}));
  CHECK(arena.capacity() == 5000);
  CHECK(arena.reset(retain_with_limit{1 << 30}));
  CHECK(arena.capacity() == 5000);
  CHECK(arena.reset(retain_with_limit{2}));  // less than a header: still exact
  CHECK(arena.capacity() == 2);
  CHECK(arena.reset(retain_with_limit{0}));
  CHECK(arena.capacity() == 0);
  CHECK(upstream.live() == 0);
  fill();
  CHECK(arena.reset(reset_mode::free_all));
  CHECK(upstream.live() == 0);
  static_cast<void>(first);
}

TEST_CASE("concurrent_arena_resource: a reset starts every span over, on every thread") {
  concurrent_arena_resource arena(pmrheap::c_resource::instance());
  bytes_ptr first = take(arena, 16);
  bytes_ptr other = nullptr;
  std::thread([&] { other = take(arena, 16); }).join();
  CHECK(other != first);
  CHECK(arena.reset());
  CHECK(take(arena, 16) == first);  // the kept node from its start: the old span is gone
  bytes_ptr again = nullptr;
  std::thread([&] { again = take(arena, 16); }).join();
  CHECK(again != first);
  CHECK(again != nullptr);
}

TEST_CASE("concurrent_arena_resource: reset returns false when the upstream refuses; the arena still works") {
  refusing_resource upstream(pmrheap::c_resource::instance());
  concurrent_arena_resource arena(&upstream);
  for (int i = 0; i < 20; ++i) static_cast<void>(arena.allocate(1000));
  upstream.refuse_allocations = true;
  upstream.refuse_resizes = true;
  CHECK_FALSE(arena.reset(retain_with_limit{100}));
  CHECK(arena.capacity() > 100);
  bytes_ptr p = take(arena, 100);
  std::memset(p, 1, 100);
}

TEST_CASE("concurrent_arena_resource: a new arena at a dead arena's address takes its own node") {
  counting_resource upstream(pmrheap::c_resource::instance());
  alignas(concurrent_arena_resource) unsigned char storage[sizeof(concurrent_arena_resource)];
  auto* arena = ::new (storage) concurrent_arena_resource(&upstream);
  static_cast<void>(arena->allocate(16));
  arena->~concurrent_arena_resource();
  CHECK(upstream.live() == 0);
  arena = ::new (storage) concurrent_arena_resource(&upstream);
  bytes_ptr p = take(*arena, 16);  // would touch freed memory if the old span were still used
  std::memset(p, 1, 16);
  CHECK(upstream.live() == 1);
  arena->~concurrent_arena_resource();
}

TEST_CASE("concurrent_arena_resource: a thread alternating between arenas keeps each one's blocks apart") {
  for (const std::size_t count : {std::size_t{4}, std::size_t{7}}) {  // as many as a thread caches, and more
    CAPTURE(count);
    counting_resource upstream(pmrheap::c_resource::instance());
    std::vector<std::unique_ptr<concurrent_arena_resource>> arenas;
    for (std::size_t i = 0; i < count; ++i) arenas.push_back(std::make_unique<concurrent_arena_resource>(&upstream));
    std::vector<std::pair<bytes_ptr, unsigned char>> blocks;
    for (int round = 0; round < 50; ++round) {
      for (std::size_t i = 0; i < count; ++i) {
        bytes_ptr p = take(*arenas[i], 24);
        std::memset(p, static_cast<int>(i + 1), 24);
        blocks.emplace_back(p, static_cast<unsigned char>(i + 1));
      }
    }
    for (auto& [p, value] : blocks) CHECK((p[0] == value && p[23] == value));
    if (count == 4) CHECK(upstream.allocations == 4);  // no span was given up: one node each
  }
}

TEST_CASE("concurrent_arena_resource: std::pmr containers; the destructor returns every node") {
  counting_resource upstream(pmrheap::c_resource::instance());
  {
    concurrent_arena_resource arena(&upstream);
    std::pmr::vector<std::pmr::string> strings(&arena);
    for (int i = 0; i < 1000; ++i) strings.emplace_back(std::string(static_cast<std::size_t>(i % 50 + 20), 'x'));
    CHECK(strings[999].size() == 69);
  }
  CHECK(upstream.live() == 0);
}

TEST_CASE("concurrent_arena_resource: poisoning of blocks handed out and given back") {
  concurrent_arena_resource arena(pmrheap::c_resource::instance());
  bytes_ptr p = take(arena, 64);
  CHECK_FALSE(is_poisoned(p + 63));
  CHECK(is_poisoned(p + 64) == asan);
  arena.deallocate(p, 64);
  CHECK(is_poisoned(p) == asan);
  bytes_ptr q = take(arena, 64);
  CHECK(q == p);
  CHECK(arena.resize(q, 64, 16));
  CHECK(is_poisoned(q + 16) == asan);
  CHECK_FALSE(is_poisoned(q + 15));
  bytes_ptr big = take(arena, large + 100, 1);
  CHECK_FALSE(is_poisoned(big + large + 99));
  CHECK(is_poisoned(big + large + 104) == asan);
  CHECK(arena.reset());
  CHECK(is_poisoned(q) == asan);
  CHECK(is_poisoned(big) == asan);
}
