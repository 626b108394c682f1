// SPDX-License-Identifier: MIT
// buffer_first_resource: the fallback half and the routing by ownership.
#include "pmrheap/buffer_first_resource.hpp"

namespace pmrheap {

void* buffer_first_resource::allocate_fallback(std::size_t bytes, std::size_t alignment) {
  // Screened here because a std fallback gives undefined behaviour for a bad alignment, and
  // libstdc++ 12's new_delete_resource returns a real block for allocate(SIZE_MAX, 8).
  std::size_t rounded = 0;
  if (!detail::is_pow2(alignment) || !detail::align_up_checked(bytes, alignment, rounded))
    throw_allocation_failure(bytes, alignment);
  return fallback_->allocate(bytes, alignment);
}

void* buffer_first_resource::try_allocate_fallback(std::size_t bytes, std::size_t alignment) noexcept {
  return pmrheap::try_allocate(*fallback_, bytes, alignment);
}

bool buffer_first_resource::do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes,
                                      std::size_t alignment) noexcept {
  if (buffer_.owns(p)) return buffer_.resize(p, old_bytes, new_bytes, alignment);
  return pmrheap::resize(*fallback_, p, old_bytes, new_bytes, alignment);
}

void* buffer_first_resource::do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes,
                                      std::size_t alignment) noexcept {
  if (buffer_.owns(p)) return buffer_.remap(p, old_bytes, new_bytes, alignment);
  return pmrheap::remap(*fallback_, p, old_bytes, new_bytes, alignment);
}

}  // namespace pmrheap
