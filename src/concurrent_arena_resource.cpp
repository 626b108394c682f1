// SPDX-License-Identifier: MIT
// concurrent_arena_resource: per-thread spans, the lock-free node list, resets.
//
// Design notes.
// - Two levels. The node level is Zig 0.16's lock-free arena (lib/std/heap/ArenaAllocator.zig,
//   0.16.0), with its memory orders: a node's end offset moves up with acquire and down with
//   release, a node is published to a list with release, and the head is loaded with acquire. A
//   node's size only grows while it is in use, so a payload computed from any size seen is valid.
//   Nodes leave the used list only in reset/release, so a stale head pointer is never dangling and
//   the used list has no ABA; the spare list is only ever taken whole, never popped.
// - The span level is ours: an atomic add costs several times a whole arena_resource allocation,
//   and a cursor shared by two cores moves its cache line on every allocation. Each thread takes a
//   span from the node level (one reservation, 64-aligned so no two threads' spans share a cache
//   line) and bumps in it with plain loads and stores. Spans are found through a four-entry
//   thread_local cache keyed by the arena's generation, a number drawn from a process-wide counter
//   at construction and at every reset/release: an entry can never match a destroyed arena that
//   happens to share the address of a new one, and a reset invalidates every thread's span at once.
// - The fast path lives here, not inline in the header: it reads the thread_local, which a header
//   could only reach through an exported variable (and a TLS wrapper call).
// - Either level may reclaim a block only when the block ends exactly where the free space of
//   that level begins, so the bytes given back are exactly the block's: a thread's span tail is
//   never reachable from the node level, and the node's free space is never inside a span.
// - Poisoning: a thread poisons only bytes it owns (a block given back to it, a span tail, a fresh
//   node it has not published) and only whole 8-byte granules inside them; it unpoisons every
//   granule touching a block it hands out. ASan updates a partly covered granule with a
//   read-modify-write of its shadow byte, which two threads could interleave. A node-level
//   reclaim poisons before its compare-and-swap: after it, another thread may own the bytes.
// - A new node is the larger of the first node's size, 1.5 times the head node and the request
//   (Zig sizes it from the head and the request too). One upstream node at most per call; a node
//   that lost its publication race goes to the spare list.
#include "pmrheap/concurrent_arena_resource.hpp"

#include <algorithm>
#include <limits>
#include <new>

#include "pmrheap/detail/align.hpp"
#include "pmrheap/detail/sanitizer.hpp"

namespace pmrheap {

struct concurrent_arena_resource::node {
  std::atomic<std::size_t> size;  ///< Bytes obtained from upstream, header included.
  std::atomic<std::size_t> end;   ///< Payload offset of the first free byte; may pass the payload.
  node* next;                     ///< Written only before the node is published.
  std::atomic<bool> resizing;     ///< Held by the one thread growing the node upstream.
};

namespace {

using node = concurrent_arena_resource::node;
constexpr std::size_t node_alignment = concurrent_arena_resource::node_overhead;
static_assert(sizeof(node) <= concurrent_arena_resource::node_overhead);
constexpr auto max_node_size = static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max());
constexpr std::size_t span_alignment = 64;
constexpr std::size_t min_span = 256;
constexpr std::size_t max_span = std::size_t{16} << 10;
constexpr std::uintptr_t granule = 8;

struct span {
  std::uint64_t generation;  ///< The arena's generation; 0 is no arena.
  std::byte* cursor;
  std::byte* end;
  std::size_t next_size;  ///< Bytes of this thread's next span.
};
struct span_cache {
  span slots[4];  ///< Most recently used first.
};

// initial-exec: one %fs-relative load, no __tls_get_addr, also in a shared build (the library is
// loaded with the program, and the cache is 128 bytes of the static TLS reserve).
#if defined(__ELF__) && defined(__GNUC__)
__attribute__((tls_model("initial-exec")))
#endif
thread_local span_cache cache;

std::atomic<std::uint64_t> generations{0};
std::uint64_t new_generation() noexcept { return generations.fetch_add(1, std::memory_order_relaxed) + 1; }

std::byte* payload(node* n) noexcept { return reinterpret_cast<std::byte*>(n) + node_alignment; }
std::size_t room(const node* n, std::memory_order order) noexcept { return n->size.load(order) - node_alignment; }
// Payload offset of `p` in `n`: huge (wrapped) for addresses below the payload.
std::size_t offset_in(node* n, const void* p) noexcept {
  return reinterpret_cast<std::uintptr_t>(p) - reinterpret_cast<std::uintptr_t>(payload(n));
}
// Padding that aligns payload offset `at` of `n` (any offset, even past the payload).
std::size_t padding(node* n, std::size_t at, std::size_t alignment) noexcept {
  const std::uintptr_t addr = reinterpret_cast<std::uintptr_t>(payload(n)) + at;
  return static_cast<std::size_t>((alignment - (addr & (alignment - 1))) & (alignment - 1));
}

void poison_inside(const void* p, std::size_t bytes) noexcept {
  const std::uintptr_t low = (reinterpret_cast<std::uintptr_t>(p) + granule - 1) & ~(granule - 1);
  const std::uintptr_t high = (reinterpret_cast<std::uintptr_t>(p) + bytes) & ~(granule - 1);
  if (low < high) detail::poison(reinterpret_cast<void*>(low), static_cast<std::size_t>(high - low));
}
void unpoison_touching(const void* p, std::size_t bytes) noexcept {
  const std::uintptr_t low = reinterpret_cast<std::uintptr_t>(p) & ~(granule - 1);
  const std::uintptr_t high = (reinterpret_cast<std::uintptr_t>(p) + bytes + granule - 1) & ~(granule - 1);
  detail::unpoison(reinterpret_cast<void*>(low), static_cast<std::size_t>(high - low));
}

// True when [block, block + bytes) ends at `cursor`. `block < cursor` rules out the zero-byte block
// and a size that wraps the address space.
bool ends_at(const std::byte* block, std::size_t bytes, const std::byte* cursor) noexcept {
  const auto at = reinterpret_cast<std::uintptr_t>(block);
  const auto to = reinterpret_cast<std::uintptr_t>(cursor);
  return at < to && bytes == to - at;
}

span* find_span(std::uint64_t generation) noexcept {
  for (span& s : cache.slots)
    if (s.generation == generation) return &s;
  return nullptr;
}

// The calling thread's span for `generation`, moved to the front; a new empty one, pushing out
// the least recently used, if it has none.
span& own_span(std::uint64_t generation) noexcept {
  span* const slots = cache.slots;
  std::size_t i = 0;
  while (i < 3 && slots[i].generation != generation) ++i;
  const span found = slots[i].generation == generation ? slots[i] : span{generation, nullptr, nullptr, min_span};
  for (; i > 0; --i) slots[i] = slots[i - 1];
  slots[0] = found;
  return slots[0];
}

// The fast path: the thread's front span belongs to this arena and holds the block.
bool bump_span(std::uint64_t generation, std::size_t bytes, std::size_t alignment, void*& block) noexcept {
  span& s = cache.slots[0];
  std::byte* p = nullptr;
  if (s.generation != generation || std::max(bytes, alignment) > concurrent_arena_resource::span_block_limit ||
      !detail::bump(s.cursor, s.end, bytes, alignment, p))
    return false;
  unpoison_touching(p, bytes);
  block = p;
  return true;
}

std::size_t grown(std::size_t size) noexcept {
  std::size_t next = 0;
  return detail::checked_add(size, size / 2, next) && next <= max_node_size ? next : size;
}

// As arena_resource: the smallest node that holds `wanted`, else the largest.
bool fits_better(std::size_t candidate, std::size_t current, std::size_t wanted) noexcept {
  if ((candidate >= wanted) != (current >= wanted)) return candidate >= wanted;
  return candidate >= wanted ? candidate < current : candidate > current;
}

// A span that ends at the head node's free space grows into it (Zig's growth of the node's newest
// block, one CAS): the block at its end then ends the span.
bool extend_span(span& s, node* head, std::byte* block, std::size_t new_bytes) noexcept {
  if (head == nullptr) return false;
  const std::size_t space = room(head, std::memory_order_acquire);
  const std::size_t at = offset_in(head, block);
  std::size_t expected = offset_in(head, s.end);
  if (at >= space || new_bytes > space - at || expected > space ||
      !head->end.compare_exchange_strong(expected, at + new_bytes, std::memory_order_acquire,
                                         std::memory_order_relaxed))
    return false;
  unpoison_touching(s.cursor, static_cast<std::size_t>(block + new_bytes - s.cursor));
  s.cursor = s.end = block + new_bytes;
  return true;
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

void* concurrent_arena_resource::do_allocate(std::size_t bytes, std::size_t alignment) {
  void* p = nullptr;
  if (detail::is_pow2(alignment) && bump_span(generation_, bytes, alignment, p)) [[likely]]
    return p;
  p = try_allocate(bytes, alignment);
  if (p == nullptr) throw_allocation_failure(bytes, alignment);
  return p;
}

void* concurrent_arena_resource::do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept {
  void* p = nullptr;
  if (bump_span(generation_, bytes, alignment, p)) [[likely]]
    return p;
  return allocate_slow(bytes, alignment);
}

void* concurrent_arena_resource::allocate_slow(std::size_t bytes, std::size_t alignment) noexcept {
  if (std::max(bytes, alignment) > span_block_limit) {
    std::byte* const p = reserve(bytes, alignment);
    if (p != nullptr) unpoison_touching(p, bytes);
    return p;
  }
  span& s = own_span(generation_);
  void* p = nullptr;
  if (bump_span(generation_, bytes, alignment, p)) return p;  // a span found behind the front
  // The old span's tail stays poisoned and unused. A smaller span is worth a try before failing:
  // it may fit the head node where the usual one does not.
  const std::size_t at_least = detail::align_up(bytes + alignment - 1, span_alignment);
  std::size_t size = std::max(s.next_size, at_least);
  std::byte* begin = reserve(size, span_alignment);
  if (begin == nullptr && size > at_least) begin = reserve(size = at_least, span_alignment);
  if (begin == nullptr) return nullptr;
  s = span{generation_, begin, begin + size, std::min(size * 2, max_span)};
  const bool fits = bump_span(generation_, bytes, alignment, p);
  PMRHEAP_ASSERT(fits, "a span is sized for the request it was taken for");
  static_cast<void>(fits);
  return p;
}

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

// The calling thread's newest block in its span gives its bytes back to the span; a block that
// ends at the head node's free space gives them back to the node (one CAS; a lost race keeps them).
void concurrent_arena_resource::do_deallocate(void* p, std::size_t bytes, std::size_t) {
  auto* const block = static_cast<std::byte*>(p);
  if (span* const s = find_span(generation_)) {
    if (ends_at(block, bytes, s->cursor)) {
      poison_inside(block, bytes);
      s->cursor = block;
      return;
    }
  }
  node* const head = used_.load(std::memory_order_acquire);
  if (head == nullptr) return;
  const std::size_t space = room(head, std::memory_order_acquire);
  const std::size_t at = offset_in(head, block);
  std::size_t expected = at + bytes;
  if (at >= space || bytes > space - at || head->end.load(std::memory_order_relaxed) != expected) return;
  poison_inside(block, bytes);  // before the CAS: once it succeeds, the bytes may be another's
  head->end.compare_exchange_strong(expected, at, std::memory_order_release, std::memory_order_relaxed);
}

bool concurrent_arena_resource::do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t) noexcept {
  auto* const block = static_cast<std::byte*>(p);
  if (span* const s = find_span(generation_)) {
    if (ends_at(block, old_bytes, s->cursor)) {
      if (new_bytes < old_bytes) {
        poison_inside(block + new_bytes, old_bytes - new_bytes);
        s->cursor = block + new_bytes;
        return true;
      }
      const std::size_t more = new_bytes - old_bytes;
      if (more <= static_cast<std::size_t>(s->end - s->cursor)) {
        unpoison_touching(s->cursor, more);
        s->cursor += more;
        return true;
      }
      return extend_span(*s, used_.load(std::memory_order_acquire), block, new_bytes);
    }
  }
  if (new_bytes < old_bytes) poison_inside(block + new_bytes, old_bytes - new_bytes);  // dead either way
  node* const head = used_.load(std::memory_order_acquire);
  if (head == nullptr) return new_bytes < old_bytes;
  const std::size_t space = room(head, std::memory_order_acquire);
  const std::size_t at = offset_in(head, block);
  std::size_t expected = at + old_bytes;
  const bool last = at < space && old_bytes <= space - at && head->end.load(std::memory_order_relaxed) == expected;
  if (new_bytes < old_bytes) {
    if (last)  // Zig: true even when the CAS loses; the tail is then just not reclaimed
      head->end.compare_exchange_strong(expected, at + new_bytes, std::memory_order_release, std::memory_order_relaxed);
    return true;
  }
  if (!last || new_bytes > space - at ||
      !head->end.compare_exchange_strong(expected, at + new_bytes, std::memory_order_acquire,
                                         std::memory_order_relaxed))
    return false;
  unpoison_touching(block + old_bytes, new_bytes - old_bytes);
  return true;
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
