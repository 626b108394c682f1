// SPDX-License-Identifier: MIT
// forwarding_resource: the non-throwing forwards. try_allocate asks a pmrheap upstream directly and
// a std one through allocate, whose exception becomes nullptr.
#include "pmrheap/forwarding_resource.hpp"

#include "pmrheap/detail/align.hpp"

namespace pmrheap {

forwarding_resource::forwarding_resource(std::pmr::memory_resource* upstream) noexcept
    : upstream_(upstream != nullptr ? upstream : std::pmr::null_memory_resource()),
      native_upstream_(dynamic_cast<resource*>(upstream_)) {}

forwarding_resource::~forwarding_resource() = default;

void* forwarding_resource::refuse_throw(std::size_t bytes, std::size_t alignment) {
  throw_allocation_failure(bytes, alignment);
}

void* forwarding_resource::forward_try_allocate(std::size_t bytes, std::size_t alignment) noexcept {
  if (!forwardable(bytes, alignment))
    return bytes == 0 && detail::is_pow2(alignment) ? detail::empty_block(alignment) : nullptr;
  if (native_upstream_ != nullptr) return native_upstream_->try_allocate(bytes, alignment);
  try {
    return upstream_->allocate(bytes, alignment);
  } catch (...) {
    return nullptr;  // any exception is a refusal; this call promises nullptr, not termination
  }
}

bool forwarding_resource::forward_resize(void* p, std::size_t old_bytes, std::size_t new_bytes,
                                         std::size_t alignment) noexcept {
  if (native_upstream_ != nullptr) return native_upstream_->resize(p, old_bytes, new_bytes, alignment);
  if (!forwardable(new_bytes, alignment)) return false;
  return pmrheap::resize(*upstream_, p, old_bytes, new_bytes, alignment);
}

void* forwarding_resource::forward_remap(void* p, std::size_t old_bytes, std::size_t new_bytes,
                                         std::size_t alignment) noexcept {
  if (native_upstream_ != nullptr) return native_upstream_->remap(p, old_bytes, new_bytes, alignment);
  if (!forwardable(new_bytes, alignment)) return nullptr;
  return pmrheap::remap(*upstream_, p, old_bytes, new_bytes, alignment);
}

}  // namespace pmrheap
