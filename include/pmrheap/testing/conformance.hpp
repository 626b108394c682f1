// SPDX-License-Identifier: MIT
// The conformance kit: Zig's four shared allocator tests for any std::pmr::memory_resource and the
// exhaustive allocation and resize failure checks (validating_resource.hpp has the decorator that
// checks every call against the contract). Framework-independent: a failed check throws (conformance_error,
// allocation_failure_error), which doctest, GoogleTest and Catch2 all report.
#ifndef PMRHEAP_TESTING_CONFORMANCE_HPP
#define PMRHEAP_TESTING_CONFORMANCE_HPP

#include <concepts>
#include <cstddef>
#include <functional>
#include <memory>
#include <memory_resource>
#include <stdexcept>
#include <string>

#include "pmrheap/resource.hpp"

namespace pmrheap::detail {

/// A non-owning reference to the caller's test callable, so the loops live in the library and the
/// templates below stay two lines.
struct memory_test_ref {
  void* object;
  void (*call)(void* object, std::pmr::memory_resource& mr);
};

/// `run` is a lambda in the caller's frame, so `object` never outlives it.
template <class Run>
[[nodiscard]] memory_test_ref make_memory_test_ref(Run& run) noexcept {
  return {static_cast<void*>(std::addressof(run)),
          [](void* object, std::pmr::memory_resource& mr) { (*static_cast<Run*>(object))(mr); }};
}

PMRHEAP_TESTING_API void run_allocation_failure_checks(std::pmr::memory_resource& backing, memory_test_ref test);
PMRHEAP_TESTING_API void run_resize_failure_checks(std::pmr::memory_resource& backing, memory_test_ref test);

}  // namespace pmrheap::detail

namespace pmrheap::testing {

/// A broken promise found by the kit. The message names the check, the sizes and the alignment.
class PMRHEAP_TESTING_API conformance_error : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

/// Zig's testAllocator: 100 small blocks, a pointer array grown to 20000 entries with reallocate,
/// shrinking resizes, zero-size allocations, natural-alignment writes.
PMRHEAP_TESTING_API void check_basic(std::pmr::memory_resource& mr);
/// Zig's testAllocatorAligned: alignments 1..64, reallocate 10 -> 100 bytes, shrinking resizes.
PMRHEAP_TESTING_API void check_aligned(std::pmr::memory_resource& mr);
/// Zig's testAllocatorLargeAlignment: alignment page_size_min / 2 kept through reallocations.
PMRHEAP_TESTING_API void check_large_alignment(std::pmr::memory_resource& mr);
/// Zig's testAllocatorAlignedShrink: a block of 2 pages + 50 bytes shrunk to half, contents kept.
PMRHEAP_TESTING_API void check_aligned_shrink(std::pmr::memory_resource& mr);
/// pmrheap's addition: first, for every alignment from 16 to 4096, four sizes that are not
/// multiples of it, three blocks of each in a row (a pool that aligns only alternate blocks fails
/// at the second); then eight blocks live at once for every alignment from 1 to page_size_min / 2,
/// sizes not multiples of the alignment, each filled and verified after all are allocated (so an
/// overlap or misplacement shows even without validating_resource), freed in a shuffled order.
/// Zig's checks free each block before taking the next, which hides allocators that align only
/// their first block (libstdc++ 12's unsynchronized_pool_resource above 16 bytes).
PMRHEAP_TESTING_API void check_many_aligned(std::pmr::memory_resource& mr);
/// All five, in order.
/// Every check makes legal requests only: an exception the resource throws from one (std::bad_alloc
/// included) is reported as a conformance_error naming the check, the call, the size and the
/// alignment.
PMRHEAP_TESTING_API void check_conformance(std::pmr::memory_resource& mr);

/// The check running on the calling thread ("check_basic", ...), or nullptr outside the checks;
/// validating_resource names it in the violations it reports.
[[nodiscard]] PMRHEAP_TESTING_API const char* running_check() noexcept;

/// What an exhaustive failure check found (see allocation_failure_error).
enum class allocation_failure_problem {
  /// The test gave up (threw std::bad_alloc, or finished after a refused resize) without freeing
  /// everything it had allocated.
  memory_leak,
  /// An allocation was made to fail, yet the test returned normally: something caught the
  /// std::bad_alloc and carried on (Zig's SwallowedOutOfMemoryError).
  swallowed_bad_alloc,
  /// The run never reached the index that was to fail although the counting run did: the test
  /// allocates (or resizes) differently from run to run (Zig's NondeterministicMemoryUsage).
  nondeterministic_memory_use,
  /// A resize or remap was refused and the test threw std::bad_alloc instead of falling back to
  /// allocate + copy + free.
  refused_resize_threw,
};

/// Thrown by check_all_allocation_failures and check_all_resize_failures. The message names the
/// check, the problem, the failing index, the count N from the counting run, the bytes allocated
/// and freed in that run, and the stack trace of the failure that was induced.
class PMRHEAP_TESTING_API allocation_failure_error : public std::runtime_error {
 public:
  /// The problem found with allocation (or resize) `index` of `count` failed; `message` says what.
  allocation_failure_error(allocation_failure_problem problem, std::size_t index, std::size_t count,
                           std::size_t allocated_bytes, std::size_t freed_bytes, const std::string& message);

  /// What went wrong.
  [[nodiscard]] allocation_failure_problem problem() const noexcept { return problem_; }
  /// The allocation (or resize) index that was made to fail, 0-based.
  [[nodiscard]] std::size_t index() const noexcept { return index_; }
  /// N: successful allocations (or resizes) in the counting run.
  [[nodiscard]] std::size_t count() const noexcept { return count_; }
  /// Bytes allocated in the failing run.
  [[nodiscard]] std::size_t allocated_bytes() const noexcept { return allocated_bytes_; }
  /// Bytes freed in the failing run.
  [[nodiscard]] std::size_t freed_bytes() const noexcept { return freed_bytes_; }

 private:
  allocation_failure_problem problem_;
  std::size_t index_;
  std::size_t count_;
  std::size_t allocated_bytes_;
  std::size_t freed_bytes_;
};

/// Zig's checkAllAllocationFailures. Runs `test(mr)` once on a failing_resource over `backing` that
/// never fails, counting N successful allocations; then once per index 0..N-1 with that allocation
/// (and every later one) failing. Each failing run must throw std::bad_alloc having freed every
/// byte it allocated.
/// `test` must behave the same on every run (reset shared state itself) and allocate only from the
/// resource it is given. Pass a debug_resource as `backing` to also catch leaks, double frees and
/// overruns on the paths that do not fail.
/// **Fails**: throws allocation_failure_error for a leak (std::bad_alloc with bytes unbalanced), a
/// swallowed std::bad_alloc (normal return although a failure was induced) or nondeterministic
/// memory use (normal return without reaching the index). Any other exception from `test`, and
/// anything the counting run throws, propagates unchanged.
/// **Cost**: N + 1 runs of `test`.
template <class F>
requires std::invocable<F&, std::pmr::memory_resource&>
void check_all_allocation_failures(std::pmr::memory_resource& backing, F&& test) {
  auto run = [&test](std::pmr::memory_resource& mr) { std::invoke(test, mr); };
  pmrheap::detail::run_allocation_failure_checks(backing, pmrheap::detail::make_memory_test_ref(run));
}

/// What Zig's loop never does: the same over resize and remap. The counting run counts N
/// successful resizes and remaps; run i refuses resize/remap number i and every later one. A
/// refused resize only means "allocate, copy and free yourself", so every run must still return
/// normally with its bytes balanced.
/// **Fails**: throws allocation_failure_error for a std::bad_alloc after a refused resize, a leak
/// (normal return, bytes unbalanced) or nondeterministic memory use (index never reached); other
/// exceptions propagate. **Cost**: N + 1 runs of `test`.
template <class F>
requires std::invocable<F&, std::pmr::memory_resource&>
void check_all_resize_failures(std::pmr::memory_resource& backing, F&& test) {
  auto run = [&test](std::pmr::memory_resource& mr) { std::invoke(test, mr); };
  pmrheap::detail::run_resize_failure_checks(backing, pmrheap::detail::make_memory_test_ref(run));
}

}  // namespace pmrheap::testing

#endif  // PMRHEAP_TESTING_CONFORMANCE_HPP
