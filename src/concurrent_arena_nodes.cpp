// SPDX-License-Identifier: MIT
// concurrent_arena_resource: the lock-free node list (Zig 0.16's rules), capacity and resets.
//
// Design notes.
// - The node level is Zig 0.16's lock-free arena (lib/std/heap/ArenaAllocator.zig, 0.16.0), with
//   its memory orders: a node's end offset moves up with acquire and down with release, a node is
//   published to a list with release, and the head is loaded with acquire. A node's size only
//   grows while it is in use, so a payload computed from any size seen is valid. Nodes leave the
//   used list only in reset/release, so a stale head pointer is never dangling and the used list
//   has no ABA; the spare list is only ever taken whole, never popped.
// - A new node is the larger of the first node's size, 1.5 times the head node and the request
//   (Zig sizes it from the head and the request too). One upstream node at most per call; a node
//   that lost its publication race goes to the spare list.
// - reset keeps one node, as arena_resource does, chosen from both lists; the spare list ends
//   empty.
// - Memory goes back upstream unpoisoned: an upstream that knows nothing of ASan may reuse it.
#include <algorithm>
#include <new>

#include "concurrent_arena_node.hpp"

namespace pmrheap {
namespace carena {

std::uint64_t new_generation() noexcept {
  static std::atomic<std::uint64_t> generations{0};
  return generations.fetch_add(1, std::memory_order_relaxed) + 1;
}

}  // namespace carena

namespace {

using namespace carena;

// As arena_resource: the smallest node that holds `wanted`, else the largest.
bool fits_better(std::size_t candidate, std::size_t current, std::size_t wanted) noexcept {
  if ((candidate >= wanted) != (current >= wanted)) return candidate >= wanted;
  return candidate >= wanted ? candidate < current : candidate > current;
}

}  // namespace

concurrent_arena_resource::concurrent_arena_resource(std::pmr::memory_resource* upstream) noexcept
    : generation_(new_generation()),
      upstream_(upstream != nullptr ? upstream : std::pmr::null_memory_resource()),
      native_upstream_(dynamic_cast<resource*>(upstream_)) {}

concurrent_arena_resource::concurrent_arena_resource(std::size_t initial_capacity, std::pmr::memory_resource* upstream)
    : concurrent_arena_resource(upstream) {
  if (initial_capacity == 0) return;
  std::size_t size = 0;
  node* const n = detail::checked_add(node_overhead, initial_capacity, size) &&
                          detail::align_up_checked(size, node_alignment, size) && size <= max_node_size
                      ? new_node(size)
                      : nullptr;
  if (n == nullptr) throw out_of_memory(initial_capacity, node_alignment);
  used_.store(n, std::memory_order_relaxed);
  first_size_ = size;
}

concurrent_arena_resource::~concurrent_arena_resource() { release(); }

// The node level (Zig's allocation steps): bump the head node, grow it upstream, reuse a spare
// node, take a new node. `block` is not unpoisoned.
std::byte* concurrent_arena_resource::reserve(std::size_t bytes, std::size_t alignment) noexcept {
  node* fresh = nullptr;
  node* head = used_.load(std::memory_order_acquire);
  std::byte* block = nullptr;
  for (;;) {
    if (head != nullptr) {
      if (bump_head(head, bytes, alignment, block)) break;
      const step grow = grow_head(head, bytes, alignment, block);
      if (grow == step::done) break;
      if (grow == step::retry) {
        head = used_.load(std::memory_order_acquire);
        continue;
      }
    }
    const step spare = take_spare(head, bytes, alignment, block);
    if (spare == step::done) break;
    if (spare == step::retry) continue;
    if (fresh == nullptr) {
      fresh = new_node(new_node_size(head, bytes, alignment));
      if (fresh == nullptr) return nullptr;
    }
    const std::size_t start = padding(fresh, 0, alignment);
    fresh->end.store(start + bytes, std::memory_order_relaxed);
    fresh->next = head;
    if (used_.compare_exchange_strong(head, fresh, std::memory_order_release, std::memory_order_acquire)) {
      block = payload(fresh) + start;
      fresh = nullptr;
      break;
    }
    fresh->end.store(0, std::memory_order_relaxed);  // `head` is the new head: try it first
  }
  if (fresh != nullptr) {
    fresh->next = nullptr;
    push_spare(fresh);
  }
  return block;
}

bool concurrent_arena_resource::bump_head(node* head, std::size_t bytes, std::size_t alignment,
                                          std::byte*& block) noexcept {
  const std::size_t space = room(head, std::memory_order_acquire);
  std::size_t reservation = 0;
  std::size_t start = 0;
  if (detail::checked_add(bytes, alignment - 1, reservation) && reservation <= space) {
    // One add, whatever the alignment; the unused padding is trimmed by one CAS if no one came by.
    const std::size_t before = head->end.fetch_add(reservation, std::memory_order_acquire);
    start = before + padding(head, before, alignment);
    if (start > space || bytes > space - start) return false;  // the node stays full: Zig's rule
    std::size_t expected = before + reservation;
    if (start + bytes != expected)
      head->end.compare_exchange_strong(expected, start + bytes, std::memory_order_release, std::memory_order_relaxed);
  } else {
    // A large alignment: an exact compare-and-swap, so the reservation cannot overshoot a node
    // that would hold the block.
    std::size_t before = head->end.load(std::memory_order_relaxed);
    start = before + padding(head, before, alignment);
    if (before > space || start > space || bytes > space - start ||
        !head->end.compare_exchange_strong(before, start + bytes, std::memory_order_acquire, std::memory_order_relaxed))
      return false;
  }
  block = payload(head) + start;
  return true;
}

// One thread at a time grows the head node upstream, by half its size if it can, else by what the
// block needs. retry: the head has room again, or the head changed.
concurrent_arena_resource::step concurrent_arena_resource::grow_head(node* head, std::size_t bytes,
                                                                     std::size_t alignment,
                                                                     std::byte*& block) noexcept {
  if (native_upstream_ == nullptr || head->resizing.exchange(true, std::memory_order_acquire)) return step::skip;
  const std::size_t size = head->size.load(std::memory_order_relaxed);
  std::size_t before = head->end.load(std::memory_order_acquire);
  const std::size_t start = before + padding(head, before, alignment);
  std::size_t needed = 0;
  step result = step::skip;
  if (start >= before && detail::checked_add(node_overhead + start, bytes, needed) && needed <= max_node_size) {
    if (needed <= size || resize_node(head, std::max(needed, grown(size))) ||
        (needed < grown(size) && resize_node(head, needed))) {
      result =
          head->end.compare_exchange_strong(before, start + bytes, std::memory_order_acquire, std::memory_order_relaxed)
              ? step::done
              : step::retry;
    }
  }
  head->resizing.store(false, std::memory_order_release);
  if (result == step::done) block = payload(head) + start;
  return result;
}

bool concurrent_arena_resource::resize_node(node* n, std::size_t new_size) noexcept {
  const std::size_t size = n->size.load(std::memory_order_relaxed);
  if (!native_upstream_->resize(n, size, new_size, node_alignment)) return false;
  detail::poison(reinterpret_cast<std::byte*>(n) + size, new_size - size);  // no one can reach it yet
  n->size.store(new_size, std::memory_order_release);
  return true;
}

// Takes the whole spare list, publishes the node that fits best (grown upstream if it must) and
// puts the rest back. retry: another node was published first; `head` is the new head.
concurrent_arena_resource::step concurrent_arena_resource::take_spare(node*& head, std::size_t bytes,
                                                                      std::size_t alignment,
                                                                      std::byte*& block) noexcept {
  node* list = spare_.exchange(nullptr, std::memory_order_acquire);
  if (list == nullptr) return step::skip;
  node* best = nullptr;
  node* before_best = nullptr;
  std::size_t best_short = detail::size_max;
  for (node *n = list, *before = nullptr; n != nullptr; before = n, n = n->next) {
    const std::size_t space = room(n, std::memory_order_relaxed);
    const std::size_t need = padding(n, 0, alignment) + bytes;
    const std::size_t shortfall = need > space ? need - space : 0;
    if (shortfall < best_short) {
      best = n;
      before_best = before;
      best_short = shortfall;
    }
  }
  const std::size_t start = padding(best, 0, alignment);
  std::size_t needed = 0;
  if (best_short > 0 && (native_upstream_ == nullptr || !detail::checked_add(node_overhead + start, bytes, needed) ||
                         needed > max_node_size || !resize_node(best, needed))) {
    push_spare(list);
    return step::skip;
  }
  (before_best != nullptr ? before_best->next : list) = best->next;
  best->end.store(start + bytes, std::memory_order_relaxed);
  best->next = head;
  const bool won = used_.compare_exchange_strong(head, best, std::memory_order_release, std::memory_order_acquire);
  if (!won) {
    best->end.store(0, std::memory_order_relaxed);
    best->next = list;
    list = best;
  }
  if (list != nullptr) push_spare(list);
  if (!won) return step::retry;
  block = payload(best) + start;
  return step::done;
}

void concurrent_arena_resource::push_spare(node* first) noexcept {
  node* last = first;
  while (last->next != nullptr) last = last->next;
  node* top = spare_.load(std::memory_order_relaxed);
  do {
    last->next = top;
  } while (!spare_.compare_exchange_weak(top, first, std::memory_order_release, std::memory_order_relaxed));
}

std::size_t concurrent_arena_resource::new_node_size(const node* head, std::size_t bytes,
                                                     std::size_t alignment) const noexcept {
  // A fresh payload is aligned to node_alignment: this is the most padding the block can need.
  const std::size_t pad = alignment > node_alignment ? alignment - node_alignment : 0;
  std::size_t needed = 0;
  if (!detail::checked_add(node_overhead + pad, bytes, needed) ||
      !detail::align_up_checked(needed, node_alignment, needed) || needed > max_node_size)
    return 0;
  std::size_t size = std::max(first_size_, needed);
  if (head != nullptr)
    size = std::max(size, detail::align_down(grown(head->size.load(std::memory_order_relaxed)), node_alignment));
  return size;
}

concurrent_arena_resource::node* concurrent_arena_resource::new_node(std::size_t size) noexcept {
  if (size == 0) return nullptr;
  void* const p = native_upstream_ != nullptr ? native_upstream_->try_allocate(size, node_alignment)
                                              : pmrheap::try_allocate(*upstream_, size, node_alignment);
  if (p == nullptr) return nullptr;
  node* const n = ::new (p) node{{size}, {0}, nullptr, {false}};
  detail::poison(payload(n), size - node_overhead);
  return n;
}

void concurrent_arena_resource::free_node(node* n) noexcept {
  const std::size_t size = n->size.load(std::memory_order_relaxed);
  detail::unpoison(n, size);
  upstream_->deallocate(n, size, node_alignment);
}

std::size_t concurrent_arena_resource::capacity() const noexcept {
  std::size_t total = 0;
  for (const std::atomic<node*>* list : {&used_, &spare_})
    for (const node* n = list->load(std::memory_order_acquire); n != nullptr; n = n->next)
      total += room(n, std::memory_order_relaxed);
  return total;
}

void concurrent_arena_resource::release() noexcept {
  generation_ = new_generation();
  for (std::atomic<node*>* list : {&used_, &spare_}) {
    for (node* n = list->exchange(nullptr, std::memory_order_acquire); n != nullptr;) {
      node* const next = n->next;
      free_node(n);
      n = next;
    }
  }
}

// reset_mode::retain_with_limit, deprecated, carries no limit here: it keeps the capacity.
bool concurrent_arena_resource::reset(reset_mode mode) noexcept {
  return reset_to(mode == reset_mode::free_all ? 0 : detail::size_max);
}

bool concurrent_arena_resource::reset(retain_with_limit keep) noexcept { return reset_to(keep.limit); }

bool concurrent_arena_resource::reset_to(std::size_t limit) noexcept {
  const std::size_t target = std::min(capacity(), limit);
  if (target == 0) {
    release();
    return true;
  }
  generation_ = new_generation();
  // Cannot overflow: target <= capacity(), and the nodes plus their headers are real memory.
  const std::size_t size = target + node_overhead;
  // Both lists as one, then keep the node closest to `size` (as arena_resource does).
  node* const spares = spare_.exchange(nullptr, std::memory_order_acquire);
  node* all = used_.exchange(nullptr, std::memory_order_acquire);
  if (all == nullptr) {
    all = spares;
  } else {
    node* last = all;
    while (last->next != nullptr) last = last->next;
    last->next = spares;
  }
  node* keep = all;
  for (node* n = all->next; n != nullptr; n = n->next)
    if (fits_better(n->size.load(std::memory_order_relaxed), keep->size.load(std::memory_order_relaxed), size))
      keep = n;
  for (node* n = all; n != nullptr;) {
    node* const next = n->next;
    if (n != keep) free_node(n);
    n = next;
  }
  bool kept_size = true;
  const std::size_t old_size = keep->size.load(std::memory_order_relaxed);
  if (old_size != size) {
    detail::unpoison(keep, old_size);  // a shrink hands the tail upstream; the rest is poisoned below
    if (native_upstream_ != nullptr && native_upstream_->resize(keep, old_size, size, node_alignment)) {
      keep->size.store(size, std::memory_order_relaxed);
    } else if (node* const fresh = new_node(size)) {
      free_node(keep);
      keep = fresh;
    } else {
      kept_size = false;
    }
  }
  keep->end.store(0, std::memory_order_relaxed);
  keep->next = nullptr;
  detail::poison(payload(keep), room(keep, std::memory_order_relaxed));
  used_.store(keep, std::memory_order_release);
  return kept_size;
}

}  // namespace pmrheap
