// SPDX-License-Identifier: MIT
// Tests include/pmrheap/platform/pages.hpp (docs/platform/pages.md).
#include "pmrheap/platform/pages.hpp"

#include <doctest/doctest.h>

#include <bit>
#include <cstring>
#include <vector>

#include "pmrheap/detail/align.hpp"
#include "pmrheap/detail/sanitizer.hpp"
#include "support/fault.hpp"
#include "support/vm_flags.hpp"

#if !defined(_WIN32)
#  include <unistd.h>
#endif
#if defined(__linux__)
#  include <fstream>
#  include <string>
#  include <sys/mman.h>
#endif

using namespace pmrheap;
using pmrheap::detail::is_aligned;
using pmrheap::detail::size_max;

TEST_CASE("platform::page_size: matches the OS and the compile-time bounds") {
  const std::size_t page = platform::page_size();
  MESSAGE("page size = " << page);
  CHECK(std::has_single_bit(page));
  CHECK(page >= platform::page_size_min);
  CHECK(page <= platform::page_size_max);
#if !defined(_WIN32)
  CHECK(page == static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)));
#endif
  CHECK(platform::page_size() == page);  // cached
}

TEST_CASE("platform::map: page-aligned, zeroed, writable, rounded to pages") {
  const std::size_t page = platform::page_size();
  auto* p = static_cast<unsigned char*>(platform::map(1, 1));
  REQUIRE(p != nullptr);
  CHECK(is_aligned(p, page));
  for (std::size_t i = 0; i < page; ++i) REQUIRE(p[i] == 0);
  std::memset(p, 0xab, page);  // the whole page is ours, not just the byte asked for
  platform::unmap(p, 1);
}

TEST_CASE("platform::map: alignments above the page size") {
  for (std::size_t alignment : {std::size_t{1} << 16, std::size_t{1} << 21}) {
    CAPTURE(alignment);
    void* p = platform::map(3 * platform::page_size(), alignment);
    REQUIRE(p != nullptr);
    CHECK(is_aligned(p, alignment));
    std::memset(p, 1, 3 * platform::page_size());
    platform::unmap(p, 3 * platform::page_size());
  }
}

TEST_CASE("platform::map: 1 GiB alignment" * doctest::skip(sizeof(void*) < 8)) {
  const std::size_t gib = std::size_t{1} << 30;
  void* p = platform::map(platform::page_size(), gib);
  REQUIRE(p != nullptr);
  CHECK(is_aligned(p, gib));
  static_cast<unsigned char*>(p)[0] = 1;
  platform::unmap(p, platform::page_size());
}

TEST_CASE("platform::map: bad input gives nullptr") {
  const std::size_t page = platform::page_size();
  CHECK(platform::map(0, 1) == nullptr);
  CHECK(platform::map(size_max, 1) == nullptr);
  CHECK(platform::map(size_max - page, 1) == nullptr);
  CHECK(platform::map(size_max - page + 1, 1) == nullptr);
  CHECK(platform::map(page, 3) == nullptr);
  CHECK(platform::map(page, 0) == nullptr);
  // Over-mapping for the alignment would overflow.
  CHECK(platform::map(size_max / 2, size_max / 2 + 1) == nullptr);
  // A mapping larger than the address space allows fails cleanly.
  CHECK(platform::map(size_max - 2 * page, 1) == nullptr);
}

TEST_CASE("platform::map: successive mappings do not reuse a just-freed address at once") {
  // The hint steers new mappings away from recently unmapped ranges; the kernel alone would hand
  // the same hole back. Not a guarantee (the hint can be refused), so require it for most rounds.
  int fresh = 0;
  for (int i = 0; i < 16; ++i) {
    void* a = platform::map(platform::page_size(), 1);
    REQUIRE(a != nullptr);
    platform::unmap(a, platform::page_size());
    void* b = platform::map(platform::page_size(), 1);
    REQUIRE(b != nullptr);
    fresh += a != b;
    platform::unmap(b, platform::page_size());
  }
  if (pmrheap::detail::running_on_valgrind()) {
    // valgrind places client mappings itself, bottom-up from a low base: it honours a hint only
    // when the hinted range is free, else takes the first free range from the bottom, which is the
    // hole just left. The range below the previous mapping is usually taken there, so the hint
    // rarely lands (0 of 16 when this test runs alone; more after earlier tests left free space).
    MESSAGE("under valgrind " << fresh << " of 16 mappings were fresh (valgrind ignores taken hints)");
    return;
  }
  CHECK(fresh >= 12);
}

TEST_CASE("platform::remap: same page count returns the block itself") {
  const std::size_t page = platform::page_size();
  void* p = platform::map(10, 1);
  REQUIRE(p != nullptr);
  CHECK(platform::remap(p, 10, page, 1, false) == p);
  CHECK(platform::remap(p, page, 1, 1, false) == p);
  platform::unmap(p, 1);

  // Whatever the alignment: nothing moves, so nothing can be lost.
  void* q = platform::map(10, 4 * page);
  REQUIRE(q != nullptr);
  CHECK(platform::remap(q, 10, page, 4 * page, true) == q);
  CHECK(platform::remap(q, page, 1, 4 * page, false) == q);
  platform::unmap(q, 1);
}

TEST_CASE("platform::remap: shrinking returns the tail pages and keeps the head") {
  const std::size_t page = platform::page_size();
  auto* p = static_cast<unsigned char*>(platform::map(4 * page, 1));
  REQUIRE(p != nullptr);
  std::memset(p, 0x5a, 4 * page);
  CHECK(platform::remap(p, 4 * page, page + 1, 1, false) == p);
  for (std::size_t i = 0; i < 2 * page; ++i) REQUIRE(p[i] == 0x5a);
  platform::unmap(p, page + 1);
}

TEST_CASE("platform::remap: growth without moving is refused, the block untouched") {
  const std::size_t page = platform::page_size();
  auto* p = static_cast<unsigned char*>(platform::map(page, 1));
  REQUIRE(p != nullptr);
  p[0] = 7;
  CHECK(platform::remap(p, page, 2 * page, 1, false) == nullptr);
  CHECK(p[0] == 7);
  platform::unmap(p, page);
}

#if defined(__linux__)
TEST_CASE("platform::remap: growth with may_move keeps the contents (mremap)") {
  const std::size_t page = platform::page_size();
  std::size_t bytes = page;
  auto* p = static_cast<unsigned char*>(platform::map(bytes, 1));
  REQUIRE(p != nullptr);
  for (std::size_t i = 0; i < bytes; ++i) p[i] = static_cast<unsigned char>(i * 7);
  for (int round = 0; round < 8; ++round) {
    auto* q = static_cast<unsigned char*>(platform::remap(p, bytes, bytes * 2, 1, true));
    REQUIRE(q != nullptr);
    for (std::size_t i = 0; i < bytes; ++i) REQUIRE(q[i] == static_cast<unsigned char>(i * 7));
    for (std::size_t i = bytes; i < 2 * bytes; ++i) q[i] = static_cast<unsigned char>(i * 7);
    p = q;
    bytes *= 2;
  }
  platform::unmap(p, bytes);
}
#endif

TEST_CASE("platform::remap: bad input gives nullptr and leaves the mapping alone") {
  const std::size_t page = platform::page_size();
  auto* p = static_cast<unsigned char*>(platform::map(page, 1));
  REQUIRE(p != nullptr);
  p[0] = 9;
  CHECK(platform::remap(nullptr, page, page, 1, true) == nullptr);
  CHECK(platform::remap(p, 0, page, 1, true) == nullptr);
  CHECK(platform::remap(p, page, 0, 1, true) == nullptr);
  CHECK(platform::remap(p, page, size_max, 1, true) == nullptr);
  CHECK(platform::remap(p, page, 2 * page, 3, true) == nullptr);
  CHECK(platform::remap(p, page, 2 * page, 2 * page, true) == nullptr);  // above the page size
  CHECK(p[0] == 9);
  platform::unmap(p, page);
}

TEST_CASE("platform::unmap: null and zero do nothing") {
  platform::unmap(nullptr, 4096);
  int local = 0;
  platform::unmap(&local, 0);
  CHECK(local == 0);
}

#if defined(__linux__) && PMRHEAP_HAS_ASAN
namespace {
// How many of the ASan shadow pages that describe only [p, p + bytes) are resident (mincore).
std::size_t resident_shadow_pages(const void* p, std::size_t bytes) {
  std::size_t scale = 0;
  std::size_t offset = 0;
  __asan_get_shadow_mapping(&scale, &offset);
  const std::size_t page = platform::page_size();
  const auto begin = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t first = detail::align_up((begin >> scale) + offset, page);
  const std::uintptr_t last = detail::align_down(((begin + bytes) >> scale) + offset, page);
  if (first >= last) return 0;
  std::vector<unsigned char> in_core((last - first) / page);
  REQUIRE(::mincore(reinterpret_cast<void*>(first), last - first, in_core.data()) == 0);
  std::size_t n = 0;
  for (const unsigned char c : in_core) n += c & 1U;
  return n;
}
}  // namespace

// Mappings land on fresh addresses (the downward hint), so shadow pages left behind at unmap
// would add up without bound in a long ASan run of anything that poisons page memory (an arena).
TEST_CASE("platform::unmap and release: an ASan build drops the shadow of what it unmaps") {
  const std::size_t bytes = std::size_t{16} << 20;  // 2 MiB of shadow
  SUBCASE("unmap") {
    void* p = platform::map(bytes, platform::page_size());
    REQUIRE(p != nullptr);
    detail::poison(p, bytes);
    detail::unpoison(p, bytes);
    CHECK(resident_shadow_pages(p, bytes) > 0);  // written, and ASan keeps it
    platform::unmap(p, bytes);
    CHECK(resident_shadow_pages(p, bytes) == 0);
  }
  SUBCASE("release") {
    void* p = platform::reserve(bytes);
    REQUIRE(p != nullptr);
    REQUIRE(platform::commit(p, bytes));
    detail::poison(p, bytes);
    detail::unpoison(p, bytes);
    CHECK(resident_shadow_pages(p, bytes) > 0);
    REQUIRE(platform::release(p, bytes));
    CHECK(resident_shadow_pages(p, bytes) == 0);
  }
  SUBCASE("the tail a shrinking remap gives back") {
    auto* p = static_cast<std::byte*>(platform::map(2 * bytes, platform::page_size()));
    REQUIRE(p != nullptr);
    detail::poison(p, 2 * bytes);
    detail::unpoison(p, 2 * bytes);
    REQUIRE(platform::remap(p, 2 * bytes, bytes, platform::page_size(), false) == p);
    CHECK(resident_shadow_pages(p + bytes, bytes) == 0);
    CHECK(resident_shadow_pages(p, bytes) > 0);  // the head is still mapped: its shadow stays
    platform::unmap(p, bytes);
  }
}
#endif

TEST_CASE("platform::reserve: page-aligned address space that commit makes usable and zeroed") {
  const std::size_t page = platform::page_size();
  auto* p = static_cast<unsigned char*>(platform::reserve(16 * page + 1));  // rounded to 17 pages
  REQUIRE(p != nullptr);
  CHECK(is_aligned(p, page));
  REQUIRE(platform::commit(p, 2 * page));
  for (std::size_t i = 0; i < 2 * page; ++i) REQUIRE(p[i] == 0);
  std::memset(p, 0x6b, 2 * page);
  REQUIRE(platform::commit(p + 16 * page, page));  // the rounded-up last page belongs to us too
  p[17 * page - 1] = 1;
  CHECK(platform::release(p, 16 * page + 1));
}

TEST_CASE("platform::decommit: the pages read back as zero after a recommit; others keep their data") {
  const std::size_t page = platform::page_size();
  auto* p = static_cast<unsigned char*>(platform::reserve(4 * page));
  REQUIRE(p != nullptr);
  REQUIRE(platform::commit(p, 4 * page));
  std::memset(p, 0x33, 4 * page);
  REQUIRE(platform::decommit(p + page, 2 * page));
  REQUIRE(platform::commit(p + page, 2 * page));
  for (std::size_t i = 0; i < page; ++i) REQUIRE(p[i] == 0x33);
  for (std::size_t i = page; i < 3 * page; ++i) REQUIRE(p[i] == 0);
  for (std::size_t i = 3 * page; i < 4 * page; ++i) REQUIRE(p[i] == 0x33);
  CHECK(platform::release(p, 4 * page));
}

#if !defined(_WIN32)
// Reserved pages fault until committed and again after decommit; the fault happens in a child.
TEST_CASE("platform::reserve: uncommitted and decommitted pages fault; committed ones do not") {
  using pmrheap::test::faults;
  using pmrheap::test::touch;
  const std::size_t page = platform::page_size();
  auto* p = static_cast<unsigned char*>(platform::reserve(3 * page));
  REQUIRE(p != nullptr);
  REQUIRE(platform::commit(p, page));
  CHECK_FALSE(faults(p, touch::write));
  CHECK_FALSE(faults(p + page - 1, touch::read));
  CHECK(faults(p + page, touch::read));
  CHECK(faults(p + 2 * page, touch::write));
  REQUIRE(platform::decommit(p, page));
  CHECK(faults(p, touch::read));
  CHECK(platform::release(p, 3 * page));
}
#endif

// Valgrind's address-space manager refuses a 64 GiB reservation; so do 32-bit targets.
TEST_CASE("platform::reserve: a huge reservation costs address space only" *
          doctest::skip(sizeof(void*) < 8 || pmrheap::detail::running_on_valgrind())) {
  const std::size_t bytes = std::size_t{64} << 30;
  auto* p = static_cast<unsigned char*>(platform::reserve(bytes));
  REQUIRE(p != nullptr);
  const std::size_t page = platform::page_size();
  REQUIRE(platform::commit(p + bytes - page, page));  // the very last page
  p[bytes - 1] = 5;
  CHECK(p[bytes - 1] == 5);
  CHECK(platform::release(p, bytes));
}

TEST_CASE("platform::reserve/commit/decommit/release: bad input fails and changes nothing") {
  const std::size_t page = platform::page_size();
  CHECK(platform::reserve(0) == nullptr);
  CHECK(platform::reserve(size_max) == nullptr);
  CHECK(platform::reserve(size_max - page) == nullptr);
  CHECK(platform::reserve(size_max - 2 * page) == nullptr);  // more than any address space

  auto* p = static_cast<unsigned char*>(platform::reserve(4 * page));
  REQUIRE(p != nullptr);
  REQUIRE(platform::commit(p, page));
  p[0] = 0x11;
  for (auto* op : {&platform::commit, &platform::decommit}) {
    CHECK_FALSE(op(nullptr, page));
    CHECK_FALSE(op(p, 0));
    CHECK_FALSE(op(p + 1, page));  // unaligned pointer
    CHECK_FALSE(op(p, page + 1));  // length not a whole number of pages
    CHECK_FALSE(op(p, page / 2));
    CHECK_FALSE(op(p, size_max - page + 1));  // a page multiple that wraps past the address space
  }
  CHECK(p[0] == 0x11);  // the failed decommits left the committed page alone
  CHECK_FALSE(platform::release(nullptr, page));
  CHECK_FALSE(platform::release(p + 1, page));
  CHECK_FALSE(platform::release(p, 0));
  CHECK_FALSE(platform::release(p, size_max));
  CHECK(p[0] == 0x11);  // still mapped
  CHECK(platform::release(p, 4 * page));
}

TEST_CASE("platform::huge_page_size: 0, or a power of two above the page size that the OS reports") {
  const std::size_t huge = platform::huge_page_size();
  MESSAGE("huge page size = " << huge);
  CHECK((huge == 0 || (std::has_single_bit(huge) && huge > platform::page_size())));
  CHECK(platform::huge_page_size() == huge);
#if defined(__linux__)
  std::ifstream enabled("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string modes;
  std::getline(enabled, modes);
  std::ifstream pmd("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size");
  std::size_t expected = 0;
  if (!modes.empty() && modes.find("[never]") == std::string::npos && (pmd >> expected)) {
    CHECK(huge == expected);
  } else {
    CHECK(huge == 0);
  }
#else
  CHECK(huge == 0);
#endif
}

TEST_CASE("platform::advise_huge_pages: marks the mapping on Linux, refuses bad input") {
  const std::size_t page = platform::page_size();
  const std::size_t huge = platform::huge_page_size();
  const std::size_t bytes = huge != 0 ? 2 * huge : 4 * page;
  auto* p = static_cast<unsigned char*>(platform::map(bytes, huge != 0 ? huge : page));
  REQUIRE(p != nullptr);
  CHECK_FALSE(platform::advise_huge_pages(nullptr, bytes));
  CHECK_FALSE(platform::advise_huge_pages(p + 1, bytes));
  CHECK_FALSE(platform::advise_huge_pages(p, 0));
  CHECK_FALSE(platform::advise_huge_pages(p, size_max));
#if defined(__linux__)
  CHECK_FALSE(pmrheap::test::has_vm_flag(p, "hg"));
  CHECK(platform::advise_huge_pages(p, bytes) == (huge != 0));
  CHECK(pmrheap::test::has_vm_flag(p, "hg") == pmrheap::test::huge_advice_visible(huge));
#else
  CHECK_FALSE(platform::advise_huge_pages(p, bytes));
#endif
  p[0] = 1;  // still ordinary memory either way (both ends only: a huge page can be 512 MiB)
  p[bytes - 1] = 1;
  platform::unmap(p, bytes);
}
