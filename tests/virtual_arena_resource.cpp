// SPDX-License-Identifier: MIT
// Tests include/pmrheap/virtual_arena_resource.hpp (docs/resources/virtual_arena_resource.md).
#include "pmrheap/virtual_arena_resource.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <concepts>
#include <cstring>
#include <memory_resource>
#include <vector>

#if !defined(_WIN32)
#  include <sys/resource.h>
#  include <sys/wait.h>
#  include <unistd.h>
#endif

#include "pmrheap/detail/sanitizer.hpp"
#include "pmrheap/platform/pages.hpp"
#include "pmrheap/testing.hpp"
#include "support/fault.hpp"
#include "support/vm_flags.hpp"

using pmrheap::reset_mode;
using pmrheap::virtual_arena_resource;
using pmrheap::detail::align_up;
using pmrheap::detail::is_aligned;
using pmrheap::detail::size_max;
using pmrheap::platform::page_size;

namespace {
constexpr std::size_t mib = std::size_t{1} << 20;
}  // namespace

TEST_CASE("virtual_arena_resource: reserves address space, commits nothing up front") {
  virtual_arena_resource arena;
  if (pmrheap::detail::running_on_valgrind()) {
    // valgrind's client address space ends near 32 GiB: the default settles for less, as documented.
    CHECK(arena.reserved() < virtual_arena_resource::default_reserve);
    CHECK(arena.reserved() >= virtual_arena_resource::min_default_reserve);
  } else {
    CHECK(arena.reserved() == virtual_arena_resource::default_reserve);
  }
  CHECK(virtual_arena_resource::default_reserve == (sizeof(void*) >= 8 ? std::size_t{64} << 30 : std::size_t{1} << 30));
  CHECK(arena.committed() == 0);
  CHECK(arena.used() == 0);
  CHECK(arena.capacity() == 0);
  CHECK(arena.commit_step() == (page_size() > 65536 ? page_size() : 65536));
  CHECK(arena.huge_page_mode() == pmrheap::huge_pages::off);

  virtual_arena_resource odd(3 * page_size() + 1);
  CHECK(odd.reserved() == 4 * page_size());  // rounded up to pages
}

TEST_CASE("virtual_arena_resource: a reservation the OS cannot give throws out_of_memory") {
  CHECK_THROWS_AS(virtual_arena_resource{0}, pmrheap::out_of_memory);
  CHECK_THROWS_AS(virtual_arena_resource{size_max}, pmrheap::out_of_memory);
  CHECK_THROWS_AS(virtual_arena_resource{size_max - page_size()}, pmrheap::out_of_memory);
  CHECK_THROWS_AS(virtual_arena_resource{size_max - 2 * page_size()}, pmrheap::out_of_memory);
}

TEST_CASE("virtual_arena_resource: commits in steps as the cursor advances, fresh memory is zero") {
  virtual_arena_resource arena;
  const std::size_t step = arena.commit_step();
  auto* a = static_cast<unsigned char*>(arena.allocate(1, 1));
  CHECK(arena.committed() == step);
  CHECK(arena.used() == 1);
  auto* b = static_cast<unsigned char*>(arena.allocate(step - 1, 1));
  CHECK(b == a + 1);  // bump: contiguous
  CHECK(arena.committed() == step);
  for (std::size_t i = 0; i < step - 1; ++i) REQUIRE(b[i] == 0);
  auto* c = static_cast<unsigned char*>(arena.allocate(1, 1));
  CHECK(c == a + step);
  CHECK(arena.committed() == 2 * step);
  void* big = arena.allocate(10 * step + 5, 16);  // one commit covers a large request
  CHECK(arena.committed() == align_up(arena.used(), step));
  CHECK(arena.used() <= arena.committed());
  arena.deallocate(big, 10 * step + 5, 16);
}

TEST_CASE("virtual_arena_resource: the last block grows in place through many commit steps") {
  virtual_arena_resource arena;
  auto* p = static_cast<unsigned char*>(arena.allocate(64, 16));
  std::memset(p, 0x2d, 64);
  CHECK(arena.resize(p, 64, 100 * mib, 16));
  CHECK(arena.used() == 100 * mib);
  CHECK(arena.committed() == align_up(100 * mib, arena.commit_step()));
  p[100 * mib - 1] = 1;
  CHECK(arena.remap(p, 100 * mib, 200 * mib, 16) == p);  // remap never needs to move
  for (int i = 0; i < 64; ++i) REQUIRE(p[i] == 0x2d);
  CHECK(arena.resize(p, 200 * mib, 10, 16));  // shrink rolls the cursor back
  CHECK(arena.used() == 10);
  arena.deallocate(p, 10, 16);
  CHECK(arena.used() == 0);
}

TEST_CASE("virtual_arena_resource: a buffer doubled from 4 KiB to 256 MiB by reallocate never moves") {
  virtual_arena_resource arena;
  std::size_t bytes = 4096;
  auto* const first = static_cast<unsigned char*>(arena.allocate(bytes));
  auto* p = first;
  p[0] = 0xa5;
  while (bytes < 256 * mib) {
    p = static_cast<unsigned char*>(pmrheap::reallocate(arena, p, bytes, 2 * bytes));
    REQUIRE(p == first);
    bytes *= 2;
    p[bytes - 1] = 0x5a;
  }
  CHECK(p[0] == 0xa5);
  CHECK(arena.committed() <= bytes + arena.commit_step());
  arena.deallocate(p, bytes);
}

TEST_CASE("virtual_arena_resource: growth and allocation fail cleanly when the reservation is exhausted") {
  const std::size_t page = page_size();
  virtual_arena_resource arena(16 * page);
  auto* p = static_cast<unsigned char*>(arena.allocate(page, 1));
  CHECK(arena.resize(p, page, 16 * page, 1));  // up to the very end
  CHECK_FALSE(arena.resize(p, 16 * page, 16 * page + 1, 1));
  CHECK(arena.remap(p, 16 * page, 17 * page, 1) == nullptr);
  CHECK_THROWS_AS(static_cast<void>(arena.allocate(1, 1)), pmrheap::out_of_memory);
  CHECK(arena.try_allocate(1, 1) == nullptr);
  p[16 * page - 1] = 3;  // the block is still whole
  CHECK(arena.resize(p, 16 * page, 8 * page, 1));
  void* q = arena.allocate(8 * page, 1);  // the freed tail is usable again
  CHECK(q == p + 8 * page);
  CHECK_THROWS_AS(static_cast<void>(arena.allocate(1, 1)), pmrheap::out_of_memory);
}

TEST_CASE("virtual_arena_resource: deallocating the last block rolls back; earlier blocks stay") {
  virtual_arena_resource arena;
  void* a = arena.allocate(100, 8);
  void* b = arena.allocate(200, 8);
  arena.deallocate(a, 100, 8);  // not last: nothing reclaimed
  CHECK(arena.used() >= 300);
  const std::size_t before = arena.used();
  arena.deallocate(b, 200, 8);
  CHECK(arena.used() == before - 200);
  CHECK(arena.allocate(200, 8) == b);  // the same bytes again
}

TEST_CASE("virtual_arena_resource: blocks other than the last shrink but never grow") {
  virtual_arena_resource arena;
  void* a = arena.allocate(100, 8);
  void* b = arena.allocate(100, 8);
  CHECK(arena.resize(a, 100, 50, 8));
  CHECK_FALSE(arena.resize(a, 50, 100, 8));
  CHECK(arena.remap(a, 50, 200, 8) == nullptr);
  CHECK(arena.resize(b, 100, 1000, 8));  // b is last
  const std::size_t used = arena.used();
  CHECK(arena.resize(a, 50, 10, 8));
  CHECK(arena.used() == used);  // nothing reclaimed
}

TEST_CASE("virtual_arena_resource: reset modes and what stays committed") {
  const std::size_t page = page_size();
  virtual_arena_resource arena;
  const std::size_t step = arena.commit_step();
  auto fill = [&] {
    auto* p = static_cast<unsigned char*>(arena.allocate(10 * step, 1));
    std::memset(p, 0x77, 10 * step);
    return p;
  };
  unsigned char* first = fill();
  CHECK(arena.committed() == 10 * step);

  SUBCASE("retain_capacity keeps every committed page") {
    CHECK(arena.reset(reset_mode::retain_capacity));
    CHECK(arena.used() == 0);
    CHECK(arena.committed() == 10 * step);
    CHECK(arena.allocate(1, 1) == first);
    CHECK(arena.reset());  // the default mode is retain_capacity
    CHECK(arena.committed() == 10 * step);
  }
  SUBCASE("retain_with_limit keeps at most the limit, rounded down to pages") {
    CHECK(arena.reset(pmrheap::retain_with_limit{3 * step + page / 2}));
    CHECK(arena.used() == 0);
    CHECK(arena.committed() == 3 * step);
    CHECK(arena.capacity() <= 3 * step + page / 2);
    CHECK(arena.reset(pmrheap::retain_with_limit{100 * step}));  // above what it holds: keeps all
    CHECK(arena.committed() == 3 * step);
    auto* p = static_cast<unsigned char*>(arena.allocate(5 * step, 1));
    CHECK(p == first);
    CHECK(p[3 * step - 1] == 0x77);  // retained: not zeroed
    CHECK(p[3 * step] == 0);         // decommitted and committed again: zero
  }
  SUBCASE("retain_with_limit 0 is free_all") {
    CHECK(arena.reset(pmrheap::retain_with_limit{0}));
    CHECK(arena.committed() == 0);
  }
  SUBCASE("free_all and release give every page back") {
    CHECK(arena.reset(reset_mode::free_all));
    CHECK(arena.committed() == 0);
    auto* p = fill();
    CHECK(p == first);
    arena.release();
    CHECK(arena.committed() == 0);
    CHECK(arena.used() == 0);
    p = static_cast<unsigned char*>(arena.allocate(step, 1));
    for (std::size_t i = 0; i < step; ++i) REQUIRE(p[i] == 0);
  }
}

#if !defined(_WIN32)
// Pages past the committed end, and pages given back by reset, fault (in a child process).
TEST_CASE("virtual_arena_resource: uncommitted and released pages are really gone") {
  using pmrheap::test::faults;
  using pmrheap::test::touch;
  virtual_arena_resource arena;
  auto* p = static_cast<unsigned char*>(arena.allocate(1, 1));
  const std::size_t step = arena.commit_step();
  CHECK_FALSE(faults(p + step - 1, touch::write));
  CHECK(faults(p + step, touch::write));
  arena.release();
  CHECK(faults(p, touch::read));
}
#endif

TEST_CASE("virtual_arena_resource: poisons what it does not hand out (ASan builds)") {
  virtual_arena_resource arena;
  auto* a = static_cast<unsigned char*>(arena.allocate(64, 8));
  auto* b = static_cast<unsigned char*>(arena.allocate(64, 8));
  CHECK_FALSE(pmrheap::detail::is_poisoned(a));
  CHECK_FALSE(pmrheap::detail::is_poisoned(b + 63));
  CHECK(pmrheap::detail::is_poisoned(b + 64) == PMRHEAP_HAS_ASAN);  // committed, not handed out
  arena.deallocate(a, 64, 8);
  CHECK(pmrheap::detail::is_poisoned(a) == PMRHEAP_HAS_ASAN);
  CHECK(arena.resize(b, 64, 32, 8));
  CHECK(pmrheap::detail::is_poisoned(b + 32) == PMRHEAP_HAS_ASAN);
  CHECK(arena.resize(b, 32, 64, 8));
  CHECK_FALSE(pmrheap::detail::is_poisoned(b + 63));
  CHECK(arena.reset());
  CHECK(pmrheap::detail::is_poisoned(b) == PMRHEAP_HAS_ASAN);
}

TEST_CASE("virtual_arena_resource: huge page advice aligns the range and commits in huge steps") {
  const std::size_t huge = pmrheap::platform::huge_page_size();
  virtual_arena_resource arena(std::size_t{1} << 30, pmrheap::huge_pages::advise);
  CHECK(arena.huge_page_mode() == pmrheap::huge_pages::advise);
  CHECK(arena.reserved() == std::size_t{1} << 30);
  void* p = arena.allocate(1, 1);
  if (huge != 0) {
    CHECK(arena.commit_step() == huge);
    CHECK(is_aligned(p, huge));
    CHECK(arena.committed() == huge);
  } else {
    CHECK(arena.commit_step() == virtual_arena_resource().commit_step());
  }
#if defined(__linux__)
  CHECK(pmrheap::test::has_vm_flag(p, "hg") == pmrheap::test::huge_advice_visible(huge));
  virtual_arena_resource plain(std::size_t{1} << 30);
  CHECK_FALSE(pmrheap::test::has_vm_flag(plain.allocate(1, 1), "hg"));
#endif
}

TEST_CASE("virtual_arena_resource: over-aligned requests and std::pmr containers") {
  virtual_arena_resource arena;
  static_cast<void>(arena.allocate(3, 1));
  void* p = arena.allocate(100, 2 * mib);
  CHECK(is_aligned(p, 2 * mib));
  std::pmr::vector<std::pmr::string> names(&arena);
  for (int i = 0; i < 10000; ++i) names.emplace_back(std::string(30, static_cast<char>('a' + i % 26)));
  CHECK(names[9999][0] == static_cast<char>('a' + 9999 % 26));
  CHECK_FALSE(arena.is_equal(virtual_arena_resource{}));
  CHECK(arena.is_equal(arena));
}

#if !defined(_WIN32)
// The default constructor settles for less address space where 64 GiB is refused; an explicit
// size does not. Run in a child: RLIMIT_AS binds the whole process.
TEST_CASE("virtual_arena_resource: the default reservation shrinks under an address-space limit") {
  if (sizeof(void*) < 8) return;  // 1 GiB by default on 32-bit; the limit below would not bind
  if (PMRHEAP_HAS_ASAN) return;   // ASan's shadow alone is terabytes of address space: any limit binds
  constexpr int not_applied = 3;
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    rlimit limit{};
    getrlimit(RLIMIT_AS, &limit);
    limit.rlim_cur = std::size_t{16} << 30;  // 16 GiB: the 64 GiB default cannot be had
    if (setrlimit(RLIMIT_AS, &limit) != 0) _exit(2);
    rlimit applied{};
    getrlimit(RLIMIT_AS, &applied);
    if (applied.rlim_cur != limit.rlim_cur) _exit(not_applied);  // qemu-user accepts the call, ignores it
    bool explicit_refused = false;
    try {
      virtual_arena_resource exact(std::size_t{64} << 30);
    } catch (const pmrheap::out_of_memory&) {
      explicit_refused = true;
    }
    virtual_arena_resource arena;
    const bool shrunk = arena.reserved() < virtual_arena_resource::default_reserve &&
                        arena.reserved() >= virtual_arena_resource::min_default_reserve;
    void* p = arena.allocate(1 << 20);
    _exit(explicit_refused && shrunk && p != nullptr ? 0 : 1);
  }
  int status = 0;
  waitpid(child, &status, 0);
  REQUIRE(WIFEXITED(status));
  if (WEXITSTATUS(status) == not_applied) {
    MESSAGE("RLIMIT_AS is not applied on this platform (qemu-user ignores it): not checked");
    return;
  }
  CHECK(WEXITSTATUS(status) == 0);
}
#endif

// ---- geometric commits ---------------------------------------------------------------------------

TEST_CASE("virtual_arena_resource: a 15 MB run of small blocks takes at most 20 commits") {
  virtual_arena_resource arena(std::size_t{256} << 20);
  const std::size_t total = std::size_t{15} << 20;
  std::size_t taken = 0;
  std::size_t sizes[] = {24, 40, 8, 120, 64, 16, 300, 32};
  for (std::size_t i = 0; taken < total; ++i) {
    const std::size_t bytes = sizes[i % 8];
    auto* p = static_cast<unsigned char*>(arena.allocate(bytes, 8));
    p[0] = 1;
    p[bytes - 1] = 2;
    taken += bytes;
  }
  CHECK(arena.commit_count() <= 20);
  CHECK(arena.commit_count() >= 2);
  // Commits double: what runs ahead of the cursor stays under what is committed, capped.
  const std::size_t ahead = arena.committed() - arena.used();
  CHECK(ahead <=
        std::max(arena.commit_step(), std::min(arena.committed() / 2, virtual_arena_resource::max_commit_step)));
  // The same run in the old fixed 64 KiB steps would have taken about 240.
  CHECK(arena.commit_count() < total / virtual_arena_resource::default_commit_step / 10);
}

TEST_CASE("virtual_arena_resource: commits stop doubling at max_commit_step; reset keeps today's limits") {
  virtual_arena_resource arena(std::size_t{512} << 20);
  const std::size_t step = arena.commit_step();
  const std::size_t cap = std::max(step, virtual_arena_resource::max_commit_step);
  std::size_t before = 0;
  std::size_t largest = 0;
  while (arena.committed() < std::size_t{200} << 20) {
    static_cast<void>(arena.allocate(4096, 1));
    if (arena.committed() != before) {
      largest = std::max(largest, arena.committed() - before);
      before = arena.committed();
    }
  }
  CHECK(largest == cap);
  const std::size_t commits = arena.commit_count();
  CHECK(commits <= 10 + (std::size_t{200} << 20) / cap);  // 9 doublings, then steps of cap
  CHECK(arena.reset(pmrheap::retain_with_limit{3 * step}));
  CHECK(arena.committed() == 3 * step);
  CHECK(arena.reset(reset_mode::retain_capacity));
  CHECK(arena.committed() == 3 * step);
  CHECK(arena.reset(reset_mode::free_all));
  CHECK(arena.committed() == 0);
  // After a decommit the steps start small again: doubling follows what is committed.
  static_cast<void>(arena.allocate(1, 1));
  CHECK(arena.committed() == step);
  CHECK(arena.commit_count() == commits + 1);
}

// ---- the reset API -------------------------------------------------------------------------------

template <class A>
constexpr bool takes_a_bare_limit = requires(A& a) {
  a.reset(std::size_t{4096});
};
template <class A>
constexpr bool takes_a_mode_and_a_limit = requires(A& a) {
  a.reset(reset_mode::retain_capacity, std::size_t{4096});
};
static_assert(!takes_a_bare_limit<virtual_arena_resource>);
static_assert(!takes_a_mode_and_a_limit<virtual_arena_resource>);
static_assert(requires(virtual_arena_resource & a) {
  { a.reset() } -> std::same_as<bool>;
  { a.reset(reset_mode::free_all) } -> std::same_as<bool>;
  { a.reset(pmrheap::retain_with_limit{4096}) } -> std::same_as<bool>;
});

// ---- foreign pointers ----------------------------------------------------------------------------

// Under ASan a wrongful poison makes the reads below abort.
TEST_CASE("virtual_arena_resource: a pointer it did not hand out is never poisoned or written") {
  std::vector<unsigned char> foreign(4096, 0x5a);
  unsigned char stack[256];
  std::memset(stack, 0x3c, sizeof stack);
  virtual_arena_resource arena(std::size_t{1} << 20);
  auto* own = static_cast<unsigned char*>(arena.allocate(100, 1));
  for (unsigned char* p : {foreign.data(), foreign.data() + 1000, stack + 16}) {
    arena.deallocate(p, 200, 1);
    CHECK(arena.resize(p, 200, 50, 1));
    CHECK_FALSE(arena.resize(p, 200, 400, 1));
    CHECK(arena.remap(p, 200, 50, 1) == p);
    CHECK(arena.remap(p, 200, 400, 1) == nullptr);
  }
  for (unsigned char c : foreign) REQUIRE(c == 0x5a);
  for (unsigned char c : stack) REQUIRE(c == 0x3c);
  // A block running from below the reservation up to the cursor is not the newest block.
  arena.deallocate(own - 4096, 4096 + 100, 1);
  CHECK(arena.used() == 100);
}
