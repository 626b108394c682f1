// SPDX-License-Identifier: MIT
// Tests include/pmrheap/c_resource.hpp (docs/resources/c_resource.md).
#include "pmrheap/c_resource.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <memory_resource>
#include <thread>
#include <vector>

#include "pmrheap/testing.hpp"
#include "support/opaque.hpp"

using pmrheap::c_resource;
using pmrheap::detail::is_aligned;

// C only aligns blocks big enough for a max_align_t object; tiny requests are padded for that.
TEST_CASE("c_resource: requests no C heap can meet are refused before it sees them") {
  // Alignment 2^63 (32-bit: 2^31) made ASan's posix_memalign CHECK-fail the process; any request
  // whose size + alignment + two pointers pass PTRDIFF_MAX is refused here, for every strategy.
  c_resource c;
  constexpr std::size_t top = ~(pmrheap::detail::size_max >> 1);
  constexpr auto limit = static_cast<std::size_t>(PTRDIFF_MAX) - 2 * sizeof(void*);
  for (std::size_t bytes : {std::size_t{1}, std::size_t{16}, std::size_t{4096}}) {
    CAPTURE(bytes);
    CHECK(c.try_allocate(bytes, top) == nullptr);
    CHECK_THROWS_AS(static_cast<void>(c.allocate(bytes, pmrheap::test::opaque(top))), pmrheap::out_of_memory);
  }
  for (std::size_t alignment : {std::size_t{16}, std::size_t{64}, std::size_t{4096}, top >> 1}) {
    CAPTURE(alignment);
    CHECK(c.try_allocate(limit - alignment + 1, alignment) == nullptr);
  }
  // Growth screens the same way: realloc never sees a size past PTRDIFF_MAX.
  void* p = c.allocate(16, 16);
  CHECK(c.remap(p, 16, limit, 16) == nullptr);
  c.deallocate(p, 16, 16);
}

TEST_CASE("c_resource: every alignment up to 4096 holds, even for 1-byte blocks") {
  c_resource c;
  for (std::size_t alignment = 1; alignment <= 4096; alignment *= 2) {
    for (std::size_t bytes : {std::size_t{1}, std::size_t{7}, std::size_t{100}}) {
      CAPTURE(alignment);
      CAPTURE(bytes);
      void* p = c.allocate(bytes, alignment);
      CHECK(is_aligned(p, alignment));
      std::memset(p, 1, bytes);
      c.deallocate(p, bytes, alignment);
    }
  }
}

TEST_CASE("c_resource: shrinking in place always works; growth within the usable size") {
  c_resource c;
  void* p = c.allocate(1000, 16);
  CHECK(c.resize(p, 1000, 1, 16));
  CHECK(c.resize(p, 1, 1000, 16));  // back within the block malloc gave us
  CHECK_FALSE(c.resize(p, 1000, std::size_t{1} << 30, 16));
  c.deallocate(p, 1000, 16);

  // 64 and 256: malloc + header word; 4096: posix_memalign. Growth stays within what is usable
  // behind the aligned start, never into the next block.
  for (std::size_t alignment : {std::size_t{64}, std::size_t{256}, std::size_t{4096}}) {
    CAPTURE(alignment);
    auto* q = static_cast<unsigned char*>(c.allocate(1000, alignment));
    std::memset(q, 0x21, 1000);
    CHECK(c.resize(q, 1000, 10, alignment));
#if defined(_WIN32) && !defined(_MSC_VER) && !defined(_UCRT)
    // mingw-w64 on msvcrt.dll cannot tell an _aligned_malloc block's usable size: no growth in place.
    if (alignment > 256) {
      CHECK_FALSE(c.resize(q, 10, 1000, alignment));
      c.deallocate(q, 10, alignment);
      continue;
    }
#endif
    CHECK(c.resize(q, 10, 1000, alignment));
    CHECK_FALSE(c.resize(q, 1000, std::size_t{1} << 30, alignment));
    std::size_t grown = 1000;
    while (c.resize(q, grown, grown + 1, alignment)) ++grown;  // the whole usable tail is ours
    std::memset(q, 0x22, grown);
    CHECK(grown >= 1000);
    CHECK(grown < 1000 + 2 * alignment + 64);
    c.deallocate(q, grown, alignment);
  }
}

TEST_CASE("c_resource: remap uses realloc for malloc-aligned blocks, never for over-aligned ones") {
  c_resource c;
  auto* p = static_cast<unsigned char*>(c.allocate(64, 8));
  for (int i = 0; i < 64; ++i) p[i] = static_cast<unsigned char>(i);
  auto* q = static_cast<unsigned char*>(c.remap(p, 64, 1 << 20, 8));
  REQUIRE(q != nullptr);
  for (int i = 0; i < 64; ++i) REQUIRE(q[i] == i);
  c.deallocate(q, 1 << 20, 8);

  void* a = c.allocate(64, 64);
  CHECK(c.remap(a, 64, 1 << 20, 64) == nullptr);
  c.deallocate(a, 64, 64);
}

TEST_CASE("c_resource: stateless; instance() is shared and equal to any instance") {
  c_resource a;
  c_resource b;
  CHECK(a.is_equal(b));
  CHECK(c_resource::instance() == c_resource::instance());
  CHECK(c_resource::instance()->is_equal(a));
  CHECK_FALSE(a.is_equal(*std::pmr::new_delete_resource()));
  // A block from one instance can go back through another.
  void* p = a.allocate(32);
  b.deallocate(p, 32);
}

TEST_CASE("c_resource: drives std::pmr containers") {
  std::pmr::vector<std::pmr::string> v(c_resource::instance());
  for (int i = 0; i < 1000; ++i) v.emplace_back(std::string(40, static_cast<char>('a' + i % 26)));
  CHECK(v.size() == 1000);
  CHECK(v[999][0] == static_cast<char>('a' + 999 % 26));
  CHECK(v.get_allocator().resource() == c_resource::instance());
}

TEST_CASE("c_resource: safe from several threads") {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([] {
      c_resource& c = *c_resource::instance();
      for (int i = 0; i < 5000; ++i) {
        const std::size_t alignment = std::size_t{1} << (i % 8);
        void* p = c.allocate(static_cast<std::size_t>(i % 300) + 1, alignment);
        std::memset(p, i & 0xff, static_cast<std::size_t>(i % 300) + 1);
        p = pmrheap::reallocate(c, p, static_cast<std::size_t>(i % 300) + 1, 600, alignment);
        c.deallocate(p, 600, alignment);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(threads.size() == 4);
}
