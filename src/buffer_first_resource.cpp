// SPDX-License-Identifier: MIT
// buffer_first_resource: the fallback half and the routing by ownership.
#include "pmrheap/buffer_first_resource.hpp"

namespace pmrheap {

void* buffer_first_resource::allocate_fallback(std::size_t bytes, std::size_t alignment) {
  return forward_allocate(bytes, alignment);
}

void* buffer_first_resource::try_allocate_fallback(std::size_t bytes, std::size_t alignment) noexcept {
  return forward_try_allocate(bytes, alignment);
}

bool buffer_first_resource::do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes,
                                      std::size_t alignment) noexcept {
  if (buffer_.owns(p)) return buffer_.resize(p, old_bytes, new_bytes, alignment);
  return forward_resize(p, old_bytes, new_bytes, alignment);
}

void* buffer_first_resource::do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes,
                                      std::size_t alignment) noexcept {
  if (buffer_.owns(p)) return buffer_.remap(p, old_bytes, new_bytes, alignment);
  return forward_remap(p, old_bytes, new_bytes, alignment);
}

}  // namespace pmrheap
