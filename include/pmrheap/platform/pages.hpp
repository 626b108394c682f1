// SPDX-License-Identifier: MIT
// The page-mapping layer every page-backed pmrheap resource stands on: page size, aligned map,
// unmap and remap, with one implementation per OS family under src/platform/.
#ifndef PMRHEAP_PLATFORM_PAGES_HPP
#define PMRHEAP_PLATFORM_PAGES_HPP

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
/// Nothing is ever lost: where the OS refuses the unmap for want of a mapping slot (Linux at
/// vm.max_map_count, when the block sits in the middle of a kernel mapping it merged into), its
/// memory is dropped at once (MADV_DONTNEED) and its address range is unmapped by a later call of
/// map(), unmap() or remap(), as soon as the OS accepts it. map() and remap() trim with the same
/// rule. deferred_unmaps() counts the ranges still waiting.
/// **Cost**: one system call; a relaxed atomic load more, unless ranges are waiting.
PMRHEAP_API void unmap(void* p, std::size_t bytes) noexcept;

/// The number of address ranges whose unmap the OS refused and that wait for a retry (see
/// unmap()); 0 on Windows, where releasing a mapping never needs a new one. For tests and
/// diagnostics. **Thread safety**: safe (a relaxed load).
[[nodiscard]] PMRHEAP_API std::size_t deferred_unmaps() noexcept;

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

// Address-space reservation: claim a range of addresses without memory behind it, then commit and
// decommit pages inside it. This is what lets virtual_arena_resource grow its last block in place
// for as long as the reservation lasts. reserve/release take any size and round it to pages, like
// map/unmap; commit/decommit act on sub-ranges and take them exactly: a pointer or length that is
// not a whole number of pages is refused instead of silently widened.

/// Reserves `bytes` (rounded up to pages) of address space with no access and no memory behind it.
/// POSIX: an anonymous PROT_NONE mapping with MAP_NORESERVE, so no swap or commit charge is taken;
/// Windows: VirtualAlloc(MEM_RESERVE, PAGE_NOACCESS). Touching a reserved page that is not
/// committed faults.
/// **Returns**: the page-aligned start, or nullptr when the OS refuses (address space exhausted,
/// RLIMIT_AS) or `bytes` is 0 or within a page of SIZE_MAX.
/// **Cost**: one system call; no page is touched.
[[nodiscard]] PMRHEAP_API void* reserve(std::size_t bytes) noexcept;

/// Makes the pages [p, p + bytes) of a reservation readable and writable. Pages never committed
/// before, or decommitted since, read as zero. POSIX: mprotect(PROT_READ | PROT_WRITE) (where the
/// kernel accounts commit, as Linux with vm.overcommit_memory=2 does, this is where a refusal
/// shows); Windows: VirtualAlloc(MEM_COMMIT).
/// **Returns**: true on success; false, nothing changed, when the OS refuses, `p` is null or not
/// page-aligned, `bytes` is 0 or not a multiple of the page size, or the range wraps.
/// **Requires**: the range lies inside one reservation from reserve().
[[nodiscard]] PMRHEAP_API bool commit(void* p, std::size_t bytes) noexcept;

/// Gives the pages [p, p + bytes) back to the OS and makes them inaccessible again; the range stays
/// reserved and can be committed again (it then reads as zero). Linux: mprotect(PROT_NONE), then
/// madvise(MADV_DONTNEED) to drop the pages (neither call can leave a hole in the reservation);
/// other POSIX systems, which do not promise zero pages after MADV_DONTNEED: a fresh PROT_NONE
/// mapping over the range (mmap with MAP_FIXED); Windows: VirtualFree(MEM_DECOMMIT).
/// **Returns**: true on success; false, nothing changed, on the same bad input as commit().
/// **Requires**: the range lies inside one reservation from reserve().
[[nodiscard]] PMRHEAP_API bool decommit(void* p, std::size_t bytes) noexcept;

/// Returns a whole reservation to the OS. `bytes` is the size it was reserved with (rounded to
/// pages here, as unmap does); Windows releases the whole reservation whatever `bytes` says.
/// **Returns**: true on success; false, nothing changed, when `p` is null or not page-aligned,
/// `bytes` is 0 or within a page of SIZE_MAX, or the OS refuses.
PMRHEAP_API bool release(void* p, std::size_t bytes) noexcept;

/// The transparent huge page size the OS will back advised ranges with (2 MiB on x86-64 Linux),
/// or 0 where there is none: every OS but Linux, and Linux kernels built without transparent huge
/// pages or with them set to `never` in /sys/kernel/mm/transparent_hugepage/enabled.
/// **Cost**: reads sysfs once, then a relaxed atomic load. **Thread safety**: safe.
[[nodiscard]] PMRHEAP_API std::size_t huge_page_size() noexcept;

/// Asks the OS to back [p, p + bytes) (`bytes` rounded up to pages) with transparent huge pages:
/// madvise(MADV_HUGEPAGE) on Linux, nothing elsewhere. Only the huge-page-aligned parts of the range
/// can get huge pages. See docs/growth.md#huge-pages for when this pays.
/// **Returns**: true when the advice was taken; false when huge_page_size() is 0, on bad input
/// (null or unaligned `p`, `bytes` 0 or within a page of SIZE_MAX) or when the OS refuses.
PMRHEAP_API bool advise_huge_pages(void* p, std::size_t bytes) noexcept;

}  // namespace pmrheap::platform

#endif  // PMRHEAP_PLATFORM_PAGES_HPP
