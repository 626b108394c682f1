// SPDX-License-Identifier: MIT
// The bad-input half of the pmrheap contract (docs/design.md, "The contract"), as doctest checks
// any resource test can run in one call. The good-input half is pmrheap::testing::check_conformance.
#ifndef PMRHEAP_TESTS_SUPPORT_CONTRACT_HPP
#define PMRHEAP_TESTS_SUPPORT_CONTRACT_HPP

#include <doctest/doctest.h>

#include <cstring>
#include <stdexcept>
#include <string>

#include "pmrheap/detail/align.hpp"
#include "pmrheap/resource.hpp"
#include "support/opaque.hpp"

namespace pmrheap::test {

/// Every bad input gets its documented error, and the resource still works afterwards.
inline void check_contract(pmrheap::resource& r) {
  using pmrheap::detail::size_max;

  // Alignment that is not a power of two: invalid_argument naming the value; nullptr/false.
  for (std::size_t alignment : {std::size_t{0}, std::size_t{3}, std::size_t{24}, size_max}) {
    CAPTURE(alignment);
    bool named = false;
    try {
      static_cast<void>(r.allocate(16, opaque(alignment)));
    } catch (const std::invalid_argument& e) {
      named = std::string(e.what()).find(std::to_string(alignment)) != std::string::npos;
    }
    CHECK(named);
    CHECK(r.try_allocate(16, opaque(alignment)) == nullptr);
  }

  // Zero bytes: a non-null aligned pointer that owns nothing; deallocating it does nothing.
  for (std::size_t alignment : {std::size_t{1}, std::size_t{16}, std::size_t{4096}}) {
    void* p = r.allocate(0, alignment);
    CHECK(p != nullptr);
    CHECK(pmrheap::detail::is_aligned(p, alignment));
    r.deallocate(p, 0, alignment);
    CHECK(r.try_allocate(0, alignment) == p);
  }

  // Sizes whose rounding overflows are allocation failures, never wraps. Half the address space
  // (SIZE_MAX / 2 + 1) joins them only with a 64-bit size_t, where no OS maps 2^63 bytes; a
  // 32-bit process on a 64-bit kernel can really get 2 GiB.
  for (std::size_t bytes :
       {size_max, size_max - 4095, size_max - 15, sizeof(std::size_t) >= 8 ? size_max / 2 + 1 : size_max - 1}) {
    CAPTURE(bytes);
    CHECK_THROWS_AS(static_cast<void>(r.allocate(bytes, 16)), std::bad_alloc);
    CHECK(r.try_allocate(bytes, 16) == nullptr);
    CHECK(r.try_allocate(bytes, 4096) == nullptr);
  }

  // resize/remap with 0, a null block, or a bad alignment: false/nullptr, block untouched.
  auto* p = static_cast<unsigned char*>(r.allocate(64, 16));
  std::memset(p, 0x3c, 64);
  CHECK_FALSE(r.resize(p, 64, 0, 16));
  CHECK_FALSE(r.resize(p, 0, 64, 16));
  CHECK_FALSE(r.resize(nullptr, 64, 32, 16));
  CHECK_FALSE(r.resize(p, 64, 32, 3));
  CHECK(r.remap(p, 64, 0, 16) == nullptr);
  CHECK(r.remap(p, 0, 64, 16) == nullptr);
  CHECK(r.remap(nullptr, 64, 128, 16) == nullptr);
  CHECK(r.remap(p, 64, 128, 24) == nullptr);
  CHECK(r.resize(p, 64, 64, 16));  // equal sizes always succeed
  CHECK(r.remap(p, 64, 64, 16) == p);
  CHECK_FALSE(r.resize(p, 64, size_max, 16));
  CHECK(r.remap(p, 64, size_max, 16) == nullptr);
  for (int i = 0; i < 64; ++i) REQUIRE(p[i] == 0x3c);
  r.deallocate(p, 64, 16);

  // Still usable.
  void* q = r.allocate(100, 8);
  CHECK(q != nullptr);
  r.deallocate(q, 100, 8);
}

}  // namespace pmrheap::test

#endif  // PMRHEAP_TESTS_SUPPORT_CONTRACT_HPP
