// SPDX-License-Identifier: MIT
// synchronized_resource: any memory resource shared between threads behind one lock (Zig's
// ThreadSafeAllocator).
#ifndef PMRHEAP_SYNCHRONIZED_RESOURCE_HPP
#define PMRHEAP_SYNCHRONIZED_RESOURCE_HPP

#include <cstddef>
#include <memory_resource>
#include <mutex>

#include "pmrheap/forwarding_resource.hpp"

namespace pmrheap {

/// Forwards allocate, try_allocate, deallocate, resize and remap to `upstream` with a `Mutex` held
/// around each call, so a resource that is not thread-safe (an arena, a fixed buffer,
/// std::pmr::unsynchronized_pool_resource) can be shared. `Mutex` needs lock() and unlock():
/// std::mutex, std::recursive_mutex, a spin lock of your own.
/// - Forwarding, screening and a null upstream as forwarding_resource: a request that cannot be
///   an object never reaches the upstream; resize and remap go through pmrheap::resize /
///   pmrheap::remap, so a std upstream only "resizes" to the same size.
/// **Fails**: as the upstream: allocate passes on what the upstream throws (a size that cannot be
/// an object is pmrheap::out_of_memory before the lock is taken); try_allocate returns nullptr,
/// resize false, remap nullptr.
/// **Cost**: one lock and unlock per call (about 5 ns uncontended on x86-64 Linux) plus the
/// upstream's work; every call is serialised, so heavy multi-threaded use wants a per-thread
/// resource instead.
/// **Thread safety**: safe, as long as nothing uses the upstream directly meanwhile (lock mutex()
/// first if something must).
template <class Mutex = std::mutex>
class synchronized_resource final : public forwarding_resource {
 public:
  /// Over std::pmr::get_default_resource() (read now).
  synchronized_resource() noexcept : synchronized_resource(std::pmr::get_default_resource()) {}
  /// Over `upstream`; null is std::pmr::null_memory_resource() (forwarding_resource).
  explicit synchronized_resource(std::pmr::memory_resource* upstream) noexcept : forwarding_resource(upstream) {}
  synchronized_resource(const synchronized_resource&) = delete;
  synchronized_resource& operator=(const synchronized_resource&) = delete;
  ~synchronized_resource() override = default;

  /// The lock every call takes.
  [[nodiscard]] Mutex& mutex() noexcept { return mutex_; }

 private:
  // Screened before the lock: a request that fails by the contract need not wait for it.
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    if (!forwardable(bytes, alignment)) [[unlikely]]
      return forward_allocate(bytes, alignment);
    std::lock_guard<Mutex> lock(mutex_);
    return forward_allocate(bytes, alignment);  // what the upstream throws reaches the caller
  }
  void* do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept override {
    std::lock_guard<Mutex> lock(mutex_);
    return forward_try_allocate(bytes, alignment);
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    if (bytes == 0) return;  // the empty block never came from the upstream
    std::lock_guard<Mutex> lock(mutex_);
    forward_deallocate(p, bytes, alignment);
  }
  bool do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override {
    std::lock_guard<Mutex> lock(mutex_);
    return forward_resize(p, old_bytes, new_bytes, alignment);
  }
  void* do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override {
    std::lock_guard<Mutex> lock(mutex_);
    return forward_remap(p, old_bytes, new_bytes, alignment);
  }

  Mutex mutex_;
};

// The common case is compiled once, in the library.
extern template class PMRHEAP_API synchronized_resource<std::mutex>;

}  // namespace pmrheap

#endif  // PMRHEAP_SYNCHRONIZED_RESOURCE_HPP
