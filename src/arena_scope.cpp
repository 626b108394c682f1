// SPDX-License-Identifier: MIT
// Savepoints: mark() and rewind() of arena_resource and virtual_arena_resource
// (docs/resources/arena_scope.md). arena_scope itself is a header-only template.
//
// arena_resource gives back the nodes taken after a mark (see the design notes in
// src/arena_resource.cpp): the nodes newer than a mark are those in front of its bump node, plus
// the oversized ones slipped in right behind it; the mark names both ends, so one walk finds them
// all, and the same walk proves that the mark still fits the list before anything is touched.
#include "pmrheap/arena_scope.hpp"

#include <cstdint>

#include "pmrheap/arena_resource.hpp"
#include "pmrheap/virtual_arena_resource.hpp"

namespace pmrheap {

// ---- arena_resource -----------------------------------------------------------------------------

arena_mark arena_resource::mark() const noexcept {
  arena_mark m;
  m.owner_ = this;
  m.generation_ = generation_;
  m.cursor_ = cursor_;
  m.node_ = in_buffer() ? nullptr : nodes_;
  m.older_ = in_buffer() ? nodes_ : nodes_->next;
  m.spare_ = spare_;
  m.next_size_ = next_size_;
  return m;
}

// Every test on the list, none on node memory: a mark that fails any of them touches nothing.
bool arena_resource::is_valid(const arena_mark& m) const noexcept {
  if (m.owner_ != this || m.generation_ != generation_) return false;
  const node* n = nodes_;
  const auto* const region = static_cast<const node*>(m.node_);
  if (region != nullptr) {
    while (n != nullptr && n != region) n = n->next;
    if (n == nullptr) return false;
    n = n->next;
  }
  while (n != m.older_) {
    if (n == nullptr) return false;
    n = n->next;
  }
  const std::byte* const begin =
      region != nullptr ? reinterpret_cast<const std::byte*>(region) + node_overhead : buffer_;
  const std::byte* const end =
      region != nullptr ? reinterpret_cast<const std::byte*>(region) + region->size : buffer_ + buffer_size_;
  const auto at = reinterpret_cast<std::uintptr_t>(m.cursor_);
  return at >= reinterpret_cast<std::uintptr_t>(begin) && at <= reinterpret_cast<std::uintptr_t>(end);
}

bool arena_resource::rewind(const arena_mark& m) noexcept {
  const bool valid = is_valid(m);
  PMRHEAP_ASSERT(valid, "rewind needs a mark of this arena, taken since its last reset and not undone by a rewind");
  if (!valid) return false;
  auto* const region = static_cast<node*>(m.node_);
  auto* const older = static_cast<node*>(m.older_);
  const bool same_region = region == nullptr ? in_buffer() : !in_buffer() && nodes_ == region;
  const auto give_back = [&](node* n) {
    if (n == m.spare_) {  // taken from spare_ after the mark: back to waiting there
      detail::poison(reinterpret_cast<std::byte*>(n) + node_overhead, n->size - node_overhead);
      spare_ = n;
    } else {
      free_node(n);
    }
  };
  node* n = nodes_;
  if (region != nullptr) {
    while (n != region) {
      node* const next = n->next;
      give_back(n);
      n = next;
    }
    n = region->next;
  }
  while (n != older) {
    node* const next = n->next;
    give_back(n);
    n = next;
  }
  // A block from before the mark, freed after it, may have taken the cursor below the mark.
  std::byte* const cursor = same_region && cursor_ < m.cursor_ ? cursor_ : m.cursor_;
  if (region != nullptr) {
    region->next = older;
    nodes_ = region;
    begin_ = reinterpret_cast<std::byte*>(region) + node_overhead;
    end_ = reinterpret_cast<std::byte*>(region) + region->size;
  } else {
    nodes_ = older;
    begin_ = buffer_;
    end_ = buffer_ + buffer_size_;
  }
  cursor_ = cursor;
  detail::poison(cursor_, static_cast<std::size_t>(end_ - cursor_));
  next_size_ = m.next_size_;
  return true;
}

// ---- virtual_arena_resource ---------------------------------------------------------------------

arena_mark virtual_arena_resource::mark() const noexcept {
  arena_mark m;
  m.owner_ = this;
  m.generation_ = generation_;
  m.cursor_ = cursor_;
  return m;
}

bool virtual_arena_resource::rewind(const arena_mark& m) noexcept {
  // Integer compares: a mark of another arena holds an unrelated pointer.
  const auto at = reinterpret_cast<std::uintptr_t>(m.cursor_);
  const bool valid = m.owner_ == this && m.generation_ == generation_ &&
                     at >= reinterpret_cast<std::uintptr_t>(begin_) && at <= reinterpret_cast<std::uintptr_t>(end_);
  PMRHEAP_ASSERT(valid, "rewind needs a mark of this arena, taken since its last reset");
  if (!valid) return false;
  // A block from before the mark, freed after it, may have taken the cursor below the mark.
  if (m.cursor_ < cursor_) {
    detail::poison(m.cursor_, static_cast<std::size_t>(cursor_ - m.cursor_));
    cursor_ = m.cursor_;
  }
  return true;
}

}  // namespace pmrheap
