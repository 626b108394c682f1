// SPDX-License-Identifier: MIT
// Tests include/pmrheap/detail/align.hpp, the one rounding helper (docs/design.md, "Alignment").
#include "pmrheap/detail/align.hpp"

#include <doctest/doctest.h>

using namespace pmrheap::detail;

static_assert(is_pow2(1) && is_pow2(2) && is_pow2(4096) && is_pow2(std::size_t{1} << (sizeof(std::size_t) * 8 - 1)));
static_assert(!is_pow2(0) && !is_pow2(3) && !is_pow2(24) && !is_pow2(size_max));
static_assert(align_up(0, 16) == 0 && align_up(1, 16) == 16 && align_up(16, 16) == 16 && align_up(17, 16) == 32);
static_assert(align_down(31, 16) == 16 && align_down(15, 16) == 0 && align_down(size_max, 4096) == size_max - 4095);

// Rounding that would pass SIZE_MAX reports failure and leaves the output alone.
TEST_CASE("align_up_checked: overflow is a failure, not a wrap") {
  std::size_t out = 7;
  CHECK(align_up_checked(size_max - 4095, 4096, out));
  CHECK(out == size_max - 4095);
  out = 7;
  CHECK_FALSE(align_up_checked(size_max - 4094, 4096, out));
  CHECK(out == 7);
  CHECK_FALSE(align_up_checked(size_max, 2, out));
  CHECK(align_up_checked(size_max, 1, out));
  CHECK(out == size_max);
  CHECK(align_up_checked(0, 4096, out));
  CHECK(out == 0);
}

TEST_CASE("checked_add: detects overflow at the boundary") {
  std::size_t out = 0;
  CHECK(checked_add(size_max - 1, 1, out));
  CHECK(out == size_max);
  CHECK_FALSE(checked_add(size_max, 1, out));
  CHECK_FALSE(checked_add(size_max / 2 + 1, size_max / 2 + 1, out));
}

TEST_CASE("align_offset and is_aligned agree on real addresses") {
  alignas(64) unsigned char buffer[128];
  for (std::size_t i = 0; i < 64; ++i) {
    const std::size_t off = align_offset(buffer + i, 64);
    CHECK(off == (i == 0 ? 0 : 64 - i));
    CHECK(is_aligned(buffer + i + off, 64));
    CHECK(is_aligned(buffer + i, 64) == (i == 0));
  }
}

// The zero-size block is non-null, aligned, and the same for every call with one alignment.
TEST_CASE("empty_block: non-null and aligned for every alignment") {
  for (std::size_t a = 1; a != 0; a <<= 1) {
    void* p = empty_block(a);
    CHECK(p != nullptr);
    CHECK(is_aligned(p, a));
    CHECK(p == empty_block(a));
  }
}
