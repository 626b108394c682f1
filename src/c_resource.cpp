// SPDX-License-Identifier: MIT
// c_resource. The C library differs by platform in two places, both behind src/platform/c_heap.hpp:
// how to allocate over-aligned blocks and how to ask a block's usable size.
//
// Design notes. The strategy is a function of the alignment alone, so deallocate, resize and remap
// (which receive the allocation's alignment) always agree with allocate, and malloc-aligned blocks
// carry no header:
//   alignment <= alignof(max_align_t)  malloc, tiny requests padded to max_align_t;
//   alignment <= 256                   malloc(bytes + alignment), the malloc pointer stored in the
//                                      word before the aligned block (Zig's manual_align);
//   larger                             posix_memalign / _aligned_malloc.
// The middle band exists because glibc's posix_memalign costs 7-8x a malloc at alignment 64 while
// the header costs one malloc; above 256 bytes the padding (up to `alignment` bytes per block)
// would outweigh that, and posix_memalign's cost falls relative to the block anyway.
#include "pmrheap/c_resource.hpp"

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "immortal.hpp"
#include "platform/c_heap.hpp"
#include "pmrheap/detail/align.hpp"

namespace pmrheap {
namespace {

constexpr std::size_t malloc_alignment = alignof(std::max_align_t);
constexpr std::size_t header_alignment_max = 256;

enum class strategy { malloc, header, aligned };

strategy strategy_for(std::size_t alignment) noexcept {
  if (alignment <= malloc_alignment) return strategy::malloc;
  return alignment <= header_alignment_max ? strategy::header : strategy::aligned;
}

// No C heap hands out a block above PTRDIFF_MAX bytes (a pointer difference inside it would
// overflow; glibc refuses them), and an aligned allocator may over-allocate by the alignment (plus
// a header) and not check that sum: msvcrt's _aligned_malloc(SIZE_MAX, 4096) wraps it and returns
// a tiny block, ASan's posix_memalign CHECK-fails the process at alignment 2^63 even with
// allocator_may_return_null=1. So a request reaches the C heap only when its size, its alignment
// and two pointers fit in PTRDIFF_MAX; the rest are refused here, for every C library (valgrind
// also reports larger sizes as "fishy" arguments).
bool fits_any_heap(std::size_t bytes, std::size_t alignment) noexcept {
  constexpr std::size_t limit = static_cast<std::size_t>(PTRDIFF_MAX) - 2 * sizeof(void*);
  return alignment <= limit && bytes <= limit - alignment;
}

// C only promises max_align_t alignment for blocks large enough to hold such an object, so tiny
// requests are padded.
std::size_t padded(std::size_t bytes) noexcept { return bytes < malloc_alignment ? malloc_alignment : bytes; }

// malloc's result is a multiple of malloc_alignment (>= a pointer), and `alignment` is a larger
// power of two, so the first aligned address at least a pointer past it is at most `alignment`
// bytes in: malloc(bytes + alignment) always has room for the header and the block.
void* header_allocate(std::size_t bytes, std::size_t alignment) noexcept {
  const std::size_t total = bytes + alignment;  // no overflow: fits_any_heap screened it
  auto* const raw = static_cast<std::byte*>(std::malloc(total));
  if (raw == nullptr) return nullptr;
  std::byte* const block = raw + sizeof(void*) + detail::align_offset(raw + sizeof(void*), alignment);
  std::memcpy(block - sizeof(void*), &raw, sizeof raw);
  return block;
}

std::byte* header_raw(void* block) noexcept {
  std::byte* raw = nullptr;
  std::memcpy(&raw, static_cast<std::byte*>(block) - sizeof(void*), sizeof raw);
  return raw;
}

std::size_t usable_size(void* p, std::size_t alignment) noexcept {
  switch (strategy_for(alignment)) {
    case strategy::malloc:
      return platform::c_heap::usable_size(p);
    case strategy::header: {
      std::byte* const raw = header_raw(p);
      return platform::c_heap::usable_size(raw) - static_cast<std::size_t>(static_cast<std::byte*>(p) - raw);
    }
    case strategy::aligned:
      return platform::c_heap::aligned_usable_size(p, alignment);
  }
  return 0;
}

inline void* allocate_block(std::size_t bytes, std::size_t alignment) noexcept {
  if (!fits_any_heap(bytes, alignment)) return nullptr;
  void* p = nullptr;
  switch (strategy_for(alignment)) {
    case strategy::malloc:
      p = std::malloc(padded(bytes));
      break;
    case strategy::header:
      p = header_allocate(bytes, alignment);
      break;
    case strategy::aligned:
      p = platform::c_heap::aligned_allocate(bytes, alignment);
      break;
  }
  PMRHEAP_ASSERT(p == nullptr || detail::is_aligned(p, alignment), "the C heap must honour the alignment");
  return p;
}

constinit detail::immortal<c_resource> global_c_resource;

}  // namespace

c_resource* c_resource::instance() noexcept { return &global_c_resource.value; }

void* c_resource::do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept {
  return allocate_block(bytes, alignment);
}

// resource::do_allocate would reach do_try_allocate through a second virtual call; malloc costs
// ~10 ns, so that call alone is 10-20 %. Valid arguments go straight to the hook.
void* c_resource::do_allocate(std::size_t bytes, std::size_t alignment) {
  if (!detail::is_pow2(alignment) || bytes == 0) [[unlikely]]
    return resource::do_allocate(bytes, alignment);
  void* const p = allocate_block(bytes, alignment);
  if (p == nullptr) [[unlikely]]
    throw_allocation_failure(bytes, alignment);
  return p;
}

void c_resource::do_deallocate(void* p, std::size_t bytes, std::size_t alignment) {
  if (bytes == 0) return;  // The empty block was never malloc'd.
  switch (strategy_for(alignment)) {
    case strategy::malloc:
      return std::free(p);
    case strategy::header:
      return std::free(header_raw(p));
    case strategy::aligned:
      return platform::c_heap::aligned_free(p);
  }
}

bool c_resource::do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept {
  return new_bytes < old_bytes || new_bytes <= usable_size(p, alignment);
}

void* c_resource::do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept {
  if (do_resize(p, old_bytes, new_bytes, alignment)) return p;
  // realloc keeps malloc's alignment only; header and aligned blocks could lose theirs.
  if (strategy_for(alignment) != strategy::malloc || !fits_any_heap(new_bytes, alignment)) return nullptr;
  void* const moved = std::realloc(p, padded(new_bytes));
  PMRHEAP_ASSERT(moved == nullptr || detail::is_aligned(moved, alignment), "realloc must keep malloc's alignment");
  return moved;
}

bool c_resource::do_is_equal(const std::pmr::memory_resource& other) const noexcept {
  return dynamic_cast<const c_resource*>(&other) != nullptr;
}

}  // namespace pmrheap
