// SPDX-License-Identifier: MIT
// The one place where pmrheap rounds sizes and addresses. Nothing else does `& ~(a - 1)`.
#ifndef PMRHEAP_DETAIL_ALIGN_HPP
#define PMRHEAP_DETAIL_ALIGN_HPP

#include <cstddef>
#include <cstdint>
#include <limits>

namespace pmrheap::detail {

inline constexpr std::size_t size_max = std::numeric_limits<std::size_t>::max();

/// True for 1, 2, 4, ...; false for 0 and everything else. pmrheap uses this, never
/// std::has_single_bit: g++ 12 compiles that to a call to libgcc's __popcountdi2 on x86-64 unless
/// the build targets a CPU with popcnt, and an alignment check sits on every allocate.
[[nodiscard]] constexpr bool is_pow2(std::size_t x) noexcept { return x != 0 && (x & (x - 1)) == 0; }

/// `n` rounded up to a multiple of `alignment` (a power of two). Wraps on overflow: use
/// align_up_checked where `n` comes from a caller.
[[nodiscard]] constexpr std::size_t align_up(std::size_t n, std::size_t alignment) noexcept {
  return (n + alignment - 1) & ~(alignment - 1);
}

/// `n` rounded down to a multiple of `alignment` (a power of two).
[[nodiscard]] constexpr std::size_t align_down(std::size_t n, std::size_t alignment) noexcept {
  return n & ~(alignment - 1);
}

/// Rounds `n` up to `alignment` into `out`. Returns false, leaving `out` alone, when the result
/// does not fit in size_t.
[[nodiscard]] constexpr bool align_up_checked(std::size_t n, std::size_t alignment, std::size_t& out) noexcept {
  if (n > size_max - (alignment - 1)) return false;
  out = align_up(n, alignment);
  return true;
}

/// True when `alignment` is a power of two and `n` rounded up to it is at most PTRDIFF_MAX, the
/// largest object C++ can index. The one screening rule for requests bound for a resource that
/// does not screen them itself (forwarding_resource, the free functions of resource.hpp).
[[nodiscard]] constexpr bool fits_in_object(std::size_t n, std::size_t alignment) noexcept {
  constexpr auto limit = static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max());
  return is_pow2(alignment) && n <= limit - (alignment - 1);
}

/// `a + b` into `out`; false on overflow.
[[nodiscard]] constexpr bool checked_add(std::size_t a, std::size_t b, std::size_t& out) noexcept {
  if (a > size_max - b) return false;
  out = a + b;
  return true;
}

/// Bytes to add to `p` to reach the next multiple of `alignment`.
[[nodiscard]] inline std::size_t align_offset(const void* p, std::size_t alignment) noexcept {
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  return static_cast<std::size_t>((alignment - (addr & (alignment - 1))) & (alignment - 1));
}

/// True when `p` is a multiple of `alignment`.
[[nodiscard]] inline bool is_aligned(const void* p, std::size_t alignment) noexcept {
  return (reinterpret_cast<std::uintptr_t>(p) & (alignment - 1)) == 0;
}

/// The block every pmrheap resource returns for a zero-byte request: the highest address aligned
/// to `alignment`. It is never null, always aligned, never inside real memory, and needs no free.
[[nodiscard]] inline void* empty_block(std::size_t alignment) noexcept {
  return reinterpret_cast<void*>(~std::uintptr_t{0} & ~(static_cast<std::uintptr_t>(alignment) - 1));
}

}  // namespace pmrheap::detail

#endif  // PMRHEAP_DETAIL_ALIGN_HPP
