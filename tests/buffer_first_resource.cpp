// SPDX-License-Identifier: MIT
// Tests include/pmrheap/buffer_first_resource.hpp (docs/resources/buffer_first_resource.md).
#include "pmrheap/buffer_first_resource.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <memory_resource>
#include <new>

#include "pmrheap/c_resource.hpp"
#include "pmrheap/testing.hpp"
#include "support/contract.hpp"
#include "support/counting_resource.hpp"
#include "support/refusing_resource.hpp"

using pmrheap::buffer_first_resource;
using pmrheap::test::counting_resource;

// The fallbacks of these tests count every call. They sit on the C heap because ASan's operator
// new dies on the huge requests of check_contract instead of throwing.

// As Zig does: a fresh instance over a 4096-byte buffer for each check, so each one meets the
// buffer first and the fallback when the buffer runs out.
TEST_CASE("buffer_first_resource: conformance, a fresh instance per check") {
  using check = void (*)(std::pmr::memory_resource&);
  for (check run :
       {&pmrheap::testing::check_basic, &pmrheap::testing::check_aligned, &pmrheap::testing::check_large_alignment,
        &pmrheap::testing::check_aligned_shrink, &pmrheap::testing::check_many_aligned}) {
    counting_resource fallback(pmrheap::c_resource::instance());
    std::byte buffer[4096];
    {
      buffer_first_resource r(buffer, &fallback);
      pmrheap::testing::validating_resource v(&r);
      run(v);
      CHECK(v.blocks_in_use() == 0);
    }
    CHECK(fallback.live() == 0);
  }
}

TEST_CASE("buffer_first_resource: bad input") {
  counting_resource fallback(pmrheap::c_resource::instance());
  std::byte buffer[256];
  buffer_first_resource r(buffer, &fallback);
  pmrheap::test::check_contract(r);
  CHECK(fallback.live() == 0);
}

// Zig's BufferFirstAllocator test on a 10-byte buffer: each request goes where it fits, freeing the
// top block of the buffer makes room again, and at the end the buffer is empty.
TEST_CASE("buffer_first_resource: requests go to the buffer while they fit (Zig's 9/5/12/6/8 sequence)") {
  counting_resource fallback(pmrheap::c_resource::instance());
  std::byte buffer[10];
  buffer_first_resource r(buffer, &fallback);
  auto make = [&r](std::size_t bytes) {
    auto* p = static_cast<unsigned char*>(r.allocate(bytes, 1));
    std::memset(p, static_cast<int>(bytes), bytes);
    return p;
  };
  auto holds = [](const unsigned char* p, std::size_t bytes) {
    for (std::size_t i = 0; i < bytes; ++i)
      if (p[i] != bytes) return false;
    return true;
  };

  unsigned char* nine = make(9);
  CHECK(r.owns(nine));
  unsigned char* five = make(5);  // 9 + 5 > 10
  CHECK_FALSE(r.owns(five));
  CHECK(fallback.allocations == 1);
  r.deallocate(nine, 9, 1);  // the top block: reclaimed
  CHECK(r.used() == 0);
  unsigned char* twelve = make(12);  // larger than the whole buffer
  CHECK_FALSE(r.owns(twelve));
  unsigned char* six = make(6);
  CHECK(r.owns(six));
  CHECK(six == reinterpret_cast<unsigned char*>(buffer));
  unsigned char* eight = make(8);  // 6 + 8 > 10
  CHECK_FALSE(r.owns(eight));
  CHECK(fallback.allocations == 3);

  CHECK(holds(five, 5));
  CHECK(holds(twelve, 12));
  CHECK(holds(six, 6));
  CHECK(holds(eight, 8));
  r.deallocate(five, 5, 1);
  r.deallocate(twelve, 12, 1);
  r.deallocate(six, 6, 1);
  r.deallocate(eight, 8, 1);
  CHECK(r.used() == 0);
  CHECK(fallback.live() == 0);
  CHECK(fallback.deallocations == 3);
}

TEST_CASE("buffer_first_resource: owns(), upstream_resource(), used(), capacity() and reset()") {
  counting_resource fallback(pmrheap::c_resource::instance());
  alignas(16) std::byte buffer[64];
  buffer_first_resource r(buffer, &fallback);
  CHECK(r.upstream_resource() == &fallback);
  CHECK(r.capacity() == 64);
  void* a = r.allocate(48, 16);
  CHECK(a == buffer);
  CHECK(r.owns(a));
  CHECK(r.used() == 48);
  void* b = r.allocate(32, 16);
  CHECK_FALSE(r.owns(b));
  CHECK_FALSE(r.owns(buffer + 64));
  int on_stack = 0;
  CHECK_FALSE(r.owns(&on_stack));

  r.reset();  // the buffer only: the fallback block stays live
  CHECK(r.used() == 0);
  CHECK(r.allocate(16, 16) == buffer);
  CHECK(fallback.live() == 1);
  r.deallocate(b, 32, 16);
  CHECK(fallback.live() == 0);
}

// A buffer block grows in the buffer or not at all; a fallback block resizes in the fallback; only
// reallocate moves a block from one to the other.
TEST_CASE("buffer_first_resource: resize and remap route by ownership; blocks never migrate") {
  counting_resource fallback(pmrheap::c_resource::instance());
  alignas(16) std::byte buffer[64];
  buffer_first_resource r(buffer, &fallback);
  auto* in = static_cast<unsigned char*>(r.allocate(16, 16));
  std::memset(in, 1, 16);
  CHECK(r.resize(in, 16, 64, 16));
  CHECK_FALSE(r.resize(in, 64, 65, 16));
  CHECK(r.remap(in, 64, 128, 16) == nullptr);
  CHECK(fallback.calls() == 0);

  auto* out = static_cast<unsigned char*>(pmrheap::reallocate(r, in, 64, 128, 16));
  CHECK_FALSE(r.owns(out));
  CHECK(fallback.allocations == 1);
  CHECK(r.used() == 0);  // the buffer block was the last one: reclaimed
  for (int i = 0; i < 16; ++i) CHECK(out[i] == 1);

  CHECK(r.resize(out, 128, 8, 16));  // the C heap shrinks in place
  CHECK(fallback.resizes == 1);
  // realloc, in the fallback; c_resource reallocs blocks of up to alignof(std::max_align_t) only
  // (8 with clang on i386), so this test's 16 may be refused there.
  void* moved = r.remap(out, 8, std::size_t{1} << 20, 16);
  if (pmrheap::default_alignment < 16) {
    CHECK(moved == nullptr);
    CHECK(fallback.resizes == 1);
    moved = pmrheap::reallocate(r, out, 8, std::size_t{1} << 20, 16);
  } else {
    CHECK(fallback.resizes == 2);
  }
  REQUIRE(moved != nullptr);
  CHECK_FALSE(r.owns(moved));
  CHECK(r.used() == 0);
  r.deallocate(moved, std::size_t{1} << 20, 16);
  CHECK(fallback.live() == 0);
}

// Zero-byte requests are answered with the empty block, even when the buffer is full.
TEST_CASE("buffer_first_resource: zero-byte blocks reach neither the buffer nor the fallback") {
  counting_resource fallback(pmrheap::c_resource::instance());
  std::byte buffer[8];
  buffer_first_resource r(buffer, &fallback);
  static_cast<void>(r.allocate(8, 1));
  void* empty = r.allocate(0, 64);
  CHECK(empty == pmrheap::detail::empty_block(64));
  r.deallocate(empty, 0, 64);
  CHECK(r.try_allocate(0, 8) == pmrheap::detail::empty_block(8));
  CHECK(fallback.calls() == 0);
  CHECK(r.used() == 8);
}

// Any pointer the buffer does not own belongs to the fallback, which sees it unchanged.
TEST_CASE("buffer_first_resource: pointers outside the buffer go to the fallback") {
  counting_resource fallback(pmrheap::c_resource::instance());
  std::byte buffer[16];
  buffer_first_resource r(buffer, &fallback);
  void* p = fallback.allocate(32, 8);
  CHECK(r.resize(p, 32, 16, 8));
  r.deallocate(p, 16, 8);
  CHECK(fallback.live() == 0);
  CHECK(fallback.resizes == 1);
}

// try_allocate tries the fallback too, and reports its failure as nullptr.
TEST_CASE("buffer_first_resource: try_allocate falls back and never throws") {
  counting_resource fallback(pmrheap::c_resource::instance());
  std::byte buffer[16];
  buffer_first_resource r(buffer, &fallback);
  void* p = r.try_allocate(64, 8);
  CHECK(p != nullptr);
  CHECK_FALSE(r.owns(p));
  CHECK(r.try_allocate(pmrheap::detail::size_max / 2 + 1, 8) == nullptr);
  r.deallocate(p, 64, 8);
  CHECK(fallback.live() == 0);
}

// A null fallback is std::pmr::null_memory_resource(): the buffer only, then std::bad_alloc.
TEST_CASE("buffer_first_resource: a null fallback means the buffer only") {
  std::byte buffer[32];
  buffer_first_resource r(buffer, nullptr);
  CHECK(r.upstream_resource() == std::pmr::null_memory_resource());
  void* p = r.allocate(32, 1);
  CHECK_THROWS_AS(static_cast<void>(r.allocate(1, 1)), std::bad_alloc);
  CHECK(r.try_allocate(1, 1) == nullptr);
  r.deallocate(p, 32, 1);
  CHECK(r.used() == 0);
}

// With the buffer full, the request itself goes to the fallback, and when the fallback refuses,
// its own exception propagates unchanged (docs/design.md, "Resources with an upstream").
TEST_CASE("buffer_first_resource: when both are exhausted, allocate throws what the fallback throws") {
  std::byte buffer[32];
  SUBCASE("a std fallback: std::bad_alloc, not turned into pmrheap::out_of_memory") {
    buffer_first_resource r(buffer, std::pmr::null_memory_resource());
    bool plain_bad_alloc = false;
    try {
      static_cast<void>(r.allocate(64, 8));
    } catch (const pmrheap::out_of_memory&) {
    } catch (const std::bad_alloc&) {
      plain_bad_alloc = true;
    }
    CHECK(plain_bad_alloc);
    CHECK(r.try_allocate(64, 8) == nullptr);
  }
  SUBCASE("a pmrheap fallback: its pmrheap::out_of_memory, naming the request") {
    pmrheap::test::refusing_resource fallback;
    fallback.refuse_allocations = true;
    buffer_first_resource r(buffer, &fallback);
    CHECK_THROWS_AS(static_cast<void>(r.allocate(64, 8)), pmrheap::out_of_memory);
    CHECK(fallback.refused == 1);  // the fallback was asked, and its answer is what came back
    try {
      static_cast<void>(r.allocate(64, 8));
    } catch (const pmrheap::out_of_memory& e) {
      CHECK(e.bytes() == 64);
      CHECK(e.alignment() == 8);
    }
    CHECK(r.try_allocate(64, 8) == nullptr);
    CHECK(fallback.refused == 3);
  }
}
