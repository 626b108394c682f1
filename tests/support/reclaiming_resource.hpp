// SPDX-License-Identifier: MIT
// A test upstream that remembers its live blocks and frees whatever is left when it is destroyed,
// so tests that leak on purpose (to prove a leak is reported) leave nothing for LeakSanitizer.
// Forwards resize and remap, so the code under test still sees a resource that can resize.
// With hold_frees it also keeps what is deallocated until then, so no address comes back: a test
// that frees a pointer again after its memory went back then means that block, not a newer one the
// upstream happened to place there (Windows' heap does, glibc's mostly does not).
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
  struct hold_frees_t {
    explicit hold_frees_t() = default;
  };
  static constexpr hold_frees_t hold_frees{};

  explicit reclaiming_resource(pmrheap::resource* upstream = pmrheap::c_resource::instance()) noexcept
      : upstream_(upstream) {}
  explicit reclaiming_resource(hold_frees_t, pmrheap::resource* upstream = pmrheap::c_resource::instance()) noexcept
      : upstream_(upstream), hold_frees_(true) {}
  reclaiming_resource(const reclaiming_resource&) = delete;
  reclaiming_resource& operator=(const reclaiming_resource&) = delete;
  ~reclaiming_resource() override {
    for (const auto& [p, block] : live_) upstream_->deallocate(p, block.bytes, block.alignment);
    for (const auto& [p, block] : held_) upstream_->deallocate(p, block.bytes, block.alignment);
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
    if (hold_frees_)
      held_.emplace(p, block{bytes, alignment});
    else
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
  bool hold_frees_ = false;
  mutable std::mutex mutex_;
  std::map<void*, block> live_;
  std::map<void*, block> held_;
};

}  // namespace pmrheap::test

#endif  // PMRHEAP_TESTS_SUPPORT_RECLAIMING_RESOURCE_HPP
