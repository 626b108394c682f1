// SPDX-License-Identifier: MIT
// The page-mapping layer every page-backed pmrheap resource stands on: page size, aligned map,
// unmap and remap, with one implementation per OS family under src/platform/.
#ifndef PMRHEAP_PLATFORM_HPP
#define PMRHEAP_PLATFORM_HPP

#include <cstddef>

#include "pmrheap/detail/config.hpp"

namespace pmrheap::platform {

// Compile-time bounds on the run-time page size of the target. Where they are equal, page_size()
// is a constant; where they differ (aarch64 Linux runs 4 KiB, 16 KiB and 64 KiB kernels) it is
// queried once at run time.
#if defined(__APPLE__) && (defined(__aarch64__) || defined(__arm64__))
inline constexpr std::size_t page_size_min = 16384;
inline constexpr std::size_t page_size_max = 16384;
#elif defined(_WIN32) || defined(__APPLE__) || defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || \
    defined(_M_IX86) || defined(__riscv) || defined(__s390x__) || (defined(__arm__) && !defined(__aarch64__))
inline constexpr std::size_t page_size_min = 4096;
inline constexpr std::size_t page_size_max = 4096;
#elif defined(__powerpc__) || defined(__powerpc64__) || defined(__hexagon__)
inline constexpr std::size_t page_size_min = 4096;
inline constexpr std::size_t page_size_max = 262144;
#elif defined(__sparc__) || defined(__alpha__)
inline constexpr std::size_t page_size_min = 8192;
inline constexpr std::size_t page_size_max = 8192;
#elif defined(__wasm__)
inline constexpr std::size_t page_size_min = 65536;
inline constexpr std::size_t page_size_max = 65536;
#else  // aarch64, loongarch64, mips and anything unlisted: ask at run time.
inline constexpr std::size_t page_size_min = 4096;
inline constexpr std::size_t page_size_max = 65536;
#endif

/// The OS page size in bytes: the granularity of map/unmap/remap.
/// **Cost**: a relaxed atomic load after the first call (a constant where min == max).
/// **Thread safety**: safe.
[[nodiscard]] PMRHEAP_API std::size_t page_size() noexcept;

/// Maps `bytes` (rounded up to pages) of fresh zeroed read-write memory aligned to `alignment`.
/// An alignment above the page size is met by over-mapping `alignment - page` bytes and trimming
/// both ends. Successive mappings are hinted to fresh addresses next to the previous one (below it
/// on POSIX, where mmap fills the address space from the top; above it on Windows, where
/// VirtualAlloc fills it from the bottom), so freed pages are not handed out again at once.
/// **Returns**: the block, or nullptr when the OS refuses, when `bytes` is 0 or within a page of
/// SIZE_MAX, when the over-mapping would overflow, or when `alignment` is not a power of two.
[[nodiscard]] PMRHEAP_API void* map(std::size_t bytes, std::size_t alignment) noexcept;

/// Returns the pages of a block from map()/remap() to the OS. `bytes` is the length it was mapped
/// or last remapped with (rounded to pages here). Null `p` or 0 `bytes` do nothing.
PMRHEAP_API void unmap(void* p, std::size_t bytes) noexcept;

/// Changes the length of a mapped block from `old_bytes` to `new_bytes`.
/// - Same page count: returns `p` (growth or shrink inside the last page is free), whatever the
///   alignment.
/// - Linux with `may_move`: mremap(MREMAP_MAYMOVE); the block may come back at a new address,
///   contents preserved. Without `may_move` growth is refused: mremap without MAYMOVE can extend
///   into the range the kernel keeps free for the main thread's stack.
/// - Shrink elsewhere: the tail pages are returned to the OS; returns `p`.
/// **Returns**: the (possibly moved) block, or nullptr with the mapping untouched: when growth is
/// not possible, when the page count changes and `alignment` exceeds the page size (a moved block
/// could lose it), when `alignment` is not a power of two, when a size is 0 or within a page of
/// SIZE_MAX.
[[nodiscard]] PMRHEAP_API void* remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment,
                                      bool may_move) noexcept;

}  // namespace pmrheap::platform

#endif  // PMRHEAP_PLATFORM_HPP
