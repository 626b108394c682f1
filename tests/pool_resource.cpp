// SPDX-License-Identifier: MIT
// Tests include/pmrheap/pool_resource.hpp (docs/resources/pool_resource.md).
#include "pmrheap/pool_resource.hpp"

#include <doctest/doctest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <memory_resource>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "pmrheap/c_resource.hpp"
#include "pmrheap/detail/sanitizer.hpp"
#include "pmrheap/page_resource.hpp"
#include "pmrheap/testing.hpp"
#include "pmrheap/testing/failing_resource.hpp"
#include "pmrheap/testing/fmt.hpp"
#include "support/contract.hpp"
#include "support/counting_resource.hpp"
#include "support/refusing_resource.hpp"
#include "support/seed.hpp"

using pmrheap::pool_resource;
using pmrheap::detail::is_aligned;
using pmrheap::test::counting_resource;
using pmrheap::test::refusing_resource;

namespace {

using bytes_ptr = unsigned char*;
constexpr bool asan = PMRHEAP_HAS_ASAN != 0;

bytes_ptr take(pool_resource& pool, std::size_t bytes, std::size_t alignment = 8) {
  return static_cast<bytes_ptr>(pool.allocate(bytes, alignment));
}

std::pmr::pool_options make_options(std::size_t blocks, std::size_t largest) {
  std::pmr::pool_options o;
  o.max_blocks_per_chunk = blocks;
  o.largest_required_pool_block = largest;
  return o;
}

}  // namespace

TEST_CASE("pool_resource: conformance over c_resource, page_resource and new_delete_resource") {
  counting_resource c_count(pmrheap::c_resource::instance());
  counting_resource page_count(pmrheap::page_resource::instance());
  counting_resource new_delete_count(std::pmr::new_delete_resource());
  for (counting_resource* upstream : {&c_count, &page_count, &new_delete_count}) {
    {
      pool_resource pool(upstream);
      pmrheap::testing::validating_resource v(&pool);
      pmrheap::testing::check_conformance(v);
      CHECK(v.blocks_in_use() == 0);
      CHECK(pool.statistics().blocks_in_use == 0);
      CHECK(upstream->live() > 0);  // the chunks stay until release
    }
    CHECK(upstream->live() == 0);
  }
}

TEST_CASE("pool_resource: bad input") {
  pool_resource pool(pmrheap::c_resource::instance());
  pmrheap::test::check_contract(pool);
}

// Upstream blocks carry a footer and must not pass PTRDIFF_MAX: such requests fail in the pool,
// and the upstream never sees them.
TEST_CASE("pool_resource: requests above PTRDIFF_MAX never reach the upstream") {
  refusing_resource upstream(pmrheap::c_resource::instance());
  pool_resource pool(&upstream);
  bytes_ptr p = take(pool, 10000);
  upstream.refuse_allocations = true;  // counts every request that reaches it
  upstream.refuse_resizes = true;
  for (std::size_t too_big :
       {pmrheap::detail::size_max, pmrheap::detail::size_max - 15, pmrheap::detail::size_max / 2 - 8}) {
    CHECK(pool.try_allocate(too_big, 8) == nullptr);
    CHECK_THROWS_AS(static_cast<void>(pool.allocate(too_big, 8)), pmrheap::out_of_memory);
    CHECK_FALSE(pool.resize(p, 10000, too_big, 8));
    CHECK(pool.remap(p, 10000, too_big, 8) == nullptr);
  }
  CHECK(upstream.refused == 0);
  CHECK(pool.try_allocate(20000, 8) == nullptr);  // an ordinary request does reach it
  CHECK(upstream.refused == 1);
  pool.deallocate(p, 10000, 8);
}

TEST_CASE("pool_resource: final, neither copyable nor movable; upstream_resource") {
  static_assert(std::is_final_v<pool_resource>);
  static_assert(!std::is_copy_constructible_v<pool_resource> && !std::is_move_constructible_v<pool_resource>);
  counting_resource upstream;
  pool_resource pool(&upstream);
  CHECK(pool.upstream_resource() == &upstream);
  pool_resource by_default;
  CHECK(by_default.upstream_resource() == std::pmr::get_default_resource());
  CHECK(upstream.calls() == 0);  // construction takes nothing
}

TEST_CASE("pool_resource: a null upstream refuses everything but zero-byte blocks") {
  pool_resource pool(nullptr);
  CHECK(pool.upstream_resource() == std::pmr::null_memory_resource());
  CHECK_THROWS_AS(static_cast<void>(pool.allocate(8)), pmrheap::out_of_memory);
  CHECK_THROWS_AS(static_cast<void>(pool.allocate(100000)), pmrheap::out_of_memory);
  CHECK(pool.try_allocate(1) == nullptr);
  CHECK(pool.allocate(0, 8) == pmrheap::detail::empty_block(8));
  CHECK(pool.statistics().bytes_from_upstream == 0);
}

TEST_CASE("pool_resource: size classes step by 8 to 128, then four per power of two") {
  using pmrheap::detail::pool_class_of;
  using pmrheap::detail::pool_class_size;
  for (std::size_t i = 0; i < 16; ++i) CHECK(pool_class_size(i) == 8 * (i + 1));
  const std::size_t expected[] = {160, 192, 224, 256, 320, 384, 448, 512, 640};
  for (std::size_t i = 0; i < std::size(expected); ++i) CHECK(pool_class_size(16 + i) == expected[i]);
  CHECK(pool_class_size(pmrheap::pool_statistics::max_classes - 1) == pool_resource::max_largest_block);
  for (std::size_t i = 0; i < pmrheap::pool_statistics::max_classes; ++i) {
    const std::size_t size = pool_class_size(i);
    CAPTURE(size);
    CHECK(pool_class_of(size) == i);
    CHECK(pool_class_of(size + 1) == i + 1);
    if (i > 0) CHECK(size - pool_class_size(i - 1) <= std::max<std::size_t>(8, size / 5));  // at most 1/5 lost
  }
  for (std::size_t n = 1; n <= pmrheap::detail::pool_table_limit; ++n)
    REQUIRE(pmrheap::detail::pool_class_table[(n - 1) >> 3] == pool_class_of(n));
}

TEST_CASE("pool_resource: options are adjusted as std does and reported after adjustment") {
  const auto adjusted = [](std::size_t blocks, std::size_t largest) {
    return pool_resource(make_options(blocks, largest), nullptr).options();
  };
  CHECK(adjusted(0, 0).max_blocks_per_chunk == pool_resource::default_blocks_per_chunk);
  CHECK(adjusted(0, 0).largest_required_pool_block == pool_resource::default_largest_block);
  CHECK(adjusted(7, 100).max_blocks_per_chunk == 7);
  CHECK(adjusted(7, 100).largest_required_pool_block == 104);  // the class that holds 100
  CHECK(adjusted(1, 1).largest_required_pool_block == 8);
  CHECK(adjusted(0, 5000).largest_required_pool_block == 5120);
  CHECK(adjusted(pmrheap::detail::size_max, pmrheap::detail::size_max).max_blocks_per_chunk ==
        pool_resource::max_blocks_per_chunk);
  CHECK(adjusted(0, pmrheap::detail::size_max).largest_required_pool_block == pool_resource::max_largest_block);
  CHECK(pool_resource().options().largest_required_pool_block == 4096);
}

TEST_CASE("pool_resource: a freed block is the next one of its class handed out (LIFO)") {
  pool_resource pool(pmrheap::c_resource::instance());
  bytes_ptr a = take(pool, 40);
  bytes_ptr b = take(pool, 33);  // same class (40)
  bytes_ptr c = take(pool, 40);
  CHECK((a != b && b != c && a != c));
  pool.deallocate(b, 33, 8);
  pool.deallocate(a, 40, 8);
  CHECK(take(pool, 35) == a);
  CHECK(take(pool, 40) == b);
  CHECK(take(pool, 48) != b);  // another class
}

TEST_CASE("pool_resource: alignment above a class's picks a class that gives it; deallocate finds it") {
  pool_resource pool(pmrheap::c_resource::instance());
  std::vector<bytes_ptr> blocks;
  for (int i = 0; i < 8; ++i) {
    blocks.push_back(take(pool, 24, 16));  // class 24 is 8-aligned: class 32 serves these
    CHECK(is_aligned(blocks.back(), 16));
  }
  const pmrheap::pool_statistics s = pool.statistics();
  CHECK(s.classes[2].in_use == 0);  // 24
  CHECK(s.classes[3].in_use == 8);  // 32
  pool.deallocate(blocks.back(), 24, 16);
  CHECK(take(pool, 32, 8) == blocks.back());
  bytes_ptr big_aligned = take(pool, 24, 4096);
  CHECK(is_aligned(big_aligned, 4096));
  CHECK(pool.statistics().upstream_blocks == 0);  // class 4096 gives 4096
  bytes_ptr over = take(pool, 24, 8192);          // no class gives it: the upstream does
  CHECK(is_aligned(over, 8192));
  CHECK(pool.statistics().upstream_blocks == 1);
  pool.deallocate(over, 24, 8192);
  CHECK(pool.statistics().upstream_blocks == 0);
}

TEST_CASE("pool_resource: blocks above largest_required_pool_block go to the upstream; release frees them") {
  counting_resource upstream(pmrheap::c_resource::instance());
  pool_resource pool(make_options(0, 256), &upstream);
  bytes_ptr small = take(pool, 256);
  const std::size_t after_chunk = upstream.allocations;
  bytes_ptr big = take(pool, 257);
  bytes_ptr bigger = take(pool, 100000, 64);
  CHECK(upstream.allocations == after_chunk + 2);
  CHECK(is_aligned(bigger, 64));
  std::memset(big, 1, 257);
  std::memset(bigger, 2, 100000);
  pmrheap::pool_statistics s = pool.statistics();
  CHECK(s.upstream_blocks == 2);
  CHECK(s.blocks_in_use == 3);
  CHECK(s.bytes_from_upstream == upstream.live_bytes);
  pool.deallocate(big, 257, 8);
  CHECK(upstream.live() == after_chunk + 1);
  CHECK(pool.statistics().bytes_from_upstream == upstream.live_bytes);
  static_cast<void>(small);
  pool.release();  // bigger and small were never deallocated
  CHECK(upstream.live() == 0);
  CHECK(pool.statistics().bytes_from_upstream == 0);
  CHECK(pool.statistics().blocks_in_use == 0);
  CHECK(take(pool, 16) != nullptr);  // usable again
}

TEST_CASE("pool_resource: chunks grow geometrically and classes share them") {
  counting_resource upstream(pmrheap::c_resource::instance());
  pool_resource pool(&upstream);
  for (std::size_t size = 8; size <= 512; size += 8) static_cast<void>(take(pool, size));
  CHECK(upstream.allocations <= 6);  // 64 classes' first batches in a few chunks, not one each
  const std::size_t first = upstream.allocations;
  for (int i = 0; i < 20000; ++i) static_cast<void>(take(pool, 64));
  // 1.3 MB: chunks of 4, 8, ... 256 KiB, so about ten more calls, not one per batch.
  CHECK(upstream.allocations - first <= 12);
  CHECK(pool.statistics().bytes_from_upstream == upstream.live_bytes);
  CHECK(pool.statistics().chunks == upstream.allocations);
}

TEST_CASE("pool_resource: max_blocks_per_chunk 1 hands out one block per batch, and still works") {
  pool_resource pool(make_options(1, 0), pmrheap::c_resource::instance());
  pmrheap::testing::validating_resource v(&pool);
  pmrheap::testing::check_conformance(v);
  pool_resource fresh(make_options(1, 0), pmrheap::c_resource::instance());
  static_cast<void>(take(fresh, 8));
  CHECK(fresh.statistics().classes[0].free == 0);  // the batch was that block alone
}

TEST_CASE("pool_resource: resize and remap stay within the class; upstream blocks ask the upstream") {
  pool_resource pool(make_options(0, 4096), pmrheap::c_resource::instance());
  bytes_ptr p = take(pool, 100);
  std::memset(p, 7, 100);
  CHECK(pool.resize(p, 100, 104, 8));  // class 104
  CHECK(pool.resize(p, 104, 97, 8));
  CHECK_FALSE(pool.resize(p, 97, 105, 8));
  CHECK_FALSE(pool.resize(p, 97, 96, 8));  // shrinking to another class would lose the route back
  CHECK(pool.remap(p, 97, 100, 8) == p);
  CHECK(pool.remap(p, 100, 200, 8) == nullptr);
  CHECK_FALSE(pool.resize(p, 100, 5000, 8));  // into the upstream's range
  for (int i = 0; i < 97; ++i) REQUIRE(p[i] == 7);
  pool.deallocate(p, 100, 8);

  counting_resource upstream(pmrheap::c_resource::instance());
  pool_resource over(&upstream);
  bytes_ptr big = take(over, 10000);
  std::memset(big, 9, 10000);
  CHECK(over.resize(big, 10000, 9000, 8));  // c_resource shrinks in place
  CHECK(over.statistics().bytes_from_upstream == upstream.live_bytes);
  CHECK_FALSE(over.resize(big, 9000, 4000, 8));  // into the pools
  auto* moved = static_cast<bytes_ptr>(over.remap(big, 9000, 1 << 20, 8));
  REQUIRE(moved != nullptr);
  for (int i = 0; i < 9000; ++i) REQUIRE(moved[i] == 9);
  CHECK(over.statistics().bytes_from_upstream == upstream.live_bytes);
  bytes_ptr other = take(over, 20000);
  over.deallocate(moved, 1 << 20, 8);  // the footer moved with the block
  CHECK(over.statistics().upstream_blocks == 1);
  over.deallocate(other, 20000, 8);
  CHECK(over.statistics().upstream_blocks == 0);
  CHECK(over.statistics().bytes_from_upstream == upstream.live_bytes);
}

TEST_CASE("pool_resource: random blocks filled and checked, with statistics and reuse") {
  counting_resource upstream(pmrheap::c_resource::instance());
  pool_resource pool(&upstream);
  pmrheap::testing::validating_resource v(&pool);
  std::mt19937_64 rng(pmrheap::test::seed("pool_resource: random"));
  struct live_block {
    bytes_ptr p;
    std::size_t bytes;
    std::size_t alignment;
    unsigned char fill;
  };
  std::vector<live_block> live;
  std::size_t calls_at_steady_state = 0;
  for (int round = 0; round < 40000; ++round) {
    if (round == 20000) calls_at_steady_state = upstream.allocations;
    if (live.size() < 1000 && (live.empty() || rng() % 2 == 0)) {
      const std::size_t bytes = rng() % 8 == 0 ? rng() % 9000 + 1 : rng() % 512 + 1;
      const std::size_t alignment = std::size_t{1} << (rng() % 8 == 0 ? rng() % 13 : rng() % 4);
      auto* p = static_cast<bytes_ptr>(v.allocate(bytes, alignment));
      const auto fill = static_cast<unsigned char>(round);
      std::memset(p, fill, bytes);
      live.push_back({p, bytes, alignment, fill});
    } else {
      const std::size_t i = rng() % live.size();
      const live_block b = live[i];
      for (std::size_t k = 0; k < b.bytes; ++k) REQUIRE(b.p[k] == b.fill);
      v.deallocate(b.p, b.bytes, b.alignment);
      live[i] = live.back();
      live.pop_back();
    }
    if (round % 5000 == 0) {
      const pmrheap::pool_statistics s = pool.statistics();
      REQUIRE(s.blocks_in_use == live.size());
      REQUIRE(s.bytes_from_upstream == upstream.live_bytes);
    }
  }
  // Freed blocks are reused: in the second half only oversized blocks reach the upstream.
  const pmrheap::pool_statistics s = pool.statistics();
  CHECK(upstream.allocations - calls_at_steady_state <= 2 * (upstream.allocations - s.chunks) + 8);
  for (const live_block& b : live) v.deallocate(b.p, b.bytes, b.alignment);
  CHECK(pool.statistics().blocks_in_use == 0);
  CHECK(pool.statistics().upstream_blocks == 0);
}

TEST_CASE("pool_resource: statistics and their fmt formatter") {
  pool_resource pool(pmrheap::c_resource::instance());
  void* a = pool.allocate(8, 8);
  void* b = pool.allocate(8, 8);
  void* c = pool.allocate(190, 8);
  void* d = pool.allocate(10000, 8);
  pool.deallocate(b, 8, 8);
  const pmrheap::pool_statistics s = pool.statistics();
  CHECK(s.blocks_in_use == 3);
  CHECK(s.upstream_blocks == 1);
  CHECK(s.chunks == 1);
  CHECK(s.class_count == 36);
  CHECK(s.classes[0].block_size == 8);
  CHECK(s.classes[0].in_use == 1);
  CHECK(s.classes[0].free == 1024 / 8 - 1);  // the first batch is about 1 KiB
  CHECK(s.classes[17].block_size == 192);
  CHECK(s.classes[17].alignment == 64);
  CHECK(s.classes[17].in_use == 1);
  const std::string text = fmt::format("{}", s);
  CHECK(text.find("in use: 3 blocks (1 from upstream)") != std::string::npos);
  CHECK(text.find("8 B: 1 in use, 127 free") != std::string::npos);
  CHECK(text.find("192 B: 1 in use") != std::string::npos);
  CHECK(text.find("16 B:") == std::string::npos);  // unused classes are left out
  pool.deallocate(a, 8, 8);
  pool.deallocate(c, 190, 8);
  pool.deallocate(d, 10000, 8);
}

TEST_CASE("pool_resource: freed blocks and unused batch memory are poisoned under ASan") {
  if (!asan) return;
  pool_resource pool(pmrheap::c_resource::instance());
  bytes_ptr p = take(pool, 40);
  bytes_ptr next = p + 40;  // the batch's next block, not handed out yet
  CHECK(pmrheap::detail::is_poisoned(next));
  std::memset(p, 1, 40);
  pool.deallocate(p, 40, 8);
  CHECK_FALSE(pmrheap::detail::is_poisoned(p));  // the link word
  CHECK(pmrheap::detail::is_poisoned(p + sizeof(void*)));
  CHECK(pmrheap::detail::is_poisoned(p + 39));
  bytes_ptr again = take(pool, 33);  // class 40 again
  CHECK(again == p);
  CHECK_FALSE(pmrheap::detail::is_poisoned(p + 32));
  CHECK(pmrheap::detail::is_poisoned(p + 39));
  CHECK(pool.resize(again, 33, 40, 8));
  CHECK_FALSE(pmrheap::detail::is_poisoned(p + 39));
}
