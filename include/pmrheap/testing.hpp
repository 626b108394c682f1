// SPDX-License-Identifier: MIT
// The conformance kit: Zig's four shared allocator tests for any std::pmr::memory_resource, and a
// decorator that checks every call against the pmrheap contract. Framework-independent: a failed
// check throws pmrheap::testing::conformance_error, which doctest, GoogleTest and Catch2 all report.
#ifndef PMRHEAP_TESTING_HPP
#define PMRHEAP_TESTING_HPP

#include <cstddef>
#include <map>
#include <memory_resource>
#include <mutex>
#include <stdexcept>
#include <string>

#include "pmrheap/resource.hpp"

namespace pmrheap::testing {

/// A broken promise found by the kit. The message names the check, the sizes and the alignment.
class PMRHEAP_API conformance_error : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

/// Zig's testAllocator: 100 small blocks, a pointer array grown to 20000 entries with reallocate,
/// shrinking resizes, zero-size allocations, natural-alignment writes.
PMRHEAP_API void check_basic(std::pmr::memory_resource& mr);
/// Zig's testAllocatorAligned: alignments 1..64, reallocate 10 -> 100 bytes, shrinking resizes.
PMRHEAP_API void check_aligned(std::pmr::memory_resource& mr);
/// Zig's testAllocatorLargeAlignment: alignment page_size_min / 2 kept through reallocations.
PMRHEAP_API void check_large_alignment(std::pmr::memory_resource& mr);
/// Zig's testAllocatorAlignedShrink: a block of 2 pages + 50 bytes shrunk to half, contents kept.
PMRHEAP_API void check_aligned_shrink(std::pmr::memory_resource& mr);
/// pmrheap's addition: eight blocks live at once for every alignment from 1 to page_size_min / 2,
/// sizes not multiples of the alignment, each filled and verified after all are allocated (so an
/// overlap or misplacement shows even without validating_resource), freed in a shuffled order.
/// Zig's checks free each block before taking the next, which hides allocators that align only
/// their first block (libstdc++ 12's unsynchronized_pool_resource above 16 bytes).
PMRHEAP_API void check_many_aligned(std::pmr::memory_resource& mr);
/// All five, in order.
PMRHEAP_API void check_conformance(std::pmr::memory_resource& mr);

/// Forwards every call to `upstream` and checks it against the contract (docs/design.md):
/// results are non-null and aligned, no live block overlaps another, deallocate/resize/remap name
/// a live block with its current size and original alignment, remap results are aligned.
/// A block whose end would pass the top of the address space is a violation too (libstdc++ 12's
/// new_delete_resource returns one for allocate(SIZE_MAX, 8): the rounded size wraps to 0).
/// A violation in allocate or deallocate throws conformance_error at once; a violation inside a
/// noexcept operation (try_allocate, resize, remap) is recorded and thrown by the next allocate,
/// deallocate or check(). Thread-safe (one mutex); meant for tests, not for speed.
class PMRHEAP_API validating_resource final : public resource {
 public:
  explicit validating_resource(std::pmr::memory_resource* upstream) noexcept : upstream_(upstream) {}
  validating_resource(const validating_resource&) = delete;
  validating_resource& operator=(const validating_resource&) = delete;
  ~validating_resource() override;

  [[nodiscard]] std::pmr::memory_resource* upstream_resource() const noexcept { return upstream_; }

  /// Throws the first recorded violation, if any.
  void check() const;
  /// Blocks handed out and not yet deallocated (zero-size blocks are not counted).
  [[nodiscard]] std::size_t live_blocks() const;

 private:
  struct block {
    std::size_t bytes;
    std::size_t alignment;
  };

  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void* do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override;
  bool do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override;
  void* do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override;

  // Callers hold mutex_.
  std::string admit(void* p, std::size_t bytes, std::size_t alignment, const char* operation);
  std::string find_live(void* p, std::size_t bytes, std::size_t alignment, const char* operation) const;
  void record(std::string violation) noexcept;
  void throw_if_violated() const;

  std::pmr::memory_resource* upstream_;
  mutable std::mutex mutex_;
  std::map<const std::byte*, block> live_;
  std::string violation_;
};

}  // namespace pmrheap::testing

#endif  // PMRHEAP_TESTING_HPP
