// SPDX-License-Identifier: MIT
// virtual_arena_resource: an arena over one reserved range of address space, committed as it fills,
// so its last block can grow in place until the reservation runs out.
#ifndef PMRHEAP_VIRTUAL_ARENA_RESOURCE_HPP
#define PMRHEAP_VIRTUAL_ARENA_RESOURCE_HPP

#include <bit>
#include <cstddef>

#include "pmrheap/arena_scope.hpp"
#include "pmrheap/detail/bump.hpp"
#include "pmrheap/detail/sanitizer.hpp"
#include "pmrheap/huge_pages.hpp"
#include "pmrheap/reset_mode.hpp"
#include "pmrheap/resource.hpp"

namespace pmrheap {

/// A bump arena over one reservation of address space (platform::reserve): nothing is mapped up
/// front, pages are committed as the cursor passes them, in steps that double with use (from
/// commit_step() up to max_commit_step, never more than already committed), and the range
/// never moves. So the last allocation can always grow in place (resize/remap) until the
/// reservation is exhausted, which is what a growing buffer or a Boost vector with
/// resizable_allocator needs to never copy (docs/growth.md).
/// - deallocate of the last block rolls the cursor back; other blocks are reclaimed by reset().
/// - resize/remap of the last block grow or shrink it in place; other blocks: shrink true (nothing
///   reclaimed), grow false. remap never moves a block.
/// - A pointer the arena did not hand out is left alone: deallocate does nothing, a shrink returns
///   true and changes nothing, a growth false; no byte outside the reservation is poisoned.
/// - Savepoints: mark() and rewind() (and arena_scope) free every block allocated after a mark.
/// - Fresh committed memory reads as zero; memory reused after a rollback or reset does not.
/// - With huge_pages::advise, the usable range starts on a huge page boundary, the commit step is
///   the huge page size and every commit is advised with MADV_HUGEPAGE (docs/growth.md#huge-pages).
/// **Fails**: allocate throws pmrheap::out_of_memory, try_allocate returns nullptr, when the
/// request does not fit in what is left of the reservation or the OS refuses to commit; the arena
/// stays usable.
/// **Cost**: allocate is a bump and a compare while the block fits in committed pages; passing
/// the committed end costs one mprotect (VirtualAlloc) per commit, and commits double: a 15 MB
/// sequence of small blocks takes 9 of them (commit_count()).
/// **Thread safety**: none; one thread at a time (as arena_resource).
class PMRHEAP_API virtual_arena_resource final : public resource {
 public:
  /// The default reservation: 64 GiB of address space on 64-bit targets, 1 GiB on 32-bit ones.
  static constexpr std::size_t default_reserve = sizeof(void*) >= 8 ? std::size_t{1} << 36 : std::size_t{1} << 30;
  /// The commit step without huge pages: 64 KiB (or one page, if pages are larger).
  static constexpr std::size_t default_commit_step = std::size_t{64} << 10;

  /// The largest commit step: past it, commits stop doubling (without huge pages; with them, the
  /// larger of this and the huge page size).
  static constexpr std::size_t max_commit_step = std::size_t{16} << 20;

  /// The smallest reservation the default constructor settles for.
  static constexpr std::size_t min_default_reserve = std::size_t{256} << 20;

  /// Reserves default_reserve bytes of address space; where the OS refuses that much (RLIMIT_AS,
  /// valgrind, a crowded 32-bit process), the largest of default_reserve / 2, / 4, ... down to
  /// min_default_reserve that it grants. reserved() tells what was had. Commits nothing yet.
  /// **Fails**: throws pmrheap::out_of_memory when even min_default_reserve is refused.
  virtual_arena_resource();
  /// Reserves exactly `reserve_bytes` (rounded up to pages) of address space; commits nothing yet.
  /// **Fails**: throws pmrheap::out_of_memory when the OS refuses the reservation (address space
  /// or RLIMIT_AS exhausted) or `reserve_bytes` is 0 or within a page of SIZE_MAX.
  explicit virtual_arena_resource(std::size_t reserve_bytes) : virtual_arena_resource(reserve_bytes, huge_pages::off) {}
  /// As above; huge_pages::advise starts the usable range on a huge page boundary and commits in
  /// huge-page steps, each advised with MADV_HUGEPAGE (a no-op where platform::huge_page_size() is 0).
  virtual_arena_resource(std::size_t reserve_bytes, huge_pages mode);

  virtual_arena_resource(const virtual_arena_resource&) = delete;
  virtual_arena_resource& operator=(const virtual_arena_resource&) = delete;
  /// Returns the whole reservation to the OS.
  ~virtual_arena_resource() override;

  /// std::pmr::memory_resource::allocate and deallocate, declared again so that a call through
  /// this type binds statically and inlines the fast path with every compiler (clang devirtualises
  /// only on the static type of a call, and these calls would otherwise go through the base).
  /// Same contract and results as the base's.
  [[nodiscard]] void* allocate(std::size_t bytes, std::size_t alignment = alignof(std::max_align_t)) {
    return virtual_arena_resource::do_allocate(bytes, alignment);
  }
  /// Same contract as the base's deallocate, without the virtual call.
  void deallocate(void* p, std::size_t bytes, std::size_t alignment = alignof(std::max_align_t)) {
    virtual_arena_resource::do_deallocate(p, bytes, alignment);
  }

  /// Frees every block. free_all decommits every page; retain_capacity keeps every committed page.
  /// **Returns**: true; false only when the OS refuses a decommit, in which case the pages stay
  /// committed (capacity() says how many) and the arena, empty, stays usable. Invalidates every
  /// mark.
  bool reset(reset_mode mode = reset_mode::retain_capacity) noexcept;
  /// As reset(retain_capacity), keeping at most `keep.limit` bytes committed (rounded down to
  /// pages) and decommitting the rest; a limit of 0 is free_all.
  bool reset(retain_with_limit keep) noexcept;
  /// reset(reset_mode::free_all): every block freed, every page decommitted; the reservation stays.
  void release() noexcept;

  /// Bytes of the reservation usable for blocks (reserve_bytes rounded up to pages).
  [[nodiscard]] std::size_t reserved() const noexcept { return static_cast<std::size_t>(end_ - begin_); }
  /// Bytes committed from the start of the reservation: what the arena holds from the OS.
  [[nodiscard]] std::size_t committed() const noexcept { return static_cast<std::size_t>(committed_ - begin_); }
  /// Bytes from the start of the reservation to the cursor: blocks handed out, with their padding.
  [[nodiscard]] std::size_t used() const noexcept { return static_cast<std::size_t>(cursor_ - begin_); }
  /// What the arena can hand out without a system call: the same as committed(), under the name
  /// arena_resource uses (Zig's queryCapacity).
  [[nodiscard]] std::size_t capacity() const noexcept { return committed(); }
  /// The first commit step, and the unit every commit is a multiple of: default_commit_step (at
  /// least a page), or the huge page size with huge_pages::advise. Later commits take as much
  /// again as is committed already, up to max_commit_step, so what runs ahead of the cursor stays
  /// under max(commit_step(), min(committed(), max_commit_step)).
  [[nodiscard]] std::size_t commit_step() const noexcept { return step_; }
  /// Commit calls made to the OS so far (platform::commit, refused ones included).
  [[nodiscard]] std::size_t commit_count() const noexcept { return commits_; }

  /// A savepoint: where the cursor is now. **Cost**: a few stores.
  [[nodiscard]] arena_mark mark() const noexcept;
  /// Frees every block allocated since `m` was taken: the cursor goes back to it (poisoned under
  /// ASan); the pages committed since stay committed, for reuse (decommit with reset). Marks
  /// taken after `m` become invalid; `m` and older ones stay valid.
  /// **Returns**: true; false, doing nothing, for a mark it can tell is not valid (another
  /// arena's, one from before a reset or release): an error, which debug builds report and abort
  /// on. A mark that a rewind to an older one invalidated is an error it cannot always tell (it
  /// then frees nothing, or blocks of its own). Touches no memory outside the reservation.
  bool rewind(const arena_mark& m) noexcept;
  /// The huge page setting the arena was built with.
  [[nodiscard]] huge_pages huge_page_mode() const noexcept { return huge_pages_; }

 private:
  // Fast path: the block fits in committed memory (detail::bump, one compare).
  [[nodiscard]] bool bump(std::size_t bytes, std::size_t alignment, void*& block) noexcept {
    std::byte* p = nullptr;
    if (!detail::bump(cursor_, committed_, bytes, alignment, p)) [[unlikely]]
      return false;
    detail::unpoison(p, bytes);
    block = p;
    return true;
  }

  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    void* p = nullptr;
    if (detail::is_pow2(alignment) && bump(bytes, alignment, p)) [[likely]]
      return p;
    return allocate_slow(bytes, alignment);
  }
  void* do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept override {
    void* p = nullptr;
    if (bump(bytes, alignment, p)) [[likely]]
      return p;
    return refill(bytes, alignment);
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override;
  bool do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override;

  PMRHEAP_NOINLINE void* allocate_slow(std::size_t bytes, std::size_t alignment);
  PMRHEAP_NOINLINE void* refill(std::size_t bytes, std::size_t alignment) noexcept;
  bool commit_through(const std::byte* end) noexcept;
  bool decommit_from(std::byte* from) noexcept;
  bool reset_to(std::size_t keep) noexcept;

  void adopt(void* range, std::size_t total, std::size_t usable, std::size_t huge) noexcept;

  std::byte* reservation_ = nullptr;  // what platform::reserve returned, for release
  std::size_t reservation_bytes_ = 0;
  std::byte* begin_ = nullptr;      // first usable byte (huge-page-aligned with huge_pages::advise)
  std::byte* end_ = nullptr;        // one past the last usable byte
  std::byte* cursor_ = nullptr;     // next free byte
  std::byte* committed_ = nullptr;  // [begin_, committed_) is committed
  std::size_t step_;                // the first commit step, and the unit of every commit
  std::size_t max_step_;            // where commits stop doubling
  std::size_t commits_ = 0;         // commit calls made
  std::size_t generation_ = 0;      // resets and releases so far: what outdates a mark
  huge_pages huge_pages_;
};

}  // namespace pmrheap

#endif  // PMRHEAP_VIRTUAL_ARENA_RESOURCE_HPP
