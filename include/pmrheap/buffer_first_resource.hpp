// SPDX-License-Identifier: MIT
// buffer_first_resource: a caller's buffer first, a fallback resource when it is full (Zig's
// BufferFirstAllocator).
#ifndef PMRHEAP_BUFFER_FIRST_RESOURCE_HPP
#define PMRHEAP_BUFFER_FIRST_RESOURCE_HPP

#include <cstddef>
#include <memory_resource>
#include <span>

#include "pmrheap/detail/config.hpp"
#include "pmrheap/fixed_buffer_resource.hpp"
#include "pmrheap/forwarding_resource.hpp"
#include "pmrheap/resource.hpp"

namespace pmrheap {

/// Allocations come from the caller's buffer (a fixed_buffer_resource) while they fit, and from
/// `fallback` otherwise (Zig's BufferFirstAllocator; StackFallbackAllocator before it).
/// - deallocate, resize and remap go to the buffer when it owns the pointer, else to the fallback.
///   A block never migrates between the two by resize or remap; pmrheap::reallocate migrates it by
///   allocate + copy + deallocate.
/// - Buffer blocks follow fixed_buffer_resource's rules: only the last one is reclaimed and can
///   grow. Fallback blocks resize and remap as the fallback allows (pmrheap::resize / remap, so a
///   std resource only "resizes" to the same size).
/// - Zero-byte blocks come from neither and go to neither. Any other pointer the buffer does not
///   own is passed to the fallback, so a foreign pointer is the fallback's problem.
/// - The fallback side is a forwarding_resource: its screening and null-upstream rule.
/// **Fails**: bad alignment and sizes that cannot be an object as the shared contract (checked
/// before the fallback sees them); when both are exhausted, allocate throws what the fallback throws (a
/// std::bad_alloc for every std and pmrheap resource), try_allocate returns nullptr.
/// **Cost**: the buffer's inline bump; past it, one call to the fallback.
/// **Thread safety**: none.
class PMRHEAP_API buffer_first_resource final : public forwarding_resource {
 public:
  /// Allocates from `buffer` (which must outlive this resource), then from `fallback`. A null
  /// `fallback` is std::pmr::null_memory_resource(): the buffer only.
  buffer_first_resource(std::span<std::byte> buffer, std::pmr::memory_resource* fallback) noexcept
      : forwarding_resource(fallback), buffer_(buffer) {}
  buffer_first_resource(const buffer_first_resource&) = delete;
  buffer_first_resource& operator=(const buffer_first_resource&) = delete;
  ~buffer_first_resource() override = default;

  /// **Returns**: true when `p` points into the buffer, i.e. deallocate(p) goes to the buffer.
  [[nodiscard]] bool owns(const void* p) const noexcept { return buffer_.owns(p); }
  /// **Returns**: bytes of the buffer in use, padding and unreclaimed blocks included.
  [[nodiscard]] std::size_t used() const noexcept { return buffer_.used(); }
  /// **Returns**: the size of the buffer.
  [[nodiscard]] std::size_t capacity() const noexcept { return buffer_.capacity(); }
  /// Makes the whole buffer free again; fallback blocks are not affected. **Requires**: no block
  /// of the buffer still in use.
  void reset() noexcept { buffer_.reset(); }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    if (void* p = buffer_.try_allocate(bytes, alignment)) [[likely]]
      return p;
    return allocate_fallback(bytes, alignment);
  }
  void* do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept override {
    if (void* p = buffer_.try_allocate(bytes, alignment)) [[likely]]
      return p;
    return try_allocate_fallback(bytes, alignment);
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    if (bytes == 0) return;  // The empty block came from neither.
    if (buffer_.owns(p)) [[likely]]
      return buffer_.deallocate(p, bytes, alignment);
    forward_deallocate(p, bytes, alignment);
  }
  bool do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override;
  void* do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override;

  PMRHEAP_NOINLINE void* allocate_fallback(std::size_t bytes, std::size_t alignment);
  PMRHEAP_NOINLINE void* try_allocate_fallback(std::size_t bytes, std::size_t alignment) noexcept;

  fixed_buffer_resource buffer_;
};

}  // namespace pmrheap

#endif  // PMRHEAP_BUFFER_FIRST_RESOURCE_HPP
