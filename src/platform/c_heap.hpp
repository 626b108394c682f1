// SPDX-License-Identifier: MIT
// The C heap calls that differ by platform, for c_resource: over-aligned allocation and the
// usable size of a block. One definition per OS family (c_heap_posix.cpp, c_heap_windows.cpp).
// Internal: not installed.
#ifndef PMRHEAP_SRC_PLATFORM_C_HEAP_HPP
#define PMRHEAP_SRC_PLATFORM_C_HEAP_HPP

#include <cstddef>

namespace pmrheap::platform::c_heap {

/// A block of `bytes` aligned to `alignment` (a power of two above alignof(std::max_align_t)):
/// posix_memalign, or _aligned_malloc on Windows; nullptr when the C heap refuses.
/// **Requires**: `bytes + alignment + 2 * sizeof(void*)` does not overflow (c_resource screens it).
[[nodiscard]] void* aligned_allocate(std::size_t bytes, std::size_t alignment) noexcept;

/// Frees a block from aligned_allocate.
void aligned_free(void* p) noexcept;

/// The usable size of a block from malloc or realloc: malloc_usable_size, malloc_size (macOS),
/// _msize (Windows).
[[nodiscard]] std::size_t usable_size(void* p) noexcept;

/// The usable size of a block from aligned_allocate with this `alignment`; 0 where the C library
/// cannot tell (mingw-w64 on msvcrt.dll), which makes the block refuse to grow in place.
[[nodiscard]] std::size_t aligned_usable_size(void* p, std::size_t alignment) noexcept;

}  // namespace pmrheap::platform::c_heap

#endif  // PMRHEAP_SRC_PLATFORM_C_HEAP_HPP
