// SPDX-License-Identifier: MIT
// Tests include/pmrheap/pool_resource.hpp where the upstream fails, and beside libstdc++'s pools
// (docs/resources/pool_resource.md), whose findings are reported as messages, never as failures.
#include <doctest/doctest.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory_resource>
#include <string>
#include <vector>

#include "pmrheap/c_resource.hpp"
#include "pmrheap/detail/align.hpp"
#include "pmrheap/pool_resource.hpp"
#include "pmrheap/testing.hpp"
#include "support/counting_resource.hpp"
#include "support/refusing_resource.hpp"

#if defined(__unix__) || defined(__APPLE__)
#  include <sys/wait.h>
#  include <unistd.h>
#  define PMRHEAP_TEST_FORK 1
#else
#  define PMRHEAP_TEST_FORK 0
#endif

using pmrheap::pool_resource;
using pmrheap::detail::is_aligned;
using pmrheap::test::counting_resource;
using pmrheap::test::refusing_resource;

namespace {

// An upstream whose third allocation throws std::bad_alloc; every other one is new_delete's.
class third_allocation_throws final : public std::pmr::memory_resource {
 public:
  int calls = 0;

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    if (++calls == 3) throw std::bad_alloc();
    return std::pmr::new_delete_resource()->allocate(bytes, alignment);
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    std::pmr::new_delete_resource()->deallocate(p, bytes, alignment);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }
};

// allocate(528, 8), allocate(968, 64), then allocate(192, 8) until the upstream's third call throws,
// then more blocks, each filled; everything freed. **Returns**: whether the failure was seen.
bool third_allocation_sequence(std::pmr::memory_resource& pool) {
  std::vector<void*> blocks;
  blocks.push_back(pool.allocate(528, 8));
  std::memset(blocks.back(), 1, 528);
  void* aligned = pool.allocate(968, 64);
  bool threw = false;
  for (int i = 0; i < 10000 && !threw; ++i) {
    try {
      blocks.push_back(pool.allocate(192, 8));
      std::memset(blocks.back(), 2, 192);
    } catch (const std::bad_alloc&) {
      threw = true;
    }
  }
  for (int i = 0; i < 100; ++i) {
    blocks.push_back(pool.allocate(192, 8));
    std::memset(blocks.back(), 3, 192);
  }
  pool.deallocate(aligned, 968, 64);
  pool.deallocate(blocks.front(), 528, 8);
  for (std::size_t i = 1; i < blocks.size(); ++i) pool.deallocate(blocks[i], 192, 8);
  return threw;
}

}  // namespace

// libstdc++ 12 hands out 24-byte blocks of its 24 pool to allocate(24, 16), so every other one is
// misaligned. Shown as a message, so that a fixed libstdc++ does not fail the suite; ours is checked.
TEST_CASE("pool_resource: allocate(24, 16) is always 16-aligned (std's pool, for comparison, reported)") {
  std::size_t std_misaligned = 0;
  {
    std::pmr::unsynchronized_pool_resource std_pool;
    std::vector<void*> blocks;
    for (int i = 0; i < 8; ++i) blocks.push_back(std_pool.allocate(24, 16));
    for (void* p : blocks) std_misaligned += is_aligned(p, 16) ? 0 : 1;
  }
  MESSAGE("std::pmr::unsynchronized_pool_resource: " << std_misaligned
                                                     << " of 8 blocks of allocate(24, 16) misaligned");
  pool_resource pool;
  for (int i = 0; i < 8; ++i) CHECK(is_aligned(pool.allocate(24, 16), 16));
}

TEST_CASE("pool_resource: every allocation failure of a map of strings to vectors is clean") {
  pmrheap::testing::check_all_allocation_failures(*pmrheap::c_resource::instance(), [](std::pmr::memory_resource& mr) {
    pool_resource pool(&mr);
    pmrheap::testing::validating_resource v(&pool);
    std::pmr::map<std::pmr::string, std::pmr::vector<int>> m(&v);
    for (int i = 0; i < 300; ++i) {
      auto& vec = m[std::pmr::string("a key long enough to allocate " + std::to_string(i), &v)];
      for (int k = 0; k < i % 40; ++k) vec.push_back(k);
      if (i % 3 == 0) m.erase(m.begin());
    }
  });
}

// The sequence after which libstdc++ 12's pools crash: allocate(528, 8), allocate(968, 64), then
// a request the upstream refuses. Ours: the refused call changes nothing, what the pool holds still
// serves, and once the upstream gives again everything works.
TEST_CASE("pool_resource: an upstream failure leaves the pool consistent and usable") {
  counting_resource counted(pmrheap::c_resource::instance());
  refusing_resource upstream(&counted);
  pool_resource pool(&upstream);
  pmrheap::testing::validating_resource v(&pool);
  void* a = v.allocate(528, 8);
  void* b = v.allocate(968, 64);
  upstream.refuse_allocations = true;
  std::vector<void*> held;
  while (void* p = v.try_allocate(192, 8)) {  // until the first chunk is used up
    held.push_back(p);
    REQUIRE(held.size() < 100);
  }
  CHECK(upstream.refused == 1);
  const pmrheap::pool_statistics before = pool.statistics();
  CHECK(before.blocks_in_use == held.size() + 2);
  CHECK_THROWS_AS(static_cast<void>(v.allocate(192, 8)), std::bad_alloc);
  CHECK_THROWS_AS(static_cast<void>(v.allocate(5000, 8)), std::bad_alloc);
  CHECK_THROWS_AS(static_cast<void>(v.allocate(24, 8192)), std::bad_alloc);
  const pmrheap::pool_statistics after = pool.statistics();
  CHECK(after.blocks_in_use == before.blocks_in_use);
  CHECK(after.bytes_from_upstream == before.bytes_from_upstream);
  CHECK(after.chunks == before.chunks);
  v.deallocate(held.back(), 192, 8);
  CHECK(v.allocate(192, 8) == held.back());  // still served from what the pool holds
  upstream.refuse_allocations = false;
  void* c = v.allocate(192, 8);
  std::memset(c, 3, 192);
  held.push_back(c);
  for (void* p : held) v.deallocate(p, 192, 8);
  v.deallocate(a, 528, 8);
  v.deallocate(b, 968, 64);
  pmrheap::testing::check_conformance(v);
}

// libstdc++ 12's pools crash after the upstream throws on this sequence; std's run happens in a
// child process and is only reported, so that neither a crash nor a fixed libstdc++ decides the test.
TEST_CASE("pool_resource: the upstream failure that crashes std's pools (std's outcome reported)") {
#if PMRHEAP_TEST_FORK
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The crash, if any, ends the child quietly: no doctest or ASan handler reports it as ours.
    for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE}) std::signal(sig, SIG_DFL);
    static_cast<void>(std::freopen("/dev/null", "w", stdout));
    static_cast<void>(std::freopen("/dev/null", "w", stderr));
    third_allocation_throws upstream;
    {
      std::pmr::unsynchronized_pool_resource std_pool(&upstream);
      third_allocation_sequence(std_pool);
    }
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  if (WIFSIGNALED(status)) {
    MESSAGE("std::pmr::unsynchronized_pool_resource: killed by signal " << WTERMSIG(status));
  } else {
    MESSAGE("std::pmr::unsynchronized_pool_resource: exited with status "
            << WEXITSTATUS(status) << (WEXITSTATUS(status) == 0 ? " (no crash)" : ""));
  }
#endif
  third_allocation_throws upstream;
  {
    pool_resource pool(&upstream);
    pmrheap::testing::validating_resource v(&pool);
    CHECK(third_allocation_sequence(v));
    CHECK(pool.statistics().blocks_in_use == 0);
  }
  CHECK(upstream.calls > 3);
}
