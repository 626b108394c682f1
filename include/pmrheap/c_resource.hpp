// SPDX-License-Identifier: MIT
// c_resource: the C heap (malloc, posix_memalign, realloc) as a pmrheap resource.
#ifndef PMRHEAP_C_RESOURCE_HPP
#define PMRHEAP_C_RESOURCE_HPP

#include "pmrheap/resource.hpp"

namespace pmrheap {

/// The C heap behind the pmr interface (Zig's c_allocator). Alignments up to
/// alignof(std::max_align_t) use malloc (tiny requests padded so the alignment really holds);
/// alignments up to 256 use malloc(bytes + alignment) with the malloc pointer stored in the word
/// before the block (glibc's posix_memalign costs 7-8x a malloc there); larger ones use
/// posix_memalign (_aligned_malloc on Windows). The strategy is chosen from the alignment on every
/// call, so malloc-aligned blocks carry no header.
/// - resize: a shrink always succeeds in place (the C heap keeps the tail); growth succeeds within
///   malloc_usable_size.
/// - remap: resize, else realloc for malloc-strategy blocks (glibc grows large blocks with mremap);
///   over-aligned blocks return nullptr because realloc could lose their alignment.
/// **Fails**: allocate throws pmrheap::out_of_memory (try_allocate: nullptr) when the C heap
/// refuses, and without asking it when size + alignment + two pointers exceed PTRDIFF_MAX (an
/// alignment of 2^63, for one): no C heap can meet such a request, and some wrap the sum.
/// Non-power-of-two alignments throw std::invalid_argument (pmrheap::resource).
/// **Thread safety**: as thread-safe as malloc. Stateless: all instances compare equal.
class PMRHEAP_API c_resource final : public resource {
 public:
  constexpr c_resource() noexcept = default;

  /// A process-wide instance that is never destroyed (usable during static initialisation and
  /// destruction).
  [[nodiscard]] static c_resource* instance() noexcept;

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void* do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override;
  bool do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override;
  void* do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override;
  [[nodiscard]] bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override;
};

}  // namespace pmrheap

#endif  // PMRHEAP_C_RESOURCE_HPP
