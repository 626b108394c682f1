// SPDX-License-Identifier: MIT
// pmrheap::resource: std::pmr::memory_resource plus non-throwing allocation, in-place resize and
// remap; and free functions that offer the same operations on *any* std::pmr::memory_resource.
#ifndef PMRHEAP_RESOURCE_HPP
#define PMRHEAP_RESOURCE_HPP

#include <cstddef>
#include <memory_resource>
#include <new>

#include "pmrheap/detail/align.hpp"
#include "pmrheap/detail/config.hpp"

namespace pmrheap {

inline constexpr std::size_t default_alignment = alignof(std::max_align_t);

/// What a pmrheap resource throws when it cannot allocate: a std::bad_alloc that says how much
/// was asked for. Its message is built without allocating.
class PMRHEAP_API out_of_memory : public std::bad_alloc {
 public:
  /// A failure to allocate `bytes` bytes aligned to `alignment`.
  out_of_memory(std::size_t bytes, std::size_t alignment) noexcept;
  /// "pmrheap: out of memory allocating N bytes aligned to A".
  [[nodiscard]] const char* what() const noexcept override { return message_; }
  /// The size that was asked for.
  [[nodiscard]] std::size_t bytes() const noexcept { return bytes_; }
  /// The alignment that was asked for.
  [[nodiscard]] std::size_t alignment() const noexcept { return alignment_; }

 private:
  std::size_t bytes_;
  std::size_t alignment_;
  char message_[96];
};

/// Throws what a failed allocate(bytes, alignment) throws: std::invalid_argument naming the value
/// when `alignment` is not a power of two, pmrheap::out_of_memory otherwise.
[[noreturn]] PMRHEAP_API void throw_allocation_failure(std::size_t bytes, std::size_t alignment);

/// Base of every pmrheap resource. Public operations are non-virtual and validate their arguments
/// once, so the private do_* hooks only ever see a power-of-two alignment, a non-null block and
/// non-zero sizes (Zig's interface contract).
///
/// Contract shared by all pmrheap resources (docs/design.md):
/// - allocate(0, a) returns a non-null pointer aligned to `a` that owns no memory;
///   deallocate(p, 0, a) does nothing.
/// - An alignment that is not a power of two: allocate throws std::invalid_argument;
///   try_allocate returns nullptr, resize false, remap nullptr.
/// - A size whose rounding overflows is an allocation failure, never a wrap.
/// - resize/remap with 0 as either size, or a null block: false / nullptr, block untouched.
class PMRHEAP_API resource : public std::pmr::memory_resource {
 public:
  /// allocate() without the exception. **Returns**: the block, or nullptr on any failure.
  [[nodiscard]] void* try_allocate(std::size_t bytes, std::size_t alignment = default_alignment) noexcept {
    if (!detail::is_pow2(alignment)) [[unlikely]]
      return nullptr;
    if (bytes == 0) [[unlikely]]
      return detail::empty_block(alignment);
    return do_try_allocate(bytes, alignment);
  }

  /// Grows or shrinks the block at `p` without moving it. **Returns**: true when the block now has
  /// `new_bytes` usable bytes at `p`; false leaves it exactly as it was.
  [[nodiscard]] bool resize(void* p, std::size_t old_bytes, std::size_t new_bytes,
                            std::size_t alignment = default_alignment) noexcept {
    if (p == nullptr || old_bytes == 0 || new_bytes == 0 || !detail::is_pow2(alignment)) return false;
    if (old_bytes == new_bytes) return true;
    return do_resize(p, old_bytes, new_bytes, alignment);
  }

  /// Grows or shrinks the block at `p`, moving it if that is cheaper than allocate + copy + free
  /// (mremap, realloc). **Returns**: the block's new address (contents preserved up to the smaller
  /// size; the old address is invalid if it changed), or nullptr, block untouched, meaning
  /// "allocate, copy and free yourself".
  [[nodiscard]] void* remap(void* p, std::size_t old_bytes, std::size_t new_bytes,
                            std::size_t alignment = default_alignment) noexcept {
    if (p == nullptr || old_bytes == 0 || new_bytes == 0 || !detail::is_pow2(alignment)) return nullptr;
    if (old_bytes == new_bytes) return p;
    return do_remap(p, old_bytes, new_bytes, alignment);
  }

  ~resource() override;

 protected:
  resource() noexcept = default;
  /// Copies nothing but the (stateless) base: a derived resource decides whether it copies.
  resource(const resource&) noexcept = default;
  /// Assigns nothing but the (stateless) base.
  resource& operator=(const resource&) noexcept = default;

  /// Throws on failure; derived classes with an inline fast path override it to skip a call.
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    void* const p = try_allocate(bytes, alignment);
    if (p == nullptr) [[unlikely]]
      throw_allocation_failure(bytes, alignment);
    return p;
  }

  /// Identity, the right answer for every resource with state. Stateless resources override it.
  [[nodiscard]] bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }

 private:
  /// `bytes` > 0, `alignment` a power of two. nullptr on failure.
  virtual void* do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept = 0;
  /// Sizes > 0 and different, `alignment` a power of two. Default: cannot resize.
  virtual bool do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept;
  /// As do_resize. Default: resize in place or give up.
  virtual void* do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept;
};

/// try_allocate on any resource: a pmrheap::resource answers directly; any other resource is
/// asked with allocate(), and an exception becomes nullptr.
[[nodiscard]] PMRHEAP_API void* try_allocate(std::pmr::memory_resource& mr, std::size_t bytes,
                                             std::size_t alignment = default_alignment) noexcept;

/// resize on any resource. A resource that is not a pmrheap::resource can only "resize" to the
/// same size.
[[nodiscard]] PMRHEAP_API bool resize(std::pmr::memory_resource& mr, void* p, std::size_t old_bytes,
                                      std::size_t new_bytes, std::size_t alignment = default_alignment) noexcept;

/// remap on any resource. A resource that is not a pmrheap::resource returns nullptr unless the
/// sizes are equal.
[[nodiscard]] PMRHEAP_API void* remap(std::pmr::memory_resource& mr, void* p, std::size_t old_bytes,
                                      std::size_t new_bytes, std::size_t alignment = default_alignment) noexcept;

/// realloc for memory resources: remap first, then allocate + copy min(old, new) bytes + free.
/// `old_bytes` 0 (or `p` null) allocates; `new_bytes` 0 frees `p` and returns nullptr.
/// **Returns**: the block holding the old contents. **Fails**: throws what allocate throws
/// (std::bad_alloc, std::invalid_argument for a bad alignment) with the old block intact.
[[nodiscard]] PMRHEAP_API void* reallocate(std::pmr::memory_resource& mr, void* p, std::size_t old_bytes,
                                           std::size_t new_bytes, std::size_t alignment = default_alignment);

// Overloads for pmrheap resources skip the dynamic type check.
[[nodiscard]] inline void* try_allocate(resource& mr, std::size_t bytes,
                                        std::size_t alignment = default_alignment) noexcept {
  return mr.try_allocate(bytes, alignment);
}
[[nodiscard]] inline bool resize(resource& mr, void* p, std::size_t old_bytes, std::size_t new_bytes,
                                 std::size_t alignment = default_alignment) noexcept {
  return mr.resize(p, old_bytes, new_bytes, alignment);
}
[[nodiscard]] inline void* remap(resource& mr, void* p, std::size_t old_bytes, std::size_t new_bytes,
                                 std::size_t alignment = default_alignment) noexcept {
  return mr.remap(p, old_bytes, new_bytes, alignment);
}

}  // namespace pmrheap

#endif  // PMRHEAP_RESOURCE_HPP
