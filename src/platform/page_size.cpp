// SPDX-License-Identifier: MIT
// platform::page_size() and huge_page_size(): the OS-independent caching around the per-OS queries.
#include <atomic>

#include "common.hpp"
#include "pmrheap/detail/align.hpp"

namespace pmrheap::platform {

std::size_t page_size() noexcept {
  if constexpr (page_size_min == page_size_max) {
    return page_size_min;
  } else {
    // Relaxed is enough: every thread that races here computes the same value.
    static std::atomic<std::size_t> cached{0};
    std::size_t size = cached.load(std::memory_order_relaxed);
    if (size == 0) [[unlikely]] {
      size = detail::query_page_size();
      // A broken answer must not become a broken rounding unit everywhere else.
      if (!pmrheap::detail::is_pow2(size) || size < page_size_min || size > page_size_max) size = page_size_max;
      cached.store(size, std::memory_order_relaxed);
    }
    return size;
  }
}

std::size_t huge_page_size() noexcept {
  // A function-local static: initialised once, thread-safe, and 0 is a valid answer.
  static const std::size_t size = [] {
    const std::size_t queried = detail::query_huge_page_size();
    // Anything that is not a power of two above the page size cannot be a rounding unit.
    return pmrheap::detail::is_pow2(queried) && queried > page_size() ? queried : std::size_t{0};
  }();
  return size;
}

}  // namespace pmrheap::platform
