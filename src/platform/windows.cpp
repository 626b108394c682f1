// SPDX-License-Identifier: MIT
// Page mapping on Windows: VirtualAlloc / VirtualFree.
//
// Design notes. Windows reserves address space at a 64 KiB granularity, so any alignment up to
// that is met by a plain VirtualAlloc. Larger alignments reserve an oversized range to find an
// aligned address, release it and claim the aligned part; another thread can take that range in
// between, so the claim is retried a few times. (The placeholder API of VirtualAlloc2 avoids the
// race but needs Windows 10 1803 and onecore.lib; the retry loop works everywhere.)
// Windows frees whole reservations only, so shrinking decommits the tail pages and growth is
// possible only within the pages already committed.
// reserve/commit/decommit/release map one to one onto MEM_RESERVE, MEM_COMMIT, MEM_DECOMMIT and
// MEM_RELEASE. Large pages (MEM_LARGE_PAGES) need the SeLockMemoryPrivilege and cannot be
// committed piecemeal, so huge page advice is a no-op here.
// As on POSIX, a hint steers each mapping to fresh addresses so a use after unmap faults instead
// of reading a recycled range. VirtualAlloc fills the address space from the bottom up, so the
// free space is above the latest mapping and the hint walks upwards (POSIX: downwards, where mmap
// fills from the top). A hinted VirtualAlloc that finds the range taken simply fails; the plain
// search follows. Losing the hint race between threads is harmless: one CAS, never retried.
#ifndef WIN32_LEAN_AND_MEAN
#  define WIN32_LEAN_AND_MEAN
#endif
#include <atomic>
#include <cstdint>
#include <windows.h>

#include "common.hpp"
#include "pmrheap/detail/align.hpp"

namespace pmrheap::platform {

namespace detail {

std::size_t query_page_size() noexcept {
  SYSTEM_INFO info;
  ::GetSystemInfo(&info);
  return info.dwPageSize;
}

std::size_t query_huge_page_size() noexcept { return 0; }

}  // namespace detail

namespace {

std::size_t allocation_granularity() noexcept {
  SYSTEM_INFO info;
  ::GetSystemInfo(&info);
  return info.dwAllocationGranularity;
}

// End of the most recent mapping; 0 before the first one, which goes unhinted.
std::atomic<std::uintptr_t> next_hint{0};

void* commit_at(void* address, std::size_t length) noexcept {
  return ::VirtualAlloc(address, length, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
}

// The search without a hint: any free range, then an oversized reservation to find an aligned one.
void* map_anywhere(std::size_t length, std::size_t alignment) noexcept {
  void* p = commit_at(nullptr, length);
  if (p == nullptr || pmrheap::detail::is_aligned(p, alignment)) return p;
  ::VirtualFree(p, 0, MEM_RELEASE);

  std::size_t search = 0;
  if (!pmrheap::detail::checked_add(length, alignment - allocation_granularity(), search)) return nullptr;
  for (int attempt = 0; attempt < 16; ++attempt) {
    void* const range = ::VirtualAlloc(nullptr, search, MEM_RESERVE, PAGE_NOACCESS);
    if (range == nullptr) return nullptr;
    auto* const aligned = static_cast<std::byte*>(range) + pmrheap::detail::align_offset(range, alignment);
    ::VirtualFree(range, 0, MEM_RELEASE);
    p = commit_at(aligned, length);
    if (p != nullptr) return p;
  }
  return nullptr;
}

}  // namespace

void* map(std::size_t bytes, std::size_t alignment) noexcept {
  if (!pmrheap::detail::is_pow2(alignment)) return nullptr;
  const std::size_t page = page_size();
  std::size_t length = 0;
  if (!detail::page_length(bytes, page, length)) return nullptr;
  const std::size_t granularity = allocation_granularity();
  const std::size_t align = alignment > granularity ? alignment : granularity;

  const std::uintptr_t last = next_hint.load(std::memory_order_relaxed);
  void* p = nullptr;
  std::size_t hint = 0;
  if (last != 0 && pmrheap::detail::align_up_checked(static_cast<std::size_t>(last), align, hint))
    p = commit_at(reinterpret_cast<void*>(hint), length);  // aligned by construction
  if (p == nullptr) p = map_anywhere(length, alignment);
  if (p == nullptr) return nullptr;

  std::uintptr_t expected = last;
  next_hint.compare_exchange_strong(expected, reinterpret_cast<std::uintptr_t>(p) + length, std::memory_order_relaxed);
  return p;
}

void unmap(void* p, std::size_t bytes) noexcept {
  if (p == nullptr || bytes == 0) return;
  ::VirtualFree(p, 0, MEM_RELEASE);
}

// VirtualFree(MEM_RELEASE) frees a whole allocation and never splits one: nothing to defer.
std::size_t deferred_unmaps() noexcept { return 0; }

void* remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment, bool may_move) noexcept {
  static_cast<void>(may_move);  // Windows cannot move pages without copying them.
  const std::size_t page = page_size();
  std::size_t old_length = 0;
  std::size_t new_length = 0;
  switch (detail::plan_remap(p, old_bytes, new_bytes, alignment, page, old_length, new_length)) {
    case detail::remap_plan::refuse:
      return nullptr;
    case detail::remap_plan::same:
      return p;
    case detail::remap_plan::change:
      break;
  }
  if (new_length < old_length) {
    ::VirtualFree(static_cast<std::byte*>(p) + new_length, old_length - new_length, MEM_DECOMMIT);
    return p;
  }
  return nullptr;
}

void* reserve(std::size_t bytes) noexcept {
  std::size_t length = 0;
  if (!detail::page_length(bytes, page_size(), length)) return nullptr;
  return ::VirtualAlloc(nullptr, length, MEM_RESERVE, PAGE_NOACCESS);
}

bool commit(void* p, std::size_t bytes) noexcept {
  if (!detail::page_range(p, bytes, page_size())) return false;
  return ::VirtualAlloc(p, bytes, MEM_COMMIT, PAGE_READWRITE) != nullptr;
}

bool decommit(void* p, std::size_t bytes) noexcept {
  if (!detail::page_range(p, bytes, page_size())) return false;
  return ::VirtualFree(p, bytes, MEM_DECOMMIT) != 0;
}

bool release(void* p, std::size_t bytes) noexcept {
  const std::size_t page = page_size();
  std::size_t length = 0;
  if (p == nullptr || !pmrheap::detail::is_aligned(p, page) || !detail::page_length(bytes, page, length)) return false;
  return ::VirtualFree(p, 0, MEM_RELEASE) != 0;
}

bool advise_huge_pages(void*, std::size_t) noexcept { return false; }

}  // namespace pmrheap::platform
