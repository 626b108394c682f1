// SPDX-License-Identifier: MIT
// c_resource. The C library differs by platform in two places, kept together at the top: how to
// allocate over-aligned blocks and how to ask a block's usable size.
#include "pmrheap/c_resource.hpp"

#include <cstdint>
#include <cstdlib>

#if defined(_WIN32)
#  include <malloc.h>
#elif defined(__APPLE__)
#  include <malloc/malloc.h>
#else
#  include <malloc.h>
#endif

#include "immortal.hpp"

namespace pmrheap {
namespace {

constexpr std::size_t malloc_alignment = alignof(std::max_align_t);

// malloc strategy for alignments C guarantees, an aligned allocator above that. Deciding from the
// alignment alone means deallocate, resize and remap, which receive the same alignment, always
// agree with allocate without a header.
bool uses_malloc(std::size_t alignment) noexcept { return alignment <= malloc_alignment; }

void* aligned_alloc_block(std::size_t bytes, std::size_t alignment) noexcept {
  // Aligned allocators over-allocate by up to the alignment plus a pointer, and not all of them
  // check that sum: msvcrt's _aligned_malloc(SIZE_MAX, 4096) wraps it and returns a tiny block.
  // Sizes that cannot hold it are refused here, for every C library.
  std::size_t total = 0;
  if (!detail::checked_add(bytes, alignment + 2 * sizeof(void*), total)) return nullptr;
#if defined(_WIN32)
  return ::_aligned_malloc(bytes, alignment);
#else
  void* p = nullptr;
  const std::size_t a = alignment < sizeof(void*) ? sizeof(void*) : alignment;
  return ::posix_memalign(&p, a, bytes) == 0 ? p : nullptr;
#endif
}

void free_block(void* p, std::size_t alignment) noexcept {
#if defined(_WIN32)
  if (!uses_malloc(alignment)) return ::_aligned_free(p);
#else
  static_cast<void>(alignment);
#endif
  std::free(p);
}

std::size_t usable_size(void* p, std::size_t alignment) noexcept {
#if defined(_WIN32) && (defined(_MSC_VER) || defined(_UCRT))
  return uses_malloc(alignment) ? ::_msize(p) : ::_aligned_msize(p, alignment, 0);
#elif defined(_WIN32)
  // mingw-w64 on the old msvcrt.dll has no _aligned_msize. 0 makes an over-aligned block refuse
  // to grow in place, which is always a correct answer (shrinking does not ask).
  return uses_malloc(alignment) ? ::_msize(p) : 0;
#elif defined(__APPLE__)
  static_cast<void>(alignment);
  return ::malloc_size(p);
#else
  static_cast<void>(alignment);
  return ::malloc_usable_size(p);
#endif
}

// No C heap hands out a block above PTRDIFF_MAX bytes (a pointer difference inside it would
// overflow; glibc refuses them). Refusing them here keeps such sizes away from C libraries that
// might wrap them, and from valgrind, which reports them as "fishy" arguments.
bool fits_any_heap(std::size_t bytes) noexcept { return bytes <= static_cast<std::size_t>(PTRDIFF_MAX); }

// C only promises max_align_t alignment for blocks large enough to hold such an object, so tiny
// requests are padded.
std::size_t padded(std::size_t bytes) noexcept { return bytes < malloc_alignment ? malloc_alignment : bytes; }

constinit detail::immortal<c_resource> global_c_resource;

}  // namespace

c_resource* c_resource::instance() noexcept { return &global_c_resource.value; }

void* c_resource::do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept {
  if (!fits_any_heap(bytes)) return nullptr;
  void* const p = uses_malloc(alignment) ? std::malloc(padded(bytes)) : aligned_alloc_block(bytes, alignment);
  PMRHEAP_ASSERT(p == nullptr || detail::is_aligned(p, alignment), "the C heap must honour the alignment");
  return p;
}

void c_resource::do_deallocate(void* p, std::size_t bytes, std::size_t alignment) {
  if (bytes == 0) return;  // The empty block was never malloc'd.
  free_block(p, alignment);
}

bool c_resource::do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept {
  return new_bytes < old_bytes || new_bytes <= usable_size(p, alignment);
}

void* c_resource::do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept {
  if (do_resize(p, old_bytes, new_bytes, alignment)) return p;
  if (!uses_malloc(alignment) || !fits_any_heap(new_bytes)) return nullptr;
  void* const moved = std::realloc(p, padded(new_bytes));
  PMRHEAP_ASSERT(moved == nullptr || detail::is_aligned(moved, alignment), "realloc must keep malloc's alignment");
  return moved;
}

bool c_resource::do_is_equal(const std::pmr::memory_resource& other) const noexcept {
  return dynamic_cast<const c_resource*>(&other) != nullptr;
}

}  // namespace pmrheap
