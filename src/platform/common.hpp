// SPDX-License-Identifier: MIT
// Pieces shared by the per-OS page-mapping files. Internal: not installed.
#ifndef PMRHEAP_SRC_PLATFORM_COMMON_HPP
#define PMRHEAP_SRC_PLATFORM_COMMON_HPP

#include <cstddef>
#include <cstdint>

#include "pmrheap/detail/align.hpp"
#include "pmrheap/platform.hpp"

namespace pmrheap::platform::detail {

using pmrheap::detail::align_up;
using pmrheap::detail::is_pow2;
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

}  // namespace pmrheap::platform::detail

#endif  // PMRHEAP_SRC_PLATFORM_COMMON_HPP
