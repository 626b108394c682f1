// SPDX-License-Identifier: MIT
// The conformance kit. The four checks keep Zig's sizes, alignments and "if the resize succeeds"
// branches; where Zig resizes to 0 they deallocate, and they also verify that contents survive
// every reallocate and resize, which Zig's versions leave to the reader.
#include "pmrheap/testing/conformance.hpp"

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <exception>
#include <typeinfo>
#include <utility>

#include "pmrheap/platform/pages.hpp"
#include "pmrheap/testing/failing_resource.hpp"
#include "pmrheap/testing/validating_resource.hpp"

namespace pmrheap::testing {
namespace {

[[noreturn]] void fail(const char* check, const std::string& what) {
  throw conformance_error(fmt::format("{}: {}", check, what));
}

// The check running on this thread, for validating_resource's messages (running_check()).
thread_local const char* current_check = nullptr;

// Names the check for the duration of a scope; checks may nest (check_conformance runs five).
class check_scope {
 public:
  explicit check_scope(const char* check) noexcept : outer_(std::exchange(current_check, check)) {}
  check_scope(const check_scope&) = delete;
  check_scope& operator=(const check_scope&) = delete;
  ~check_scope() { current_check = outer_; }

 private:
  const char* outer_;
};

// Every request the checks make is legal, so an exception from the resource under test is a broken
// promise too: it becomes a conformance_error that says which check, which call, which size.
template <class Call>
void* legal_request(const char* check, const char* operation, std::size_t bytes, std::size_t alignment, Call call) {
  try {
    return call();
  } catch (const conformance_error&) {
    throw;  // a validating_resource below already named the problem
  } catch (const std::exception& e) {
    fail(check, fmt::format("{}({} bytes, alignment {}) threw {} on a legal request: {}", operation, bytes, alignment,
                            typeid(e).name(), e.what()));
  } catch (...) {
    fail(check, fmt::format("{}({} bytes, alignment {}) threw a non-standard exception on a legal request", operation,
                            bytes, alignment));
  }
}

void expect_aligned(const char* check, const char* operation, const void* p, std::size_t bytes, std::size_t alignment) {
  if (p == nullptr) fail(check, fmt::format("{}({} bytes, alignment {}) returned null", operation, bytes, alignment));
  if (!detail::is_aligned(p, alignment))
    fail(check, fmt::format("{}({} bytes, alignment {}) returned {}, which is not aligned to {}", operation, bytes,
                            alignment, p, alignment));
}

void* allocate(std::pmr::memory_resource& mr, const char* check, std::size_t bytes, std::size_t alignment) {
  void* const p = legal_request(check, "allocate", bytes, alignment, [&] { return mr.allocate(bytes, alignment); });
  expect_aligned(check, "allocate", p, bytes, alignment);
  return p;
}

void* reallocate(std::pmr::memory_resource& mr, const char* check, void* p, std::size_t old_bytes,
                 std::size_t new_bytes, std::size_t alignment) {
  void* const q = legal_request(check, "reallocate", new_bytes, alignment,
                                [&] { return pmrheap::reallocate(mr, p, old_bytes, new_bytes, alignment); });
  expect_aligned(check, "reallocate", q, new_bytes, alignment);
  return q;
}

std::byte pattern(std::size_t i, unsigned seed) noexcept { return static_cast<std::byte>((i * 31u + seed) & 0xffu); }

void fill(void* p, std::size_t bytes, unsigned seed) noexcept {
  auto* b = static_cast<std::byte*>(p);
  for (std::size_t i = 0; i < bytes; ++i) b[i] = pattern(i, seed);
}

void expect_filled(const char* check, const char* after, const void* p, std::size_t bytes, std::size_t alignment,
                   unsigned seed) {
  const auto* b = static_cast<const std::byte*>(p);
  for (std::size_t i = 0; i < bytes; ++i)
    if (b[i] != pattern(i, seed))
      fail(check, fmt::format("byte {} of {} (alignment {}) changed after {}", i, bytes, alignment, after));
}

void finish(std::pmr::memory_resource& mr) {
  if (auto* v = dynamic_cast<validating_resource*>(&mr)) v->check();
}

}  // namespace

void check_basic(std::pmr::memory_resource& mr) {
  constexpr const char* check = "check_basic";
  const check_scope scope(check);
  constexpr std::size_t ptr_size = sizeof(int*);
  constexpr std::size_t ptr_align = alignof(int*);

  auto** slots = static_cast<int**>(allocate(mr, check, 100 * ptr_size, ptr_align));
  for (int i = 0; i < 100; ++i) {
    slots[i] = static_cast<int*>(allocate(mr, check, sizeof(int), alignof(int)));
    *slots[i] = i;
  }
  slots = static_cast<int**>(reallocate(mr, check, slots, 100 * ptr_size, 20000 * ptr_size, ptr_align));
  for (int i = 0; i < 100; ++i) {
    if (*slots[i] != i) fail(check, fmt::format("int {} reads {} after reallocating the pointer array", i, *slots[i]));
    mr.deallocate(slots[i], sizeof(int), alignof(int));
  }

  std::size_t count = 20000;
  if (pmrheap::resize(mr, slots, count * ptr_size, 50 * ptr_size, ptr_align)) {
    count = 50;
    if (pmrheap::resize(mr, slots, 50 * ptr_size, 25 * ptr_size, ptr_align)) {
      count = 25;
      mr.deallocate(slots, count * ptr_size, ptr_align);
      slots = static_cast<int**>(reallocate(mr, check, nullptr, 0, 10 * ptr_size, ptr_align));
      count = 10;
    }
  }
  mr.deallocate(slots, count * ptr_size, ptr_align);

  for (std::size_t alignment : {std::size_t{1}, alignof(std::uint64_t)}) {
    void* const empty = mr.allocate(0, alignment);
    expect_aligned(check, "allocate", empty, 0, alignment);
    mr.deallocate(empty, 0, alignment);
  }

  auto* words = static_cast<std::uint32_t*>(allocate(mr, check, 5 * sizeof(std::uint32_t), alignof(std::uint32_t)));
  for (int i = 0; i < 5; ++i) words[i] = 0xDEADBEEF;
  for (int i = 0; i < 5; ++i)
    if (words[i] != 0xDEADBEEF) fail(check, "a 20-byte block did not keep what was written");
  mr.deallocate(words, 5 * sizeof(std::uint32_t), alignof(std::uint32_t));
  finish(mr);
}

void check_aligned(std::pmr::memory_resource& mr) {
  constexpr const char* check = "check_aligned";
  const check_scope scope(check);
  for (std::size_t alignment = 1; alignment <= 64; alignment *= 2) {
    void* p = allocate(mr, check, 10, alignment);
    fill(p, 10, 1);
    p = reallocate(mr, check, p, 10, 100, alignment);
    expect_filled(check, "reallocate 10 -> 100", p, 10, alignment, 1);
    fill(p, 100, 2);
    std::size_t bytes = 100;
    if (pmrheap::resize(mr, p, 100, 10, alignment)) {
      bytes = 10;
      expect_filled(check, "resize 100 -> 10", p, 10, alignment, 2);
    }
    mr.deallocate(p, bytes, alignment);

    p = reallocate(mr, check, nullptr, 0, 100, alignment);
    fill(p, 100, 3);
    bytes = 100;
    if (pmrheap::resize(mr, p, 100, 10, alignment)) {
      bytes = 10;
      expect_filled(check, "resize 100 -> 10", p, 10, alignment, 3);
    }
    mr.deallocate(p, bytes, alignment);
  }
  finish(mr);
}

void check_large_alignment(std::pmr::memory_resource& mr) {
  constexpr const char* check = "check_large_alignment";
  const check_scope scope(check);
  constexpr std::size_t alignment = platform::page_size_min / 2;

  void* p = allocate(mr, check, 500, alignment);
  fill(p, 500, 4);
  std::size_t bytes = 500;
  if (pmrheap::resize(mr, p, 500, 100, alignment)) bytes = 100;
  p = reallocate(mr, check, p, bytes, 5000, alignment);
  expect_filled(check, "reallocate to 5000", p, bytes, alignment, 4);
  fill(p, 5000, 5);
  bytes = 5000;
  if (pmrheap::resize(mr, p, 5000, 10, alignment)) bytes = 10;
  p = reallocate(mr, check, p, bytes, 20000, alignment);
  expect_filled(check, "reallocate to 20000", p, bytes, alignment, 5);
  mr.deallocate(p, 20000, alignment);
  finish(mr);
}

void check_aligned_shrink(std::pmr::memory_resource& mr) {
  constexpr const char* check = "check_aligned_shrink";
  const check_scope scope(check);
  const std::size_t page = platform::page_size();
  const std::size_t bytes = 2 * page + 50;
  constexpr std::size_t alignment = 16;

  // Keep a block that is not 32-page aligned: Windows hands out 64 KiB-aligned (16-page) ranges,
  // and the shrink below must not depend on a lucky alignment.
  std::array<void*, 64> stash{};
  std::size_t stashed = 0;
  void* p = allocate(mr, check, bytes, alignment);
  while (detail::is_aligned(p, 32 * page)) {
    if (stashed == stash.size()) fail(check, "64 blocks in a row were 32-page aligned");
    stash[stashed++] = p;
    p = allocate(mr, check, bytes, alignment);
  }
  while (stashed > 0) mr.deallocate(stash[--stashed], bytes, alignment);

  auto* b = static_cast<unsigned char*>(p);
  b[0] = 0x12;
  b[60] = 0x34;
  p = reallocate(mr, check, p, bytes, bytes / 2, alignment);
  b = static_cast<unsigned char*>(p);
  if (b[0] != 0x12 || b[60] != 0x34)
    fail(check, fmt::format("bytes 0 and 60 changed when {} bytes were reallocated to {}", bytes, bytes / 2));
  mr.deallocate(p, bytes / 2, alignment);
  finish(mr);
}

void check_many_aligned(std::pmr::memory_resource& mr) {
  constexpr const char* check = "check_many_aligned";
  const check_scope scope(check);
  // Every alignment from 16 to 4096 with sizes that are not multiples of it, three blocks of each
  // size in a row: a pool that places its blocks at multiples of the size aligns only every other
  // one (libstdc++ 12's unsynchronized_pool_resource hands out allocate(24, 16) at 8 mod 16 on
  // alternate calls). At most three blocks live at once, so small buffers pass too.
  for (std::size_t alignment = 16; alignment <= 4096; alignment *= 2) {
    for (const std::size_t bytes : {alignment + 8, alignment + alignment / 2, 2 * alignment + 1, 3 * alignment - 8}) {
      std::array<void*, 3> row{};
      for (std::size_t i = 0; i < row.size(); ++i) {
        row[i] = allocate(mr, check, bytes, alignment);
        fill(row[i], bytes, static_cast<unsigned>(i));
      }
      for (std::size_t i = 0; i < row.size(); ++i)
        expect_filled(check, "allocating the next blocks", row[i], bytes, alignment, static_cast<unsigned>(i));
      for (void* p : row) mr.deallocate(p, bytes, alignment);
    }
  }
  constexpr std::size_t count = 8;
  for (std::size_t alignment = 1; alignment <= platform::page_size_min / 2; alignment *= 2) {
    std::array<void*, count> blocks{};
    std::array<std::size_t, count> sizes{};
    for (std::size_t i = 0; i < count; ++i) {
      sizes[i] = alignment * (i % 3 + 1) + 8 * i + 1;
      blocks[i] = allocate(mr, check, sizes[i], alignment);
      fill(blocks[i], sizes[i], static_cast<unsigned>(i));
    }
    for (std::size_t i = 0; i < count; ++i)
      expect_filled(check, "allocating the other blocks", blocks[i], sizes[i], alignment, static_cast<unsigned>(i));
    for (std::size_t i : {3, 0, 7, 5, 1, 6, 2, 4}) mr.deallocate(blocks[i], sizes[i], alignment);
  }
  finish(mr);
}

const char* running_check() noexcept { return current_check; }

void check_conformance(std::pmr::memory_resource& mr) {
  check_basic(mr);
  check_aligned(mr);
  check_large_alignment(mr);
  check_aligned_shrink(mr);
  check_many_aligned(mr);
}

// ---- exhaustive failure checks ----------------------------------------------------------------

allocation_failure_error::allocation_failure_error(allocation_failure_problem problem, std::size_t index,
                                                   std::size_t count, std::size_t allocated_bytes,
                                                   std::size_t freed_bytes, const std::string& message)
    : std::runtime_error(message),
      problem_(problem),
      index_(index),
      count_(count),
      allocated_bytes_(allocated_bytes),
      freed_bytes_(freed_bytes) {}

}  // namespace pmrheap::testing

namespace pmrheap::detail {
namespace {

using testing::allocation_failure_error;
using testing::allocation_failure_problem;

// Which operation a check makes fail, and the words its reports use.
struct failure_target {
  const char* check;
  const char* operation;
  bool resizes;
};
constexpr failure_target allocations{"check_all_allocation_failures", "allocation", false};
constexpr failure_target resizes{"check_all_resize_failures", "resize", true};

[[noreturn]] void report(const failure_target& target, allocation_failure_problem problem, std::size_t index,
                         std::size_t count, const failing_resource& run, const std::string& what_happened) {
  const bool induced = target.resizes ? run.has_induced_resize_failure() : run.has_induced_failure();
  const stack_trace& trace = target.resizes ? run.induced_resize_failure_trace() : run.induced_failure_trace();
  std::string message = fmt::format(
      "{}: {} {} of {} was made to fail; {}.\n"
      "  that run: {} bytes allocated, {} bytes freed ({} allocations, {} deallocations, {} resizes)\n",
      target.check, target.operation, index, count, what_happened, run.allocated_bytes(), run.freed_bytes(),
      run.allocations(), run.deallocations(), run.resize_index());
  if (induced) {
    fmt::format_to(std::back_inserter(message), "  the induced failure happened at:\n{}", trace.to_string("    "));
  } else {
    message += "  no failure was induced in that run\n";
  }
  throw allocation_failure_error(problem, index, count, run.allocated_bytes(), run.freed_bytes(), message);
}

}  // namespace

void run_allocation_failure_checks(std::pmr::memory_resource& backing, memory_test_ref test) {
  const failure_target& target = allocations;
  std::size_t count = 0;
  {
    failing_resource counting(&backing);
    test.call(test.object, counting);  // what this throws is the caller's to see
    count = counting.alloc_index();
  }
  for (std::size_t index = 0; index < count; ++index) {
    failing_resource run(&backing, index);
    try {
      test.call(test.object, run);
    } catch (const std::bad_alloc&) {
      if (run.allocated_bytes() != run.freed_bytes())
        report(target, allocation_failure_problem::memory_leak, index, count, run,
               "the test threw std::bad_alloc but did not free everything it allocated (a leak)");
      continue;
    }
    if (run.has_induced_failure())
      report(target, allocation_failure_problem::swallowed_bad_alloc, index, count, run,
             "the test returned normally anyway, so a std::bad_alloc was swallowed");
    report(target, allocation_failure_problem::nondeterministic_memory_use, index, count, run,
           fmt::format("the test returned after {} allocations without reaching it (nondeterministic memory use)",
                       run.alloc_index()));
  }
}

void run_resize_failure_checks(std::pmr::memory_resource& backing, memory_test_ref test) {
  const failure_target& target = resizes;
  std::size_t count = 0;
  {
    failing_resource counting(&backing);
    test.call(test.object, counting);
    count = counting.resize_index();
  }
  for (std::size_t index = 0; index < count; ++index) {
    failing_resource run(&backing, failing_resource::never, index);
    try {
      test.call(test.object, run);
    } catch (const std::bad_alloc&) {
      report(target, allocation_failure_problem::refused_resize_threw, index, count, run,
             "the test threw std::bad_alloc instead of falling back to allocate + copy + free");
    }
    if (!run.has_induced_resize_failure())
      report(target, allocation_failure_problem::nondeterministic_memory_use, index, count, run,
             fmt::format("the test returned after {} resizes without reaching it (nondeterministic memory use)",
                         run.resize_index()));
    if (run.allocated_bytes() != run.freed_bytes())
      report(target, allocation_failure_problem::memory_leak, index, count, run,
             "the test returned but did not free everything it allocated (a leak)");
  }
}

}  // namespace pmrheap::detail
