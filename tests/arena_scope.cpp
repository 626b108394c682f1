// SPDX-License-Identifier: MIT
// Tests include/pmrheap/arena_scope.hpp: arena_mark, rewind() on both arenas, arena_scope
// (docs/resources/arena_scope.md).
#include "pmrheap/arena_scope.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <memory_resource>
#include <vector>

#include "pmrheap/arena_resource.hpp"
#include "pmrheap/detail/sanitizer.hpp"
#include "pmrheap/page_resource.hpp"
#include "pmrheap/virtual_arena_resource.hpp"
#include "support/counting_resource.hpp"

using pmrheap::arena_mark;
using pmrheap::arena_resource;
using pmrheap::arena_scope;
using pmrheap::virtual_arena_resource;
using pmrheap::detail::is_poisoned;
using pmrheap::test::counting_resource;

namespace {

constexpr bool asan = PMRHEAP_HAS_ASAN != 0;
#ifdef NDEBUG
constexpr bool debug = false;
#else
constexpr bool debug = true;
#endif

// Fills `bytes` at `p` with `seed`-derived bytes; checks them back.
void fill(void* p, std::size_t bytes, unsigned seed) {
  auto* b = static_cast<unsigned char*>(p);
  for (std::size_t i = 0; i < bytes; ++i) b[i] = static_cast<unsigned char>(seed + i * 7);
}
bool intact(const void* p, std::size_t bytes, unsigned seed) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < bytes; ++i)
    if (b[i] != static_cast<unsigned char>(seed + i * 7)) return false;
  return true;
}

// The rules every arena with mark()/rewind() keeps, on either arena type.
template <class Arena>
void rewinds_to_the_mark(Arena& arena) {
  void* before = arena.allocate(100, 8);
  fill(before, 100, 1);
  const arena_mark outer = arena.mark();
  void* a = arena.allocate(200, 16);
  fill(a, 200, 2);
  const arena_mark inner = arena.mark();
  void* b = arena.allocate(300, 16);
  fill(b, 300, 3);
  CHECK(arena.rewind(inner));
  // The cursor is back: the next block of the same shape lands where b was.
  void* b2 = arena.allocate(300, 16);
  CHECK(b2 == b);
  CHECK(intact(a, 200, 2));
  CHECK(arena.rewind(outer));
  void* a2 = arena.allocate(200, 16);
  CHECK(a2 == a);
  CHECK(intact(before, 100, 1));
  // A mark may be used again: rewinding twice to the same mark is fine.
  CHECK(arena.rewind(outer));
  CHECK(arena.rewind(outer));
  CHECK(arena.allocate(200, 16) == a);
}

template <class Arena>
void scopes_nest(Arena& arena) {
  // A block before the outer scope, so that its mark lies in a node the rewind keeps (a node taken
  // after it would go back upstream, and the next one may be elsewhere).
  void* kept = arena.allocate(16, 8);
  fill(kept, 16, 5);
  void* first = nullptr;
  {
    arena_scope outer(arena);  // CTAD: arena_scope<Arena>
    static_assert(std::is_same_v<decltype(outer), arena_scope<Arena>>);
    CHECK(&outer.arena() == &arena);
    first = arena.allocate(64, 8);
    {
      arena_scope inner(arena);
      for (int i = 0; i < 100; ++i) fill(arena.allocate(1000, 8), 1000, static_cast<unsigned>(i));
    }
    CHECK(arena.allocate(64, 8) == static_cast<char*>(first) + 64);  // the inner scope's blocks are gone
  }
  CHECK(arena.allocate(64, 8) == first);  // and the outer one's
  CHECK(intact(kept, 16, 5));
}

}  // namespace

TEST_CASE("arena_mark: a small value type") {
  static_assert(std::is_trivially_copyable_v<arena_mark>);
  static_assert(sizeof(arena_mark) <= 8 * sizeof(void*));
  static_assert(std::is_nothrow_default_constructible_v<arena_mark>);
}

TEST_CASE("arena_resource: rewind frees what came after the mark, nested marks") {
  arena_resource arena;
  rewinds_to_the_mark(arena);
}

TEST_CASE("virtual_arena_resource: rewind frees what came after the mark, nested marks") {
  virtual_arena_resource arena(std::size_t{64} << 20);
  rewinds_to_the_mark(arena);
}

TEST_CASE("arena_scope: nests and rewinds on both arena types") {
  SUBCASE("arena_resource") {
    arena_resource arena;
    scopes_nest(arena);
  }
  SUBCASE("virtual_arena_resource") {
    virtual_arena_resource arena(std::size_t{64} << 20);
    scopes_nest(arena);
  }
  SUBCASE("any type with mark() and rewind(m)") {
    struct counter {
      int at = 0;
      int mark() const noexcept { return at; }
      bool rewind(int m) noexcept {
        at = m;
        return true;
      }
    } c;
    c.at = 3;
    {
      arena_scope scope(c);
      c.at = 10;
    }
    CHECK(c.at == 3);
  }
}

TEST_CASE("arena_resource: nodes taken after the mark go back to the upstream, the series with them") {
  counting_resource upstream;
  arena_resource arena(&upstream);
  static_cast<void>(arena.allocate(100));
  const std::size_t capacity = arena.capacity();
  const std::size_t nodes = upstream.live();
  const arena_mark m = arena.mark();
  for (int i = 0; i < 50; ++i) static_cast<void>(arena.allocate(900));  // several new nodes
  static_cast<void>(arena.allocate(1 << 20));                           // and an oversized one
  CHECK(upstream.live() > nodes + 2);
  CHECK(arena.rewind(m));
  CHECK(upstream.live() == nodes);
  CHECK(arena.capacity() == capacity);
  // The series restarts where it was: the same loop takes the same node sizes again.
  const std::size_t peak = upstream.peak_bytes;
  for (int round = 0; round < 5; ++round) {
    arena_scope scope(arena);
    for (int i = 0; i < 50; ++i) static_cast<void>(arena.allocate(900));
    static_cast<void>(arena.allocate(1 << 20));
  }
  CHECK(upstream.peak_bytes == peak);
  CHECK(upstream.live() == nodes);
}

TEST_CASE("arena_resource: an oversized node slipped behind the bump node is given back too") {
  counting_resource upstream;
  arena_resource arena(std::size_t{1} << 16, &upstream);  // a node with room left
  const arena_mark m = arena.mark();
  void* small = arena.allocate(10);
  static_cast<void>(arena.allocate(std::size_t{1} << 20));      // less left than the bump node: goes behind it
  CHECK(arena.allocate(10) == static_cast<char*>(small) + 16);  // still bumping in the first node
  CHECK(upstream.live() == 2);
  CHECK(arena.rewind(m));
  CHECK(upstream.live() == 1);
  CHECK(arena.allocate(10) == small);
}

TEST_CASE("virtual_arena_resource: rewind keeps the committed pages") {
  virtual_arena_resource arena(std::size_t{64} << 20);
  const arena_mark m = arena.mark();
  static_cast<void>(arena.allocate(std::size_t{4} << 20, 1));
  const std::size_t committed = arena.committed();
  CHECK(arena.rewind(m));
  CHECK(arena.used() == 0);
  CHECK(arena.committed() == committed);
}

TEST_CASE("rewind: a block from before the mark freed after it does not move the cursor forward") {
  arena_resource arena;
  void* a = arena.allocate(64, 8);
  const arena_mark m = arena.mark();
  arena.deallocate(a, 64, 8);  // the newest block: the cursor goes below the mark
  CHECK(arena.rewind(m));
  CHECK(arena.allocate(64, 8) == a);  // reclaimed, not lost

  virtual_arena_resource varena(std::size_t{1} << 20);
  void* v = varena.allocate(64, 8);
  const arena_mark vm = varena.mark();
  varena.deallocate(v, 64, 8);
  CHECK(varena.rewind(vm));
  CHECK(varena.used() == 0);
}

TEST_CASE("rewind: the rewound memory is poisoned (ASan builds)") {
  arena_resource arena;
  virtual_arena_resource varena(std::size_t{1} << 20);
  const arena_mark m = arena.mark();
  const arena_mark vm = varena.mark();
  auto* p = static_cast<unsigned char*>(arena.allocate(256));
  auto* q = static_cast<unsigned char*>(varena.allocate(256));
  p[0] = 1;
  q[0] = 1;
  CHECK_FALSE(is_poisoned(p));
  CHECK_FALSE(is_poisoned(q));
  CHECK(arena.rewind(m));
  CHECK(varena.rewind(vm));
  CHECK(is_poisoned(p) == asan);
  CHECK(is_poisoned(p + 255) == asan);
  CHECK(is_poisoned(q) == asan);
  CHECK(is_poisoned(q + 255) == asan);
}

TEST_CASE("arena_resource: marks work in the caller's buffer and across it") {
  alignas(16) unsigned char buffer[256];
  counting_resource upstream;
  arena_resource arena(buffer, sizeof buffer, &upstream);
  void* in = arena.allocate(16);
  const arena_mark m = arena.mark();
  static_cast<void>(arena.allocate(200));
  static_cast<void>(arena.allocate(5000));  // past the buffer: nodes
  CHECK(upstream.live() >= 1);
  CHECK(arena.rewind(m));
  CHECK(upstream.live() == 0);
  CHECK(arena.allocate(16) == static_cast<unsigned char*>(in) + 16);

  // After a reset the buffer comes first and the kept node waits; a rewind past the point where
  // the kept node was taken puts it back to waiting instead of freeing it.
  static_cast<void>(arena.allocate(5000));
  CHECK(arena.reset());
  const std::size_t kept = upstream.live();
  CHECK(kept == 1);
  const arena_mark r = arena.mark();
  static_cast<void>(arena.allocate(200));
  static_cast<void>(arena.allocate(300));  // into the kept node
  CHECK(arena.rewind(r));
  CHECK(upstream.live() == kept);
  CHECK(arena.allocate(16) == buffer);
}

// Invalid marks: false and nothing touched with NDEBUG; debug builds abort instead, which
// tests/should_fail/arena_rewind_foreign_mark.cpp proves.
TEST_CASE("rewind: marks of another arena, from before a reset, or default-made are refused") {
  if (debug) return;
  arena_resource arena;
  arena_resource other;
  void* a = arena.allocate(64);
  fill(a, 64, 9);
  const arena_mark before_reset = other.mark();
  static_cast<void>(other.allocate(64));
  other.reset();
  CHECK_FALSE(arena.rewind(other.mark()));
  CHECK_FALSE(other.rewind(before_reset));
  CHECK_FALSE(arena.rewind(arena_mark{}));
  CHECK(intact(a, 64, 9));
  CHECK(arena.allocate(64) == static_cast<char*>(a) + 64);  // the cursor did not move

  // A newer mark whose node a rewind to an older mark gave back.
  counting_resource upstream;
  arena_resource grown(&upstream);
  const arena_mark old = grown.mark();
  static_cast<void>(grown.allocate(100000));
  const arena_mark newer = grown.mark();
  CHECK(grown.rewind(old));
  CHECK_FALSE(grown.rewind(newer));

  virtual_arena_resource v(std::size_t{1} << 20);
  virtual_arena_resource w(std::size_t{1} << 20);
  const arena_mark vm = v.mark();
  v.release();
  CHECK_FALSE(v.rewind(vm));
  CHECK_FALSE(v.rewind(w.mark()));
  CHECK_FALSE(v.rewind(arena.mark()));
}
