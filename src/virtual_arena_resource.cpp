// SPDX-License-Identifier: MIT
// virtual_arena_resource.
//
// Design notes. One reservation, one cursor, one committed end: no chunk list, no header, and the
// last block grows in place for as long as the reservation lasts. Commits run ahead of the cursor
// in fixed steps of 64 KiB (16 x86-64 pages): 16 times fewer mprotect calls than page by page,
// while the memory committed but not yet used stays under one step. A growing step (doubling, as
// arenas grow chunks) was rejected: it saves only a few system calls on large buffers and makes
// the "payload plus at most one step" bound on what the arena holds depend on history. Commits
// extend the one read-write mapping at the front, so the kernel merges them and the arena stays
// two mappings however far it grows. Poisoning covers committed memory only: poisoning the whole
// reservation would write 1/8 of 64 GiB of ASan shadow.
#include "pmrheap/virtual_arena_resource.hpp"

#include <bit>

#include "pmrheap/platform/pages.hpp"

namespace pmrheap {
namespace {

std::size_t commit_step_for(huge_pages mode) noexcept {
  const std::size_t page = platform::page_size();
  std::size_t step =
      virtual_arena_resource::default_commit_step > page ? virtual_arena_resource::default_commit_step : page;
  const std::size_t huge = platform::huge_page_size();
  if (mode == huge_pages::advise && huge > step) step = huge;
  return step;
}

}  // namespace

virtual_arena_resource::virtual_arena_resource(std::size_t reserve_bytes, huge_pages mode)
    : step_(commit_step_for(mode)), huge_pages_(mode) {
  const std::size_t page = platform::page_size();
  std::size_t usable = 0;
  if (reserve_bytes == 0 || !detail::align_up_checked(reserve_bytes, page, usable))
    throw out_of_memory(reserve_bytes, page);
  // Room to slide the start up to a huge page boundary, so every whole step can be a huge page.
  const std::size_t huge = mode == huge_pages::advise ? platform::huge_page_size() : 0;
  std::size_t total = usable;
  if (huge != 0 && !detail::checked_add(usable, huge - page, total)) throw out_of_memory(reserve_bytes, page);
  void* const range = platform::reserve(total);
  if (range == nullptr) throw out_of_memory(reserve_bytes, page);
  adopt(range, total, usable, huge);
}

// A default arena should work wherever a smaller one would: 64 GiB of address space is refused
// under RLIMIT_AS, by valgrind and in crowded 32-bit processes. An explicit size stays exact.
virtual_arena_resource::virtual_arena_resource()
    : step_(commit_step_for(huge_pages::off)), huge_pages_(huge_pages::off) {
  for (std::size_t bytes = default_reserve;; bytes /= 2) {
    if (void* const range = platform::reserve(bytes)) {
      adopt(range, bytes, bytes, 0);
      return;
    }
    if (bytes <= min_default_reserve) throw out_of_memory(bytes, platform::page_size());
  }
}

void virtual_arena_resource::adopt(void* range, std::size_t total, std::size_t usable, std::size_t huge) noexcept {
  reservation_ = static_cast<std::byte*>(range);
  reservation_bytes_ = total;
  begin_ = reservation_ + (huge != 0 ? detail::align_offset(range, huge) : 0);
  end_ = begin_ + usable;
  cursor_ = begin_;
  committed_ = begin_;
}

virtual_arena_resource::~virtual_arena_resource() {
  // The shadow of memory going back to the OS must be clean for whoever maps it next.
  detail::unpoison(begin_, committed());
  static_cast<void>(platform::release(reservation_, reservation_bytes_));
}

bool virtual_arena_resource::is_last(const void* p, std::size_t bytes) const noexcept {
  // Integer arithmetic: `p` may be any pointer a caller passes, not necessarily one of ours.
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  const auto cursor = reinterpret_cast<std::uintptr_t>(cursor_);
  return bytes <= used() && addr == cursor - bytes;
}

bool virtual_arena_resource::is_handed_out(const void* p, std::size_t bytes) const noexcept {
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  const auto begin = reinterpret_cast<std::uintptr_t>(begin_);
  return addr >= begin && bytes <= used() && addr - begin <= used() - bytes;
}

void virtual_arena_resource::do_deallocate(void* p, std::size_t bytes, std::size_t) {
  if (bytes == 0) return;  // the empty block
  // Blocks before the last are reclaimed only by reset, but poisoned now so a use after free is
  // reported. Foreign pointers are left alone: poisoning them would break their owner.
  if (is_handed_out(p, bytes)) detail::poison(p, bytes);
  if (is_last(p, bytes)) cursor_ = static_cast<std::byte*>(p);
}

bool virtual_arena_resource::do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t) noexcept {
  auto* const block = static_cast<std::byte*>(p);
  if (!is_last(p, old_bytes)) {
    if (new_bytes > old_bytes) return false;
    if (is_handed_out(p, old_bytes)) detail::poison(block + new_bytes, old_bytes - new_bytes);
    return true;
  }
  if (new_bytes < old_bytes) {
    cursor_ = block + new_bytes;
    detail::poison(cursor_, old_bytes - new_bytes);
    return true;
  }
  if (new_bytes > static_cast<std::size_t>(end_ - block)) return false;  // past the reservation
  std::byte* const end = block + new_bytes;
  if (end > committed_ && !commit_through(end)) return false;
  detail::unpoison(cursor_, new_bytes - old_bytes);
  cursor_ = end;
  return true;
}

void* virtual_arena_resource::allocate_slow(std::size_t bytes, std::size_t alignment) {
  // Zero bytes and bad alignments take the shared contract's answers (resource::try_allocate).
  void* const p =
      bytes == 0 || !std::has_single_bit(alignment) ? try_allocate(bytes, alignment) : refill(bytes, alignment);
  if (p == nullptr) throw_allocation_failure(bytes, alignment);
  return p;
}

void* virtual_arena_resource::refill(std::size_t bytes, std::size_t alignment) noexcept {
  const std::size_t pad = detail::align_offset(cursor_, alignment);
  const auto left = static_cast<std::size_t>(end_ - cursor_);
  if (pad > left || bytes > left - pad) return nullptr;  // the reservation is exhausted
  std::byte* const p = cursor_ + pad;
  if (!commit_through(p + bytes)) return nullptr;
  cursor_ = p + bytes;
  detail::unpoison(p, bytes);
  return p;
}

bool virtual_arena_resource::commit_through(const std::byte* end) noexcept {
  PMRHEAP_ASSERT(end > committed_ && end <= end_, "commit_through only extends the committed range");
  const auto needed = static_cast<std::size_t>(end - begin_);
  const auto reserved_bytes = reserved();
  // Whole steps from the start, so commits stay aligned to huge pages when those are advised;
  // reserved() is a page multiple, so the last, partial step still ends on a page.
  std::size_t target = detail::align_up(needed, step_);
  if (target > reserved_bytes || target < needed) target = reserved_bytes;
  std::byte* const from = committed_;
  std::byte* to = begin_ + target;
  if (!platform::commit(from, static_cast<std::size_t>(to - from))) {
    // The OS may refuse a whole step yet grant the pages actually needed (strict overcommit).
    to = begin_ + detail::align_up(needed, platform::page_size());
    if (to == begin_ + target || !platform::commit(from, static_cast<std::size_t>(to - from))) return false;
  }
  if (huge_pages_ == huge_pages::advise)
    static_cast<void>(platform::advise_huge_pages(from, static_cast<std::size_t>(to - from)));
  detail::poison(from, static_cast<std::size_t>(to - from));
  committed_ = to;
  return true;
}

bool virtual_arena_resource::decommit_from(std::byte* from) noexcept {
  if (from >= committed_) return true;
  const auto bytes = static_cast<std::size_t>(committed_ - from);
  if (!platform::decommit(from, bytes)) return false;
  detail::unpoison(from, bytes);
  committed_ = from;
  return true;
}

bool virtual_arena_resource::reset(reset_mode mode, std::size_t limit) noexcept {
  detail::poison(begin_, used());
  cursor_ = begin_;
  if (mode == reset_mode::retain_capacity) return true;
  std::size_t keep = 0;
  if (mode == reset_mode::retain_with_limit) {
    keep = detail::align_down(limit, platform::page_size());
    if (keep > committed()) keep = committed();
  }
  return decommit_from(begin_ + keep);
}

void virtual_arena_resource::release() noexcept { static_cast<void>(reset(reset_mode::free_all)); }

}  // namespace pmrheap
