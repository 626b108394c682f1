// SPDX-License-Identifier: MIT
// Page mapping on POSIX systems: mmap/munmap, plus mremap on Linux; address-space reservation and
// transparent huge page advice.
//
// Design notes. Over-aligned mappings over-map by (alignment - page) and trim both ends: portable,
// and on Linux 6.x it costs one extra munmap (about 1.5 µs). The address hint walks downwards,
// the direction the stack grows on every target we build for, so fresh mappings land on fresh
// addresses and a use after unmap faults instead of reading a recycled page. Losing the hint race
// between threads is harmless, so the hint is updated with one CAS and never retried.
// Reservations are PROT_NONE + MAP_NORESERVE (no commit charge; strict-overcommit kernels ignore
// the flag and charge at commit, where a refusal is a clean false). Decommit on Linux is
// mprotect(PROT_NONE) then madvise(MADV_DONTNEED): private anonymous pages dropped that way read as
// zero when committed again, and neither call can leave a hole in the reservation. The rejected
// alternative, one mmap(MAP_FIXED) over the range, also returns the commit charge, but when it
// fails (too many mappings) Linux has already unmapped the old range, and another mapping could
// then land inside our reservation. Other POSIX systems do not promise zero pages after
// MADV_DONTNEED, so there decommit is that MAP_FIXED remapping.
// An unmap the kernel refuses is never dropped: see "Deferred unmaps" below.
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <mutex>
#include <new>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__linux__)
#  include <charconv>
#  include <cstring>
#  include <fcntl.h>
#  include <sys/auxv.h>
#endif

#include "common.hpp"
#include "pmrheap/detail/align.hpp"
#include "pmrheap/detail/sanitizer.hpp"

namespace pmrheap::platform {
namespace {

using pmrheap::detail::align_down;

#if defined(__OpenBSD__)
constexpr bool use_hint = false;  // OpenBSD randomises every mapping; a hint only gets in its way.
#else
constexpr bool use_hint = true;
#endif

#if defined(MAP_NORESERVE)
constexpr int reserve_flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
#else
constexpr int reserve_flags = MAP_PRIVATE | MAP_ANONYMOUS;
#endif

#if defined(__linux__)
// Reads up to size - 1 bytes of a small sysfs file into `buffer`, NUL-terminated; 0 on failure.
std::size_t read_small_file(const char* path, char* buffer, std::size_t size) noexcept {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  const ::ssize_t n = ::read(fd, buffer, size - 1);
  ::close(fd);
  if (n <= 0) return 0;
  buffer[n] = '\0';
  return static_cast<std::size_t>(n);
}
#endif

// Start of the most recent mapping; 0 before the first one, which goes unhinted.
std::atomic<std::uintptr_t> next_hint{0};

// Where to ask for the next mapping: just below the previous one, aligned as requested.
void* hint_for(std::uintptr_t last, std::size_t total, std::size_t alignment) noexcept {
  if (!use_hint || last <= total) return nullptr;
  return reinterpret_cast<void*>(align_down(last - total, alignment));
}

#if PMRHEAP_HAS_ASAN
// True when nothing is mapped in [p, p + n): a probe mapping fits there exactly.
bool nothing_mapped(std::uintptr_t p, std::size_t n) noexcept {
#  if defined(MAP_FIXED_NOREPLACE)
  void* const probe = ::mmap(reinterpret_cast<void*>(p), n, PROT_NONE, reserve_flags | MAP_FIXED_NOREPLACE, -1, 0);
  if (probe == MAP_FAILED) return false;
  ::munmap(probe, n);  // a kernel before 4.17 takes the flag for a hint and may map elsewhere
  return probe == reinterpret_cast<void*>(p);
#  else
  static_cast<void>(p);
  static_cast<void>(n);
  return false;
#  endif
}
#endif

// munmap, and in ASan builds also drop the shadow pages that now describe unmapped memory only.
// ASan keeps shadow pages once written (by a resource's poisoning) and does not drop them at
// munmap; with the downward hint every mapping lands on fresh addresses, so an ASan program's
// shadow would otherwise grow by an eighth of every range it ever poisoned (fuzzing an arena over
// page_resource reached 2 GiB in a minute). A shadow page covers page << scale bytes (32 KiB with
// 4 KiB pages); one at either end of the range is dropped too when the rest of its window is
// unmapped. Dropped shadow reads as zero, addressable, which is what a new mapping there must be.
// A thread that maps and poisons inside such a window between the probe and the madvise loses
// that poisoning (a missed report, never a false one).
int unmap_range(void* p, std::size_t length) noexcept {
  const int result = ::munmap(p, length);
#if PMRHEAP_HAS_ASAN
  if (result != 0) return result;
  std::size_t scale = 0;
  std::size_t offset = 0;
  __asan_get_shadow_mapping(&scale, &offset);
  const std::size_t window = page_size() << scale;
  const auto begin = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t end = begin + length;
  std::uintptr_t from = align_down(begin, window);
  if (from != begin && !nothing_mapped(from, begin - from)) from += window;
  std::uintptr_t to = pmrheap::detail::align_up(end, window);
  if (to != end && !nothing_mapped(end, to - end)) to -= window;
  if (from < to)
    static_cast<void>(
        ::madvise(reinterpret_cast<void*>((from >> scale) + offset), (to - from) >> scale, MADV_DONTNEED));
#endif
  return result;
}

// Deferred unmaps. Anonymous mappings that touch merge into one kernel mapping (the downward
// hint places blocks next to each other on purpose), so unmapping a block from the middle of one
// splits it, and at vm.max_map_count the split fails with ENOMEM; so does trimming an over-aligned
// mapping that merged with its neighbour. Such a range is kept, not lost: its pages go back at once
// (madvise(MADV_DONTNEED) needs no split), and the range itself, still mapped and ours, holds a
// node of this list in its first bytes until an unmap of it succeeds. A refused range is first
// joined with pending neighbours, so a run of them goes in one call that needs no split. The list
// is retried after every unmap that succeeds (it may have freed a mapping slot, or a neighbour,
// which turns a middle into an end) and before every map. It is empty unless the process sits at
// the limit, so the cost elsewhere is one relaxed load per call.
struct deferred_range {
  deferred_range* next;
  std::size_t length;
};

std::mutex deferred_mutex;
deferred_range* deferred_head = nullptr;  // guarded by deferred_mutex
std::atomic<std::size_t> deferred_count{0};

// Unmaps pending ranges, newest first, until the kernel refuses one. Holds deferred_mutex.
// Stopping there keeps a call at the limit to one refused system call, where walking the whole
// list made every unmap cost as many as there were ranges pending; each later success frees a
// slot for the next range, and below the limit the list empties in one call.
void retry_deferred_locked() noexcept {
  while (deferred_head != nullptr) {
    deferred_range* const range = deferred_head;
    deferred_range* const next = range->next;
    if (unmap_range(range, range->length) != 0) return;
    deferred_head = next;
    deferred_count.fetch_sub(1, std::memory_order_relaxed);
  }
}

void retry_deferred() noexcept {
  if (deferred_count.load(std::memory_order_relaxed) == 0) [[likely]]
    return;
  const std::lock_guard lock(deferred_mutex);
  retry_deferred_locked();
}

// Keeps [p, p + length), which the kernel refused to unmap, until it can be unmapped.
void defer_unmap(std::byte* p, std::size_t length) noexcept {
  static_cast<void>(::madvise(p, length, MADV_DONTNEED));
  const std::lock_guard lock(deferred_mutex);
  for (deferred_range** link = &deferred_head; *link != nullptr;) {
    auto* const range = reinterpret_cast<std::byte*>(*link);
    const std::size_t range_length = (*link)->length;
    if (range + range_length != p && p + length != range) {
      link = &(*link)->next;
      continue;
    }
    *link = (*link)->next;
    deferred_count.fetch_sub(1, std::memory_order_relaxed);
    if (range < p) p = range;
    length += range_length;
    link = &deferred_head;  // the joined range may now touch another pending one
  }
  if (unmap_range(p, length) == 0) {
    retry_deferred_locked();  // a whole mapping went: one slot more for the others
    return;
  }
  // The range may still be poisoned by the resource that freed it.
  pmrheap::detail::unpoison(p, sizeof(deferred_range));
  auto* const node = new (p) deferred_range{deferred_head, length};
  deferred_head = node;
  deferred_count.fetch_add(1, std::memory_order_relaxed);
}

// Unmaps [p, p + length) now, or later when the kernel refuses for want of a mapping slot.
void unmap_or_defer(void* p, std::size_t length) noexcept {
  if (unmap_range(p, length) == 0) return retry_deferred();
  if (errno == ENOMEM) defer_unmap(static_cast<std::byte*>(p), length);
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
  unmap_or_defer(target, new_length);
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

std::size_t query_huge_page_size() noexcept {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  char text[128];
  if (read_small_file("/sys/kernel/mm/transparent_hugepage/enabled", text, sizeof text) == 0) return 0;
  if (std::strstr(text, "[never]") != nullptr) return 0;
  if (read_small_file("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", text, sizeof text) == 0) return 0;
  std::size_t size = 0;
  const std::size_t length = std::strlen(text);
  const auto [end, error] = std::from_chars(text, text + length, size);
  return error == std::errc{} && end != text ? size : 0;
#else
  return 0;
#endif
}

}  // namespace detail

void* map(std::size_t bytes, std::size_t alignment) noexcept {
  if (!pmrheap::detail::is_pow2(alignment)) return nullptr;
  const std::size_t page = page_size();
  std::size_t length = 0;
  if (!detail::page_length(bytes, page, length)) return nullptr;
  const std::size_t align = alignment > page ? alignment : page;
  std::size_t total = 0;
  if (!pmrheap::detail::checked_add(length, align - page, total)) return nullptr;

  retry_deferred();  // before this mapping can take the slot a pending unmap waits for
  const std::uintptr_t last = next_hint.load(std::memory_order_relaxed);
  void* const hint = hint_for(last, total, align);
  void* raw = ::mmap(hint, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  // A hint must never cost the mapping. Kernels place the mapping elsewhere when the hinted range
  // is taken, but qemu-user's 64 KiB-page emulation answers ENOMEM there (with threads mapping at
  // once, most hinted calls of a run can fail), so a refused hinted call is asked again without.
  if (raw == MAP_FAILED && hint != nullptr)
    raw = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;

  auto* const base = static_cast<std::byte*>(raw);
  auto* const aligned = base + pmrheap::detail::align_offset(raw, align);
  if (aligned != base) unmap_or_defer(base, static_cast<std::size_t>(aligned - base));
  auto* const end = aligned + length;
  if (end != base + total) unmap_or_defer(end, static_cast<std::size_t>(base + total - end));

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
  unmap_or_defer(p, length);
}

std::size_t deferred_unmaps() noexcept { return deferred_count.load(std::memory_order_relaxed); }

void* remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment, bool may_move) noexcept {
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
    unmap_or_defer(static_cast<std::byte*>(p) + new_length, old_length - new_length);
    return p;
  }
  return nullptr;
}

void* reserve(std::size_t bytes) noexcept {
  std::size_t length = 0;
  if (!detail::page_length(bytes, page_size(), length)) return nullptr;
  void* const p = ::mmap(nullptr, length, PROT_NONE, reserve_flags, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

bool commit(void* p, std::size_t bytes) noexcept {
  if (!detail::page_range(p, bytes, page_size())) return false;
  return ::mprotect(p, bytes, PROT_READ | PROT_WRITE) == 0;
}

bool decommit(void* p, std::size_t bytes) noexcept {
  if (!detail::page_range(p, bytes, page_size())) return false;
#if defined(__linux__)
  if (::mprotect(p, bytes, PROT_NONE) != 0) return false;
  if (::madvise(p, bytes, MADV_DONTNEED) != 0) {
    // Keep the promise that a failure changes nothing: the pages are still there, make them usable.
    static_cast<void>(::mprotect(p, bytes, PROT_READ | PROT_WRITE));
    return false;
  }
  return true;
#else
  return ::mmap(p, bytes, PROT_NONE, reserve_flags | MAP_FIXED, -1, 0) != MAP_FAILED;
#endif
}

bool release(void* p, std::size_t bytes) noexcept {
  const std::size_t page = page_size();
  std::size_t length = 0;
  if (p == nullptr || !pmrheap::detail::is_aligned(p, page) || !detail::page_length(bytes, page, length)) return false;
  return unmap_range(p, length) == 0;
}

bool advise_huge_pages(void* p, std::size_t bytes) noexcept {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (huge_page_size() == 0) return false;
  const std::size_t page = page_size();
  std::size_t length = 0;
  if (p == nullptr || !pmrheap::detail::is_aligned(p, page) || !detail::page_length(bytes, page, length)) return false;
  return ::madvise(p, length, MADV_HUGEPAGE) == 0;
#else
  static_cast<void>(p);
  static_cast<void>(bytes);
  return false;
#endif
}

}  // namespace pmrheap::platform
