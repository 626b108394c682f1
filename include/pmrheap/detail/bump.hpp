// SPDX-License-Identifier: MIT
// The bump core shared by every bump resource (arena_resource, virtual_arena_resource, the fixed
// buffers): one bump, one "is this the newest block" rule, one "is this block ours" rule and one
// shape of slow path. A resource keeps a region [begin, end) and a cursor inside it; these
// functions are the only arithmetic on them.
#ifndef PMRHEAP_DETAIL_BUMP_HPP
#define PMRHEAP_DETAIL_BUMP_HPP

#include <cstddef>
#include <cstdint>

#include "pmrheap/detail/align.hpp"
#include "pmrheap/resource.hpp"

namespace pmrheap::detail {

/// The bump pointer: aligns `cursor` to `alignment` (a power of two) and, when `bytes` fit before
/// `end`, sets `block` to them and moves `cursor` past them, with one compare: `bytes - 1` turns a
/// zero-byte request into SIZE_MAX, which never fits, and the room left wraps above the room when
/// aligning passes `end`, so no wrapped size passes as a fit. **Returns**: whether it fit (a bool,
/// not a null block, so the caller needs no second test); `cursor` and `block` are unchanged when
/// not.
[[nodiscard]] inline bool bump(std::byte*& cursor, std::byte* end, std::size_t bytes, std::size_t alignment,
                               std::byte*& block) noexcept {
  const auto room = static_cast<std::size_t>(end - cursor);
  const std::size_t pad = align_offset(cursor, alignment);
  const std::size_t left = room - pad;
  if (left <= room && bytes - 1 < left) [[likely]] {
    // cursor + pad, not end - left: the next call's cursor then depends on this one's through the
    // padding alone, not through the room as well (one dependent subtraction fewer per block).
    block = cursor + pad;
    cursor = block + bytes;
    return true;
  }
  return false;
}

// Integer arithmetic from here on: `p` is whatever a caller passed, maybe no pointer of ours, and
// comparing or subtracting unrelated pointers is undefined.

/// True when [p, p + bytes) is a non-empty block inside [begin, end). Addresses below `begin` wrap
/// to offsets past the region, so one subtraction rules them out.
[[nodiscard]] inline bool holds(const void* p, std::size_t bytes, const std::byte* begin,
                                const std::byte* end) noexcept {
  const auto offset = reinterpret_cast<std::uintptr_t>(p) - reinterpret_cast<std::uintptr_t>(begin);
  const auto size = static_cast<std::uintptr_t>(end - begin);
  return bytes != 0 && offset < size && bytes <= size - offset;
}

/// The newest-block rule: true when [p, p + bytes) is a non-empty block of [begin, cursor) ending
/// at `cursor`, the one block a bump resource can give back or grow. A foreign block that merely
/// ends at the cursor (one just below the region) is not newest.
[[nodiscard]] inline bool is_newest(const void* p, std::size_t bytes, const std::byte* begin,
                                    const std::byte* cursor) noexcept {
  const auto at = reinterpret_cast<std::uintptr_t>(p);
  const auto top = reinterpret_cast<std::uintptr_t>(cursor);
  return bytes != 0 && bytes <= static_cast<std::uintptr_t>(cursor - begin) && at == top - bytes;
}

/// The one slow path of a bump resource's allocate(), after the inline bump missed: the contract's
/// answers for a bad alignment (std::invalid_argument) and zero bytes (the empty block), then
/// `refill()` (the resource's noexcept "find room elsewhere": a new node, a commit, or nothing),
/// and pmrheap::out_of_memory if that found none too.
template <class Refill>
[[nodiscard]] void* allocate_missed(std::size_t bytes, std::size_t alignment, Refill&& refill) {
  if (!is_pow2(alignment)) throw_allocation_failure(bytes, alignment);
  if (bytes == 0) return empty_block(alignment);
  void* const p = refill();
  if (p == nullptr) throw_allocation_failure(bytes, alignment);
  return p;
}

}  // namespace pmrheap::detail

#endif  // PMRHEAP_DETAIL_BUMP_HPP
