// SPDX-License-Identifier: MIT
// Tests include/pmrheap/boost/resizable_allocator.hpp (docs/growth.md): Boost.Container's version-2
// protocol over pmrheap resources. In-place growth is proven twice: by Boost's own vector counters
// (BOOST_CONTAINER_VECTOR_ALLOC_STATS: num_alloc, num_expand_fwd, num_shrink) and by addresses.
#define BOOST_CONTAINER_VECTOR_ALLOC_STATS
#include "pmrheap/boost/resizable_allocator.hpp"

#include <doctest/doctest.h>

#include <boost/container/list.hpp>
#include <boost/container/string.hpp>
#include <boost/container/vector.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <memory_resource>
#include <new>
#include <stdexcept>

#include "pmrheap/arena_resource.hpp"
#include "pmrheap/c_resource.hpp"
#include "pmrheap/detail/sanitizer.hpp"
#include "pmrheap/fixed_buffer_resource.hpp"
#include "pmrheap/page_resource.hpp"
#include "pmrheap/platform/pages.hpp"
#include "pmrheap/testing.hpp"
#include "pmrheap/virtual_arena_resource.hpp"
#include "support/counting_resource.hpp"

#if defined(__GLIBC__)
#  include <malloc.h>
#endif

namespace bc = boost::container;
using pmrheap::resizable_allocator;
using pmrheap::virtual_arena_resource;
using pmrheap::detail::align_up;
using pmrheap::platform::page_size;

namespace {

using int_allocator = resizable_allocator<int>;
using int_vector = bc::vector<int, int_allocator>;

// A vector with Boost's counters zeroed (they start uninitialised).
int_vector make_vector(std::pmr::memory_resource* r) {
  int_vector v{int_allocator(r)};
  v.reset_alloc_stats();
  return v;
}

// Pushes `n` more ints (the next values of the sequence) and counts how often the buffer moved.
int push_counting_moves(int_vector& v, std::size_t n) {
  int moves = 0;
  const int* data = v.data();
  for (std::size_t i = 0; i < n; ++i) {
    v.push_back(static_cast<int>(v.size()));
    if (v.data() != data) {
      moves += data != nullptr;
      data = v.data();
    }
  }
  return moves;
}

bool holds_sequence(const int_vector& v) {
  for (std::size_t i = 0; i < v.size(); ++i)
    if (v[i] != static_cast<int>(i)) return false;
  return true;
}

}  // namespace

TEST_CASE("resizable_allocator: a Boost version-2 allocator over a std::pmr resource") {
  static_assert(bc::dtl::version<int_allocator>::value == 2, "Boost must see the version-2 protocol");
  static_assert(std::is_same_v<std::allocator_traits<int_allocator>::rebind_alloc<double>, resizable_allocator<double>>,
                "rebinding keeps the allocator family");
  CHECK(int_allocator().resource() == std::pmr::get_default_resource());
  // A null resource is std::pmr::null_memory_resource(), as for every pmrheap upstream: nothing
  // can be allocated, nothing crashes.
  const int_allocator none(static_cast<std::pmr::memory_resource*>(nullptr));
  CHECK(none.resource() == std::pmr::null_memory_resource());
  int_allocator none_copy(none);
  CHECK_THROWS_AS(static_cast<void>(none_copy.allocate(1)), std::bad_alloc);
  int_vector empty{none};
  CHECK_THROWS_AS(empty.push_back(1), std::bad_alloc);
  CHECK(empty.empty());
  CHECK(int_allocator().max_size() == PTRDIFF_MAX / sizeof(int));
}

TEST_CASE("resizable_allocator: equal exactly when the resources are (is_equal)") {
  pmrheap::c_resource c1;
  pmrheap::c_resource c2;
  virtual_arena_resource a1(std::size_t{1} << 30);
  virtual_arena_resource a2(std::size_t{1} << 30);
  CHECK(int_allocator(&c1) == int_allocator(&c2));  // stateless resources are all equal
  CHECK(int_allocator(&a1) == int_allocator(&a1));
  CHECK(int_allocator(&a1) != int_allocator(&a2));
  CHECK(int_allocator(&a1) == resizable_allocator<double>(&a1));
  const int_allocator original(&a1);
  const int_allocator copy(original);
  CHECK(copy == original);
  const resizable_allocator<char> rebound(original);
  CHECK(rebound.resource() == &a1);
}

// The case the whole issue is about: a vector that never moves and holds no more than its payload.
TEST_CASE("virtual_arena_resource: a million-int Boost vector never moves and holds its payload in pages") {
  virtual_arena_resource arena;
  int_vector v = make_vector(&arena);
  const std::size_t n = 1000000;
  CHECK(push_counting_moves(v, n) == 0);
  CHECK(v.num_alloc == 1);
  CHECK(v.num_expand_fwd > 0);
  CHECK(v.num_expand_bwd == 0);
  MESSAGE("in-place expansions: " << v.num_expand_fwd << ", capacity " << v.capacity());
  const std::size_t payload = n * sizeof(int);
  CHECK(v.capacity() * sizeof(int) <= align_up(payload, page_size()));
  CHECK(arena.used() == v.capacity() * sizeof(int));  // the vector is the arena's only block
  // Commits double (docs/resources/virtual_arena_resource.md): what runs ahead of the vector's
  // pages stays under max(commit_step(), min(used, max_commit_step)).
  const std::size_t used_pages = align_up(payload, page_size());
  CHECK(arena.committed() <=
        used_pages + std::max(arena.commit_step(), std::min(used_pages, virtual_arena_resource::max_commit_step)));
  CHECK(holds_sequence(v));
}

TEST_CASE("page_resource: a Boost vector grows in place within its pages, then moves") {
  pmrheap::test::counting_resource counting(pmrheap::page_resource::instance());
  int_vector v = make_vector(&counting);
  v.reserve(100);
  const int* const first = v.data();
  CHECK(pmrheap::detail::is_aligned(first, page_size()));
  const std::size_t per_page = page_size() / sizeof(int);
  CHECK(push_counting_moves(v, per_page) == 0);
  CHECK(v.data() == first);
  CHECK(v.capacity() == per_page);  // grew to exactly the end of the page
  CHECK(v.num_alloc == 1);
  CHECK(v.num_expand_fwd >= 1);
  CHECK(counting.allocations == 1);
  CHECK(counting.resizes == v.num_expand_fwd);

  // Growth across pages is refused in place (mremap could move the block, but the protocol has no
  // answer for "moved for you": the vector must move its elements itself).
  CHECK(push_counting_moves(v, 1) == 1);
  CHECK(v.num_alloc == 2);
  CHECK(counting.failed_resizes >= 1);
  CHECK(counting.allocations == 2);
  CHECK(counting.deallocations == 1);
  CHECK(holds_sequence(v));
}

#if defined(__GLIBC__)
TEST_CASE("c_resource: a Boost vector grows in place within malloc_usable_size") {
  pmrheap::c_resource c;
  int_vector v = make_vector(&c);
  v.reserve(1000);  // 4000 bytes: glibc's chunk leaves 8 usable bytes spare
  const int* const first = v.data();
  const std::size_t usable = ::malloc_usable_size(const_cast<int*>(first)) / sizeof(int);
  // ASan's and valgrind's malloc report exactly the size asked for: nothing to grow into there.
  REQUIRE(usable >= 1000);
  if (!PMRHEAP_HAS_ASAN && !pmrheap::detail::running_on_valgrind()) REQUIRE(usable > 1000);
  CHECK(push_counting_moves(v, usable) == 0);
  CHECK(v.data() == first);
  CHECK(v.capacity() == usable);
  CHECK(v.num_alloc == 1);
  CHECK((v.num_expand_fwd >= 1) == (usable > 1000));
  CHECK(push_counting_moves(v, 1) == 1);  // past the usable size: a new block
  CHECK(v.num_alloc == 2);
  CHECK(holds_sequence(v));
}
#endif

// The arena grows the newest block of its bump node by moving its cursor, so the vector's buffer
// grows in place while nothing is allocated after it. Once a block sits after it, the next growth
// takes a new buffer (after that block), which then grows in place in its turn. The upstream is a
// counting wrapper over new_delete_resource, which never grows a node: only the cursor moves.
TEST_CASE("arena_resource: a Boost vector grows in place while its buffer is the newest block of the node") {
  pmrheap::test::counting_resource upstream(std::pmr::new_delete_resource());
  pmrheap::arena_resource arena(std::size_t{1} << 20, &upstream);
  int_vector v = make_vector(&arena);
  CHECK(push_counting_moves(v, 10000) == 0);
  const int* const first = v.data();
  CHECK(v.num_alloc == 1);
  CHECK(v.num_expand_fwd > 0);
  CHECK(v.num_expand_bwd == 0);
  CHECK(upstream.calls() == 1);  // the initial node, nothing else

  // The next block starts where the buffer ends: the buffer was the newest block.
  auto* const blocker = static_cast<int*>(arena.allocate(4 * sizeof(int), alignof(int)));
  CHECK(blocker == v.data() + v.capacity());
  std::fill(blocker, blocker + 4, -7);

  const auto expansions = v.num_expand_fwd;
  CHECK(push_counting_moves(v, v.capacity() - v.size() + 1) == 1);  // one past the capacity
  CHECK(v.num_alloc == 2);
  CHECK(v.num_expand_fwd == expansions);  // the expansion was refused, not reported as done
  CHECK(v.data() != first);
  CHECK(v.data() == blocker + 4);  // the new buffer is the newest block now
  CHECK(std::count(blocker, blocker + 4, -7) == 4);
  CHECK(holds_sequence(v));

  // ... and grows in place again.
  const int* const second = v.data();
  CHECK(push_counting_moves(v, 20000) == 0);
  CHECK(v.data() == second);
  CHECK(v.num_alloc == 2);
  CHECK(v.num_expand_fwd > expansions);
  CHECK(static_cast<int*>(arena.allocate(sizeof(int), alignof(int))) == v.data() + v.capacity());
  CHECK(upstream.calls() == 1);
  CHECK(holds_sequence(v));
}

// Over page_resource a node is a mapping of whole pages: when the buffer reaches the end of the
// node, the arena grows the node in place upstream (page_resource's resize, within the node's
// page), and the vector keeps its address. Past the page the node cannot grow and the vector moves.
TEST_CASE("arena_resource over page_resource: the node grows in place upstream under a Boost vector") {
  pmrheap::test::counting_resource upstream(pmrheap::page_resource::instance());
  pmrheap::arena_resource arena(&upstream);
  int_vector v = make_vector(&arena);
  v.push_back(0);
  const int* const first = v.data();
  const auto* const node = reinterpret_cast<const std::byte*>(first) - pmrheap::arena_resource::node_overhead;
  REQUIRE(pmrheap::detail::is_aligned(node, page_size()));  // the first block of a fresh node
  const std::size_t in_page = (page_size() - pmrheap::arena_resource::node_overhead) / sizeof(int);

  CHECK(push_counting_moves(v, in_page - 1) == 0);
  CHECK(v.data() == first);
  CHECK(v.capacity() == in_page);  // to the end of the node's page
  CHECK(v.num_alloc == 1);
  CHECK(v.num_expand_fwd > 0);
  CHECK(upstream.allocations == 1);                       // one node, ...
  CHECK(upstream.resizes >= 1);                           // ... grown in place upstream, to the whole page
  if (page_size() == 4096) CHECK(upstream.resizes == 2);  // 1024 -> 2560 -> 4096 bytes
  CHECK(arena.capacity() == in_page * sizeof(int));

  CHECK(push_counting_moves(v, 1) == 1);
  CHECK(upstream.failed_resizes >= 1);  // the node could not grow past its page
  CHECK(upstream.allocations == 2);     // the new buffer's node
  CHECK(v.num_alloc == 2);
  CHECK(holds_sequence(v));
}

// A fixed buffer grows its last block in place: the vector's buffer grows until something is
// allocated after it, moves once (after that block), grows in place again up to the end of the
// buffer, and then push_back throws with the vector unchanged (nothing can hold a larger buffer).
TEST_CASE("fixed_buffer_resource: a Boost vector grows in place while its buffer is the last block") {
  constexpr std::size_t size = std::size_t{1} << 20;
  const auto storage = std::make_unique<std::byte[]>(size);
  pmrheap::fixed_buffer_resource buffer(storage.get(), size);
  int_vector v = make_vector(&buffer);
  CHECK(push_counting_moves(v, 10000) == 0);
  CHECK(static_cast<const void*>(v.data()) == storage.get());
  CHECK(v.num_alloc == 1);
  CHECK(v.num_expand_fwd > 0);
  CHECK(buffer.is_last_allocation(v.data(), v.capacity() * sizeof(int)));
  CHECK(buffer.used() == v.capacity() * sizeof(int));  // every growth was taken in place

  auto* const blocker = static_cast<int*>(buffer.allocate(4 * sizeof(int), alignof(int)));
  CHECK(blocker == v.data() + v.capacity());
  CHECK_FALSE(buffer.is_last_allocation(v.data(), v.capacity() * sizeof(int)));
  std::fill(blocker, blocker + 4, -7);

  const auto expansions = v.num_expand_fwd;
  CHECK(push_counting_moves(v, v.capacity() - v.size() + 1) == 1);
  CHECK(v.num_alloc == 2);
  CHECK(v.num_expand_fwd == expansions);
  CHECK(v.data() == blocker + 4);
  CHECK(buffer.is_last_allocation(v.data(), v.capacity() * sizeof(int)));
  CHECK(holds_sequence(v));

  const int* const second = v.data();
  bool moved = false;
  const auto fill_up = [&] {
    for (;;) {
      v.push_back(static_cast<int>(v.size()));
      moved = moved || v.data() != second;
    }
  };
  CHECK_THROWS_AS(fill_up(), std::bad_alloc);
  CHECK_FALSE(moved);
  CHECK(v.num_alloc == 2);
  CHECK(v.num_expand_fwd > expansions);
  CHECK(buffer.used() == buffer.capacity());  // the vector ends where the buffer does
  CHECK(v.size() == v.capacity());
  CHECK(std::count(blocker, blocker + 4, -7) == 4);
  CHECK(holds_sequence(v));
}

// validating_resource checks every resize and deallocate against the block's real size: the
// allocator must never report (or free) a size the resource does not hold.
TEST_CASE("resizable_allocator: every size it reports is the size the resource holds") {
  virtual_arena_resource virtual_arena;
  pmrheap::arena_resource arena(pmrheap::page_resource::instance());
  constexpr std::size_t size = std::size_t{4} << 20;
  const auto storage = std::make_unique<std::byte[]>(size);
  pmrheap::fixed_buffer_resource buffer(storage.get(), size);
  for (std::pmr::memory_resource* upstream :
       {static_cast<std::pmr::memory_resource*>(&virtual_arena), static_cast<std::pmr::memory_resource*>(&arena),
        static_cast<std::pmr::memory_resource*>(&buffer),
        static_cast<std::pmr::memory_resource*>(pmrheap::page_resource::instance()),
        static_cast<std::pmr::memory_resource*>(pmrheap::c_resource::instance())}) {
    pmrheap::testing::validating_resource checked(upstream);
    {
      int_vector v = make_vector(&checked);
      push_counting_moves(v, 200000);
      v.resize(1000);
      v.shrink_to_fit();
      push_counting_moves(v, 5000);
      int_vector w = make_vector(v.get_allocator().resource());
      w = v;
      w.swap(v);
      CHECK(holds_sequence(v));
      bc::basic_string<char, std::char_traits<char>, resizable_allocator<char>> s{resizable_allocator<char>(&checked)};
      for (int i = 0; i < 20000; ++i) s.push_back('x');
      s.resize(5000);
      s.shrink_to_fit();
    }
    CHECK_NOTHROW(checked.check());
    CHECK(checked.blocks_in_use() == 0);
  }
}

TEST_CASE("resizable_allocator: a resource that cannot resize gets new blocks, never a wrong expansion") {
  int_vector v = make_vector(std::pmr::new_delete_resource());
  CHECK(push_counting_moves(v, 10000) > 1);
  CHECK(v.num_expand_fwd == 0);
  CHECK(v.num_alloc > 1);
  CHECK(holds_sequence(v));
}

TEST_CASE("resizable_allocator: a resource that refuses: throws without nothrow_allocation, null with it") {
  int_vector v = make_vector(std::pmr::null_memory_resource());
  CHECK_THROWS_AS(v.push_back(1), std::bad_alloc);
  CHECK(v.empty());
  CHECK(v.capacity() == 0);

  int_allocator a(std::pmr::null_memory_resource());
  std::size_t size = 10;
  int* reuse = nullptr;
  CHECK(a.allocation_command(bc::allocate_new | bc::nothrow_allocation, 10, size, reuse) == nullptr);
  CHECK(reuse == nullptr);
  size = 10;
  CHECK_THROWS_AS(static_cast<void>(a.allocation_command(bc::allocate_new, 10, size, reuse)), std::bad_alloc);
}

TEST_CASE("resizable_allocator: allocation_command, command by command") {
  virtual_arena_resource arena;
  int_allocator a(&arena);

  SUBCASE("allocate_new takes the preferred size, else the limit") {
    virtual_arena_resource small(4 * page_size());
    int_allocator s(&small);
    std::size_t size = 100 * page_size();  // more than the reservation
    int* reuse = nullptr;
    int* p = s.allocation_command(bc::allocate_new, 10, size, reuse);
    REQUIRE(p != nullptr);
    CHECK(size == 10);
    CHECK(small.used() == 10 * sizeof(int));
    s.deallocate(p, size);
    size = 20;
    p = s.allocation_command(bc::allocate_new, 10, size, reuse);
    CHECK(size == 20);
    s.deallocate(p, size);
  }
  SUBCASE("expand_fwd grows the remembered block to the end of its page, capped at preferred") {
    std::size_t size = 10;
    int* reuse = nullptr;
    int* p = a.allocation_command(bc::allocate_new, 10, size, reuse);
    REQUIRE(p != nullptr);
    int* same = p;
    size = 1000000;
    CHECK(a.allocation_command(bc::expand_fwd, 11, size, same) == p);
    CHECK(same == p);  // reuse kept: expanded forward
    CHECK(size == page_size() / sizeof(int));
    CHECK(arena.used() == size * sizeof(int));
    std::size_t capped = 1;  // preferred below the limit: exactly the limit, even mid-page
    CHECK(a.allocation_command(bc::expand_fwd, size + 1, capped, same) == p);
    CHECK(capped == size + 1);
    a.deallocate(p, capped);
    CHECK(arena.used() == 0);  // the size the resource holds and the size reported agree
  }
  SUBCASE("expand_fwd of a block this allocator does not remember fails, the block untouched") {
    int_allocator other(&arena);
    int* foreign = other.allocate(10);
    foreign[9] = 9;
    std::size_t size = 20;
    int* reuse = foreign;
    CHECK(a.allocation_command(bc::expand_fwd | bc::nothrow_allocation, 20, size, reuse) == nullptr);
    CHECK(reuse == nullptr);
    reuse = foreign;
    size = 20;
    CHECK_THROWS_AS(static_cast<void>(a.allocation_command(bc::expand_fwd, 20, size, reuse)), pmrheap::out_of_memory);
    CHECK(foreign[9] == 9);
    CHECK(arena.used() == 10 * sizeof(int));
    // With allocate_new as well, the foreign block is replaced instead.
    reuse = foreign;
    size = 20;
    int* fresh = a.allocation_command(bc::expand_fwd | bc::allocate_new, 20, size, reuse);
    CHECK(fresh != foreign);
    CHECK(reuse == nullptr);
    a.deallocate(fresh, size);
    other.deallocate(foreign, 10);
  }
  SUBCASE("shrink_in_place shrinks to preferred; growing by shrink fails") {
    int* p = a.allocate(100);
    std::size_t size = 40;
    int* reuse = p;
    CHECK(a.allocation_command(bc::shrink_in_place, 100, size, reuse) == p);
    CHECK(size == 40);
    CHECK(arena.used() == 40 * sizeof(int));
    size = 50;
    CHECK(a.allocation_command(bc::shrink_in_place | bc::nothrow_allocation, 40, size, reuse) == nullptr);
    a.deallocate(p, 40);
  }
  SUBCASE("expand_bwd and try_shrink_in_place are not supported") {
    int* p = a.allocate(100);
    std::size_t size = 200;
    int* reuse = p;
    CHECK(a.allocation_command(bc::expand_bwd | bc::nothrow_allocation, 150, size, reuse) == nullptr);
    size = 10;
    reuse = p;
    CHECK(a.allocation_command(bc::try_shrink_in_place | bc::nothrow_allocation, 100, size, reuse) == nullptr);
    CHECK(arena.used() == 100 * sizeof(int));
    a.deallocate(p, 100);
  }
  SUBCASE("zero_memory zeroes new blocks and expanded tails") {
    int* dirty = a.allocate(2000);
    std::memset(static_cast<void*>(dirty), 0xff, 2000 * sizeof(int));
    a.deallocate(dirty, 2000);  // rolled back: the next block reuses these bytes
    std::size_t size = 100;
    int* reuse = nullptr;
    int* p = a.allocation_command(bc::allocate_new | bc::zero_memory, 100, size, reuse);
    REQUIRE(p == dirty);
    for (std::size_t i = 0; i < size; ++i) REQUIRE(p[i] == 0);
    p[99] = 7;
    reuse = p;
    size = 2000;
    CHECK(a.allocation_command(bc::expand_fwd | bc::zero_memory, 2000, size, reuse) == p);
    CHECK(p[99] == 7);
    for (std::size_t i = 100; i < size; ++i) REQUIRE(p[i] == 0);
    a.deallocate(p, size);
  }
  SUBCASE("sizes beyond max_size fail cleanly") {
    std::size_t size = a.max_size() + 1;
    int* reuse = nullptr;
    CHECK(a.allocation_command(bc::allocate_new | bc::nothrow_allocation, a.max_size() + 1, size, reuse) == nullptr);
    CHECK_THROWS_AS(static_cast<void>(a.allocate(a.max_size() + 1)), pmrheap::out_of_memory);
    CHECK(arena.used() == 0);
  }
}

TEST_CASE("resizable_allocator: shrink_to_fit shrinks in place where the resource can, else keeps the buffer") {
  virtual_arena_resource arena;
  int_vector v = make_vector(&arena);
  push_counting_moves(v, 5000);
  v.resize(1000);
  const int* const data = v.data();
  v.shrink_to_fit();
  CHECK(v.num_shrink == 1);
  CHECK(v.capacity() == 1000);
  CHECK(v.data() == data);
  CHECK(arena.used() == 1000 * sizeof(int));
  CHECK(holds_sequence(v));

  int_vector w = make_vector(std::pmr::new_delete_resource());
  push_counting_moves(w, 5000);
  w.resize(1000);
  const std::size_t capacity = w.capacity();
  w.shrink_to_fit();  // shrink_in_place | nothrow_allocation fails quietly
  CHECK(w.num_shrink == 0);
  CHECK(w.capacity() == capacity);
  CHECK(holds_sequence(w));
}

// What vector::stable_reserve and stable_emplace_back send (Boost 1.74 cannot compile those two
// with BOOST_CONTAINER_VECTOR_ALLOC_STATS, so the command is sent directly).
TEST_CASE("resizable_allocator: expand_fwd alone throws when the block cannot grow, as Boost's allocator does") {
  int_allocator a(std::pmr::new_delete_resource());
  int* p = a.allocate(10);
  std::size_t size = 100;
  int* reuse = p;
  CHECK_THROWS_AS(static_cast<void>(a.allocation_command(bc::expand_fwd, 100, size, reuse)), std::bad_alloc);
  reuse = p;
  CHECK(a.allocation_command(bc::expand_fwd | bc::nothrow_allocation, 100, size, reuse) == nullptr);
  a.deallocate(p, 10);

  virtual_arena_resource arena;
  int_allocator b(&arena);
  int* q = b.allocate(10);
  reuse = q;
  size = 100000;
  CHECK(b.allocation_command(bc::expand_fwd, 100000, size, reuse) == q);
  CHECK(size == 100000);
  b.deallocate(q, size);
}

TEST_CASE("resizable_allocator: the remembered block travels with move and swap, never with a copy") {
  virtual_arena_resource arena1;
  virtual_arena_resource arena2;
  int_vector a = make_vector(&arena1);
  int_vector b = make_vector(&arena2);
  push_counting_moves(a, 1000);
  push_counting_moves(b, 2000);

  a.swap(b);  // propagate_on_container_swap: each buffer keeps the allocator that knows it
  CHECK(a.get_allocator().resource() == &arena2);
  CHECK(b.get_allocator().resource() == &arena1);
  a.reset_alloc_stats();
  b.reset_alloc_stats();
  CHECK(push_counting_moves(a, 10000) == 0);
  CHECK(push_counting_moves(b, 10000) == 0);
  CHECK(a.num_alloc + b.num_alloc == 0);
  CHECK(holds_sequence(a));
  CHECK(holds_sequence(b));

  int_vector c = make_vector(&arena1);
  c = std::move(a);  // propagate_on_container_move_assignment
  CHECK(c.get_allocator().resource() == &arena2);
  c.reset_alloc_stats();
  CHECK(push_counting_moves(c, 1000) == 0);

  // A copied allocator remembers no block; the block d then allocates for itself grows in place.
  // (Boost's allocating constructors bump the stats counters before anything sets them, so the
  // copy is made by assignment.)
  int_vector d{c.get_allocator()};
  d.reset_alloc_stats();
  d = c;  // propagate_on_container_copy_assignment is false: d keeps its (copied) allocator
  CHECK(d.num_alloc == 1);
  d.reset_alloc_stats();
  CHECK(d.get_allocator().resource() == &arena2);
  CHECK(push_counting_moves(d, 100000) == 0);
  CHECK(d.num_alloc == 0);
  CHECK(holds_sequence(c));
  CHECK(holds_sequence(d));
}

TEST_CASE("resizable_allocator: boost::container::string grows in place on a virtual arena") {
  using string = bc::basic_string<char, std::char_traits<char>, resizable_allocator<char>>;
  virtual_arena_resource arena;
  string s{resizable_allocator<char>(&arena)};
  int buffers = 0;
  const char* data = s.data();
  for (int i = 0; i < 100000; ++i) {
    s.push_back(static_cast<char>('a' + i % 26));
    if (s.data() != data) {
      ++buffers;
      data = s.data();
    }
  }
  CHECK(buffers == 1);  // the first long buffer, after the short (inline) one: never again
  CHECK(s.size() == 100000);
  CHECK(s[99999] == static_cast<char>('a' + 99999 % 26));
  s.resize(50000);
  s.shrink_to_fit();  // in place: the arena takes the tail back
  CHECK(s.capacity() == 50000);
  CHECK(arena.used() == 50001);  // the string's only block, with its terminating NUL
}

TEST_CASE("resizable_allocator: node containers use the version-2 node interface") {
  pmrheap::test::counting_resource counting(std::pmr::new_delete_resource());
  {
    bc::list<int, resizable_allocator<int>> list{resizable_allocator<int>(&counting)};
    for (int i = 0; i < 1000; ++i) list.push_back(i);
    list.insert(list.begin(), 5, -1);  // a multi-node insert: allocate_individual
    CHECK(list.size() == 1005);
    CHECK(list.front() == -1);
    CHECK(list.back() == 999);
  }
  CHECK(counting.allocations >= 1005);
  CHECK(counting.live() == 0);
}

TEST_CASE("resizable_allocator: allocate_individual gives everything back when one allocation fails") {
  alignas(std::max_align_t) std::array<std::byte, 1024> buffer{};
  std::pmr::monotonic_buffer_resource bounded(buffer.data(), buffer.size(), std::pmr::null_memory_resource());
  pmrheap::test::counting_resource counting(&bounded);
  resizable_allocator<std::array<char, 64>> a(&counting);
  resizable_allocator<std::array<char, 64>>::multiallocation_chain chain;
  a.allocate_individual(4, chain);
  CHECK(chain.size() == 4);
  CHECK(counting.live() == 4);
  a.deallocate_individual(chain);
  CHECK(chain.empty());
  CHECK(counting.live() == 0);
  // 1024 bytes hold 16 blocks of 64; 4 are spent (monotonic never reuses), so 100 fail midway.
  CHECK_THROWS_AS(a.allocate_individual(100, chain), std::bad_alloc);
  CHECK(chain.empty());
  CHECK(counting.allocations >= 4 + 12);
  CHECK(counting.live() == 0);
}
