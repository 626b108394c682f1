// SPDX-License-Identifier: MIT
// Tests include/pmrheap/testing/default_resource_guard.hpp (docs/testing/default_resource_guard.md): the
// swap, the restore, nesting, and a debug_resource installed as the default catching a leak.
#include "pmrheap/testing/default_resource_guard.hpp"

#include <doctest/doctest.h>

#include <memory_resource>
#include <string>
#include <vector>

#include "pmrheap/c_resource.hpp"
#include "pmrheap/testing.hpp"
#include "pmrheap/testing/debug_resource.hpp"
#include "support/counting_resource.hpp"

using pmrheap::default_resource_guard;

TEST_CASE("default_resource_guard: conformance of the resource it installs, reached as the default") {
  pmrheap::test::counting_resource counter(pmrheap::c_resource::instance());
  default_resource_guard guard(&counter);
  pmrheap::testing::validating_resource v(std::pmr::get_default_resource());
  pmrheap::testing::check_conformance(v);
  CHECK(v.blocks_in_use() == 0);
  CHECK(counter.allocations > 0);
  CHECK(counter.live() == 0);
}

TEST_CASE("default_resource_guard: installs for its scope and restores the previous default") {
  std::pmr::memory_resource* const before = std::pmr::get_default_resource();
  pmrheap::test::counting_resource counter;
  {
    default_resource_guard guard(&counter);
    CHECK(std::pmr::get_default_resource() == &counter);
    CHECK(guard.previous() == before);
    std::pmr::vector<std::pmr::string> v;  // takes the default resource
    v.emplace_back("a string long enough to need the heap");
    CHECK(counter.allocations == 2);
  }
  CHECK(std::pmr::get_default_resource() == before);
  CHECK(counter.live() == 0);
}

TEST_CASE("default_resource_guard: guards nest") {
  std::pmr::memory_resource* const before = std::pmr::get_default_resource();
  pmrheap::test::counting_resource outer_resource;
  pmrheap::test::counting_resource inner_resource;
  {
    default_resource_guard outer(&outer_resource);
    {
      default_resource_guard inner(&inner_resource);
      CHECK(inner.previous() == &outer_resource);
      CHECK(std::pmr::get_default_resource() == &inner_resource);
    }
    CHECK(std::pmr::get_default_resource() == &outer_resource);
  }
  CHECK(std::pmr::get_default_resource() == before);
}

TEST_CASE("default_resource_guard: null installs new_delete_resource, as set_default_resource does") {
  pmrheap::test::counting_resource counter;
  default_resource_guard first(&counter);
  {
    default_resource_guard guard(nullptr);
    CHECK(std::pmr::get_default_resource() == std::pmr::new_delete_resource());
  }
  CHECK(std::pmr::get_default_resource() == &counter);
}

TEST_CASE("default_resource_guard: a debug_resource as the default catches a leak in code that never names it") {
  std::vector<pmrheap::debug_error> errors;
  pmrheap::debug_options options;
  options.on_error = [&errors](const pmrheap::debug_error& e) { errors.push_back(e); };
  pmrheap::debug_resource debug(pmrheap::c_resource::instance(), options);
  void* leaked = nullptr;
  {
    default_resource_guard guard(&debug);
    std::pmr::polymorphic_allocator<int> alloc;  // the default resource, whatever it is
    leaked = alloc.allocate(3);
  }
  CHECK(debug.report_leaks() == 1);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].kind == pmrheap::debug_error_kind::leak);
  CHECK(errors[0].message.find("the 12-byte block") != std::string::npos);
  debug.deallocate(leaked, 12, alignof(int));
}
