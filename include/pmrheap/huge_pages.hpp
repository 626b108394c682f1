// SPDX-License-Identifier: MIT
// Whether a page-backed resource asks the OS for transparent huge pages, shared by page_resource and
// virtual_arena_resource.
#ifndef PMRHEAP_HUGE_PAGES_HPP
#define PMRHEAP_HUGE_PAGES_HPP

namespace pmrheap {

/// Huge page advice for page-backed resources (docs/growth.md#huge-pages). Where
/// platform::huge_page_size() is 0 (every OS but Linux, or THP set to `never`), `advise` behaves
/// as `off`.
enum class huge_pages {
  off,     ///< Ordinary pages: memory rounded to 4 KiB, cheap first touch. The default.
  advise,  ///< madvise(MADV_HUGEPAGE) on large ranges: far fewer page faults and TLB misses when a
           ///< large buffer is written, at the price of rounding to 2 MiB and slower single faults.
};

}  // namespace pmrheap

#endif  // PMRHEAP_HUGE_PAGES_HPP
