// SPDX-License-Identifier: MIT
// Tests include/pmrheap/testing.hpp: the conformance kit run against the standard library's own
// resources (recording honestly which pass), validating_resource catching each violation, and the
// exhaustive allocation and resize failure checks finding each problem they name.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <array>
#include <memory_resource>
#include <stdexcept>
#include <string>
#include <vector>

#include "pmrheap/c_resource.hpp"
#include "pmrheap/detail/align.hpp"
#include "pmrheap/detail/sanitizer.hpp"
#include "pmrheap/testing.hpp"
#include "pmrheap/testing/stack_trace.hpp"
#include "support/opaque.hpp"
#include "support/reclaiming_resource.hpp"

using pmrheap::testing::check_conformance;
using pmrheap::testing::conformance_error;
using pmrheap::testing::validating_resource;

TEST_CASE("conformance kit: std::pmr::new_delete_resource passes") {
  validating_resource v(std::pmr::new_delete_resource());
  check_conformance(v);
  CHECK(v.blocks_in_use() == 0);
}

TEST_CASE("conformance kit: std::pmr::monotonic_buffer_resource passes") {
  std::pmr::monotonic_buffer_resource mono;
  validating_resource v(&mono);
  check_conformance(v);
  CHECK(v.blocks_in_use() == 0);
}

TEST_CASE("conformance kit: std::pmr::unsynchronized_pool_resource passes Zig's four checks") {
  std::pmr::unsynchronized_pool_resource pool;
  validating_resource v(&pool);
  pmrheap::testing::check_basic(v);
  pmrheap::testing::check_aligned(v);
  pmrheap::testing::check_large_alignment(v);
  pmrheap::testing::check_aligned_shrink(v);
}

// libstdc++ 12's new_delete_resource rounds SIZE_MAX up to the alignment, wraps to 0 and returns a
// real block. validating_resource refuses to let that pass as a SIZE_MAX-byte block, and the
// pmrheap free functions never forward such a request.
TEST_CASE("validating_resource: a block that wraps the address space is a violation") {
  // ASan's operator new dies on such a request instead of wrapping; valgrind's aborts ("cannot
  // throw exceptions").
  bool refused = PMRHEAP_HAS_ASAN || pmrheap::detail::running_on_valgrind();
  validating_resource v(std::pmr::new_delete_resource());
  if (!refused) try {
      void* p = v.allocate(pmrheap::detail::size_max, 8);
      std::pmr::new_delete_resource()->deallocate(p, 0, 8);  // only reached if the upstream is sane
    } catch (const conformance_error& e) {
      refused = std::string(e.what()).find("wraps the address space") != std::string::npos;
    } catch (const std::bad_alloc&) {
      refused = true;  // a standard library without the bug
    }
  CHECK(refused);
  CHECK(pmrheap::try_allocate(*std::pmr::new_delete_resource(), pmrheap::detail::size_max, 8) == nullptr);
}

namespace {

// An upstream that breaks promises on request.
class liar final : public std::pmr::memory_resource {
 public:
  enum class lie { none, misalign, overlap };
  lie mode = lie::none;

 private:
  alignas(64) unsigned char arena_[4096]{};
  std::size_t used_ = 0;
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    if (mode == lie::overlap) return arena_;  // the same block every time
    used_ = (used_ + alignment - 1) / alignment * alignment;
    void* p = arena_ + used_ + (mode == lie::misalign ? 1 : 0);
    used_ += bytes + 1;
    return p;
  }
  void do_deallocate(void*, std::size_t, std::size_t) override {}
  bool do_is_equal(const memory_resource& o) const noexcept override { return this == &o; }
};

}  // namespace

TEST_CASE("validating_resource: reports a misaligned block") {
  liar l;
  l.mode = liar::lie::misalign;
  validating_resource v(&l);
  CHECK_THROWS_WITH_AS(static_cast<void>(v.allocate(8, 8)), doctest::Contains("not aligned to 8"), conformance_error);
}

TEST_CASE("validating_resource: reports overlapping live blocks") {
  liar l;
  l.mode = liar::lie::overlap;
  validating_resource v(&l);
  static_cast<void>(v.allocate(64, 8));
  CHECK_THROWS_WITH_AS(static_cast<void>(v.allocate(8, 8)), doctest::Contains("overlapping"), conformance_error);
}

TEST_CASE("validating_resource: reports a misaligned zero-size block") {
  liar l;
  l.mode = liar::lie::misalign;
  validating_resource v(&l);
  CHECK_THROWS_WITH_AS(static_cast<void>(v.allocate(0, 8)), doctest::Contains("allocate(0, 8)"), conformance_error);
}

TEST_CASE("validating_resource: deallocate of an unknown block, wrong size, wrong alignment") {
  liar l;
  validating_resource v(&l);
  void* p = v.allocate(32, 16);
  int local = 0;
  CHECK_THROWS_WITH_AS(v.deallocate(&local, 4, 4), doctest::Contains("names no live block"), conformance_error);
  CHECK_THROWS_WITH_AS(v.deallocate(p, 31, 16), doctest::Contains("the block has 32 bytes"), conformance_error);
  CHECK_THROWS_WITH_AS(v.deallocate(p, 32, 8), doctest::Contains("alignment 16"), conformance_error);
  CHECK(v.blocks_in_use() == 1);
  v.deallocate(p, 32, 16);
  CHECK(v.blocks_in_use() == 0);
}

TEST_CASE("validating_resource: a bad resize is refused, recorded, and thrown by check()") {
  liar l;
  validating_resource v(&l);
  void* p = v.allocate(32, 16);
  CHECK_FALSE(v.resize(p, 64, 32, 16));  // wrong old size
  CHECK_THROWS_WITH_AS(v.check(), doctest::Contains("resize"), conformance_error);
  CHECK_THROWS_AS(static_cast<void>(v.allocate(8, 8)), conformance_error);  // sticky
}

TEST_CASE("validating_resource: bad alignment is invalid_argument before the upstream sees it") {
  validating_resource v(std::pmr::null_memory_resource());
  CHECK_THROWS_AS(static_cast<void>(v.allocate(8, pmrheap::test::opaque(3))), std::invalid_argument);
  CHECK(v.try_allocate(8, 3) == nullptr);
}

TEST_CASE("conformance kit: a failing check names the check, the sizes and the alignment") {
  liar l;
  l.mode = liar::lie::misalign;
  std::string message;
  try {
    pmrheap::testing::check_aligned(l);
  } catch (const conformance_error& e) {
    message = e.what();
  }
  CHECK(message.find("check_aligned") == 0);
  CHECK(message.find("10 bytes") != std::string::npos);
  CHECK(message.find("alignment 2") != std::string::npos);
}

// ---- check_all_allocation_failures / check_all_resize_failures ---------------------------------

namespace {

using pmrheap::testing::allocation_failure_error;
using pmrheap::testing::allocation_failure_problem;
using pmrheap::testing::check_all_allocation_failures;
using pmrheap::testing::check_all_resize_failures;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

bool symbolised() { return std::string(pmrheap::stack_trace::symbolizer()) == "libbacktrace"; }

// Zig's test: two buffers (3 and 5 bytes), each freed on every path.
void two_buffers(std::pmr::memory_resource& mr) {
  std::pmr::polymorphic_allocator<char> alloc(&mr);
  char* a = alloc.allocate(3);
  try {
    char* b = alloc.allocate(5);
    alloc.deallocate(b, 5);
  } catch (...) {
    alloc.deallocate(a, 3);
    throw;
  }
  alloc.deallocate(a, 3);
}

void names(std::pmr::memory_resource& mr) {
  std::pmr::vector<std::pmr::string> v(&mr);
  for (int i = 0; i < 20; ++i) v.emplace_back(fmt::format("a string long enough to allocate: {}", i));
}

// Expects `test` to be reported with `problem`; returns the report.
template <class F>
allocation_failure_error expect_problem(allocation_failure_problem problem, F&& test, bool resizes = false) {
  pmrheap::test::reclaiming_resource backing;  // frees what a leaking test leaves behind
  try {
    if (resizes) {
      check_all_resize_failures(backing, test);
    } else {
      check_all_allocation_failures(backing, test);
    }
  } catch (const allocation_failure_error& e) {
    MESSAGE(std::string(e.what()));
    CHECK(e.problem() == problem);
    return e;
  }
  FAIL("no allocation_failure_error");
  return allocation_failure_error(problem, 0, 0, 0, 0, "");
}

}  // namespace

// Deliberately broken: frees nothing when its second allocation fails.
PMRHEAP_NOINLINE void pmrheap_leaks_on_failure(std::pmr::memory_resource& mr) {
  void* a = mr.allocate(24);
  void* b = mr.allocate(40);  // the first block leaks if this throws
  mr.deallocate(b, 40);
  mr.deallocate(a, 24);
}

TEST_CASE("check_all_allocation_failures: exception-safe code passes, with N + 1 runs") {
  check_all_allocation_failures(*std::pmr::new_delete_resource(), two_buffers);
  int runs = 0;
  check_all_allocation_failures(*pmrheap::c_resource::instance(), [&runs](std::pmr::memory_resource& mr) {
    ++runs;
    two_buffers(mr);
  });
  CHECK(runs == 3);  // one counting run, then allocation 0 and allocation 1 fail
  check_all_allocation_failures(*pmrheap::c_resource::instance(), names);
  const auto by_const_ref = [](std::pmr::memory_resource& mr) { names(mr); };
  check_all_allocation_failures(*pmrheap::c_resource::instance(), by_const_ref);
  check_all_allocation_failures(*pmrheap::c_resource::instance(), &two_buffers);
}

TEST_CASE("check_all_allocation_failures: a test that allocates nothing runs once") {
  int runs = 0;
  check_all_allocation_failures(*pmrheap::c_resource::instance(), [&runs](std::pmr::memory_resource&) { ++runs; });
  CHECK(runs == 1);
}

TEST_CASE("check_all_allocation_failures: a leak on the failure path names index, N, bytes and the trace") {
  const auto e = expect_problem(allocation_failure_problem::memory_leak, pmrheap_leaks_on_failure);
  CHECK(e.index() == 1);
  CHECK(e.count() == 2);
  CHECK(e.allocated_bytes() == 24);
  CHECK(e.freed_bytes() == 0);
  const std::string message = e.what();
  CHECK(message.rfind("check_all_allocation_failures: allocation 1 of 2 was made to fail;", 0) == 0);
  CHECK(contains(message, "leak"));
  CHECK(contains(message, "24 bytes allocated, 0 bytes freed (1 allocations, 0 deallocations, 0 resizes)"));
  CHECK(contains(message, "the induced failure happened at:\n    #0 "));
  if (symbolised()) CHECK(contains(message, "in pmrheap_leaks_on_failure(std::pmr::memory_resource&) at "));
}

TEST_CASE("check_all_allocation_failures: a swallowed bad_alloc is reported") {
  const auto swallow = [](std::pmr::memory_resource& mr) {
    two_buffers(mr);
    try {
      std::pmr::vector<int> v(100, &mr);
    } catch (const std::bad_alloc&) {
      // Deliberately swallowed: the function "succeeds" without its vector.
    }
  };
  const auto e = expect_problem(allocation_failure_problem::swallowed_bad_alloc, swallow);
  CHECK(e.index() == 2);  // failures 0 and 1 hit two_buffers, which passes them on
  CHECK(e.count() == 3);
  const std::string message = e.what();
  CHECK(contains(message, "allocation 2 of 3 was made to fail; the test returned normally anyway"));
  CHECK(contains(message, "swallowed"));
  CHECK(contains(message, "the induced failure happened at:"));
}

TEST_CASE("check_all_allocation_failures: nondeterministic memory use is reported") {
  int run = 0;
  const auto fewer_each_time = [&run](std::pmr::memory_resource& mr) {
    const int blocks = 3 - run++;  // 3 in the counting run, then 2, 1, ...
    for (int i = 0; i < blocks; ++i) mr.deallocate(mr.allocate(8), 8);
  };
  const auto e = expect_problem(allocation_failure_problem::nondeterministic_memory_use, fewer_each_time);
  CHECK(e.index() == 1);  // the run for index 1 makes only one allocation
  CHECK(e.count() == 3);
  const std::string message = e.what();
  CHECK(contains(message,
                 "allocation 1 of 3 was made to fail; the test returned after 1 allocations without reaching "
                 "it (nondeterministic memory use)"));
  CHECK(contains(message, "no failure was induced in that run"));
}

TEST_CASE("check_all_allocation_failures: other exceptions, and the counting run's, propagate unchanged") {
  const auto translate = [](std::pmr::memory_resource& mr) {
    try {
      two_buffers(mr);
    } catch (const std::bad_alloc&) {
      throw std::logic_error("translated");
    }
  };
  CHECK_THROWS_WITH_AS(check_all_allocation_failures(*pmrheap::c_resource::instance(), translate), "translated",
                       std::logic_error);
  CHECK_THROWS_AS(check_all_allocation_failures(*std::pmr::null_memory_resource(), two_buffers), std::bad_alloc);
  CHECK_THROWS_WITH_AS(check_all_allocation_failures(*pmrheap::c_resource::instance(),
                                                     [](std::pmr::memory_resource&) { throw std::out_of_range("x"); }),
                       "x", std::out_of_range);
}

namespace {

// Grows a buffer the way a container would: remap first, else allocate + copy + free.
void grow(std::pmr::memory_resource& mr) {
  std::size_t bytes = 64;
  void* p = mr.allocate(bytes);
  for (std::size_t next : {32, 128, 4096, 1 << 16, 16}) {
    p = pmrheap::reallocate(mr, p, bytes, next);
    bytes = next;
  }
  mr.deallocate(p, bytes);
}

}  // namespace

TEST_CASE("check_all_resize_failures: code that falls back to allocate + copy + free passes") {
  int runs = 0;
  check_all_resize_failures(*pmrheap::c_resource::instance(), [&runs](std::pmr::memory_resource& mr) {
    ++runs;
    grow(mr);
  });
  CHECK(runs == 6);  // c_resource remaps all five steps; then each is refused in turn
  // A backing that cannot resize gives N = 0: one run only.
  runs = 0;
  check_all_resize_failures(*std::pmr::new_delete_resource(), [&runs](std::pmr::memory_resource& mr) {
    ++runs;
    grow(mr);
  });
  CHECK(runs == 1);
}

TEST_CASE("check_all_resize_failures: treating a refused resize as out of memory is reported") {
  const auto strict = [](std::pmr::memory_resource& mr) {
    void* p = mr.allocate(64);
    if (!pmrheap::resize(mr, p, 64, 32)) {
      mr.deallocate(p, 64);
      throw std::bad_alloc();
    }
    mr.deallocate(p, 32);
  };
  const auto e = expect_problem(allocation_failure_problem::refused_resize_threw, strict, true);
  CHECK(e.index() == 0);
  CHECK(e.count() == 1);
  const std::string message = e.what();
  CHECK(message.rfind("check_all_resize_failures: resize 0 of 1 was made to fail; the test threw std::bad_alloc", 0) ==
        0);
  CHECK(contains(message, "the induced failure happened at:\n    #0 "));
}

TEST_CASE("check_all_resize_failures: a leak on the fallback path is reported") {
  const auto forgets_old_block = [](std::pmr::memory_resource& mr) {
    void* p = mr.allocate(64);
    void* q = pmrheap::remap(mr, p, 64, 4096);
    if (q == nullptr) q = mr.allocate(4096);  // the old block is never freed
    mr.deallocate(q, 4096);
  };
  const auto e = expect_problem(allocation_failure_problem::memory_leak, forgets_old_block, true);
  CHECK(e.allocated_bytes() == 64 + 4096);
  CHECK(e.freed_bytes() == 4096);
  CHECK(contains(e.what(), "resize 0 of 1 was made to fail; the test returned but did not free everything"));
}

TEST_CASE("check_all_resize_failures: nondeterministic resizing is reported") {
  int run = 0;
  const auto once_only = [&run](std::pmr::memory_resource& mr) {
    void* p = mr.allocate(64);
    std::size_t bytes = 64;
    if (run++ == 0 && pmrheap::resize(mr, p, 64, 32)) bytes = 32;
    mr.deallocate(p, bytes);
  };
  const auto e = expect_problem(allocation_failure_problem::nondeterministic_memory_use, once_only, true);
  CHECK(e.index() == 0);
  CHECK(contains(e.what(), "returned after 0 resizes without reaching it"));
}
