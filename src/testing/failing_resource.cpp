// SPDX-License-Identifier: MIT
// failing_resource. Counters move only after the upstream succeeded, so a failure of any kind
// leaves them as they were, which is what makes the failure sticky.
#include "pmrheap/testing/failing_resource.hpp"

#include "pmrheap/detail/align.hpp"

namespace pmrheap {
namespace {

// Frames to drop from an induced failure's trace: the helper that captures it and the do_* hook.
constexpr std::size_t own_frames = 2;

}  // namespace

failing_resource::~failing_resource() = default;

PMRHEAP_NOINLINE bool failing_resource::fail_allocation() noexcept {
  if (alloc_index_ != fail_index_) return false;
  if (!has_induced_failure_) {
    has_induced_failure_ = true;
    induced_failure_trace_ = stack_trace::capture(stack_trace::max_frames, own_frames);
  }
  return true;
}

PMRHEAP_NOINLINE bool failing_resource::fail_resize() noexcept {
  if (resize_index_ != resize_fail_index_) return false;
  if (!has_induced_resize_failure_) {
    has_induced_resize_failure_ = true;
    induced_resize_failure_trace_ = stack_trace::capture(stack_trace::max_frames, own_frames);
  }
  return true;
}

void failing_resource::count_allocation(std::size_t bytes) noexcept {
  ++allocations_;
  ++alloc_index_;
  allocated_bytes_ += bytes;
}

void failing_resource::count_resize(std::size_t old_bytes, std::size_t new_bytes) noexcept {
  ++resize_index_;
  if (new_bytes > old_bytes) {
    allocated_bytes_ += new_bytes - old_bytes;
  } else {
    freed_bytes_ += old_bytes - new_bytes;
  }
}

void* failing_resource::do_allocate(std::size_t bytes, std::size_t alignment) {
  // Zero bytes and bad alignments get the shared contract's answers without counting.
  if (bytes == 0 || !detail::is_pow2(alignment)) return forward_allocate(bytes, alignment);
  if (fail_allocation()) throw out_of_memory(bytes, alignment);
  // allocate, not try_allocate: whatever the upstream throws reaches the code under test unchanged.
  void* const p = forward_allocate(bytes, alignment);
  count_allocation(bytes);
  return p;
}

void* failing_resource::do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept {
  if (fail_allocation()) return nullptr;
  void* const p = forward_try_allocate(bytes, alignment);
  if (p != nullptr) count_allocation(bytes);
  return p;
}

void failing_resource::do_deallocate(void* p, std::size_t bytes, std::size_t alignment) {
  if (bytes == 0) return;  // The empty block never came from the upstream.
  forward_deallocate(p, bytes, alignment);
  ++deallocations_;
  freed_bytes_ += bytes;
}

bool failing_resource::do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes,
                                 std::size_t alignment) noexcept {
  if (fail_resize()) return false;
  if (!forward_resize(p, old_bytes, new_bytes, alignment)) return false;
  count_resize(old_bytes, new_bytes);
  return true;
}

void* failing_resource::do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes,
                                 std::size_t alignment) noexcept {
  if (fail_resize()) return nullptr;
  void* const q = forward_remap(p, old_bytes, new_bytes, alignment);
  if (q != nullptr) count_resize(old_bytes, new_bytes);
  return q;
}

}  // namespace pmrheap
