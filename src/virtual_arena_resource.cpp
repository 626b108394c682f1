// SPDX-License-Identifier: MIT
// virtual_arena_resource.
//
// Design notes. One reservation, one cursor, one committed end: no chunk list, no header, and the
// last block grows in place for as long as the reservation lasts. Commits run ahead of the cursor
// in steps that double: the first is 64 KiB (16 x86-64 pages), each later one as large as what is
// committed already, up to 16 MiB. A fixed 64 KiB step made 1,172 mprotect calls for one 15 MB
// JSON parse; doubling makes 9, at the price of a bound on memory committed ahead of the cursor
// that grows with use (under max(64 KiB, min(committed, 16 MiB))), the same trade as an arena's
// growing nodes. Commit is address space and commit charge, not resident memory: pages stay
// untouched until the cursor reaches them. Every commit is a whole number of first steps from the
// start, so with huge pages each stays on huge page boundaries. Commits extend the one read-write
// mapping at the front, so the kernel merges them and the arena stays two mappings however far it
// grows. Poisoning covers committed memory only: poisoning the whole reservation would write 1/8
// of 64 GiB of ASan shadow.
#include "pmrheap/virtual_arena_resource.hpp"

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

std::size_t max_step_for(std::size_t step) noexcept {
  return step > virtual_arena_resource::max_commit_step ? step : virtual_arena_resource::max_commit_step;
}

}  // namespace

virtual_arena_resource::virtual_arena_resource(std::size_t reserve_bytes, huge_pages mode)
    : step_(commit_step_for(mode)), max_step_(max_step_for(step_)), huge_pages_(mode) {
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
    : step_(commit_step_for(huge_pages::off)), max_step_(max_step_for(step_)), huge_pages_(huge_pages::off) {
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

// The rules of detail/bump.hpp, over [begin_, cursor_): the newest block, or a block handed out.
// A foreign pointer is left alone: poisoning it would break its owner.
void virtual_arena_resource::do_deallocate(void* p, std::size_t bytes, std::size_t) {
  // Blocks before the newest are reclaimed only by reset, but poisoned now so that a use after
  // free is reported.
  if (detail::holds(p, bytes, begin_, cursor_)) detail::poison(p, bytes);
  if (detail::is_newest(p, bytes, begin_, cursor_)) cursor_ = static_cast<std::byte*>(p);
}

bool virtual_arena_resource::do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t) noexcept {
  auto* const block = static_cast<std::byte*>(p);
  if (!detail::is_newest(p, old_bytes, begin_, cursor_)) {
    if (new_bytes > old_bytes) return false;
    if (detail::holds(p, old_bytes, begin_, cursor_)) detail::poison(block + new_bytes, old_bytes - new_bytes);
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
  return detail::allocate_missed(bytes, alignment, [&] { return refill(bytes, alignment); });
}

void* virtual_arena_resource::refill(std::size_t bytes, std::size_t alignment) noexcept {
  std::byte* cursor = cursor_;
  std::byte* p = nullptr;
  // The same bump against the end of the reservation; the cursor moves only once pages are there.
  if (!detail::bump(cursor, end_, bytes, alignment, p) || !commit_through(cursor)) return nullptr;
  cursor_ = cursor;
  detail::unpoison(p, bytes);
  return p;
}

bool virtual_arena_resource::commit_through(const std::byte* end) noexcept {
  PMRHEAP_ASSERT(end > committed_ && end <= end_, "commit_through only extends the committed range");
  const auto needed = static_cast<std::size_t>(end - begin_);
  const auto reserved_bytes = reserved();
  // As much again as is committed, within [step_, max_step_], and at least what is needed; whole
  // first steps from the start, so commits stay aligned to huge pages when those are advised.
  // reserved() is a page multiple, so a last, partial step still ends on a page. No sum wraps:
  // committed() + grow <= reserved() + max_step_, far below SIZE_MAX for any real reservation.
  const std::size_t held = committed();
  const std::size_t grow = held < step_ ? step_ : held > max_step_ ? max_step_ : held;
  const std::size_t wanted = held + grow > needed ? held + grow : needed;
  std::size_t target = detail::align_up(wanted, step_);
  if (target > reserved_bytes || target < wanted) target = reserved_bytes;
  std::byte* const from = committed_;
  std::byte* to = begin_ + target;
  ++commits_;
  if (!platform::commit(from, static_cast<std::size_t>(to - from))) {
    // The OS may refuse a whole step yet grant the pages actually needed (strict overcommit).
    to = begin_ + detail::align_up(needed, platform::page_size());
    if (to == begin_ + target) return false;
    ++commits_;
    if (!platform::commit(from, static_cast<std::size_t>(to - from))) return false;
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

bool virtual_arena_resource::reset(reset_mode mode) noexcept {
  return reset_to(mode == reset_mode::free_all ? 0 : committed());
}

bool virtual_arena_resource::reset(retain_with_limit keep) noexcept {
  const std::size_t pages = detail::align_down(keep.limit, platform::page_size());
  return reset_to(pages < committed() ? pages : committed());
}

bool virtual_arena_resource::reset_to(std::size_t keep) noexcept {
  ++generation_;
  detail::poison(begin_, used());
  cursor_ = begin_;
  return decommit_from(begin_ + keep);
}

void virtual_arena_resource::release() noexcept { static_cast<void>(reset(reset_mode::free_all)); }

}  // namespace pmrheap
