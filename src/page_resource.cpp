// SPDX-License-Identifier: MIT
#include "pmrheap/page_resource.hpp"

#include "immortal.hpp"
#include "pmrheap/platform/pages.hpp"

namespace pmrheap {

namespace {
constinit detail::immortal<page_resource> global_page_resource;
}  // namespace

page_resource* page_resource::instance() noexcept { return &global_page_resource.value; }

namespace {

// The huge page size when `mode` asks for advice and a block of `bytes` can use it; else 0.
std::size_t huge_unit(huge_pages mode, std::size_t bytes) noexcept {
  if (mode != huge_pages::advise) return 0;
  const std::size_t huge = platform::huge_page_size();
  return huge != 0 && bytes >= huge ? huge : 0;
}

}  // namespace

void* page_resource::do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept {
  const std::size_t huge = huge_unit(huge_pages_, bytes);
  if (huge == 0) return platform::map(bytes, alignment);
  // Only huge-page-aligned 2 MiB ranges can get a huge page, so start the block on one.
  void* const p = platform::map(bytes, alignment > huge ? alignment : huge);
  if (p != nullptr) static_cast<void>(platform::advise_huge_pages(p, bytes));
  return p;
}

void page_resource::do_deallocate(void* p, std::size_t bytes, std::size_t) {
  platform::unmap(p, bytes);  // Ignores bytes == 0, the empty block.
}

bool page_resource::do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept {
  return platform::remap(p, old_bytes, new_bytes, alignment, /*may_move=*/false) != nullptr;
}

void* page_resource::do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept {
  void* const q = platform::remap(p, old_bytes, new_bytes, alignment, /*may_move=*/true);
  // mremap carries the advice along with the mapping; a block that only now got large needs it.
  if (q != nullptr && new_bytes > old_bytes && huge_unit(huge_pages_, new_bytes) != 0)
    static_cast<void>(platform::advise_huge_pages(q, new_bytes));
  return q;
}

bool page_resource::do_is_equal(const std::pmr::memory_resource& other) const noexcept {
  return dynamic_cast<const page_resource*>(&other) != nullptr;
}

}  // namespace pmrheap
