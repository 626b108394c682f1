// SPDX-License-Identifier: MIT
// A test upstream that says no on demand, so tests can prove what a resource does when its upstream
// refuses, and that it stays usable afterwards. Shared by every test file; never copy it into one.
#ifndef PMRHEAP_TESTS_SUPPORT_REFUSING_RESOURCE_HPP
#define PMRHEAP_TESTS_SUPPORT_REFUSING_RESOURCE_HPP

#include <cstddef>
#include <memory_resource>

#include "pmrheap/resource.hpp"

namespace pmrheap::test {

/// Forwards to `upstream` (allocate, deallocate, and pmrheap resize/remap) except what it is told
/// to refuse: while `refuse_allocations` is set every allocation fails (try_allocate nullptr,
/// allocate pmrheap::out_of_memory); while `refuse_resizes` is set every resize and remap fails.
/// Deallocation is never refused. `refused` counts the refusals.
class refusing_resource final : public pmrheap::resource {
 public:
  explicit refusing_resource(std::pmr::memory_resource* upstream = std::pmr::new_delete_resource()) noexcept
      : upstream_(upstream) {}

  bool refuse_allocations = false;
  bool refuse_resizes = false;
  std::size_t refused = 0;

 private:
  void* do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept override {
    if (refuse_allocations) return refuse<void*>(nullptr);
    return pmrheap::try_allocate(*upstream_, bytes, alignment);
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    if (bytes == 0) return;  // The empty block never came from upstream.
    upstream_->deallocate(p, bytes, alignment);
  }
  bool do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override {
    if (refuse_resizes) return refuse(false);
    return pmrheap::resize(*upstream_, p, old_bytes, new_bytes, alignment);
  }
  void* do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override {
    if (refuse_resizes) return refuse<void*>(nullptr);
    return pmrheap::remap(*upstream_, p, old_bytes, new_bytes, alignment);
  }
  template <class T>
  T refuse(T answer) noexcept {
    ++refused;
    return answer;
  }

  std::pmr::memory_resource* upstream_;
};

}  // namespace pmrheap::test

#endif  // PMRHEAP_TESTS_SUPPORT_REFUSING_RESOURCE_HPP
