// SPDX-License-Identifier: MIT
// A test upstream that remembers its live blocks and frees whatever is left when it is destroyed,
// so tests that leak on purpose (to prove a leak is reported) leave nothing for LeakSanitizer.
// Forwards resize and remap, so the code under test still sees a resource that can resize.
#ifndef PMRHEAP_TESTS_SUPPORT_RECLAIMING_RESOURCE_HPP
#define PMRHEAP_TESTS_SUPPORT_RECLAIMING_RESOURCE_HPP

#include <cstddef>
#include <map>
#include <memory_resource>
#include <mutex>

#include "pmrheap/c_resource.hpp"
#include "pmrheap/resource.hpp"

namespace pmrheap::test {

class reclaiming_resource final : public pmrheap::resource {
 public:
  explicit reclaiming_resource(pmrheap::resource* upstream = pmrheap::c_resource::instance()) noexcept
      : upstream_(upstream) {}
  reclaiming_resource(const reclaiming_resource&) = delete;
  reclaiming_resource& operator=(const reclaiming_resource&) = delete;
  ~reclaiming_resource() override {
    for (const auto& [p, block] : live_) upstream_->deallocate(p, block.bytes, block.alignment);
  }

  /// Blocks not yet deallocated.
  [[nodiscard]] std::size_t live() const {
    std::lock_guard lock(mutex_);
    return live_.size();
  }

 private:
  struct block {
    std::size_t bytes;
    std::size_t alignment;
  };

  void* do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept override {
    std::lock_guard lock(mutex_);
    void* p = upstream_->try_allocate(bytes, alignment);
    if (p != nullptr) live_[p] = block{bytes, alignment};
    return p;
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    if (bytes == 0) return;
    std::lock_guard lock(mutex_);
    live_.erase(p);
    upstream_->deallocate(p, bytes, alignment);
  }
  bool do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override {
    std::lock_guard lock(mutex_);
    if (!upstream_->resize(p, old_bytes, new_bytes, alignment)) return false;
    live_[p].bytes = new_bytes;
    return true;
  }
  void* do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override {
    std::lock_guard lock(mutex_);
    void* q = upstream_->remap(p, old_bytes, new_bytes, alignment);
    if (q == nullptr) return nullptr;
    live_.erase(p);
    live_[q] = block{new_bytes, alignment};
    return q;
  }

  pmrheap::resource* upstream_;
  mutable std::mutex mutex_;
  std::map<void*, block> live_;
};

}  // namespace pmrheap::test

#endif  // PMRHEAP_TESTS_SUPPORT_RECLAIMING_RESOURCE_HPP
