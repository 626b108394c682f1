// SPDX-License-Identifier: MIT
// Pieces shared by the per-OS page-mapping files. Internal: not installed.
#ifndef PMRHEAP_SRC_PLATFORM_COMMON_HPP
#define PMRHEAP_SRC_PLATFORM_COMMON_HPP

#include <cstddef>
#include <cstdint>

#include "pmrheap/detail/align.hpp"
#include "pmrheap/platform/pages.hpp"

namespace pmrheap::platform::detail {

using pmrheap::detail::align_up;
using pmrheap::detail::size_max;

/// Asks the OS for its page size; 0 when it cannot tell. One definition per OS file.
std::size_t query_page_size() noexcept;

/// `bytes` rounded up to whole pages. False for 0 and for sizes within a page of SIZE_MAX, which
/// the rounding (or the kernel) could not represent.
[[nodiscard]] inline bool page_length(std::size_t bytes, std::size_t page, std::size_t& out) noexcept {
  if (bytes == 0 || bytes >= size_max - page) return false;
  out = align_up(bytes, page);
  return true;
}

/// True when [p, p + bytes) is a range commit/decommit accept: `p` non-null and page-aligned,
/// `bytes` a non-zero multiple of the page size, and the end not past the top of the address space.
[[nodiscard]] inline bool page_range(const void* p, std::size_t bytes, std::size_t page) noexcept {
  if (p == nullptr || bytes == 0 || !pmrheap::detail::is_aligned(p, page)) return false;
  if (pmrheap::detail::align_down(bytes, page) != bytes) return false;
  const auto start = reinterpret_cast<std::uintptr_t>(p);
  return bytes - 1 <= static_cast<std::uintptr_t>(-1) - start;
}

/// huge_page_size() for the OS: 0 where it has none. One definition per OS file.
std::size_t query_huge_page_size() noexcept;

/// What every OS's remap decides before it touches the mapping.
enum class remap_plan {
  refuse,  ///< Bad input, or a change of page count for a block aligned above the page size.
  same,    ///< The page count does not change: the block stays as it is.
  change,  ///< `old_length` and `new_length` (whole pages) differ; the OS file does the rest.
};

[[nodiscard]] inline remap_plan plan_remap(const void* p, std::size_t old_bytes, std::size_t new_bytes,
                                           std::size_t alignment, std::size_t page, std::size_t& old_length,
                                           std::size_t& new_length) noexcept {
  if (p == nullptr || !pmrheap::detail::is_pow2(alignment)) return remap_plan::refuse;
  if (!page_length(old_bytes, page, old_length) || !page_length(new_bytes, page, new_length)) return remap_plan::refuse;
  if (new_length == old_length) return remap_plan::same;
  // Across pages, a block aligned above the page size could come back less aligned (mremap) or
  // lose its trimmed layout; within its pages nothing moves, so that was answered above.
  return alignment > page ? remap_plan::refuse : remap_plan::change;
}

}  // namespace pmrheap::platform::detail

#endif  // PMRHEAP_SRC_PLATFORM_COMMON_HPP
