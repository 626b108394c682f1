// SPDX-License-Identifier: MIT
// Tests include/pmrheap/resource.hpp: the extension base, its contract, and the free functions on
// resources that are not pmrheap resources (docs/design.md).
#include "pmrheap/resource.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <limits>
#include <memory_resource>
#include <stdexcept>
#include <string>

#include "pmrheap/c_resource.hpp"
#include "support/counting_resource.hpp"
#include "support/opaque.hpp"

using pmrheap::detail::size_max;

namespace {

// The smallest possible pmrheap resource: only do_try_allocate, so the base's defaults show.
class minimal_resource final : public pmrheap::resource {
  void* do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept override {
    return pmrheap::try_allocate(*pmrheap::c_resource::instance(), bytes, alignment);
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    pmrheap::c_resource::instance()->deallocate(p, bytes, alignment);
  }
};

// A std resource that always throws something other than bad_alloc.
class throwing_resource final : public std::pmr::memory_resource {
  void* do_allocate(std::size_t, std::size_t) override { throw std::runtime_error("no"); }
  void do_deallocate(void*, std::size_t, std::size_t) override {}
  bool do_is_equal(const memory_resource& o) const noexcept override { return this == &o; }
};

}  // namespace

TEST_CASE("resource: default do_resize refuses and do_remap follows it") {
  minimal_resource r;
  void* p = r.allocate(64);
  CHECK_FALSE(r.resize(p, 64, 32));
  CHECK(r.remap(p, 64, 128) == nullptr);
  CHECK(r.resize(p, 64, 64));
  CHECK(r.remap(p, 64, 64) == p);
  r.deallocate(p, 64);
}

TEST_CASE("resource: allocate throws out_of_memory naming the request") {
  minimal_resource r;
  try {
    static_cast<void>(r.allocate(size_max, 64));
    FAIL("allocate(SIZE_MAX) returned");
  } catch (const pmrheap::out_of_memory& e) {
    CHECK(e.bytes() == size_max);
    CHECK(e.alignment() == 64);
    CHECK(std::string(e.what()).find(std::to_string(size_max)) != std::string::npos);
  }
}

TEST_CASE("resource: default is_equal is identity") {
  minimal_resource a;
  minimal_resource b;
  CHECK(a.is_equal(a));
  CHECK_FALSE(a.is_equal(b));
}

TEST_CASE("free functions: a std resource resizes and remaps only to the same size") {
  std::pmr::memory_resource& mr = *std::pmr::new_delete_resource();
  void* p = mr.allocate(64, 16);
  CHECK(pmrheap::resize(mr, p, 64, 64, 16));
  CHECK_FALSE(pmrheap::resize(mr, p, 64, 32, 16));
  CHECK_FALSE(pmrheap::resize(mr, p, 64, 128, 16));
  CHECK_FALSE(pmrheap::resize(mr, p, 0, 0, 16));
  CHECK(pmrheap::remap(mr, p, 64, 64, 16) == p);
  CHECK(pmrheap::remap(mr, p, 64, 128, 16) == nullptr);
  mr.deallocate(p, 64, 16);
}

TEST_CASE("free functions: try_allocate turns any exception into nullptr") {
  throwing_resource t;
  CHECK(pmrheap::try_allocate(t, 16) == nullptr);
  CHECK(pmrheap::try_allocate(*std::pmr::null_memory_resource(), 16) == nullptr);
  CHECK(pmrheap::try_allocate(*std::pmr::new_delete_resource(), 16, pmrheap::test::opaque(3)) == nullptr);
  void* p = pmrheap::try_allocate(*std::pmr::new_delete_resource(), 16, 8);
  CHECK(p != nullptr);
  std::pmr::new_delete_resource()->deallocate(p, 16, 8);
}

TEST_CASE("free functions: a pmrheap resource seen as std::pmr::memory_resource keeps its powers") {
  pmrheap::c_resource c;
  std::pmr::memory_resource& mr = c;
  void* p = mr.allocate(1000, 16);
  CHECK(pmrheap::resize(mr, p, 1000, 10, 16));  // c_resource shrinks in place; a std resource would not
  mr.deallocate(p, 10, 16);
}

TEST_CASE("reallocate: copies min(old, new) and frees the old block on a std resource") {
  pmrheap::test::counting_resource counter;
  std::pmr::memory_resource& mr = counter;
  auto* p = static_cast<unsigned char*>(pmrheap::reallocate(mr, nullptr, 0, 100, 8));
  for (int i = 0; i < 100; ++i) p[i] = static_cast<unsigned char>(i);
  // counting_resource forwards resize/remap to new_delete, which refuses: allocate + copy + free.
  p = static_cast<unsigned char*>(pmrheap::reallocate(mr, p, 100, 1000, 8));
  for (int i = 0; i < 100; ++i) REQUIRE(p[i] == i);
  p = static_cast<unsigned char*>(pmrheap::reallocate(mr, p, 1000, 10, 8));
  for (int i = 0; i < 10; ++i) REQUIRE(p[i] == i);
  CHECK(counter.live() == 1);
  CHECK(counter.live_bytes == 10);
  CHECK(pmrheap::reallocate(mr, p, 10, 0, 8) == nullptr);  // new size 0 frees
  CHECK(counter.live() == 0);
  CHECK(counter.allocations == 3);
}

TEST_CASE("reallocate: failure throws and leaves the old block intact") {
  pmrheap::test::counting_resource counter;
  auto* p = static_cast<unsigned char*>(pmrheap::reallocate(counter, nullptr, 0, 16, 8));
  std::memset(p, 0x77, 16);
  CHECK_THROWS_AS(static_cast<void>(pmrheap::reallocate(counter, p, 16, size_max, 8)), std::bad_alloc);
  for (int i = 0; i < 16; ++i) REQUIRE(p[i] == 0x77);
  CHECK(counter.live() == 1);
  CHECK_THROWS_AS(static_cast<void>(pmrheap::reallocate(counter, p, 16, 32, pmrheap::test::opaque(3))),
                  std::invalid_argument);
  for (int i = 0; i < 16; ++i) REQUIRE(p[i] == 0x77);
  counter.deallocate(p, 16, 8);
}

TEST_CASE("reallocate: through a std::pmr::null_memory_resource fails cleanly") {
  CHECK_THROWS_AS(static_cast<void>(pmrheap::reallocate(*std::pmr::null_memory_resource(), nullptr, 0, 8)),
                  std::bad_alloc);
}

// No object can exceed PTRDIFF_MAX bytes; such requests never reach a foreign resource.
TEST_CASE("free functions: sizes above PTRDIFF_MAX are failures before a std resource sees them") {
  pmrheap::test::counting_resource counter;  // a pmrheap resource, forwarding to new_delete
  const std::size_t huge = static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max()) + 1;
  CHECK(pmrheap::try_allocate(*std::pmr::new_delete_resource(), huge, 8) == nullptr);
  CHECK(counter.try_allocate(huge, 8) == nullptr);
  CHECK(counter.allocations == 0);
  CHECK_THROWS_AS(static_cast<void>(pmrheap::reallocate(*std::pmr::new_delete_resource(), nullptr, 0, huge, 8)),
                  std::bad_alloc);
}
