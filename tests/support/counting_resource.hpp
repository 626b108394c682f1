// SPDX-License-Identifier: MIT
// A test upstream that counts what passes through it, so tests can prove "no upstream call" and
// "nothing leaked". Shared by every test file; never copy it into one.
#ifndef PMRHEAP_TESTS_SUPPORT_COUNTING_RESOURCE_HPP
#define PMRHEAP_TESTS_SUPPORT_COUNTING_RESOURCE_HPP

#include <cstddef>
#include <memory_resource>

#include "pmrheap/resource.hpp"

namespace pmrheap::test {

/// Forwards to `upstream` (allocate, deallocate, and pmrheap resize/remap) and counts each call.
class counting_resource final : public pmrheap::resource {
 public:
  explicit counting_resource(std::pmr::memory_resource* upstream = std::pmr::new_delete_resource()) noexcept
      : upstream_(upstream) {}

  std::size_t allocations = 0;
  std::size_t deallocations = 0;
  std::size_t resizes = 0;  ///< Successful resize or remap calls.
  std::size_t failed_resizes = 0;
  std::size_t live_bytes = 0;
  std::size_t peak_bytes = 0;

  [[nodiscard]] std::size_t live() const noexcept { return allocations - deallocations; }
  [[nodiscard]] std::size_t calls() const noexcept { return allocations + deallocations + resizes + failed_resizes; }

 private:
  void grow(std::size_t bytes) noexcept {
    live_bytes += bytes;
    if (live_bytes > peak_bytes) peak_bytes = live_bytes;
  }
  void* do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept override {
    void* p = pmrheap::try_allocate(*upstream_, bytes, alignment);
    if (p != nullptr) {
      ++allocations;
      grow(bytes);
    }
    return p;
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    if (bytes == 0) return;
    ++deallocations;
    live_bytes -= bytes;
    upstream_->deallocate(p, bytes, alignment);
  }
  bool do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override {
    const bool ok = pmrheap::resize(*upstream_, p, old_bytes, new_bytes, alignment);
    account(ok, old_bytes, new_bytes);
    return ok;
  }
  void* do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override {
    void* q = pmrheap::remap(*upstream_, p, old_bytes, new_bytes, alignment);
    account(q != nullptr, old_bytes, new_bytes);
    return q;
  }
  void account(bool ok, std::size_t old_bytes, std::size_t new_bytes) noexcept {
    if (!ok) {
      ++failed_resizes;
      return;
    }
    ++resizes;
    live_bytes -= old_bytes;
    grow(new_bytes);
  }

  std::pmr::memory_resource* upstream_;
};

}  // namespace pmrheap::test

#endif  // PMRHEAP_TESTS_SUPPORT_COUNTING_RESOURCE_HPP
