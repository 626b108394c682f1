// SPDX-License-Identifier: MIT
// Savepoints for arenas: arena_mark, what arena.mark() returns and arena.rewind(m) goes back to,
// and arena_scope, which rewinds when it goes out of scope (foonathan/memory's memory_stack
// markers, for pmrheap's arenas).
#ifndef PMRHEAP_ARENA_SCOPE_HPP
#define PMRHEAP_ARENA_SCOPE_HPP

#include <cstddef>
#include <utility>

namespace pmrheap {

class arena_resource;
class virtual_arena_resource;

/// A savepoint of one arena: where its cursor was when arena.mark() was called. A small value
/// type, copied freely; only the arena that made it reads its contents. A default-constructed
/// mark belongs to no arena (rewind refuses it).
/// A mark stays valid until the arena is reset or released, or rewound to an older mark; rewind
/// with a mark that is not valid is an error (docs/resources/arena_scope.md).
class arena_mark {
 public:
  arena_mark() noexcept = default;

 private:
  friend class arena_resource;
  friend class virtual_arena_resource;

  const void* owner_ = nullptr;  // the arena that made it
  std::size_t generation_ = 0;   // the arena's count of resets and releases at the time
  std::byte* cursor_ = nullptr;  // the cursor at the time
  void* node_ = nullptr;         // arena_resource: the bump node, null for the caller's buffer
  void* older_ = nullptr;        // arena_resource: the newest node not newer than the mark
  void* spare_ = nullptr;        // arena_resource: the node a reset kept for after the buffer
  std::size_t next_size_ = 0;    // arena_resource: the size of the next regular node
};

/// Rewinds `Arena` (arena_resource, virtual_arena_resource, or any type with `mark()` and
/// `rewind(mark)`) to where it stood at construction when it goes out of scope: every block
/// allocated in the scope is freed at once. Scopes nest; an inner scope must end before an outer
/// one (the usual C++ lifetimes see to it). `pmrheap::arena_scope scope(arena);` deduces `Arena`.
/// **Cost**: one mark() at construction, one rewind() at destruction. Never throws.
template <class Arena>
class arena_scope {
 public:
  /// Marks `arena` now; the destructor rewinds it to this mark.
  explicit arena_scope(Arena& arena) noexcept(noexcept(arena.mark())) : arena_(arena), mark_(arena.mark()) {}
  arena_scope(const arena_scope&) = delete;
  arena_scope& operator=(const arena_scope&) = delete;
  ~arena_scope() { static_cast<void>(arena_.rewind(mark_)); }

  /// The arena the scope rewinds.
  [[nodiscard]] Arena& arena() const noexcept { return arena_; }
  /// The mark it rewinds to.
  [[nodiscard]] const auto& mark() const noexcept { return mark_; }

 private:
  Arena& arena_;
  decltype(std::declval<Arena&>().mark()) mark_;
};

template <class Arena>
arena_scope(Arena&) -> arena_scope<Arena>;

}  // namespace pmrheap

#endif  // PMRHEAP_ARENA_SCOPE_HPP
