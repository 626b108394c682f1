// SPDX-License-Identifier: MIT
// stack_fallback_resource<N>: N bytes inside the object first, a fallback resource when they are
// used up (Zig's StackFallbackAllocator, without its resetting get()).
#ifndef PMRHEAP_STACK_FALLBACK_RESOURCE_HPP
#define PMRHEAP_STACK_FALLBACK_RESOURCE_HPP

#include <cstddef>
#include <memory_resource>
#include <span>

#include "pmrheap/buffer_first_resource.hpp"
#include "pmrheap/detail/config.hpp"
#include "pmrheap/resource.hpp"

namespace pmrheap {

/// A buffer_first_resource over an N-byte buffer held inside the object, aligned to at least
/// alignof(std::max_align_t): put one on the stack and small or short-lived allocations never
/// reach the heap. Every rule is buffer_first_resource's; this template only holds the bytes.
/// Unlike Zig's StackFallbackAllocator there is no get() that re-initialises the buffer (calling
/// it twice handed the same memory out again): the buffer is set up once, by the constructor, and
/// only reset() frees it.
/// **Fails**: as buffer_first_resource.
/// **Cost**: as buffer_first_resource; sizeof is N plus a few pointers.
/// **Thread safety**: none.
template <std::size_t N>
class PMRHEAP_API stack_fallback_resource final : public resource {
  static_assert(N > 0, "stack_fallback_resource needs a buffer of at least one byte");

 public:
  /// Falls back on std::pmr::get_default_resource() as it is at construction.
  stack_fallback_resource() noexcept : stack_fallback_resource(std::pmr::get_default_resource()) {}
  /// Falls back on `fallback`; null means std::pmr::null_memory_resource() (the buffer only).
  explicit stack_fallback_resource(std::pmr::memory_resource* fallback) noexcept
      : inner_(std::span<std::byte>(storage_), fallback) {}
  // Blocks point into storage_, so a copy or a move could only hand out memory twice.
  stack_fallback_resource(const stack_fallback_resource&) = delete;
  stack_fallback_resource& operator=(const stack_fallback_resource&) = delete;
  ~stack_fallback_resource() override = default;

  /// **Returns**: true when `p` points into the inline buffer.
  [[nodiscard]] bool owns(const void* p) const noexcept { return inner_.owns(p); }
  /// **Returns**: the fallback.
  [[nodiscard]] std::pmr::memory_resource* upstream_resource() const noexcept { return inner_.upstream_resource(); }
  /// **Returns**: bytes of the inline buffer in use, padding and unreclaimed blocks included.
  [[nodiscard]] std::size_t used() const noexcept { return inner_.used(); }
  /// **Returns**: N.
  [[nodiscard]] static constexpr std::size_t capacity() noexcept { return N; }
  /// Makes the whole inline buffer free again; fallback blocks are not affected. **Requires**: no
  /// block of the buffer still in use.
  void reset() noexcept { inner_.reset(); }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override { return inner_.allocate(bytes, alignment); }
  void* do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept override {
    return inner_.try_allocate(bytes, alignment);
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    inner_.deallocate(p, bytes, alignment);
  }
  bool do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override {
    return inner_.resize(p, old_bytes, new_bytes, alignment);
  }
  void* do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override {
    return inner_.remap(p, old_bytes, new_bytes, alignment);
  }

  alignas(std::max_align_t) std::byte storage_[N];
  buffer_first_resource inner_;  // After storage_: constructed over it, destroyed (unpoisoning it) before it.
};

// The size Zig's tests use, compiled once in the library.
extern template class stack_fallback_resource<4096>;

}  // namespace pmrheap

#endif  // PMRHEAP_STACK_FALLBACK_RESOURCE_HPP
