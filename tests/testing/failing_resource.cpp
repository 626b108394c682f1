// SPDX-License-Identifier: MIT
// Tests include/pmrheap/testing/failing_resource.hpp (docs/testing/failing_resource.md): sticky failure at
// fail_index and resize_fail_index, counters that failed calls leave alone, the induced failure's
// stack trace.
#include "pmrheap/testing/failing_resource.hpp"

#include <doctest/doctest.h>

#include <memory_resource>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "pmrheap/c_resource.hpp"
#include "pmrheap/testing.hpp"
#include "support/contract.hpp"
#include "support/counting_resource.hpp"

using pmrheap::failing_resource;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// An upstream that throws something other than std::bad_alloc.
class throwing_resource final : public std::pmr::memory_resource {
  void* do_allocate(std::size_t, std::size_t) override { throw std::length_error("throwing_resource"); }
  void do_deallocate(void*, std::size_t, std::size_t) override {}
  bool do_is_equal(const memory_resource& o) const noexcept override { return this == &o; }
};

}  // namespace

// A distinctive frame for the induced failure's trace to name.
PMRHEAP_NOINLINE void* pmrheap_failing_caller(std::pmr::memory_resource& r, std::size_t bytes) {
  void* p = r.allocate(bytes, 8);
  asm volatile("");
  return p;
}

TEST_CASE("failing_resource: conformance") {
  failing_resource f(pmrheap::c_resource::instance());
  pmrheap::testing::validating_resource v(&f);
  pmrheap::testing::check_conformance(v);
  CHECK(v.blocks_in_use() == 0);
  CHECK(f.allocations() == f.deallocations());
  CHECK(f.allocated_bytes() == f.freed_bytes());
  CHECK_FALSE(f.has_induced_failure());
}

TEST_CASE("failing_resource: bad input") {
  failing_resource f(pmrheap::c_resource::instance());
  pmrheap::test::check_contract(f);
  CHECK(f.allocations() == f.deallocations());
  CHECK(f.allocated_bytes() == f.freed_bytes());
}

TEST_CASE("failing_resource: defaults forward to the default resource and never fail") {
  failing_resource f;
  CHECK(f.upstream_resource() == std::pmr::get_default_resource());
  CHECK(f.fail_index() == failing_resource::never);
  CHECK(f.resize_fail_index() == failing_resource::never);
  std::vector<void*> blocks;
  for (int i = 0; i < 100; ++i) blocks.push_back(f.allocate(16));
  for (void* p : blocks) f.deallocate(p, 16);
  CHECK(f.allocations() == 100);
  CHECK(f.deallocations() == 100);
  CHECK_FALSE(f.has_induced_failure());
  CHECK(f.induced_failure_trace().empty());
}

// Zig's test: fail_index 2 lets two allocations through and fails the third.
TEST_CASE("failing_resource: allocation fail_index fails, and every later one too (sticky)") {
  failing_resource f(pmrheap::c_resource::instance(), 2);
  void* a = f.allocate(8);
  void* b = f.allocate(16);
  CHECK(f.alloc_index() == 2);
  CHECK_FALSE(f.has_induced_failure());
  CHECK_THROWS_AS(static_cast<void>(f.allocate(24)), pmrheap::out_of_memory);
  CHECK(f.has_induced_failure());
  CHECK(f.try_allocate(1) == nullptr);
  CHECK_THROWS_AS(static_cast<void>(f.allocate(8)), std::bad_alloc);
  // Failed calls changed no counter; deallocating does not move the index back.
  CHECK(f.alloc_index() == 2);
  CHECK(f.allocations() == 2);
  CHECK(f.allocated_bytes() == 24);
  f.deallocate(a, 8);
  f.deallocate(b, 16);
  CHECK(f.alloc_index() == 2);
  CHECK(f.deallocations() == 2);
  CHECK(f.freed_bytes() == 24);
  CHECK_THROWS_AS(static_cast<void>(f.allocate(8)), std::bad_alloc);
}

TEST_CASE("failing_resource: fail_index 0 fails everything; zero-byte blocks still work") {
  failing_resource f(pmrheap::c_resource::instance(), 0);
  CHECK(f.try_allocate(16) == nullptr);
  CHECK_THROWS_AS(static_cast<void>(f.allocate(16)), std::bad_alloc);
  void* empty = f.allocate(0, 16);  // owns no memory, so nothing to fail
  CHECK(empty != nullptr);
  f.deallocate(empty, 0, 16);
  CHECK(f.allocations() == 0);
  CHECK(f.deallocations() == 0);
  CHECK(f.has_induced_failure());
}

TEST_CASE("failing_resource: the first induced failure's stack trace is kept and printable") {
  failing_resource f(pmrheap::c_resource::instance(), 1);
  void* a = pmrheap_failing_caller(f, 8);
  CHECK(f.induced_failure_trace().empty());
  CHECK_THROWS_AS(pmrheap_failing_caller(f, 8), std::bad_alloc);
  REQUIRE(f.has_induced_failure());
  const pmrheap::stack_trace first = f.induced_failure_trace();
  CHECK_FALSE(first.empty());
  CHECK(f.try_allocate(8) == nullptr);  // a later failure keeps the first trace
  CHECK(f.induced_failure_trace().begin()[0] == first[0]);
  const std::string text = first.to_string();
  MESSAGE(text);
  if (std::string(pmrheap::stack_trace::symbolizer()) == "libbacktrace") {
    CHECK(contains(text, "pmrheap_failing_caller"));
    CHECK(contains(text, "tests/testing/failing_resource.cpp:"));
    CHECK_FALSE(contains(text, "fail_allocation"));  // the resource's own frames are skipped
  }
  f.deallocate(a, 8);
}

TEST_CASE("failing_resource: a failing upstream changes no counter and is not an induced failure") {
  failing_resource f(std::pmr::null_memory_resource());
  CHECK_THROWS_AS(static_cast<void>(f.allocate(8)), std::bad_alloc);
  CHECK(f.try_allocate(8) == nullptr);
  CHECK(f.alloc_index() == 0);
  CHECK(f.allocations() == 0);
  CHECK(f.allocated_bytes() == 0);
  CHECK_FALSE(f.has_induced_failure());
}

TEST_CASE("failing_resource: what the upstream throws reaches the caller unchanged") {
  throwing_resource thrower;
  failing_resource f(&thrower);
  CHECK_THROWS_AS(static_cast<void>(f.allocate(8)), std::length_error);
  CHECK(f.allocations() == 0);
  CHECK(f.try_allocate(8) == nullptr);
}

TEST_CASE("failing_resource: sizes whose rounding overflows never reach a std upstream") {
  pmrheap::test::counting_resource counter;  // would record any call
  failing_resource f(&counter);
  CHECK_THROWS_AS(static_cast<void>(f.allocate(pmrheap::detail::size_max, 8)), std::bad_alloc);
  CHECK(f.try_allocate(pmrheap::detail::size_max, 8) == nullptr);
  CHECK(counter.calls() == 0);
  CHECK(f.alloc_index() == 0);
}

// Zig's test: resize_fail_index 1 lets one remap through; the next remap and resize fail.
TEST_CASE("failing_resource: resize_fail_index covers resize and remap, sticky") {
  failing_resource f(pmrheap::c_resource::instance(), failing_resource::never, 1);
  auto* p = static_cast<unsigned char*>(f.allocate(8, 1));
  p[0] = 0x5a;
  CHECK(f.remap(p, 8, 6, 1) == p);
  CHECK(f.resize_index() == 1);
  CHECK_FALSE(f.has_induced_resize_failure());
  CHECK(f.remap(p, 6, 4, 1) == nullptr);
  CHECK_FALSE(f.resize(p, 6, 4, 1));
  CHECK(f.has_induced_resize_failure());
  CHECK_FALSE(f.induced_resize_failure_trace().empty());
  CHECK_FALSE(f.has_induced_failure());  // allocation failures are counted separately
  CHECK(f.resize_index() == 1);
  // reallocate still succeeds through allocate + copy + free.
  p = static_cast<unsigned char*>(pmrheap::reallocate(f, p, 6, 4, 1));
  CHECK(p[0] == 0x5a);
  CHECK(f.allocations() == 2);
  f.deallocate(p, 4, 1);
  CHECK(f.allocated_bytes() == f.freed_bytes());
}

TEST_CASE("failing_resource: resizes and remaps count growth as allocated and shrinkage as freed") {
  pmrheap::test::counting_resource counter(pmrheap::c_resource::instance());
  failing_resource f(&counter);
  void* p = f.allocate(100);
  CHECK(f.resize(p, 100, 40));  // c_resource shrinks in place
  CHECK(f.freed_bytes() == 60);
  void* q = f.remap(p, 40, 1 << 20);  // realloc
  REQUIRE(q != nullptr);
  CHECK(f.allocated_bytes() == 100 + (1 << 20) - 40);
  CHECK(f.resize_index() == 2);
  f.deallocate(q, 1 << 20);
  CHECK(f.allocated_bytes() == f.freed_bytes());
  CHECK(f.allocations() == 1);
  CHECK(f.deallocations() == 1);
  CHECK(counter.resizes == 2);
  CHECK(counter.live() == 0);
}

TEST_CASE("failing_resource: a refused upstream resize is not counted and not induced") {
  failing_resource f(std::pmr::new_delete_resource());  // a std resource cannot resize
  void* p = f.allocate(32);
  CHECK_FALSE(f.resize(p, 32, 64));
  CHECK(f.remap(p, 32, 64) == nullptr);
  CHECK(f.resize_index() == 0);
  CHECK_FALSE(f.has_induced_resize_failure());
  CHECK(f.allocated_bytes() == 32);
  f.deallocate(p, 32);
}

TEST_CASE("failing_resource: drives a std::pmr container into its error path") {
  failing_resource f(pmrheap::c_resource::instance(), 3);
  std::pmr::vector<int> v(&f);
  bool threw = false;
  try {
    for (int i = 0; i < 1000; ++i) v.push_back(i);
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  CHECK(threw);
  CHECK(v.size() == 4);  // capacities 1, 2, 4 were allocated; growing to 8 failed
  for (int i = 0; i < 4; ++i) CHECK(v[static_cast<std::size_t>(i)] == i);
}

TEST_CASE("failing_resource: blocks_in_use counts blocks allocated and not yet freed") {
  pmrheap::failing_resource f(pmrheap::c_resource::instance(), 2);
  CHECK(f.blocks_in_use() == 0);
  void* a = f.allocate(16, 8);
  void* b = f.allocate(32, 8);
  CHECK(f.blocks_in_use() == 2);
  CHECK_THROWS_AS(static_cast<void>(f.allocate(8, 8)), pmrheap::out_of_memory);  // induced: not counted
  CHECK(f.blocks_in_use() == 2);
  void* empty = f.allocate(0, 8);  // the empty block owns no memory
  CHECK(f.blocks_in_use() == 2);
  f.deallocate(empty, 0, 8);
  f.deallocate(a, 16, 8);
  CHECK(f.blocks_in_use() == 1);
  f.deallocate(b, 32, 8);
  CHECK(f.blocks_in_use() == 0);
}
