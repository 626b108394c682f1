// SPDX-License-Identifier: MIT
// synchronized_resource: any memory resource shared between threads behind one lock (Zig's
// ThreadSafeAllocator).
#ifndef PMRHEAP_SYNCHRONIZED_RESOURCE_HPP
#define PMRHEAP_SYNCHRONIZED_RESOURCE_HPP

#include <cstddef>
#include <memory_resource>
#include <mutex>

#include "pmrheap/resource.hpp"

namespace pmrheap {

/// Forwards allocate, try_allocate, deallocate, resize and remap to `upstream` with a `Mutex` held
/// around each call, so a resource that is not thread-safe (an arena, a fixed buffer,
/// std::pmr::unsynchronized_pool_resource) can be shared. `Mutex` needs lock() and unlock():
/// std::mutex, std::recursive_mutex, a spin lock of your own.
/// - resize and remap go through pmrheap::resize / pmrheap::remap, so a std upstream only
///   "resizes" to the same size.
/// - Zero-byte requests get the shared contract's empty block and never reach the upstream.
/// **Fails**: as the upstream: allocate passes on what the upstream throws (a size whose rounding
/// overflows is pmrheap::out_of_memory before the upstream sees it); try_allocate returns nullptr,
/// resize false, remap nullptr.
/// **Cost**: one lock and unlock per call (about 5 ns uncontended on x86-64 Linux) plus the
/// upstream's work; every call is serialised, so heavy multi-threaded use wants a per-thread
/// resource instead.
/// **Thread safety**: safe, as long as nothing uses the upstream directly meanwhile (lock mutex()
/// first if something must).
template <class Mutex = std::mutex>
class synchronized_resource final : public resource {
 public:
  /// A null `upstream` means std::pmr::get_default_resource().
  explicit synchronized_resource(std::pmr::memory_resource* upstream = std::pmr::get_default_resource()) noexcept
      : upstream_(upstream != nullptr ? upstream : std::pmr::get_default_resource()) {}
  synchronized_resource(const synchronized_resource&) = delete;
  synchronized_resource& operator=(const synchronized_resource&) = delete;
  ~synchronized_resource() override = default;

  [[nodiscard]] std::pmr::memory_resource* upstream_resource() const noexcept { return upstream_; }
  /// The lock every call takes.
  [[nodiscard]] Mutex& mutex() noexcept { return mutex_; }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    std::size_t rounded = 0;
    if (bytes == 0 || !detail::is_pow2(alignment) || !detail::align_up_checked(bytes, alignment, rounded))
      return resource::do_allocate(bytes, alignment);  // the contract's answers
    std::lock_guard<Mutex> lock(mutex_);
    return upstream_->allocate(bytes, alignment);  // what the upstream throws reaches the caller
  }
  void* do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept override {
    std::lock_guard<Mutex> lock(mutex_);
    return pmrheap::try_allocate(*upstream_, bytes, alignment);
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    if (bytes == 0) return;  // the empty block never came from the upstream
    std::lock_guard<Mutex> lock(mutex_);
    upstream_->deallocate(p, bytes, alignment);
  }
  bool do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override {
    std::lock_guard<Mutex> lock(mutex_);
    return pmrheap::resize(*upstream_, p, old_bytes, new_bytes, alignment);
  }
  void* do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override {
    std::lock_guard<Mutex> lock(mutex_);
    return pmrheap::remap(*upstream_, p, old_bytes, new_bytes, alignment);
  }

  std::pmr::memory_resource* upstream_;
  Mutex mutex_;
};

// The common case is compiled once, in the library.
extern template class PMRHEAP_API synchronized_resource<std::mutex>;

}  // namespace pmrheap

#endif  // PMRHEAP_SYNCHRONIZED_RESOURCE_HPP
