// SPDX-License-Identifier: MIT
// fixed_buffer_resource and concurrent_fixed_buffer_resource: bump allocation in a buffer the
// caller owns (Zig's FixedBufferAllocator and its thread-safe interface).
#ifndef PMRHEAP_FIXED_BUFFER_RESOURCE_HPP
#define PMRHEAP_FIXED_BUFFER_RESOURCE_HPP

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

#include "pmrheap/detail/align.hpp"
#include "pmrheap/detail/bump.hpp"
#include "pmrheap/detail/config.hpp"
#include "pmrheap/detail/sanitizer.hpp"
#include "pmrheap/resource.hpp"

namespace pmrheap {
namespace detail {

/// The caller's buffer seen as offsets from its start: the arithmetic both fixed-buffer resources
/// share. Every computation is on offsets, so no pointer outside the buffer is ever formed and no
/// sum can wrap.
class bump_buffer {
 public:
  /// A null buffer has no capacity, whatever `size` says.
  bump_buffer(void* base, std::size_t size) noexcept
      : base_(static_cast<std::byte*>(base)), capacity_(base == nullptr ? 0 : size) {}

  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] std::byte* at(std::size_t offset) const noexcept { return base_ + offset; }
  [[nodiscard]] std::byte* end() const noexcept { return base_ + capacity_; }

  /// Where a block of `bytes` (> 0) aligned to `alignment` (a power of two) starts once the first
  /// `used` bytes are taken: detail::bump on offsets. **Returns**: false when it does not fit;
  /// `start` is then meaningless.
  [[nodiscard]] bool fit(std::size_t used, std::size_t bytes, std::size_t alignment,
                         std::size_t& start) const noexcept {
    std::byte* cursor = base_ + used;
    std::byte* block = nullptr;
    if (!detail::bump(cursor, end(), bytes, alignment, block)) return false;
    start = static_cast<std::size_t>(block - base_);
    return true;
  }
  /// detail::is_newest with the cursor at offset `used`.
  [[nodiscard]] bool is_newest(const void* p, std::size_t bytes, std::size_t used) const noexcept {
    return detail::is_newest(p, bytes, base_, base_ + used);
  }

  /// The offset of `p`: capacity() or more for any address outside the buffer (addresses below it
  /// wrap to huge offsets, which is why this is integer arithmetic, not pointer subtraction).
  [[nodiscard]] std::size_t offset_of(const void* p) const noexcept {
    return static_cast<std::size_t>(reinterpret_cast<std::uintptr_t>(p) - reinterpret_cast<std::uintptr_t>(base_));
  }
  [[nodiscard]] bool owns(const void* p) const noexcept { return offset_of(p) < capacity_; }
  /// True when the whole non-empty block [p, p + bytes) lies in the buffer (detail::holds); its
  /// offset goes to `offset`.
  [[nodiscard]] bool holds(const void* p, std::size_t bytes, std::size_t& offset) const noexcept {
    offset = offset_of(p);
    return detail::holds(p, bytes, base_, end());
  }

  /// Exact poisoning of [begin, end) (offsets), for a single-threaded owner.
  void poison(std::size_t begin, std::size_t end) const noexcept { detail::poison(base_ + begin, end - begin); }
  void unpoison(std::size_t begin, std::size_t end) const noexcept { detail::unpoison(base_ + begin, end - begin); }

  // ASan keeps one shadow byte per 8-byte granule and updates a partly covered granule with a
  // read-modify-write. Two threads whose neighbouring blocks share a granule could then undo each
  // other's update and poison a live byte. The concurrent resource therefore only ever writes
  // whole granules inside the buffer: it poisons the granules lying wholly inside a dead range and
  // unpoisons every granule touching a live one. It misses some bytes; it never reports a false one.
  static constexpr std::size_t granule = 8;

  void poison_granules(std::size_t begin, std::size_t end) const noexcept {
    const std::size_t low = align_up(address(begin), granule);
    const std::size_t high = align_down(address(end), granule);
    if (low < high) detail::poison(reinterpret_cast<void*>(low), high - low);
  }
  void unpoison_granules(std::size_t begin, std::size_t end) const noexcept {
    // Every granule touching [begin, end), clipped to the granules wholly inside the buffer.
    std::size_t low = align_down(address(begin), granule);
    std::size_t high = align_up(address(end), granule);
    const std::size_t first = align_up(address(0), granule);
    const std::size_t last = align_down(address(capacity_), granule);
    if (low < first) low = first;
    if (high > last) high = last;
    if (low < high) detail::unpoison(reinterpret_cast<void*>(low), high - low);
  }

 private:
  [[nodiscard]] std::size_t address(std::size_t offset) const noexcept {
    return static_cast<std::size_t>(reinterpret_cast<std::uintptr_t>(base_)) + offset;
  }

  std::byte* base_;
  std::size_t capacity_;
};

/// What do_allocate does when a buffer declined: the empty block for 0 bytes, otherwise the
/// exception of the contract (std::invalid_argument for a bad alignment, out_of_memory).
[[nodiscard]] PMRHEAP_API PMRHEAP_NOINLINE void* allocate_declined(std::size_t bytes, std::size_t alignment);

}  // namespace detail

/// Bump allocation in a buffer the caller owns (Zig's FixedBufferAllocator). Never calls anything
/// else; when the buffer is full, allocation fails.
/// - deallocate reclaims a block only when it is the last one (it ends where the free space
///   begins); any other block stays used until reset(). Alignment padding is never reclaimed.
/// - resize/remap: any block can shrink (true; only the last one gives bytes back); only the last
///   block can grow, within the buffer. remap never moves a block.
/// - A pointer outside the buffer (or a block running past its end) is not ours: deallocate ignores
///   it, resize returns false, remap nullptr.
/// - With AddressSanitizer, bytes not handed out are poisoned, and bytes given back (deallocate,
///   shrink, reset) are poisoned again; the destructor unpoisons the whole buffer.
/// **Fails**: allocate throws pmrheap::out_of_memory when the block does not fit.
/// **Cost**: allocate is an align, two compares and a bump, inline.
/// **Thread safety**: none; see concurrent_fixed_buffer_resource.
class PMRHEAP_API fixed_buffer_resource final : public resource {
 public:
  /// Allocates from the `size` bytes at `buffer`, which must outlive this resource. A null
  /// `buffer` has no capacity.
  // Inline, with the destructor: a stack_fallback_resource is built and destroyed per call.
  fixed_buffer_resource(void* buffer, std::size_t size) noexcept : buffer_(buffer, size), cursor_(buffer_.at(0)) {
    buffer_.poison(0, buffer_.capacity());
  }
  /// Allocates from `buffer`, which must outlive this resource.
  explicit fixed_buffer_resource(std::span<std::byte> buffer) noexcept
      : fixed_buffer_resource(buffer.data(), buffer.size()) {}
  fixed_buffer_resource(const fixed_buffer_resource&) = delete;
  fixed_buffer_resource& operator=(const fixed_buffer_resource&) = delete;
  /// Leaves the whole buffer unpoisoned: it is the caller's again.
  // The caller uses the buffer again after us (a stack array becomes part of the next call's
  // frame, a heap block goes back to malloc); bytes left poisoned would make ASan report errors in
  // code that never saw this resource, so all of it is unpoisoned, handed out or not.
  ~fixed_buffer_resource() override { buffer_.unpoison(0, buffer_.capacity()); }

  /// std::pmr::memory_resource::allocate and deallocate, declared again so that a call through
  /// this type binds statically and inlines the fast path with every compiler (clang devirtualises
  /// only on the static type of a call, and these calls would otherwise go through the base).
  /// Same contract and results as the base's.
  [[nodiscard]] void* allocate(std::size_t bytes, std::size_t alignment = alignof(std::max_align_t)) {
    return fixed_buffer_resource::do_allocate(bytes, alignment);
  }
  /// Same contract as the base's deallocate, without the virtual call.
  void deallocate(void* p, std::size_t bytes, std::size_t alignment = alignof(std::max_align_t)) {
    fixed_buffer_resource::do_deallocate(p, bytes, alignment);
  }

  /// **Returns**: true when `p` points into the buffer (one past its end does not).
  [[nodiscard]] bool owns(const void* p) const noexcept { return buffer_.owns(p); }
  /// **Returns**: true when [p, p + bytes) is a non-empty block of the buffer ending where the
  /// free space begins: the one block deallocate reclaims and resize can grow.
  [[nodiscard]] bool is_last_allocation(const void* p, std::size_t bytes) const noexcept {
    return buffer_.is_newest(p, bytes, used());
  }
  /// **Returns**: bytes taken from the start of the buffer, padding and unreclaimed blocks included.
  [[nodiscard]] std::size_t used() const noexcept { return buffer_.offset_of(cursor_); }
  /// **Returns**: the size of the buffer.
  [[nodiscard]] std::size_t capacity() const noexcept { return buffer_.capacity(); }
  /// Makes the whole buffer free again (and poisons it). **Requires**: no block of it still in use.
  void reset() noexcept;

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    void* p = nullptr;
    if (detail::is_pow2(alignment) && bump(bytes, alignment, p)) [[likely]]
      return p;
    return detail::allocate_declined(bytes, alignment);
  }
  void* do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept override {
    void* p = nullptr;
    return bump(bytes, alignment, p) ? p : nullptr;
  }
  // Inline like the bump: a container's growth frees its old buffer as often as it allocates.
  void do_deallocate(void* p, std::size_t bytes, std::size_t) override {
    std::size_t offset = 0;
    if (!buffer_.holds(p, bytes, offset)) return;  // the empty block, or not ours
    // Poisoned even when it is not the last block: the bytes are never handed out again before
    // reset(), so any later use is a bug.
    buffer_.poison(offset, offset + bytes);
    if (buffer_.is_newest(p, bytes, used())) cursor_ = buffer_.at(offset);
  }
  bool do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override;

  // The fast path, arena_resource's (detail::bump). The cursor is a pointer, not an offset: the
  // next call's cursor then depends on this one's through one add fewer (about 1 ns of 3 per
  // allocation in bench_small).
  [[nodiscard]] bool bump(std::size_t bytes, std::size_t alignment, void*& block) noexcept {
    std::byte* p = nullptr;
    if (!detail::bump(cursor_, buffer_.end(), bytes, alignment, p)) [[unlikely]]
      return false;
    detail::unpoison(p, bytes);
    block = p;
    return true;
  }

  detail::bump_buffer buffer_;
  std::byte* cursor_;  ///< The first free byte.
};

/// The thread-safe sibling of fixed_buffer_resource (Zig's FixedBufferAllocator thread-safe
/// interface, as of Zig HEAD): the same rules, with the free-space offset an atomic.
/// - allocate: a compare-and-swap loop (acquire on success, relaxed on failure).
/// - deallocate of the last block: one strong CAS down (release); if another thread allocated in
///   between, the CAS fails and the bytes stay used until reset().
/// - resize: shrinking always returns true (one CAS down for the last block, whose loss only
///   means nothing is reclaimed); growing the last block is one CAS up, and false if it loses.
/// - Poisoning (AddressSanitizer) works on whole 8-byte granules so that threads never race on a
///   shadow byte: bytes sharing a granule with a live block stay addressable.
/// **Fails**: allocate throws pmrheap::out_of_memory when the block does not fit.
/// **Cost**: allocate is one CAS when uncontended.
/// **Thread safety**: allocate, deallocate, resize, remap and the queries are safe from any
/// thread; reset() and destruction need all other threads to be done with the resource.
class PMRHEAP_API concurrent_fixed_buffer_resource final : public resource {
 public:
  /// Allocates from the `size` bytes at `buffer`, which must outlive this resource.
  concurrent_fixed_buffer_resource(void* buffer, std::size_t size) noexcept;
  /// Allocates from `buffer`, which must outlive this resource.
  explicit concurrent_fixed_buffer_resource(std::span<std::byte> buffer) noexcept
      : concurrent_fixed_buffer_resource(buffer.data(), buffer.size()) {}
  concurrent_fixed_buffer_resource(const concurrent_fixed_buffer_resource&) = delete;
  concurrent_fixed_buffer_resource& operator=(const concurrent_fixed_buffer_resource&) = delete;
  /// Leaves the whole buffer unpoisoned: it is the caller's again.
  ~concurrent_fixed_buffer_resource() override;

  /// **Returns**: true when `p` points into the buffer (one past its end does not).
  [[nodiscard]] bool owns(const void* p) const noexcept { return buffer_.owns(p); }
  /// **Returns**: true when [p, p + bytes) is a non-empty block ending where the free space begins
  /// at the moment of the call (another thread may change that at once).
  [[nodiscard]] bool is_last_allocation(const void* p, std::size_t bytes) const noexcept {
    return buffer_.is_newest(p, bytes, used());
  }
  /// **Returns**: bytes taken from the start of the buffer at the moment of the call.
  [[nodiscard]] std::size_t used() const noexcept { return end_.load(std::memory_order_relaxed); }
  /// **Returns**: the size of the buffer.
  [[nodiscard]] std::size_t capacity() const noexcept { return buffer_.capacity(); }
  /// Makes the whole buffer free again. **Requires**: no block in use, no other thread using it.
  void reset() noexcept;

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    if (bytes != 0 && detail::is_pow2(alignment)) [[likely]]
      if (void* p = bump(bytes, alignment)) [[likely]]
        return p;
    return detail::allocate_declined(bytes, alignment);
  }
  void* do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept override { return bump(bytes, alignment); }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override;
  bool do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override;

  // `bytes` > 0, `alignment` a power of two. Acquire on success: the bytes may have been given
  // back by another thread's release.
  void* bump(std::size_t bytes, std::size_t alignment) noexcept {
    std::size_t used = end_.load(std::memory_order_relaxed);
    std::size_t start = 0;
    do {
      if (!buffer_.fit(used, bytes, alignment, start)) [[unlikely]]
        return nullptr;
    } while (!end_.compare_exchange_weak(used, start + bytes, std::memory_order_acquire, std::memory_order_relaxed));
    buffer_.unpoison_granules(start, start + bytes);
    return buffer_.at(start);
  }

  detail::bump_buffer buffer_;
  std::atomic<std::size_t> end_{0};  ///< Offset of the first free byte.
};

}  // namespace pmrheap

#endif  // PMRHEAP_FIXED_BUFFER_RESOURCE_HPP
