// SPDX-License-Identifier: MIT
// failing_resource: a test decorator that makes the N-th allocation (or resize) and every later one
// fail, and counts what passes through (Zig's FailingAllocator).
#ifndef PMRHEAP_TESTING_FAILING_RESOURCE_HPP
#define PMRHEAP_TESTING_FAILING_RESOURCE_HPP

#include <cstddef>
#include <cstdint>
#include <memory_resource>

#include "pmrheap/forwarding_resource.hpp"
#include "pmrheap/testing/stack_trace.hpp"

namespace pmrheap {

/// Forwards to `upstream` until allocation number `fail_index` (0-based, counting successful
/// allocations), which fails, as does every allocation after it: a failed call does not advance
/// the count, so the failure is sticky. `resize_fail_index` does the same for resize and remap
/// together. Counts calls and bytes so a test can prove the code under test freed what it took.
/// - A failed call (induced, or refused by the upstream) changes no counter.
/// - Zero-byte allocations never reach the counters (they own no memory; see the contract).
/// - The first induced allocation failure and the first induced resize failure each record a
///   stack_trace, so a report can say where the code under test was when it failed.
/// - Forwarding, screening and a null upstream as forwarding_resource: a size that cannot be an
///   object fails (uncounted) before the upstream sees it; resize/remap go through
///   pmrheap::resize / pmrheap::remap, so a std upstream only "resizes" to the same size.
/// **Fails**: allocate throws pmrheap::out_of_memory on an induced failure and passes on what the
/// upstream throws; try_allocate returns nullptr; resize false; remap nullptr.
/// **Thread safety**: none; wrap it in a synchronized_resource to share it.
class PMRHEAP_TESTING_API failing_resource final : public forwarding_resource {
 public:
  /// An index that is never reached: nothing fails.
  static constexpr std::size_t never = SIZE_MAX;

  /// Forwards to `upstream` (null: std::pmr::null_memory_resource()) and fails allocation number
  /// `fail_index` (0-based) and every later one, and resize number `resize_fail_index` and later.
  explicit failing_resource(std::pmr::memory_resource* upstream = std::pmr::get_default_resource(),
                            std::size_t fail_index = never, std::size_t resize_fail_index = never) noexcept
      : forwarding_resource(upstream), fail_index_(fail_index), resize_fail_index_(resize_fail_index) {}
  failing_resource(const failing_resource&) = delete;
  failing_resource& operator=(const failing_resource&) = delete;
  ~failing_resource() override;

  /// The first allocation index that fails (never: none).
  [[nodiscard]] std::size_t fail_index() const noexcept { return fail_index_; }
  /// The first resize index that fails (never: none).
  [[nodiscard]] std::size_t resize_fail_index() const noexcept { return resize_fail_index_; }

  /// Successful allocations (allocate and try_allocate with a non-zero size).
  [[nodiscard]] std::size_t allocations() const noexcept { return allocations_; }
  /// Deallocations of non-zero size.
  [[nodiscard]] std::size_t deallocations() const noexcept { return deallocations_; }
  /// Blocks allocated through it and not yet deallocated: allocations() - deallocations().
  [[nodiscard]] std::size_t blocks_in_use() const noexcept { return allocations_ - deallocations_; }
  /// Bytes of successful allocations, plus the growth of successful resizes and remaps.
  [[nodiscard]] std::size_t allocated_bytes() const noexcept { return allocated_bytes_; }
  /// Bytes deallocated, plus the shrinkage of successful resizes and remaps.
  [[nodiscard]] std::size_t freed_bytes() const noexcept { return freed_bytes_; }
  /// The index the next allocation gets: successful allocations so far.
  [[nodiscard]] std::size_t alloc_index() const noexcept { return alloc_index_; }
  /// The index the next resize or remap gets: successful resizes and remaps so far.
  [[nodiscard]] std::size_t resize_index() const noexcept { return resize_index_; }

  /// True once an allocation failed because alloc_index() reached fail_index().
  [[nodiscard]] bool has_induced_failure() const noexcept { return has_induced_failure_; }
  /// Where the first induced allocation failure happened (empty before it).
  [[nodiscard]] const stack_trace& induced_failure_trace() const noexcept { return induced_failure_trace_; }
  /// True once a resize or remap was refused because resize_index() reached resize_fail_index().
  /// (Zig's FailingAllocator does not record these; check_all_resize_failures needs it.)
  [[nodiscard]] bool has_induced_resize_failure() const noexcept { return has_induced_resize_failure_; }
  /// Where the first induced resize failure happened (empty before it).
  [[nodiscard]] const stack_trace& induced_resize_failure_trace() const noexcept {
    return induced_resize_failure_trace_;
  }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void* do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override;
  bool do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override;
  void* do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override;

  bool fail_allocation() noexcept;
  bool fail_resize() noexcept;
  void count_allocation(std::size_t bytes) noexcept;
  void count_resize(std::size_t old_bytes, std::size_t new_bytes) noexcept;

  std::size_t fail_index_;
  std::size_t resize_fail_index_;
  std::size_t allocations_ = 0;
  std::size_t deallocations_ = 0;
  std::size_t allocated_bytes_ = 0;
  std::size_t freed_bytes_ = 0;
  std::size_t alloc_index_ = 0;
  std::size_t resize_index_ = 0;
  bool has_induced_failure_ = false;
  bool has_induced_resize_failure_ = false;
  stack_trace induced_failure_trace_;
  stack_trace induced_resize_failure_trace_;
};

}  // namespace pmrheap

#endif  // PMRHEAP_TESTING_FAILING_RESOURCE_HPP
