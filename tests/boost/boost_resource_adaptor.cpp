// SPDX-License-Identifier: MIT
// Tests include/pmrheap/boost/boost_resource_adaptor.hpp (docs/boost/boost_resource_adaptor.md).
// The adaptor is a Boost resource, not a std one, so the std conformance kit does not apply to it;
// the resources behind it pass it in their own tests.
#include "pmrheap/boost/boost_resource_adaptor.hpp"

#include <doctest/doctest.h>

#include <boost/container/pmr/flat_map.hpp>
#include <boost/container/pmr/global_resource.hpp>
#include <boost/container/pmr/string.hpp>
#include <boost/container/pmr/vector.hpp>

#include <limits>
#include <memory_resource>
#include <new>
#include <stdexcept>
#include <string>

#include "pmrheap/c_resource.hpp"
#include "pmrheap/detail/align.hpp"
#include "pmrheap/page_resource.hpp"
#include "pmrheap/virtual_arena_resource.hpp"
#include "support/counting_resource.hpp"
#include "support/opaque.hpp"

namespace bpmr = boost::container::pmr;
using pmrheap::boost_resource_adaptor;

TEST_CASE("boost_resource_adaptor: boost::container::pmr::vector on a pmrheap resource") {
  pmrheap::virtual_arena_resource arena;
  boost_resource_adaptor adaptor(&arena);
  CHECK(adaptor.upstream_resource() == &arena);
  bpmr::vector<int> v(&adaptor);
  for (int i = 0; i < 100000; ++i) v.push_back(i);
  CHECK(v[99999] == 99999);
  CHECK(arena.used() >= 100000 * sizeof(int));
  CHECK(v.get_allocator().resource() == &adaptor);
}

TEST_CASE("boost_resource_adaptor: flat_map of Boost pmr strings, every block returned") {
  pmrheap::test::counting_resource counting(pmrheap::page_resource::instance());
  boost_resource_adaptor adaptor(&counting);
  {
    bpmr::flat_map<int, bpmr::string> map(&adaptor);
    for (int i = 0; i < 1000; ++i) map.try_emplace(i, std::size_t{40}, static_cast<char>('a' + i % 26));
    CHECK(map.size() == 1000);
    CHECK(map.at(999) == std::string(40, static_cast<char>('a' + 999 % 26)).c_str());
    CHECK(map.at(500).get_allocator().resource() == &adaptor);  // uses-allocator construction reached the strings
  }
  CHECK(counting.allocations > 1000);
  CHECK(counting.live() == 0);
}

TEST_CASE("boost_resource_adaptor: equal when the upstreams are") {
  pmrheap::c_resource c1;
  pmrheap::c_resource c2;
  pmrheap::virtual_arena_resource a1(std::size_t{1} << 30);
  pmrheap::virtual_arena_resource a2(std::size_t{1} << 30);
  boost_resource_adaptor over_c1(&c1);
  boost_resource_adaptor over_c2(&c2);
  boost_resource_adaptor over_a1(&a1);
  boost_resource_adaptor also_over_a1(&a1);
  boost_resource_adaptor over_a2(&a2);
  CHECK(over_c1.is_equal(over_c2));
  CHECK(over_a1.is_equal(also_over_a1));
  CHECK_FALSE(over_a1.is_equal(over_a2));
  CHECK_FALSE(over_c1.is_equal(over_a1));
  CHECK_FALSE(over_c1.is_equal(*bpmr::new_delete_resource()));
  CHECK(over_a1 == over_a1);
  CHECK(over_a1 != over_a2);
}

TEST_CASE("boost_resource_adaptor: bad input is refused before it reaches the upstream") {
  pmrheap::test::counting_resource counting(std::pmr::new_delete_resource());
  boost_resource_adaptor adaptor(&counting);
  for (std::size_t alignment : {std::size_t{0}, std::size_t{3}, std::size_t{24}}) {
    CAPTURE(alignment);
    bool named = false;
    try {
      static_cast<void>(adaptor.allocate(16, pmrheap::test::opaque(alignment)));
    } catch (const std::invalid_argument& e) {
      named = std::string(e.what()).find(std::to_string(alignment)) != std::string::npos;
    }
    CHECK(named);
  }
  // new_delete_resource itself would wrap these and return a block (docs/design.md).
  CHECK_THROWS_AS(static_cast<void>(adaptor.allocate(pmrheap::detail::size_max, 8)), pmrheap::out_of_memory);
  CHECK_THROWS_AS(static_cast<void>(adaptor.allocate(pmrheap::detail::size_max - 15, 64)), pmrheap::out_of_memory);
  // Above PTRDIFF_MAX: no object can be that large; ASan's operator new would abort on it.
  constexpr auto ptrdiff_max = static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max());
  CHECK_THROWS_AS(static_cast<void>(adaptor.allocate(ptrdiff_max + 1, 8)), pmrheap::out_of_memory);
  CHECK_THROWS_AS(static_cast<void>(adaptor.allocate(pmrheap::detail::size_max - 4095, 8)), pmrheap::out_of_memory);
  CHECK(counting.calls() == 0);
}

TEST_CASE("boost_resource_adaptor: a null upstream refuses every request, as forwarding_resource's") {
  boost_resource_adaptor adaptor(static_cast<std::pmr::memory_resource*>(nullptr));
  CHECK(adaptor.upstream_resource() == std::pmr::null_memory_resource());
  CHECK_THROWS_AS(static_cast<void>(adaptor.allocate(16, 8)), std::bad_alloc);
}

TEST_CASE("boost_resource_adaptor: the upstream's own failure comes through; default upstream") {
  boost_resource_adaptor refusing(std::pmr::null_memory_resource());
  CHECK_THROWS_AS(static_cast<void>(refusing.allocate(16, 8)), std::bad_alloc);
  boost_resource_adaptor by_default;
  CHECK(by_default.upstream_resource() == std::pmr::get_default_resource());
  void* p = by_default.allocate(100, 32);
  CHECK(pmrheap::detail::is_aligned(p, 32));
  by_default.deallocate(p, 100, 32);
}
