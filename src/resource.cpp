// SPDX-License-Identifier: MIT
// pmrheap::resource defaults and the free functions that extend any std::pmr::memory_resource.
#include "pmrheap/resource.hpp"

#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

namespace pmrheap {

out_of_memory::out_of_memory(std::size_t bytes, std::size_t alignment) noexcept
    : bytes_(bytes), alignment_(alignment), message_{} {
  std::snprintf(message_, sizeof message_, "pmrheap: out of memory allocating %zu bytes aligned to %zu", bytes,
                alignment);
}

void throw_allocation_failure(std::size_t bytes, std::size_t alignment) {
  if (!detail::is_pow2(alignment))
    throw std::invalid_argument("pmrheap: alignment " + std::to_string(alignment) + " is not a power of two");
  throw out_of_memory(bytes, alignment);
}

// Out of line so the vtable has one home: this translation unit.
resource::~resource() = default;

bool resource::do_resize(void*, std::size_t, std::size_t, std::size_t) noexcept { return false; }

void* resource::do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept {
  return do_resize(p, old_bytes, new_bytes, alignment) ? p : nullptr;
}

namespace {

resource* as_pmrheap(std::pmr::memory_resource& mr) noexcept { return dynamic_cast<resource*>(&mr); }

// pmrheap resources check sizes themselves; some std resources do not (libstdc++ 12's
// new_delete_resource wraps allocate(SIZE_MAX, 8) to a 0-byte request and returns a real block),
// so requests bound for a foreign resource are screened with the one rule of detail/align.hpp.
bool fits(std::size_t bytes, std::size_t alignment) noexcept { return detail::fits_in_object(bytes, alignment); }

}  // namespace

void* try_allocate(std::pmr::memory_resource& mr, std::size_t bytes, std::size_t alignment) noexcept {
  if (resource* r = as_pmrheap(mr)) return r->try_allocate(bytes, alignment);
  if (!detail::is_pow2(alignment)) return nullptr;  // std resources give undefined behaviour here.
  if (!fits(bytes, alignment)) return nullptr;
  try {
    return mr.allocate(bytes, alignment);
  } catch (...) {
    // Any exception is a failure to allocate; this function promises nullptr, not termination.
    return nullptr;
  }
}

bool resize(std::pmr::memory_resource& mr, void* p, std::size_t old_bytes, std::size_t new_bytes,
            std::size_t alignment) noexcept {
  if (resource* r = as_pmrheap(mr)) return r->resize(p, old_bytes, new_bytes, alignment);
  return p != nullptr && old_bytes != 0 && old_bytes == new_bytes && detail::is_pow2(alignment);
}

void* remap(std::pmr::memory_resource& mr, void* p, std::size_t old_bytes, std::size_t new_bytes,
            std::size_t alignment) noexcept {
  if (resource* r = as_pmrheap(mr)) return r->remap(p, old_bytes, new_bytes, alignment);
  return resize(mr, p, old_bytes, new_bytes, alignment) ? p : nullptr;
}

void* reallocate(std::pmr::memory_resource& mr, void* p, std::size_t old_bytes, std::size_t new_bytes,
                 std::size_t alignment) {
  if (!detail::is_pow2(alignment) || !fits(new_bytes, alignment)) throw_allocation_failure(new_bytes, alignment);
  if (p == nullptr || old_bytes == 0) return mr.allocate(new_bytes, alignment);
  if (new_bytes == 0) {
    mr.deallocate(p, old_bytes, alignment);
    return nullptr;
  }
  if (void* moved = remap(mr, p, old_bytes, new_bytes, alignment)) return moved;
  void* const fresh = mr.allocate(new_bytes, alignment);  // Throws with `p` untouched.
  std::memcpy(fresh, p, old_bytes < new_bytes ? old_bytes : new_bytes);
  mr.deallocate(p, old_bytes, alignment);
  return fresh;
}

}  // namespace pmrheap
