// SPDX-License-Identifier: MIT
// arena_resource: node list, refills, in-place growth, resets.
//
// Design notes.
// - A node is one upstream block, aligned to alignof(std::max_align_t): a {next, size} header,
//   then the payload. Sizes are multiples of that alignment (except a retain_with_limit node, which
//   is exactly limit + header so that capacity() == limit), so every payload starts and ends aligned.
// - Node sizes follow their own series, 1024 then x1.5 (Zig's factor), which requests never
//   change. Zig, libc++ and Boost size the next node from the request, so one huge request makes
//   every later node huge. Here a request that does not fit the next regular node gets an exact
//   node of its own, and the series goes on as if it had not happened.
// - That oversized node becomes the bump node only if it has more room left than the current one
//   (an empty arena, a full node); otherwise it goes behind the bump node, which keeps its free
//   space. Either way the node with the smaller leftover is the one given up on.
// - Before a new node, the bump node is grown in place through the upstream's resize: first by a
//   whole next-node size (amortised, like taking that node; the series advances), then to the end
//   of its page (page_resource's slack, in one call), then by just enough (Zig). Up to three
//   upstream calls instead of Zig's one, but only a pmrheap upstream is asked at all: a foreign one
//   could never say yes. Zig's "just enough" alone costs a call per block in a node's last page.
// - capacity() walks the list instead of keeping a total (Zig's choice): after one retaining
//   reset there is a single node, and allocation carries no bookkeeping.
// - reset keeps the node closest to the target size from above (a shrink works in place on page
//   and C upstreams), else the largest (the most capacity left if growing it fails).
// - Memory goes back upstream unpoisoned: an upstream that knows nothing of ASan (a std::pmr pool)
//   may hand it out again.
// - The caller's buffer is a bump region without a header (so a buffer of any size and address
//   works) and outside the node list. While the arena bumps in it, every node in the list is full;
//   a node a reset kept waits in spare_ until the buffer is used up.
// - A rewind gives back the nodes taken after the mark instead of keeping them: a kept node would
//   need a list of spare nodes to be reused, and the arena would hold more after a rewind than at
//   the mark (src/arena_scope.cpp).
// - The bump, the newest-block rule and the shape of the slow path are detail/bump.hpp's, shared
//   with virtual_arena_resource and the fixed buffers.
#include "pmrheap/arena_resource.hpp"

#include <bit>
#include <limits>
#include <new>

#include "pmrheap/detail/bump.hpp"
#include "pmrheap/platform/pages.hpp"

namespace pmrheap {
namespace {

constexpr std::size_t node_alignment = alignof(std::max_align_t);
// The arena subtracts pointers within a node, so no node may be larger than PTRDIFF_MAX. Larger
// requests fail here instead of reaching the upstream (ASan's operator new aborts on them).
constexpr auto max_node_size = static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max());

// `used + bytes` rounded up to the node alignment; false when that is no possible node size.
bool node_size_for(std::size_t used, std::size_t bytes, std::size_t& out) noexcept {
  std::size_t sum = 0;
  std::size_t aligned = 0;
  if (!detail::checked_add(used, bytes, sum) || !detail::align_up_checked(sum, node_alignment, aligned) ||
      aligned > max_node_size)
    return false;
  out = aligned;
  return true;
}

// The size of the node after one of `size`: 1.5 times it, aligned; `size` itself past the largest
// node size (no upstream would hand out such a node anyway).
std::size_t grown(std::size_t size) noexcept {
  std::size_t next = size;
  return node_size_for(size, size / 2, next) ? next : size;
}

// True when a node of `candidate` bytes is a better one to keep at a reset to `wanted` bytes than
// one of `current` bytes: the smallest node that holds `wanted`, else the largest.
bool fits_better(std::size_t candidate, std::size_t current, std::size_t wanted) noexcept {
  if ((candidate >= wanted) != (current >= wanted)) return candidate >= wanted;
  return candidate >= wanted ? candidate < current : candidate > current;
}

std::byte* payload(void* n) noexcept { return static_cast<std::byte*>(n) + arena_resource::node_overhead; }

}  // namespace

arena_resource::arena_resource(std::pmr::memory_resource* upstream) noexcept
    : upstream_(upstream != nullptr ? upstream : std::pmr::null_memory_resource()),
      native_upstream_(dynamic_cast<resource*>(upstream_)) {}

arena_resource::arena_resource(std::size_t initial_capacity, std::pmr::memory_resource* upstream)
    : arena_resource(upstream) {
  if (initial_capacity == 0) return;
  std::size_t size = 0;
  node* const n = node_size_for(node_overhead, initial_capacity, size) ? new_node(size) : nullptr;
  if (n == nullptr) throw out_of_memory(initial_capacity, node_alignment);
  push_bump_node(n);
  first_size_ = size;
  next_size_ = grown(size);
}

arena_resource::arena_resource(void* buffer, std::size_t size, std::pmr::memory_resource* upstream) noexcept
    : arena_resource(upstream) {
  if (buffer == nullptr || size == 0) return;
  buffer_ = static_cast<std::byte*>(buffer);
  buffer_size_ = size;
  bump_in_buffer();
}

arena_resource::~arena_resource() {
  release();
  detail::unpoison(buffer_, buffer_size_);  // the caller's again
}

std::size_t arena_resource::capacity() const noexcept {
  std::size_t total = buffer_size_;
  for (const node* n = nodes_; n != nullptr; n = n->next) total += n->size - node_overhead;
  if (spare_ != nullptr) total += spare_->size - node_overhead;
  return total;
}

void arena_resource::bump_in_buffer() noexcept {
  begin_ = buffer_;
  cursor_ = buffer_;
  end_ = buffer_ + buffer_size_;
  detail::poison(buffer_, buffer_size_);
}

void arena_resource::release() noexcept {
  for (node* n = nodes_; n != nullptr;) {
    node* const next = n->next;
    free_node(n);
    n = next;
  }
  if (spare_ != nullptr) free_node(spare_);
  nodes_ = nullptr;
  spare_ = nullptr;
  bump_in_buffer();
  next_size_ = first_size_;
  ++generation_;
}

bool arena_resource::reset(reset_mode mode) noexcept {
  return reset_to(mode == reset_mode::free_all ? 0 : capacity() - buffer_size_);
}

bool arena_resource::reset(retain_with_limit keep) noexcept {
  const std::size_t held = capacity() - buffer_size_;
  return reset_to(keep.limit < held ? keep.limit : held);
}

bool arena_resource::reset_to(std::size_t target) noexcept {
  if (target == 0) {
    release();
    return true;
  }
  ++generation_;
  if (spare_ != nullptr) {  // one more candidate
    spare_->next = nodes_;
    nodes_ = spare_;
    spare_ = nullptr;
  }
  // Cannot overflow: target <= the nodes' capacity, and the nodes plus their headers are real memory.
  const std::size_t size = target + node_overhead;

  node* keep = nodes_;
  for (node* n = nodes_->next; n != nullptr; n = n->next)
    if (fits_better(n->size, keep->size, size)) keep = n;
  for (node* n = nodes_; n != nullptr;) {
    node* const next = n->next;
    if (n != keep) free_node(n);
    n = next;
  }
  keep->next = nullptr;

  bool kept_size = true;
  if (keep->size != size) {
    detail::unpoison(keep, keep->size);  // A shrink hands the tail upstream; the rest is poisoned below.
    if (native_upstream_ != nullptr && native_upstream_->resize(keep, keep->size, size, node_alignment)) {
      keep->size = size;
    } else if (node* const fresh = new_node(size)) {
      free_node(keep);
      keep = fresh;
    } else {
      kept_size = false;
    }
  }
  detail::poison(payload(keep), keep->size - node_overhead);
  if (buffer_ != nullptr) {
    nodes_ = nullptr;
    spare_ = keep;
    bump_in_buffer();
  } else {
    nodes_ = keep;
    begin_ = payload(keep);
    cursor_ = begin_;
    end_ = reinterpret_cast<std::byte*>(keep) + keep->size;
  }
  const std::size_t after = grown(keep->size);
  next_size_ = after > first_size_ ? after : first_size_;
  return kept_size;
}

void* arena_resource::allocate_slow(std::size_t bytes, std::size_t alignment) {
  return detail::allocate_missed(bytes, alignment, [&] { return refill(bytes, alignment); });
}

void* arena_resource::refill(std::size_t bytes, std::size_t alignment) noexcept {
  void* p = nullptr;
  if (in_buffer() && spare_ != nullptr) {  // the buffer is full: on to the node a reset kept
    push_bump_node(spare_);
    spare_ = nullptr;
    if (bump(bytes, alignment, p)) return p;
  }
  if (!in_buffer()) {
    const auto used = static_cast<std::size_t>(cursor_ - reinterpret_cast<std::byte*>(nodes_)) +
                      detail::align_offset(cursor_, alignment);
    std::size_t needed = 0;
    if (node_size_for(used, bytes, needed) && grow_in_place(needed) && bump(bytes, alignment, p)) return p;
  }

  // A fresh payload is aligned to node_alignment, so this is the most padding the block can need.
  const std::size_t padding = alignment > node_alignment ? alignment - node_alignment : 0;
  std::size_t size = 0;
  if (!node_size_for(node_overhead + padding, bytes, size)) return nullptr;

  if (size <= next_size_) {
    node* const n = new_node(next_size_);
    if (n == nullptr) return nullptr;
    next_size_ = grown(next_size_);
    push_bump_node(n);
    const bool fits = bump(bytes, alignment, p);
    PMRHEAP_ASSERT(fits, "a regular node must hold any request it was chosen for");
    static_cast<void>(fits);
    return p;
  }

  // Oversized: a node of its own; the series does not see it.
  node* const n = new_node(size);
  if (n == nullptr) return nullptr;
  std::byte* const first = payload(n);
  std::byte* const block = first + detail::align_offset(first, alignment);
  std::byte* const rest = block + bytes;
  detail::unpoison(block, bytes);
  const auto leftover = static_cast<std::size_t>(reinterpret_cast<std::byte*>(n) + size - rest);
  const auto room = static_cast<std::size_t>(end_ - cursor_);
  if (room == 0 || room < leftover) {
    push_bump_node(n);
    cursor_ = rest;
  } else if (in_buffer()) {  // no bump node to slip it behind; every listed node is full anyway
    n->next = nodes_;
    nodes_ = n;
  } else {
    n->next = nodes_->next;
    nodes_->next = n;
  }
  return block;
}

bool arena_resource::grow_in_place(std::size_t needed) noexcept {
  if (native_upstream_ == nullptr) return false;
  std::size_t step = max_node_size;
  if (node_size_for(nodes_->size, next_size_, step) && needed <= step && resize_bump_node(step)) {
    next_size_ = grown(next_size_);
    return true;
  }
  // A mapping grows in place up to the end of its last page (page_resource): take all of it in one
  // call, not one request at a time. Not worth asking beyond a step that was just refused.
  std::size_t to_page = 0;
  if (detail::align_up_checked(needed, platform::page_size(), to_page) && to_page > needed && to_page < step &&
      resize_bump_node(to_page))
    return true;
  return resize_bump_node(needed);
}

bool arena_resource::resize_bump_node(std::size_t new_size) noexcept {
  node* const n = nodes_;
  if (!native_upstream_->resize(n, n->size, new_size, node_alignment)) return false;
  detail::poison(end_, new_size - n->size);
  n->size = new_size;
  end_ = reinterpret_cast<std::byte*>(n) + new_size;
  return true;
}

bool arena_resource::owns_block(const void* p, std::size_t bytes) const noexcept {
  if (detail::holds(p, bytes, buffer_, buffer_ + buffer_size_)) return true;
  const auto in = [&](const node* n) {
    return detail::holds(p, bytes, reinterpret_cast<const std::byte*>(n) + node_overhead,
                         reinterpret_cast<const std::byte*>(n) + n->size);
  };
  for (const node* n = nodes_; n != nullptr; n = n->next)
    if (in(n)) return true;
  return spare_ != nullptr && in(spare_);
}

bool arena_resource::do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t) noexcept {
  auto* const block = static_cast<std::byte*>(p);
  const bool newest = detail::is_newest(p, old_bytes, begin_, cursor_);
  if (new_bytes < old_bytes) {
    // Any block may shrink; only the newest gives the bytes back, but the tail of any block of
    // ours is dead either way. A foreign block is left alone (its owner's poisoning is its own).
    if (newest) {
      cursor_ = block + new_bytes;
      detail::poison(cursor_, old_bytes - new_bytes);
    } else if (owns_block(p, old_bytes)) {
      detail::poison(block + new_bytes, old_bytes - new_bytes);
    }
    return true;
  }
  if (!newest) return false;
  const std::size_t more = new_bytes - old_bytes;
  if (more > static_cast<std::size_t>(end_ - cursor_)) {
    if (in_buffer()) return false;  // the caller's buffer cannot grow
    std::size_t needed = 0;
    const auto offset = static_cast<std::size_t>(block - reinterpret_cast<std::byte*>(nodes_));
    if (!node_size_for(offset, new_bytes, needed) || !grow_in_place(needed)) return false;
  }
  detail::unpoison(cursor_, more);
  cursor_ += more;
  return true;
}

arena_resource::node* arena_resource::new_node(std::size_t size) noexcept {
  void* const p = native_upstream_ != nullptr ? native_upstream_->try_allocate(size, node_alignment)
                                              : pmrheap::try_allocate(*upstream_, size, node_alignment);
  if (p == nullptr) return nullptr;
  node* const n = ::new (p) node{nullptr, size};
  detail::poison(payload(n), size - node_overhead);
  return n;
}

void arena_resource::push_bump_node(node* n) noexcept {
  n->next = nodes_;
  nodes_ = n;
  begin_ = payload(n);
  cursor_ = begin_;
  end_ = reinterpret_cast<std::byte*>(n) + n->size;
}

void arena_resource::free_node(node* n) noexcept {
  const std::size_t size = n->size;
  detail::unpoison(n, size);
  upstream_->deallocate(n, size, node_alignment);
}

}  // namespace pmrheap
