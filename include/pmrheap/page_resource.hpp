// SPDX-License-Identifier: MIT
// page_resource: every allocation its own OS mapping.
#ifndef PMRHEAP_PAGE_RESOURCE_HPP
#define PMRHEAP_PAGE_RESOURCE_HPP

#include "pmrheap/huge_pages.hpp"
#include "pmrheap/resource.hpp"

namespace pmrheap {

/// Every allocation is its own mapping from platform::map (Zig's page_allocator): at least one
/// page, any power-of-two alignment (over-mapped and trimmed above the page size), returned to
/// the OS on deallocate. Meant as the upstream of an arena or for large buffers, not for small
/// objects: a 16-byte allocation costs a whole page and two system calls.
/// - deallocate: unmaps the block. Where the OS refuses for want of a mapping slot (Linux at
///   vm.max_map_count, for a block inside a kernel mapping it merged into), the pages go back at
///   once and the address range on a later call: nothing is lost (platform::unmap).
/// - resize: within the same page count always; shrinking across pages unmaps the tail; growth
///   across pages fails (in-place growth could run into the main thread's stack guard range).
/// - remap: as resize, but on Linux growth uses mremap and may move the block without copying.
///   Blocks aligned above the page size are never resized or remapped across pages.
/// - With huge_pages::advise, blocks of at least platform::huge_page_size() bytes are aligned to
///   that size and advised with platform::advise_huge_pages (also after a remap grows them past
///   it), so the kernel can back them with transparent huge pages (docs/growth.md#huge-pages).
/// **Fails**: allocate throws pmrheap::out_of_memory when the OS refuses or the size is within a
/// page of SIZE_MAX.
/// **Thread safety**: safe. All instances compare equal, whatever their huge page setting: a block
/// from one can be resized and freed by any other.
class PMRHEAP_API page_resource final : public resource {
 public:
  constexpr page_resource() noexcept = default;
  /// A page resource that advises huge pages for large blocks when `mode` is huge_pages::advise.
  explicit constexpr page_resource(huge_pages mode) noexcept : huge_pages_(mode) {}

  /// A process-wide instance (huge_pages::off) that is never destroyed.
  [[nodiscard]] static page_resource* instance() noexcept;

  /// The huge page setting this resource was built with.
  [[nodiscard]] huge_pages huge_page_mode() const noexcept { return huge_pages_; }

 private:
  void* do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override;
  bool do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override;
  void* do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override;
  [[nodiscard]] bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override;

  huge_pages huge_pages_ = huge_pages::off;
};

}  // namespace pmrheap

#endif  // PMRHEAP_PAGE_RESOURCE_HPP
