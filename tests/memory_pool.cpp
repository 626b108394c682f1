// SPDX-License-Identifier: MIT
// Tests include/pmrheap/memory_pool.hpp (docs/resources/memory_pool.md), with the tests of Zig's
// lib/std/heap/memory_pool.zig (0.15.0) ported first.
#include "pmrheap/memory_pool.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "pmrheap/c_resource.hpp"
#include "pmrheap/detail/sanitizer.hpp"
#include "pmrheap/testing.hpp"
#include "pmrheap/testing/failing_resource.hpp"
#include "support/counting_resource.hpp"

using pmrheap::memory_pool;
using pmrheap::memory_pool_options;
using pmrheap::detail::is_aligned;
using pmrheap::test::counting_resource;

namespace {

constexpr bool asan = PMRHEAP_HAS_ASAN != 0;

struct bytes64 {
  unsigned char bytes[64];
};
struct bytes100 {
  char bytes[100];
};

struct alignas(16) aligned16 {
  std::uint64_t value;
};

// Counts live instances; throws from the constructor when asked to.
struct tracked {
  static inline int live = 0;
  int value;
  explicit tracked(int v) : value(v) {
    if (v < 0) throw std::runtime_error("negative");
    ++live;
  }
  ~tracked() { --live; }
};

}  // namespace

// ---- Zig's tests ----------------------------------------------------------------------------------

TEST_CASE("memory_pool: basic: three distinct objects; a destroyed slot is the next one created") {
  memory_pool<std::uint32_t> pool(pmrheap::c_resource::instance());
  std::uint32_t* p1 = pool.create();
  std::uint32_t* p2 = pool.create();
  std::uint32_t* p3 = pool.create();
  CHECK(p1 != p2);
  CHECK(p1 != p3);
  CHECK(p2 != p3);
  pool.destroy(p2);
  std::uint32_t* p4 = pool.create();
  CHECK(p2 == p4);
}

TEST_CASE("memory_pool: initial capacity (success): capacity 4, three creates") {
  counting_resource upstream(pmrheap::c_resource::instance());
  memory_pool<std::uint32_t> pool(4, &upstream);
  const std::size_t calls = upstream.allocations;
  CHECK(pool.capacity() == 4);
  for (int i = 0; i < 3; ++i) CHECK(pool.create(static_cast<std::uint32_t>(i)) != nullptr);
  CHECK(upstream.allocations == calls);  // all three from the slots taken up front
}

TEST_CASE("memory_pool: initial capacity (failure): 5 slots over a resource that always fails") {
  pmrheap::failing_resource always_fails(pmrheap::c_resource::instance(), 0);
  CHECK_THROWS_AS((memory_pool<std::uint32_t>(5, &always_fails)), pmrheap::out_of_memory);
  CHECK_THROWS_AS((memory_pool<std::uint32_t>(5, std::pmr::null_memory_resource())), pmrheap::out_of_memory);
  CHECK(always_fails.allocations() == 0);
}

TEST_CASE("memory_pool: not growable: four creates out of capacity 4, the fifth fails") {
  memory_pool<std::uint32_t> pool(memory_pool_options{0, false}, pmrheap::c_resource::instance(), 4);
  CHECK_FALSE(pool.growable());
  for (int i = 0; i < 4; ++i) CHECK(pool.create() != nullptr);
  CHECK_THROWS_AS(static_cast<void>(pool.create()), pmrheap::out_of_memory);
  CHECK(pool.try_create() == nullptr);
  CHECK(pool.capacity() == 4);
}

TEST_CASE("memory_pool: a type with a 16-aligned member gets 16-aligned slots") {
  memory_pool<aligned16> pool(pmrheap::c_resource::instance());
  CHECK(pool.alignment() == 16);
  for (int i = 0; i < 10; ++i) {
    aligned16* p = pool.create(aligned16{42});
    CHECK(is_aligned(p, 16));
    CHECK(p->value == 42);
    if (i % 2 == 0) pool.destroy(p);
  }
}

TEST_CASE("memory_pool: a pool aligned to 16 for an 8-aligned type") {
  memory_pool<std::uint64_t> pool(memory_pool_options{16}, pmrheap::c_resource::instance());
  CHECK(pool.alignment() == 16);
  CHECK(pool.slot_size() == 16);
  for (int i = 0; i < 10; ++i) CHECK(is_aligned(pool.create(std::uint64_t{7}), 16));
}

// ---- pmrheap's own -----------------------------------------------------------------------------

TEST_CASE("memory_pool: slot size and alignment") {
  CHECK(memory_pool<char>().slot_size() == sizeof(void*));
  CHECK(memory_pool<char>().alignment() == alignof(void*));
  CHECK(memory_pool<bytes100>().slot_size() == pmrheap::detail::align_up(100, alignof(void*)));
  CHECK(memory_pool<std::uint64_t>(memory_pool_options{alignof(std::uint64_t)}).alignment() == alignof(void*));
  CHECK(memory_pool<std::uint64_t>(memory_pool_options{1}).alignment() == alignof(std::uint64_t));  // never below T's
  CHECK(memory_pool<char>(memory_pool_options{256}).slot_size() == 256);
  CHECK_THROWS_AS(memory_pool<char>(memory_pool_options{24}), std::invalid_argument);
  static_assert(!std::is_copy_constructible_v<memory_pool<int>> && !std::is_move_constructible_v<memory_pool<int>>);
}

TEST_CASE("memory_pool: create forwards its arguments; destroy runs the destructor") {
  memory_pool<std::string> pool(pmrheap::c_resource::instance());
  std::string* s = pool.create(20, 'x');
  CHECK(*s == std::string(20, 'x'));
  pool.destroy(s);
  pool.destroy(nullptr);
  tracked::live = 0;
  memory_pool<tracked> t(pmrheap::c_resource::instance());
  tracked* a = t.create(1);
  CHECK(tracked::live == 1);
  t.destroy(a);
  CHECK(tracked::live == 0);
}

TEST_CASE("memory_pool: a throwing constructor gives the slot back and the exception propagates") {
  memory_pool<tracked> pool(memory_pool_options{0, false}, pmrheap::c_resource::instance(), 1);
  CHECK_THROWS_AS(static_cast<void>(pool.create(-1)), std::runtime_error);
  CHECK_THROWS_AS(static_cast<void>(pool.try_create(-1)), std::runtime_error);
  tracked* a = pool.create(5);  // the one slot is still there
  CHECK(a->value == 5);
  CHECK(pool.try_create(6) == nullptr);
  pool.destroy(a);
}

TEST_CASE("memory_pool: add_capacity is all-or-nothing; slots come in address order") {
  counting_resource upstream(pmrheap::c_resource::instance());
  memory_pool<std::uint64_t> pool(&upstream);
  pool.add_capacity(3);
  CHECK(pool.capacity() == 3);
  std::uint64_t* a = pool.create();
  std::uint64_t* b = pool.create();
  CHECK(b == a + 1);
  CHECK_THROWS_AS(pool.add_capacity(pmrheap::detail::size_max / 4), pmrheap::out_of_memory);
  CHECK(pool.capacity() == 3);
  pool.add_capacity(0);
  CHECK(pool.capacity() == 3);
  pmrheap::failing_resource fail_second(pmrheap::c_resource::instance(), 1);
  memory_pool<std::uint64_t> p2(&fail_second);
  p2.add_capacity(10);
  CHECK_THROWS_AS(p2.add_capacity(1000), pmrheap::out_of_memory);
  CHECK(p2.capacity() == 10);
  for (int i = 0; i < 10; ++i) CHECK(p2.create() != nullptr);  // the ten are intact
}

TEST_CASE("memory_pool: a growable pool grows one slot at a time from its arena") {
  counting_resource upstream(pmrheap::c_resource::instance());
  memory_pool<std::uint64_t> pool(&upstream);
  std::set<std::uint64_t*> seen;
  for (int i = 0; i < 1000; ++i) {
    std::uint64_t* p = pool.create(static_cast<std::uint64_t>(i));
    CHECK(seen.insert(p).second);
  }
  CHECK(pool.capacity() == 1000);
  CHECK(upstream.allocations < 10);  // arena nodes, not slots
  for (std::uint64_t* p : seen) CHECK(*p < 1000);
}

TEST_CASE("memory_pool: reset modes invalidate every object without destructors") {
  counting_resource upstream(pmrheap::c_resource::instance());
  tracked::live = 0;
  memory_pool<tracked> pool(&upstream);
  for (int i = 0; i < 100; ++i) static_cast<void>(pool.create(i));
  CHECK(tracked::live == 100);
  CHECK(pool.reset());          // retain_capacity
  CHECK(tracked::live == 100);  // no destructor ran
  CHECK(pool.capacity() == 0);
  const std::size_t kept = pool.arena().capacity();
  CHECK(kept >= 100 * sizeof(tracked));
  const std::size_t calls = upstream.allocations;
  for (int i = 0; i < 100; ++i) static_cast<void>(pool.create(i));
  CHECK(upstream.allocations == calls);  // the kept memory served them
  CHECK(pool.reset(pmrheap::retain_with_limit{64}));
  CHECK(pool.arena().capacity() <= 64);
  CHECK(pool.reset(pmrheap::reset_mode::free_all));
  CHECK(upstream.live() == 0);
  pool.add_capacity(2);
  pool.release();
  CHECK(upstream.live() == 0);
  CHECK(pool.capacity() == 0);
  tracked::live = 0;
}

TEST_CASE("memory_pool: the destructor gives everything back") {
  counting_resource upstream(pmrheap::c_resource::instance());
  {
    memory_pool<std::uint64_t> pool(100, &upstream);
    for (int i = 0; i < 150; ++i) static_cast<void>(pool.create());
  }
  CHECK(upstream.live() == 0);
}

TEST_CASE("memory_pool: every allocation failure of create and add_capacity is clean") {
  pmrheap::testing::check_all_allocation_failures(*pmrheap::c_resource::instance(), [](std::pmr::memory_resource& mr) {
    memory_pool<std::uint64_t> pool(8, &mr);
    std::vector<std::uint64_t*> live;
    for (int i = 0; i < 3000; ++i) {
      live.push_back(pool.create(static_cast<std::uint64_t>(i)));
      if (i % 3 == 0) {
        pool.destroy(live.back());
        live.pop_back();
      }
    }
    pool.add_capacity(500);
  });
}

TEST_CASE("memory_pool: a free slot is poisoned except its link word under ASan") {
  if (!asan) return;
  memory_pool<bytes64> pool(pmrheap::c_resource::instance());
  auto* a = pool.create();
  std::memset(a->bytes, 1, 64);
  pool.destroy(a);
  const auto* bytes = reinterpret_cast<const unsigned char*>(a);
  CHECK_FALSE(pmrheap::detail::is_poisoned(bytes));
  CHECK(pmrheap::detail::is_poisoned(bytes + sizeof(void*)));
  CHECK(pmrheap::detail::is_poisoned(bytes + 63));
  auto* b = pool.create();
  CHECK(static_cast<void*>(b) == static_cast<void*>(a));
  CHECK_FALSE(pmrheap::detail::is_poisoned(bytes + 63));
  pool.add_capacity(2);
  CHECK(pmrheap::detail::is_poisoned(reinterpret_cast<const unsigned char*>(b) + 64 + sizeof(void*)));
}
