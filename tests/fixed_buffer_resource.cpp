// SPDX-License-Identifier: MIT
// Tests include/pmrheap/fixed_buffer_resource.hpp (docs/resources/fixed_buffer_resource.md, both
// resources). Rules both resources share are template test cases over both.
#include "pmrheap/fixed_buffer_resource.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "pmrheap/testing.hpp"
#include "support/poisoning.hpp"

using pmrheap::concurrent_fixed_buffer_resource;
using pmrheap::fixed_buffer_resource;
using pmrheap::out_of_memory;
using pmrheap::detail::size_max;
using pmrheap::test::poisoned_is;

namespace {

// Zig's conformance buffer: 800000 eight-byte words.
alignas(8) std::byte big_buffer[800000 * 8];

}  // namespace

#define FIXED_BUFFER_RESOURCES fixed_buffer_resource, concurrent_fixed_buffer_resource

TEST_CASE_TEMPLATE("fixed buffers: conformance on a 6.4 MB buffer", R, FIXED_BUFFER_RESOURCES) {
  R fixed(big_buffer);
  pmrheap::testing::validating_resource v(&fixed);
  pmrheap::testing::check_conformance(v);
  CHECK(v.blocks_in_use() == 0);
}

// Zig's `test reset`: an 8-byte buffer holds one u64; reset() hands the same memory out again.
TEST_CASE_TEMPLATE("fixed buffers: reset makes the whole buffer free again", R, FIXED_BUFFER_RESOURCES) {
  alignas(8) std::byte buffer[8];
  R fixed(buffer);
  auto* first = static_cast<std::uint64_t*>(fixed.allocate(8, 8));
  *first = 0x0123456789abcdef;
  CHECK_THROWS_AS(static_cast<void>(fixed.allocate(8, 8)), out_of_memory);
  CHECK(fixed.try_allocate(1, 1) == nullptr);
  fixed.reset();
  CHECK(fixed.used() == 0);
  auto* second = static_cast<std::uint64_t*>(fixed.allocate(8, 8));
  CHECK(second == first);
  *second = 0xfedcba9876543210;
  CHECK(*first == 0xfedcba9876543210);
}

// Zig's "reuse memory on realloc".
TEST_CASE_TEMPLATE("fixed buffers: reallocate grows the last block in place and moves any other", R,
                   FIXED_BUFFER_RESOURCES) {
  std::byte buffer[10];
  SUBCASE("the last block grows to the end of the buffer, not past it") {
    R fixed(buffer);
    auto* p = static_cast<unsigned char*>(fixed.allocate(5, 1));
    std::memset(p, 7, 5);
    CHECK(pmrheap::reallocate(fixed, p, 5, 10, 1) == p);
    CHECK(fixed.used() == 10);
    CHECK_THROWS_AS(static_cast<void>(pmrheap::reallocate(fixed, p, 10, 11, 1)), out_of_memory);
    CHECK(fixed.used() == 10);
    for (int i = 0; i < 5; ++i) CHECK(p[i] == 7);
  }
  SUBCASE("a block that is not the last moves, contents kept") {
    R fixed(buffer);
    auto* first = static_cast<unsigned char*>(fixed.allocate(2, 1));
    first[0] = 1;
    first[1] = 2;
    void* second = fixed.allocate(2, 1);
    auto* moved = static_cast<unsigned char*>(pmrheap::reallocate(fixed, first, 2, 4, 1));
    CHECK(moved != first);
    CHECK(moved != second);
    CHECK(moved[0] == 1);
    CHECK(moved[1] == 2);
    CHECK(fixed.used() == 8);  // the first block is not reclaimed: it is not the last
  }
}

// owns() is a range check on the buffer: the one-past-end address and everything outside are not ours.
TEST_CASE_TEMPLATE("fixed buffers: owns() is true inside the buffer only", R, FIXED_BUFFER_RESOURCES) {
  std::byte buffer[64];
  R fixed(buffer);
  int on_stack = 0;
  const auto on_heap = std::make_unique<int>(0);
  CHECK(fixed.owns(buffer));
  CHECK(fixed.owns(buffer + 63));
  CHECK_FALSE(fixed.owns(buffer + 64));
  CHECK_FALSE(fixed.owns(&on_stack));
  CHECK_FALSE(fixed.owns(on_heap.get()));
  CHECK_FALSE(fixed.owns(nullptr));
  CHECK_FALSE(fixed.owns(fixed.allocate(0, 16)));  // the empty block is nobody's memory
  CHECK(fixed.owns(fixed.allocate(8, 1)));
}

// A block the buffer does not hold is not ours: deallocate ignores it, resize and remap refuse it.
TEST_CASE_TEMPLATE("fixed buffers: foreign blocks and blocks running past the end are refused", R,
                   FIXED_BUFFER_RESOURCES) {
  alignas(16) std::byte buffer[64];
  alignas(16) std::byte other[32];
  R fixed(buffer);
  void* p = fixed.allocate(16, 16);
  fixed.deallocate(other, 32, 16);
  CHECK_FALSE(fixed.resize(other, 32, 16, 16));
  CHECK_FALSE(fixed.resize(other, 16, 32, 16));
  CHECK(fixed.remap(other, 32, 64, 16) == nullptr);
  // Starts inside the buffer, ends 16 bytes past it.
  fixed.deallocate(buffer + 48, 32, 16);
  CHECK_FALSE(fixed.resize(buffer + 48, 32, 16, 16));
  CHECK_FALSE(fixed.is_last_allocation(buffer + 48, 32));
  CHECK(fixed.used() == 16);
  CHECK(fixed.is_last_allocation(p, 16));
  fixed.deallocate(p, 16, 16);
  CHECK(fixed.used() == 0);
}

// Zig's LIFO rule: only the block ending at the free space is reclaimed, and the padding in front
// of a block is never given back (a documented false negative of is_last_allocation).
TEST_CASE_TEMPLATE("fixed buffers: is_last_allocation follows the top block; padding is not reclaimed", R,
                   FIXED_BUFFER_RESOURCES) {
  alignas(16) std::byte buffer[64];
  R fixed(buffer);
  void* a = fixed.allocate(3, 1);
  void* b = fixed.allocate(5, 1);
  CHECK(fixed.is_last_allocation(b, 5));
  CHECK_FALSE(fixed.is_last_allocation(b, 4));
  CHECK_FALSE(fixed.is_last_allocation(b, 0));
  CHECK_FALSE(fixed.is_last_allocation(a, 3));
  fixed.deallocate(a, 3, 1);  // not the last: nothing reclaimed
  CHECK(fixed.used() == 8);
  fixed.deallocate(b, 5, 1);
  CHECK(fixed.used() == 3);
  CHECK(fixed.is_last_allocation(a, 3));  // no padding between a and b

  void* c = fixed.allocate(8, 8);  // 5 bytes of padding after a
  CHECK(c == buffer + 8);
  CHECK(fixed.used() == 16);
  fixed.deallocate(c, 8, 8);
  CHECK(fixed.used() == 8);
  CHECK_FALSE(fixed.is_last_allocation(a, 3));
  fixed.reset();
  CHECK(fixed.used() == 0);
}

// used() counts padding; zero-byte requests take nothing; an exact fit succeeds, one byte more fails.
TEST_CASE_TEMPLATE("fixed buffers: used() and capacity()", R, FIXED_BUFFER_RESOURCES) {
  alignas(16) std::byte buffer[100];
  R fixed(buffer);
  CHECK(fixed.capacity() == 100);
  CHECK(fixed.used() == 0);
  CHECK(fixed.allocate(1, 1) == buffer);
  CHECK(fixed.allocate(4, 16) == buffer + 16);
  CHECK(fixed.used() == 20);
  static_cast<void>(fixed.allocate(0, 64));
  CHECK(fixed.used() == 20);
  CHECK(fixed.try_allocate(81, 1) == nullptr);
  CHECK(fixed.allocate(80, 1) == buffer + 20);
  CHECK(fixed.used() == 100);
  CHECK(fixed.try_allocate(1, 1) == nullptr);
  CHECK_THROWS_AS(static_cast<void>(fixed.allocate(1, 1)), out_of_memory);

  R none(nullptr, 100);  // a null buffer has no capacity
  CHECK(none.capacity() == 0);
  CHECK(none.try_allocate(1, 1) == nullptr);
  CHECK(none.allocate(0, 8) != nullptr);
}

// Resize rules of Zig's FixedBufferAllocator (0.15.0): the last block grows within the buffer and
// shrinks reclaiming bytes; any other block shrinks (true, nothing reclaimed) and never grows.
// remap never moves.
TEST_CASE_TEMPLATE("fixed buffers: the last block grows and shrinks in place; others only shrink", R,
                   FIXED_BUFFER_RESOURCES) {
  alignas(16) std::byte buffer[64];
  R fixed(buffer);
  auto* a = static_cast<unsigned char*>(fixed.allocate(16, 16));
  auto* b = static_cast<unsigned char*>(fixed.allocate(16, 16));
  std::memset(a, 0xa, 16);
  std::memset(b, 0xb, 16);
  CHECK(fixed.resize(b, 16, 32, 16));
  CHECK(fixed.used() == 48);
  CHECK_FALSE(fixed.resize(b, 32, 64, 16));
  CHECK(fixed.used() == 48);
  CHECK(fixed.remap(b, 32, 48, 16) == b);  // exactly to the end
  CHECK(fixed.used() == 64);
  CHECK(fixed.resize(b, 48, 8, 16));
  CHECK(fixed.used() == 24);
  CHECK_FALSE(fixed.resize(a, 16, 17, 16));
  CHECK(fixed.remap(a, 16, 32, 16) == nullptr);
  CHECK(fixed.resize(a, 16, 4, 16));
  CHECK(fixed.used() == 24);
  for (int i = 0; i < 4; ++i) CHECK(a[i] == 0xa);
  for (int i = 0; i < 8; ++i) CHECK(b[i] == 0xb);
}

// The arithmetic is on offsets: no alignment or size up to SIZE_MAX can wrap into a "fit".
TEST_CASE_TEMPLATE("fixed buffers: huge alignments and sizes fail without wrapping", R, FIXED_BUFFER_RESOURCES) {
  alignas(64) std::byte buffer[64];
  R fixed(buffer);
  CHECK(fixed.allocate(1, 64) == buffer);  // an alignment as large as the buffer fits at its aligned start
  static_cast<void>(fixed.allocate(9, 1));
  for (unsigned shift : {7u, 12u, 20u, 32u, 48u, 62u, 63u}) {
    if (shift >= sizeof(std::size_t) * 8) continue;  // no such alignment with a 32-bit size_t
    const std::size_t alignment = std::size_t{1} << shift;
    CAPTURE(alignment);
    CHECK(fixed.try_allocate(1, alignment) == nullptr);
    CHECK_THROWS_AS(static_cast<void>(fixed.allocate(1, alignment)), out_of_memory);
  }
  for (std::size_t bytes : {std::size_t{55}, size_max, size_max - 9, size_max - 63, size_max / 2 + 1}) {
    CAPTURE(bytes);
    CHECK(fixed.try_allocate(bytes, 1) == nullptr);
    CHECK(fixed.try_allocate(bytes, 16) == nullptr);
  }
  CHECK(fixed.used() == 10);
  CHECK(fixed.try_allocate(54, 1) == buffer + 10);  // exactly the rest
}

// With AddressSanitizer: bytes not handed out are poisoned, bytes given back are poisoned again,
// and the destructor leaves the caller's buffer clean. Offsets here are multiples of ASan's 8-byte
// granule, where both resources are exact.
TEST_CASE_TEMPLATE("fixed buffers: poisoning follows what is handed out", R, FIXED_BUFFER_RESOURCES) {
  alignas(16) std::byte buffer[128];
  {
    R fixed(buffer);
    CHECK(poisoned_is(buffer, true));
    CHECK(poisoned_is(buffer + 127, true));
    auto* a = static_cast<std::byte*>(fixed.allocate(16, 16));
    auto* b = static_cast<std::byte*>(fixed.allocate(32, 16));
    CHECK(poisoned_is(a, false));
    CHECK(poisoned_is(b + 31, false));
    CHECK(poisoned_is(b + 32, true));

    REQUIRE(fixed.resize(b, 32, 8, 16));  // shrink of the last block
    CHECK(poisoned_is(b + 7, false));
    CHECK(poisoned_is(b + 8, true));
    REQUIRE(fixed.resize(b, 8, 24, 16));  // and growth again
    CHECK(poisoned_is(b + 23, false));
    CHECK(poisoned_is(b + 24, true));
    REQUIRE(fixed.resize(a, 16, 8, 16));  // shrink of a block that is not the last
    CHECK(poisoned_is(a + 8, true));

    fixed.deallocate(a, 8, 16);  // not the last: not reclaimed, but dead
    CHECK(poisoned_is(a, true));
    CHECK(poisoned_is(b, false));
    fixed.deallocate(b, 24, 16);
    CHECK(poisoned_is(b, true));

    auto* c = static_cast<std::byte*>(fixed.allocate(64, 16));
    CHECK(poisoned_is(c + 63, false));
    fixed.reset();
    CHECK(poisoned_is(c, true));
    CHECK(poisoned_is(c + 63, true));
    CHECK(fixed.used() == 0);
  }
  // The buffer is the caller's again: every byte usable (ASan would stop this memset otherwise).
  for (int i = 0; i < 128; ++i) CHECK(poisoned_is(buffer + i, false));
  std::memset(buffer, 0x5a, sizeof buffer);
  CHECK(buffer[127] == std::byte{0x5a});
}

// The plain resource poisons to the byte; the concurrent one only whole granules, so that threads
// never race on a shadow byte: a freed block starting mid-granule leaves that granule's tail addressable.
TEST_CASE("concurrent_fixed_buffer_resource: poisons whole granules only") {
  alignas(16) std::byte plain_buffer[32];
  alignas(16) std::byte concurrent_buffer[32];
  fixed_buffer_resource plain(plain_buffer);
  concurrent_fixed_buffer_resource concurrent(concurrent_buffer);
  for (pmrheap::resource* r : {static_cast<pmrheap::resource*>(&plain), static_cast<pmrheap::resource*>(&concurrent)}) {
    static_cast<void>(r->allocate(3, 1));
    void* tail = r->allocate(13, 1);
    r->deallocate(tail, 13, 1);
  }
  CHECK(plain.used() == 3);
  CHECK(concurrent.used() == 3);
  CHECK(poisoned_is(plain_buffer + 3, true));
  CHECK(poisoned_is(concurrent_buffer + 3, false));
  CHECK(poisoned_is(plain_buffer + 8, true));
  CHECK(poisoned_is(concurrent_buffer + 8, true));
}

// Four threads allocate at once from one buffer; every block keeps its thread's pattern and no two
// blocks overlap.
TEST_CASE("concurrent_fixed_buffer_resource: four threads get disjoint, aligned blocks") {
  concurrent_fixed_buffer_resource r(big_buffer);
  constexpr int thread_count = 4;
  constexpr int per_thread = 3000;
  struct block {
    std::byte* p;
    std::size_t bytes;
    std::size_t alignment;
    int owner;
  };
  std::vector<std::vector<block>> blocks(thread_count);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < thread_count; ++t) {
    threads.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < thread_count) std::this_thread::yield();
      for (int i = 0; i < per_thread; ++i) {
        const auto bytes = static_cast<std::size_t>(1 + (i * 7 + t * 13) % 200);
        const std::size_t alignment = std::size_t{1} << (i % 7);
        auto* p = static_cast<std::byte*>(r.allocate(bytes, alignment));
        std::memset(p, t + 1, bytes);
        blocks[static_cast<std::size_t>(t)].push_back({p, bytes, alignment, t});
      }
    });
  }
  for (auto& thread : threads) thread.join();

  std::vector<block> all;
  std::size_t total = 0;
  int corrupt = 0;
  int misaligned = 0;
  for (const auto& mine : blocks) {
    for (const block& b : mine) {
      for (std::size_t i = 0; i < b.bytes; ++i) corrupt += b.p[i] != static_cast<std::byte>(b.owner + 1);
      misaligned += !pmrheap::detail::is_aligned(b.p, b.alignment);
      total += b.bytes;
      all.push_back(b);
    }
  }
  CHECK(corrupt == 0);
  CHECK(misaligned == 0);
  CHECK(all.size() == std::size_t{thread_count} * per_thread);
  std::sort(all.begin(), all.end(), [](const block& x, const block& y) { return x.p < y.p; });
  int overlaps = 0;
  for (std::size_t i = 1; i < all.size(); ++i) overlaps += all[i - 1].p + all[i - 1].bytes > all[i].p;
  CHECK(overlaps == 0);
  CHECK(total <= r.used());
  CHECK(all.back().p + all.back().bytes <= big_buffer + r.used());
}

// Threads race to free, shrink and grow the top block, in a loop tight enough that CASes really
// are lost. Shrinking must still always report success, no block may be handed to two threads,
// and the free-space offset must stay consistent. Odd sizes make neighbouring blocks share ASan
// granules (with byte-exact poisoning, as the plain resource does, ASan reports false
// use-after-poison errors here). The threads go on until they have seen enough real contention
// (a fresh block that is already not the last) or a round limit; a thread that finds the buffer
// used up by lost races stops, which is allowed.
TEST_CASE("concurrent_fixed_buffer_resource: racing frees, shrinks and growths of the last block") {
  concurrent_fixed_buffer_resource r(big_buffer);
  constexpr int thread_count = 4;
  constexpr int max_rounds = 1000000;
  constexpr int enough_contention = 20000;
  std::atomic<int> ready{0};
  std::atomic<int> contended{0};
  std::atomic<int> corrupt{0};
  std::atomic<int> failed_shrinks{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < thread_count; ++t) {
    threads.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < thread_count) {
      }
      for (int i = 0; i < max_rounds && contended.load(std::memory_order_relaxed) < enough_contention; ++i) {
        // Odd sizes at alignment 1 in every other round, so that neighbours share ASan granules.
        const auto tag = static_cast<unsigned char>(t * 64 + i % 64);  // distinct between threads
        const std::size_t alignment = i % 2 == 0 ? 8 : 1;
        std::size_t bytes = i % 2 == 0 ? 16 : static_cast<std::size_t>(5 + i % 17);
        auto* p = static_cast<unsigned char*>(r.try_allocate(bytes, alignment));
        if (p == nullptr) break;
        if (!r.is_last_allocation(p, bytes)) contended.fetch_add(1, std::memory_order_relaxed);
        std::memset(p, tag, bytes);
        if (!r.resize(p, bytes, bytes / 2, alignment)) failed_shrinks.fetch_add(1);
        bytes /= 2;
        if (r.resize(p, bytes, bytes + 3, alignment)) {
          std::memset(p + bytes, tag, 3);
          bytes += 3;
        }
        if (std::any_of(p, p + bytes, [tag](unsigned char b) { return b != tag; })) corrupt.fetch_add(1);
        r.deallocate(p, bytes, alignment);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  MESSAGE("fresh blocks another thread had already passed: " << contended.load());
  WARN(contended.load() > 0);  // without contention this proves little, but that is the machine's doing
  CHECK(corrupt.load() == 0);
  CHECK(failed_shrinks.load() == 0);
  // Lost races leave bytes used; what is left is still exactly allocatable, and not a byte more.
  const std::size_t before = r.used();
  if (before < r.capacity()) CHECK(r.try_allocate(r.capacity() - before, 1) == big_buffer + before);
  CHECK(r.used() == r.capacity());
  CHECK(r.try_allocate(1, 1) == nullptr);
  r.reset();
  CHECK(r.used() == 0);
}

// Pointers into a separate std::vector's buffer and a stack array: deallocate, resize and remap of
// them change nothing, on both fixed buffers. Under ASan a wrongful poison makes the reads abort.
TEST_CASE("fixed buffers: a pointer they did not hand out is never poisoned or written") {
  std::vector<unsigned char> foreign(4096, 0x5a);
  unsigned char stack[256];
  std::memset(stack, 0x3c, sizeof stack);
  std::vector<unsigned char> storage(1024);
  fixed_buffer_resource plain(storage.data(), 512);
  concurrent_fixed_buffer_resource shared(storage.data() + 512, 512);
  for (pmrheap::resource* r : {static_cast<pmrheap::resource*>(&plain), static_cast<pmrheap::resource*>(&shared)}) {
    auto* own = static_cast<unsigned char*>(r->allocate(100, 1));
    for (unsigned char* p : {foreign.data(), foreign.data() + 1000, stack + 16}) {
      r->deallocate(p, 200, 1);
      CHECK_FALSE(r->resize(p, 200, 50, 1));
      CHECK_FALSE(r->resize(p, 200, 400, 1));
      CHECK(r->remap(p, 200, 400, 1) == nullptr);
    }
    // A block running from below the buffer up to its cursor is not the last block.
    r->deallocate(own - 64, 64 + 100, 1);
    CHECK(r->allocate(1, 1) == own + 100);
  }
  for (unsigned char c : foreign) REQUIRE(c == 0x5a);
  for (unsigned char c : stack) REQUIRE(c == 0x3c);
}
