// SPDX-License-Identifier: MIT
// The bad-input half of the pmrheap contract (docs/design.md, "The contract") as a table: each row
// is one bad input, the answer every pmrheap resource must give, and the doctest checks proving it.
// check_contract(r) runs every row on one resource (each resource test calls it);
// tests/bad_input.cpp runs every row on every resource of tests/support/resources.hpp, and
// docs/reliability.md shows the table. The good-input half is pmrheap::testing::check_conformance.
#ifndef PMRHEAP_TESTS_SUPPORT_CONTRACT_HPP
#define PMRHEAP_TESTS_SUPPORT_CONTRACT_HPP

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "pmrheap/detail/align.hpp"
#include "pmrheap/detail/sanitizer.hpp"
#include "pmrheap/resource.hpp"
#include "support/opaque.hpp"

namespace pmrheap::test {

/// One bad input: what is passed, what must come of it, and the checks. After every row the
/// runner also proves the resource still works (still_works).
struct bad_input {
  std::string_view input;
  std::string_view answer;
  void (*check)(pmrheap::resource& r);
  /// The row makes a resource ask its upstream for about 1 TiB, which a throwing ::operator new
  /// under ASan cannot refuse without ending the process (see resource_entry in resources.hpp).
  bool huge_upstream_request = false;
};

namespace contract_detail {

using pmrheap::detail::size_max;

/// A live block filled with a pattern, to prove a refused operation left it alone.
class patterned_block {
 public:
  explicit patterned_block(pmrheap::resource& r, std::size_t bytes = 64, std::size_t alignment = 16)
      : r_(r), bytes_(bytes), alignment_(alignment), p_(static_cast<unsigned char*>(r.allocate(bytes, alignment))) {
    for (std::size_t i = 0; i < bytes_; ++i) p_[i] = pattern(i);
  }
  patterned_block(const patterned_block&) = delete;
  patterned_block& operator=(const patterned_block&) = delete;
  ~patterned_block() { r_.deallocate(p_, bytes_, alignment_); }

  [[nodiscard]] unsigned char* get() const noexcept { return p_; }
  [[nodiscard]] std::size_t bytes() const noexcept { return bytes_; }
  [[nodiscard]] std::size_t alignment() const noexcept { return alignment_; }
  [[nodiscard]] bool intact() const noexcept {
    for (std::size_t i = 0; i < bytes_; ++i)
      if (p_[i] != pattern(i)) return false;
    return true;
  }

 private:
  static unsigned char pattern(std::size_t i) noexcept { return static_cast<unsigned char>(i * 7 + 0x3c); }

  pmrheap::resource& r_;
  std::size_t bytes_;
  std::size_t alignment_;
  unsigned char* p_;
};

// allocate throws std::invalid_argument naming the value; every other operation refuses quietly.
inline void not_a_power_of_two(pmrheap::resource& r, std::size_t alignment) {
  CAPTURE(alignment);
  for (std::size_t bytes : {std::size_t{0}, std::size_t{16}}) {
    bool named = false;
    try {
      static_cast<void>(r.allocate(bytes, opaque(alignment)));
    } catch (const std::invalid_argument& e) {
      named = std::string(e.what()).find(std::to_string(alignment)) != std::string::npos;
    }
    CHECK(named);
    CHECK(r.try_allocate(bytes, alignment) == nullptr);
  }
  patterned_block b(r);
  CHECK_FALSE(r.resize(b.get(), b.bytes(), 32, alignment));
  CHECK(r.remap(b.get(), b.bytes(), 128, alignment) == nullptr);
  CHECK_THROWS_AS(static_cast<void>(pmrheap::reallocate(r, b.get(), b.bytes(), 128, opaque(alignment))),
                  std::invalid_argument);
  CHECK(b.intact());
}

// allocate throws pmrheap::out_of_memory naming the request; try_allocate returns nullptr.
inline void out_of_memory(pmrheap::resource& r, std::size_t bytes, std::size_t alignment) {
  CAPTURE(bytes);
  CAPTURE(alignment);
  bool named = false;
  try {
    static_cast<void>(r.allocate(bytes, alignment));
  } catch (const pmrheap::out_of_memory& e) {
    named = e.bytes() == bytes && e.alignment() == alignment;
  }
  CHECK(named);
  CHECK(r.try_allocate(bytes, alignment) == nullptr);
}

// out_of_memory as above, or a block aligned as asked that works like any other.
inline void out_of_memory_or_aligned(pmrheap::resource& r, std::size_t bytes, std::size_t alignment) {
  CAPTURE(bytes);
  CAPTURE(alignment);
  try {
    auto* p = static_cast<unsigned char*>(r.allocate(bytes, alignment));
    CHECK(pmrheap::detail::is_aligned(p, alignment));
    p[bytes - 1] = 1;
    r.deallocate(p, bytes, alignment);
  } catch (const pmrheap::out_of_memory& e) {
    CHECK(e.bytes() == bytes);
    CHECK(e.alignment() == alignment);
  }
  if (void* p = r.try_allocate(bytes, alignment)) {
    CHECK(pmrheap::detail::is_aligned(p, alignment));
    r.deallocate(p, bytes, alignment);
  }
}

inline void too_big(pmrheap::resource& r, std::size_t bytes) {
  for (std::size_t alignment : {std::size_t{1}, std::size_t{16}, std::size_t{4096}}) out_of_memory(r, bytes, alignment);
}

}  // namespace contract_detail

/// Every bad input of the contract that applies to all pmrheap resources.
inline const std::vector<bad_input>& bad_inputs() {
  using namespace contract_detail;
  static const std::vector<bad_input> rows = {
      {"alignment 0", "allocate: std::invalid_argument naming 0; try_allocate nullptr, resize false, remap nullptr",
       [](pmrheap::resource& r) { not_a_power_of_two(r, 0); }},
      {"alignment 3", "as alignment 0, naming 3", [](pmrheap::resource& r) { not_a_power_of_two(r, 3); }},
      {"alignment 24", "as alignment 0, naming 24", [](pmrheap::resource& r) { not_a_power_of_two(r, 24); }},
      {"alignment SIZE_MAX", "as alignment 0, naming SIZE_MAX",
       [](pmrheap::resource& r) { not_a_power_of_two(r, size_max); }},
      // A power of two, so not invalid_argument: the over-allocation an alignment needs is what no
      // 64-bit process gets (1 TiB here). On 32-bit targets 2^40 does not exist and 2^31 can be
      // met (half of a 4 GiB address space), so there the largest alignment comes with a size that
      // makes the request larger than the address space.
      // 2^40 is a valid alignment: a resource that can meet it must, and one that cannot throws
      // out_of_memory. Most cannot (1 TiB of address space), but some can: Windows and Linux with
      // overcommit mode 1 hand out address space without memory, and a virtual arena's 64 GiB
      // reservation holds a 2^40-aligned address one run in 16. So the row accepts a block that is
      // aligned and works, and otherwise requires out_of_memory naming the request.
      {"alignment 2^40, 16 bytes (32-bit: alignment 2^31, 2^31 bytes)",
       "allocate: pmrheap::out_of_memory naming the request, try_allocate nullptr; or, where the "
       "resource can meet the alignment (address space without memory, a reservation that holds a "
       "2^40-aligned address), a block aligned to 2^40 that works",
       [](pmrheap::resource& r) {
         // valgrind's replacement memalign aborts the whole process for alignments above 16 MiB
         // (3.19: "bad alignment value"), so this row runs in every build but the valgrind one.
         if (pmrheap::detail::running_on_valgrind()) return;
         constexpr bool wide = sizeof(std::size_t) >= 8;
         constexpr std::size_t alignment = std::size_t{1} << (wide ? 40 : 31);
         if (wide) return out_of_memory_or_aligned(r, 16, alignment);
         out_of_memory(r, alignment, alignment);
       },
       true},
      {"size SIZE_MAX", "allocate: pmrheap::out_of_memory naming the request; try_allocate nullptr",
       [](pmrheap::resource& r) { too_big(r, size_max); }},
      {"size SIZE_MAX - 4095", "as SIZE_MAX", [](pmrheap::resource& r) { too_big(r, size_max - 4095); }},
      {"size SIZE_MAX - 15 (rounding to 16 overflows)", "as SIZE_MAX",
       [](pmrheap::resource& r) { too_big(r, size_max - 15); }},
      {"size SIZE_MAX - 2 MiB + 2 at alignment 2 MiB (rounding to the alignment overflows)", "as SIZE_MAX",
       [](pmrheap::resource& r) {
         const std::size_t mib2 = std::size_t{2} << 20;
         out_of_memory(r, size_max - mib2 + 2, mib2);
       }},
      // Half the address space only with a 64-bit size_t: no OS maps 2^63 bytes (virtual addresses
      // have 48 to 57 bits), while a 32-bit process on a 64-bit kernel can really get 2 GiB.
      {"size SIZE_MAX / 2 + 1 (64-bit only)", "as SIZE_MAX",
       [](pmrheap::resource& r) {
         if constexpr (sizeof(std::size_t) >= 8) too_big(r, size_max / 2 + 1);
       }},
      {"0 bytes", "a non-null pointer aligned as asked, the same from try_allocate; deallocate(p, 0) does nothing",
       [](pmrheap::resource& r) {
         for (std::size_t alignment : {std::size_t{1}, std::size_t{16}, std::size_t{4096}, std::size_t{2} << 20}) {
           CAPTURE(alignment);
           void* p = r.allocate(0, alignment);
           CHECK(p != nullptr);
           CHECK(pmrheap::detail::is_aligned(p, alignment));
           CHECK(r.try_allocate(0, alignment) == p);
           r.deallocate(p, 0, alignment);
         }
       }},
      // deallocate(nullptr, 0) is not a row: libstdc++ declares memory_resource::deallocate
      // nonnull, so the call is undefined before any resource sees it (g++ warns, UBSan reports
      // it). A pmrheap resource never hands out a null block, not even for 0 bytes.
      {"resize / remap to or from 0 bytes", "false / nullptr, block untouched",
       [](pmrheap::resource& r) {
         patterned_block b(r);
         CHECK_FALSE(r.resize(b.get(), b.bytes(), 0, b.alignment()));
         CHECK_FALSE(r.resize(b.get(), 0, b.bytes(), b.alignment()));
         CHECK(r.remap(b.get(), b.bytes(), 0, b.alignment()) == nullptr);
         CHECK(r.remap(b.get(), 0, b.bytes(), b.alignment()) == nullptr);
         CHECK(b.intact());
       }},
      {"resize / remap of a null block", "false / nullptr",
       [](pmrheap::resource& r) {
         CHECK_FALSE(r.resize(nullptr, 64, 32, 16));
         CHECK(r.remap(nullptr, 64, 128, 16) == nullptr);
       }},
      {"resize / remap / reallocate to SIZE_MAX",
       "false / nullptr / pmrheap::out_of_memory (a std::bad_alloc), block untouched",
       [](pmrheap::resource& r) {
         patterned_block b(r);
         CHECK_FALSE(r.resize(b.get(), b.bytes(), size_max, b.alignment()));
         CHECK(r.remap(b.get(), b.bytes(), size_max, b.alignment()) == nullptr);
         CHECK(r.remap(b.get(), b.bytes(), size_max - 4095, b.alignment()) == nullptr);
         CHECK_THROWS_AS(static_cast<void>(pmrheap::reallocate(r, b.get(), b.bytes(), size_max, b.alignment())),
                         pmrheap::out_of_memory);
         CHECK(b.intact());
       }},
      {"resize / remap to the same size", "true / the same pointer, block untouched",
       [](pmrheap::resource& r) {
         patterned_block b(r);
         CHECK(r.resize(b.get(), b.bytes(), b.bytes(), b.alignment()));
         CHECK(r.remap(b.get(), b.bytes(), b.bytes(), b.alignment()) == b.get());
         CHECK(b.intact());
       }},
  };
  return rows;
}

/// Proves a resource works: blocks of several sizes and alignments, filled, reallocated to twice
/// the size, verified, freed. Needs about 4 KiB free (a small fixed buffer passes).
inline void still_works(pmrheap::resource& r) {
  for (std::size_t alignment : {std::size_t{1}, std::size_t{16}, std::size_t{256}}) {
    for (std::size_t bytes : {std::size_t{1}, std::size_t{100}, std::size_t{1000}}) {
      CAPTURE(alignment);
      CAPTURE(bytes);
      auto* p = static_cast<unsigned char*>(r.allocate(bytes, alignment));
      REQUIRE(pmrheap::detail::is_aligned(p, alignment));
      std::memset(p, 0x5a, bytes);
      p = static_cast<unsigned char*>(pmrheap::reallocate(r, p, bytes, 2 * bytes, alignment));
      for (std::size_t i = 0; i < bytes; ++i) REQUIRE(p[i] == 0x5a);
      r.deallocate(p, 2 * bytes, alignment);
    }
  }
}

/// Every row of bad_inputs() on `r`, each followed by still_works.
inline void check_contract(pmrheap::resource& r) {
  for (const bad_input& row : bad_inputs()) {
    CAPTURE(row.input);
    row.check(r);
    still_works(r);
  }
}

}  // namespace pmrheap::test

#endif  // PMRHEAP_TESTS_SUPPORT_CONTRACT_HPP
