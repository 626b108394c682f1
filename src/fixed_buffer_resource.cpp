// SPDX-License-Identifier: MIT
// fixed_buffer_resource and concurrent_fixed_buffer_resource: everything but the allocation fast
// paths, which are inline in the header.
#include "pmrheap/fixed_buffer_resource.hpp"

#include <bit>

namespace pmrheap {

// The bump core's slow path with nothing to refill from: a fixed buffer has no more room.
void* detail::allocate_declined(std::size_t bytes, std::size_t alignment) {
  return allocate_missed(bytes, alignment, []() -> void* { return nullptr; });
}

// ---- fixed_buffer_resource ----------------------------------------------------------------------

void fixed_buffer_resource::reset() noexcept {
  cursor_ = buffer_.at(0);
  buffer_.poison(0, buffer_.capacity());
}

bool fixed_buffer_resource::do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t) noexcept {
  std::size_t offset = 0;
  if (!buffer_.holds(p, old_bytes, offset)) return false;
  const std::size_t used = this->used();
  const bool last = buffer_.is_newest(p, old_bytes, used);
  if (new_bytes < old_bytes) {
    buffer_.poison(offset + new_bytes, offset + old_bytes);
    if (last) cursor_ = buffer_.at(offset + new_bytes);
    return true;
  }
  if (!last || new_bytes - old_bytes > buffer_.capacity() - used) return false;
  cursor_ = buffer_.at(offset + new_bytes);
  buffer_.unpoison(offset + old_bytes, offset + new_bytes);
  return true;
}

// ---- concurrent_fixed_buffer_resource -----------------------------------------------------------

concurrent_fixed_buffer_resource::concurrent_fixed_buffer_resource(void* buffer, std::size_t size) noexcept
    : buffer_(buffer, size) {
  buffer_.poison_granules(0, buffer_.capacity());
}

// As for fixed_buffer_resource: the buffer is the caller's again.
concurrent_fixed_buffer_resource::~concurrent_fixed_buffer_resource() { buffer_.unpoison(0, buffer_.capacity()); }

void concurrent_fixed_buffer_resource::reset() noexcept {
  end_.store(0, std::memory_order_release);
  buffer_.poison_granules(0, buffer_.capacity());
}

// Dead bytes are poisoned *before* the CAS that gives them back: once end_ moves down, another
// thread may take them and unpoison them, and that must not be undone by a late poison here.
// The release on the CAS orders the poisoning before that thread's acquire.
void concurrent_fixed_buffer_resource::do_deallocate(void* p, std::size_t bytes, std::size_t) {
  std::size_t offset = 0;
  if (!buffer_.holds(p, bytes, offset)) return;
  buffer_.poison_granules(offset, offset + bytes);
  std::size_t top = end_.load(std::memory_order_relaxed);
  if (!buffer_.is_newest(p, bytes, top)) return;
  // A lost race (another thread allocated after us) leaves the bytes used until reset().
  static_cast<void>(end_.compare_exchange_strong(top, offset, std::memory_order_release, std::memory_order_relaxed));
}

bool concurrent_fixed_buffer_resource::do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes,
                                                 std::size_t) noexcept {
  std::size_t offset = 0;
  if (!buffer_.holds(p, old_bytes, offset)) return false;
  const std::size_t old_end = offset + old_bytes;
  std::size_t top = end_.load(std::memory_order_relaxed);
  const bool newest = buffer_.is_newest(p, old_bytes, top);
  if (new_bytes < old_bytes) {
    buffer_.poison_granules(offset + new_bytes, old_end);
    if (newest)
      static_cast<void>(
          end_.compare_exchange_strong(top, offset + new_bytes, std::memory_order_release, std::memory_order_relaxed));
    return true;  // The block is smaller either way; a lost CAS only means nothing was reclaimed.
  }
  if (!newest || new_bytes - old_bytes > buffer_.capacity() - top) return false;
  if (!end_.compare_exchange_strong(top, offset + new_bytes, std::memory_order_acquire, std::memory_order_relaxed))
    return false;
  buffer_.unpoison_granules(old_end, offset + new_bytes);
  return true;
}

}  // namespace pmrheap
