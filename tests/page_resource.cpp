// SPDX-License-Identifier: MIT
// Tests include/pmrheap/page_resource.hpp (docs/resources.md#page_resource).
#include "pmrheap/page_resource.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <memory_resource>
#include <thread>
#include <vector>

#include "pmrheap/platform/pages.hpp"
#include "pmrheap/testing.hpp"
#include "support/contract.hpp"
#include "support/vm_flags.hpp"

using pmrheap::page_resource;
using pmrheap::detail::is_aligned;
using pmrheap::platform::page_size;

TEST_CASE("page_resource: conformance") {
  page_resource pages;
  pmrheap::testing::validating_resource v(&pages);
  pmrheap::testing::check_conformance(v);
  CHECK(v.blocks_in_use() == 0);
}

TEST_CASE("page_resource: bad input") {
  page_resource pages;
  pmrheap::test::check_contract(pages);
}

TEST_CASE("page_resource: every block is page aligned and zeroed") {
  page_resource pages;
  auto* p = static_cast<unsigned char*>(pages.allocate(10, 1));
  CHECK(is_aligned(p, page_size()));
  for (std::size_t i = 0; i < 10; ++i) CHECK(p[i] == 0);
  pages.deallocate(p, 10, 1);
}

TEST_CASE("page_resource: 2 MiB- and 1 GiB-aligned allocations") {
  page_resource pages;
  const std::size_t mib2 = std::size_t{2} << 20;
  void* p = pages.allocate(mib2, mib2);
  CHECK(is_aligned(p, mib2));
  std::memset(p, 1, mib2);
  pages.deallocate(p, mib2, mib2);

  if (sizeof(void*) >= 8) {
    const std::size_t gib = std::size_t{1} << 30;
    void* q = pages.allocate(4096, gib);
    CHECK(is_aligned(q, gib));
    static_cast<unsigned char*>(q)[4095] = 1;
    pages.deallocate(q, 4096, gib);
  }
}

TEST_CASE("page_resource: resize within the page count, shrink across pages, no growth across pages") {
  page_resource pages;
  const std::size_t page = page_size();
  void* p = pages.allocate(100, 16);
  CHECK(pages.resize(p, 100, page, 16));
  CHECK(pages.resize(p, page, 1, 16));
  CHECK_FALSE(pages.resize(p, 1, page + 1, 16));
  pages.deallocate(p, 1, 16);

  void* q = pages.allocate(3 * page, 16);
  CHECK(pages.resize(q, 3 * page, page, 16));
  pages.deallocate(q, page, 16);
}

TEST_CASE("page_resource: blocks aligned above a page are never resized across pages") {
  page_resource pages;
  const std::size_t page = page_size();
  void* p = pages.allocate(4 * page, 4 * page);
  CHECK_FALSE(pages.resize(p, 4 * page, page, 4 * page));
  CHECK(pages.remap(p, 4 * page, 8 * page, 4 * page) == nullptr);
  pages.deallocate(p, 4 * page, 4 * page);
}

// Found by the fuzzer (tests/fuzz/regressions/page_resource/overaligned-resize-within-page): the
// platform refused every resize of such a block, even one that changes no page.
TEST_CASE("page_resource: a block aligned above a page still resizes and remaps within its pages") {
  page_resource pages;
  const std::size_t page = page_size();
  auto* p = static_cast<unsigned char*>(pages.allocate(11, 16 * page));
  p[10] = 0x42;
  CHECK(pages.resize(p, 11, 55, 16 * page));
  CHECK(pages.resize(p, 55, page, 16 * page));
  CHECK(pages.remap(p, page, 1, 16 * page) == p);
  CHECK(p[10] == 0x42);
  CHECK_FALSE(pages.resize(p, 1, page + 1, 16 * page));
  pages.deallocate(p, 1, 16 * page);
}

TEST_CASE("page_resource: remap growth keeps the contents") {
  page_resource pages;
  const std::size_t page = page_size();
  auto* p = static_cast<unsigned char*>(pages.allocate(page, 8));
  for (std::size_t i = 0; i < page; ++i) p[i] = static_cast<unsigned char>(i % 251);
  auto* q = static_cast<unsigned char*>(pages.remap(p, page, 64 * page, 8));
#if defined(__linux__)
  REQUIRE(q != nullptr);
#endif
  if (q == nullptr) {  // no mremap on this OS: the caller copies (reallocate does)
    q = static_cast<unsigned char*>(pmrheap::reallocate(pages, p, page, 64 * page, 8));
  }
  for (std::size_t i = 0; i < page; ++i) REQUIRE(q[i] == static_cast<unsigned char>(i % 251));
  q[64 * page - 1] = 1;
  pages.deallocate(q, 64 * page, 8);
}

TEST_CASE("page_resource: a buffer reallocated from 4 KiB to 256 MiB by doubling") {
  page_resource pages;
  std::size_t bytes = 4096;
  auto* p = static_cast<unsigned char*>(pages.allocate(bytes, 16));
  p[0] = 0xa5;
  while (bytes < (std::size_t{256} << 20)) {
    p = static_cast<unsigned char*>(pmrheap::reallocate(pages, p, bytes, 2 * bytes, 16));
    REQUIRE(p[0] == 0xa5);
    REQUIRE(p[bytes - 1] == (bytes == 4096 ? 0 : 0x5a));
    bytes *= 2;
    p[bytes - 1] = 0x5a;
  }
  CHECK(bytes == std::size_t{256} << 20);
  pages.deallocate(p, bytes, 16);
}

TEST_CASE("page_resource: stateless; instance() shared; usable under std::pmr containers") {
  CHECK(page_resource::instance()->is_equal(page_resource{}));
  std::pmr::vector<double> v(page_resource::instance());
  for (int i = 0; i < 100000; ++i) v.push_back(i * 0.5);
  CHECK(v[99999] == 99999 * 0.5);
}

TEST_CASE("page_resource: safe from several threads") {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
      page_resource& pages = *page_resource::instance();
      for (int i = 0; i < 300; ++i) {
        auto* p = static_cast<unsigned char*>(pages.allocate(static_cast<std::size_t>(i) * 100 + 1, 64));
        p[0] = static_cast<unsigned char>(t);
        p = static_cast<unsigned char*>(
            pmrheap::reallocate(pages, p, static_cast<std::size_t>(i) * 100 + 1, 70000, 64));
        REQUIRE(p[0] == static_cast<unsigned char>(t));
        pages.deallocate(p, 70000, 64);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(threads.size() == 4);
}

TEST_CASE("page_resource: huge page advice is opt-in and only for blocks of a huge page or more") {
  const std::size_t huge = pmrheap::platform::huge_page_size();
  page_resource plain;
  page_resource advised(pmrheap::huge_pages::advise);
  CHECK(plain.huge_page_mode() == pmrheap::huge_pages::off);
  CHECK(page_resource::instance()->huge_page_mode() == pmrheap::huge_pages::off);
  CHECK(advised.huge_page_mode() == pmrheap::huge_pages::advise);
  CHECK(advised.is_equal(plain));  // blocks are interchangeable

  const std::size_t big = huge != 0 ? 2 * huge : std::size_t{4} << 20;
  void* a = advised.allocate(big, 16);
  void* b = plain.allocate(big, 16);
  void* small = advised.allocate(page_size(), 16);
  if (huge != 0) CHECK(is_aligned(a, huge));
#if defined(__linux__)
  CHECK(pmrheap::test::has_vm_flag(a, "hg") == pmrheap::test::huge_advice_visible(huge));
  CHECK_FALSE(pmrheap::test::has_vm_flag(b, "hg"));
  CHECK_FALSE(pmrheap::test::has_vm_flag(small, "hg"));
#endif
  // Touch both ends only: with 64 KiB base pages a huge page is 512 MiB.
  static_cast<unsigned char*>(a)[0] = 1;
  static_cast<unsigned char*>(a)[big - 1] = 1;
  plain.deallocate(a, big, 16);  // any instance frees any block
  plain.deallocate(b, big, 16);
  advised.deallocate(small, page_size(), 16);
}

#if defined(__linux__)
TEST_CASE("page_resource: a block remapped past the huge page size gets the advice") {
  const std::size_t huge = pmrheap::platform::huge_page_size();
  page_resource advised(pmrheap::huge_pages::advise);
  auto* p = static_cast<unsigned char*>(advised.allocate(page_size(), 16));
  p[0] = 0x7e;
  CHECK_FALSE(pmrheap::test::has_vm_flag(p, "hg"));
  const std::size_t big = huge != 0 ? 4 * huge : std::size_t{8} << 20;
  auto* q = static_cast<unsigned char*>(advised.remap(p, page_size(), big, 16));
  REQUIRE(q != nullptr);
  CHECK(q[0] == 0x7e);
  CHECK(pmrheap::test::has_vm_flag(q, "hg") == pmrheap::test::huge_advice_visible(huge));
  advised.deallocate(q, big, 16);
}
#endif
