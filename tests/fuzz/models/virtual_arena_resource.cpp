// SPDX-License-Identifier: MIT
// The fuzz target of virtual_arena_resource.
#include "pmrheap/virtual_arena_resource.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "models/common.hpp"
#include "pmrheap/huge_pages.hpp"
#include "pmrheap/platform/pages.hpp"

namespace pmrheap::fuzz::models {
namespace {

// virtual_arena_resource (docs/resources/virtual_arena_resource.md), exactly: one cursor in one
// reservation; a block goes at the next aligned address and fails exactly when it passes the
// reservation; the last block grows and shrinks in place, others only shrink; commits double, in
// whole steps from the start; memory never handed out since the last decommit reads as zero;
// reset keeps what its mode says.
class virtual_arena_model final : public model {
 public:
  virtual_arena_model(const pmrheap::virtual_arena_resource& arena, const void* begin)
      : arena_(arena), begin_(address(begin)) {}

  [[nodiscard]] expect allocate(std::size_t bytes, std::size_t alignment) const override {
    std::size_t start = 0;
    return fits(bytes, alignment, start) ? expect::success : expect::failure;
  }
  [[nodiscard]] std::size_t zero_from(const block& b) const override {
    const std::size_t at = offset(b);
    return dirty_ > at ? dirty_ - at : 0;
  }
  [[nodiscard]] expect resize(const block& b, std::size_t new_bytes) const override {
    if (new_bytes < b.bytes) return expect::success;
    if (offset(b) + b.bytes != cursor_) return expect::failure;
    return new_bytes <= arena_.reserved() - offset(b) ? expect::success : expect::failure;
  }
  [[nodiscard]] expect remap(const block& b, std::size_t new_bytes) const override { return resize(b, new_bytes); }
  [[nodiscard]] bool remap_may_move(const block&, std::size_t) const override { return false; }
  [[nodiscard]] std::size_t zero_after_growth(const block& before) const override {
    return std::max(before.bytes, zero_from(before));
  }
  void allocated(const block& b) override {
    std::size_t start = 0;
    if (!fits(b.bytes, b.alignment, start)) return complain("a block past the reservation was handed out");
    if (offset(b) != start)
      return complain("the block is at offset " + std::to_string(offset(b)) + ", not " + std::to_string(start));
    advance(start + b.bytes);
  }
  void resized(const block& before, const block& after) override {
    if (offset(before) + before.bytes == cursor_) {
      if (after.bytes > before.bytes) {
        advance(offset(after) + after.bytes);
      } else {
        cursor_ = offset(after) + after.bytes;
      }
    }
  }
  void freed(const block& b) override {
    if (offset(b) + b.bytes == cursor_) cursor_ = offset(b);
  }
  void released() override { decommit_from(0); }

  [[nodiscard]] bool has_reset() const override { return true; }
  void reset(pmrheap::resource&, const reset_request& request) override {
    auto& arena = const_cast<pmrheap::virtual_arena_resource&>(arena_);
    if (!request.apply(arena)) complain("reset returned false");
    cursor_ = 0;
    if (request.limit)
      decommit_from(std::min(pmrheap::detail::align_down(*request.limit, pmrheap::platform::page_size()), committed_));
    else if (request.mode == pmrheap::reset_mode::free_all)
      decommit_from(0);
  }

  [[nodiscard]] std::string check(pmrheap::resource&, const std::vector<block>&) override {
    if (arena_.used() != cursor_)
      return "used() is " + std::to_string(arena_.used()) + ", the model says " + std::to_string(cursor_);
    if (arena_.committed() != committed_)
      return "committed() is " + std::to_string(arena_.committed()) + ", the model says " + std::to_string(committed_);
    if (arena_.capacity() != committed_) return "capacity() is not committed()";
    return {};
  }

 private:
  [[nodiscard]] std::size_t offset(const block& b) const noexcept { return address(b.p) - begin_; }
  [[nodiscard]] bool fits(std::size_t bytes, std::size_t alignment, std::size_t& start) const noexcept {
    start = cursor_ + pmrheap::detail::align_offset(reinterpret_cast<const void*>(begin_ + cursor_), alignment);
    return start <= arena_.reserved() && bytes <= arena_.reserved() - start;
  }
  // The cursor moves to `to`: a commit takes as much again as is committed (between commit_step()
  // and max_commit_step, or the huge page size if larger), at least up to `to`, in whole first
  // steps from the start, the last one cut at the reservation.
  void advance(std::size_t to) {
    cursor_ = to;
    dirty_ = std::max(dirty_, to);
    if (to > committed_) {
      const std::size_t step = arena_.commit_step();
      const std::size_t cap = std::max(step, pmrheap::virtual_arena_resource::max_commit_step);
      const std::size_t wanted = std::max(to, committed_ + std::clamp(committed_, step, cap));
      std::size_t target = 0;
      if (!pmrheap::detail::align_up_checked(wanted, step, target) || target > arena_.reserved())
        target = arena_.reserved();
      committed_ = target;
    }
  }
  void decommit_from(std::size_t keep) {
    cursor_ = 0;
    committed_ = std::min(committed_, keep);
    dirty_ = std::min(dirty_, keep);
  }

  const pmrheap::virtual_arena_resource& arena_;
  std::uintptr_t begin_;
  std::size_t cursor_ = 0;
  std::size_t committed_ = 0;
  std::size_t dirty_ = 0;  // bytes from the start handed out since they were last decommitted
};

// setup[0]: the reservation, 64 KiB pages' worth up to 64 MiB in odd sizes, or (multiples of 8)
// the default constructor (64 GiB, or less where that is refused, e.g. under valgrind);
// setup[1] odd: huge_pages::advise, for the explicit sizes.
subject make_virtual_arena(const std::uint8_t* setup) {
  const std::size_t reserve = (std::size_t{1} << (setup[0] % 27)) + setup[0] * std::size_t{4093} % 65536;
  const pmrheap::huge_pages mode = setup[1] % 2 == 1 ? pmrheap::huge_pages::advise : pmrheap::huge_pages::off;
  auto arena = setup[0] % 8 == 0 ? std::make_shared<pmrheap::virtual_arena_resource>()
                                 : std::make_shared<pmrheap::virtual_arena_resource>(reserve, mode);
  // The first byte of the reservation, as the first allocation sees it; release() then decommits
  // what that committed, so the arena is as new.
  void* const begin = arena->allocate(1, 1);
  arena->release();
  return {arena, std::make_unique<virtual_arena_model>(*arena, begin),
          pmrheap::test::catalog_detail::release<pmrheap::virtual_arena_resource>};
}

const target_registration virtual_arena_target{
    {"virtual_arena", "virtual_arena_resource, reservation and huge pages from setup", nullptr, make_virtual_arena, 2}};

}  // namespace
}  // namespace pmrheap::fuzz::models
