// SPDX-License-Identifier: MIT
#include "pmrheap/page_resource.hpp"

#include "immortal.hpp"
#include "pmrheap/platform.hpp"

namespace pmrheap {

namespace {
constinit detail::immortal<page_resource> global_page_resource;
}  // namespace

page_resource* page_resource::instance() noexcept { return &global_page_resource.value; }

void* page_resource::do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept {
  return platform::map(bytes, alignment);
}

void page_resource::do_deallocate(void* p, std::size_t bytes, std::size_t) {
  platform::unmap(p, bytes);  // Ignores bytes == 0, the empty block.
}

bool page_resource::do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept {
  return platform::remap(p, old_bytes, new_bytes, alignment, /*may_move=*/false) != nullptr;
}

void* page_resource::do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept {
  return platform::remap(p, old_bytes, new_bytes, alignment, /*may_move=*/true);
}

bool page_resource::do_is_equal(const std::pmr::memory_resource& other) const noexcept {
  return dynamic_cast<const page_resource*>(&other) != nullptr;
}

}  // namespace pmrheap
