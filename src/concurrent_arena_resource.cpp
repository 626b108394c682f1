// SPDX-License-Identifier: MIT
// concurrent_arena_resource: the per-thread spans, allocation, deallocation and resizing.
// The node level (Zig's rules) and the resets are in concurrent_arena_nodes.cpp.
//
// Design notes.
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
#include <algorithm>

#include "concurrent_arena_node.hpp"
#include "pmrheap/detail/bump.hpp"

namespace pmrheap {
namespace {

using namespace carena;
constexpr std::size_t span_alignment = 64;
constexpr std::size_t min_span = 256;
constexpr std::size_t max_span = std::size_t{16} << 10;

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

}  // namespace pmrheap
