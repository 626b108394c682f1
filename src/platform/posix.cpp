// SPDX-License-Identifier: MIT
// Page mapping on POSIX systems: mmap/munmap, plus mremap on Linux.
//
// Design notes. Over-aligned mappings over-map by (alignment - page) and trim both ends: portable,
// and on Linux 6.x it costs one extra munmap (about 1.5 µs). The address hint walks downwards,
// the direction the stack grows on every target we build for, so fresh mappings land on fresh
// addresses and a use after unmap faults instead of reading a recycled page. Losing the hint race
// between threads is harmless, so the hint is updated with one CAS and never retried.
#include <atomic>
#include <cstdint>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__linux__)
#  include <sys/auxv.h>
#endif

#include "common.hpp"
#include "pmrheap/detail/sanitizer.hpp"

namespace pmrheap::platform {
namespace {

using pmrheap::detail::align_down;

#if defined(__OpenBSD__)
constexpr bool use_hint = false;  // OpenBSD randomises every mapping; a hint only gets in its way.
#else
constexpr bool use_hint = true;
#endif

// Start of the most recent mapping; 0 before the first one, which goes unhinted.
std::atomic<std::uintptr_t> next_hint{0};

// Where to ask for the next mapping: just below the previous one, aligned as requested.
void* hint_for(std::uintptr_t last, std::size_t total, std::size_t alignment) noexcept {
  if (!use_hint || last <= total) return nullptr;
  return reinterpret_cast<void*>(align_down(last - total, alignment));
}

#if defined(__linux__) && PMRHEAP_HAS_TSAN
// ThreadSanitizer intercepts mmap and munmap but not mremap: a range the kernel moves a block into
// keeps the shadow of whatever was there before (another thread's old accesses, reported as a race
// on the first write). So in TSan builds growth moves the block only into a range just taken with
// the intercepted mmap (TSan resets its shadow), never extending in place. Ranges vacated by a
// move are reused only through mmap again, which resets them.
void* remap_for_tsan(void* p, std::size_t old_length, std::size_t new_length) noexcept {
  void* const target = ::mmap(nullptr, new_length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (target == MAP_FAILED) return nullptr;
  void* const moved = ::mremap(p, old_length, new_length, MREMAP_MAYMOVE | MREMAP_FIXED, target);
  if (moved != MAP_FAILED) return moved;
  ::munmap(target, new_length);
  return nullptr;
}
#endif

}  // namespace

namespace detail {

std::size_t query_page_size() noexcept {
  const long size = ::sysconf(_SC_PAGESIZE);
  if (size > 0) return static_cast<std::size_t>(size);
#if defined(__linux__)
  return static_cast<std::size_t>(::getauxval(AT_PAGESZ));
#else
  return 0;
#endif
}

}  // namespace detail

void* map(std::size_t bytes, std::size_t alignment) noexcept {
  if (!detail::is_pow2(alignment)) return nullptr;
  const std::size_t page = page_size();
  std::size_t length = 0;
  if (!detail::page_length(bytes, page, length)) return nullptr;
  const std::size_t align = alignment > page ? alignment : page;
  std::size_t total = 0;
  if (!pmrheap::detail::checked_add(length, align - page, total)) return nullptr;

  const std::uintptr_t last = next_hint.load(std::memory_order_relaxed);
  void* const hint = hint_for(last, total, align);
  void* const raw = ::mmap(hint, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;

  auto* const base = static_cast<std::byte*>(raw);
  auto* const aligned = base + pmrheap::detail::align_offset(raw, align);
  if (aligned != base) ::munmap(base, static_cast<std::size_t>(aligned - base));
  auto* const end = aligned + length;
  if (end != base + total) ::munmap(end, static_cast<std::size_t>(base + total - end));

  if constexpr (use_hint) {
    std::uintptr_t expected = last;
    next_hint.compare_exchange_strong(expected, reinterpret_cast<std::uintptr_t>(aligned), std::memory_order_relaxed);
  }
  return aligned;
}

void unmap(void* p, std::size_t bytes) noexcept {
  if (p == nullptr || bytes == 0) return;
  const std::size_t page = page_size();
  std::size_t length = 0;
  if (!detail::page_length(bytes, page, length)) return;
  ::munmap(p, length);
}

void* remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment, bool may_move) noexcept {
  const std::size_t page = page_size();
  if (p == nullptr || !detail::is_pow2(alignment)) return nullptr;
  std::size_t old_length = 0;
  std::size_t new_length = 0;
  if (!detail::page_length(old_bytes, page, old_length) || !detail::page_length(new_bytes, page, new_length))
    return nullptr;
  if (new_length == old_length) return p;
  // Across pages, a block aligned above the page size could come back less aligned (mremap) or
  // lose its trimmed layout; within its pages nothing moves, so that was answered above.
  if (alignment > page) return nullptr;

#if defined(__linux__)
#  if PMRHEAP_HAS_TSAN
  if (may_move && new_length > old_length) return remap_for_tsan(p, old_length, new_length);
#  endif
  if (may_move) {
    void* const moved = ::mremap(p, old_length, new_length, MREMAP_MAYMOVE);
    return moved == MAP_FAILED ? nullptr : moved;
  }
#else
  static_cast<void>(may_move);
#endif
  if (new_length < old_length) {
    ::munmap(static_cast<std::byte*>(p) + new_length, old_length - new_length);
    return p;
  }
  return nullptr;
}

}  // namespace pmrheap::platform
