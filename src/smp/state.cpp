// SPDX-License-Identifier: MIT
// smp_resource's shared state: the slots that per-thread caches refill from and flush to.
#include "state.hpp"

#include <algorithm>
#include <thread>

#include "pmrheap/platform/pages.hpp"

namespace pmrheap::smp {

namespace {

// What a slot holds for one class: full batches, blocks linked through themselves (only when no
// batch node could be mapped, or freed by a thread whose cache is gone) and the slab being carved.
struct class_state {
  batch_node* batches = nullptr;
  block* loose = nullptr;
  std::byte* bump = nullptr;
  std::byte* bump_end = nullptr;
  // Batches and loose blocks waiting here, read without the lock by other threads' refills to
  // skip empty slots.
  std::atomic<std::size_t> waiting{0};
};

// Cache-line aligned so two threads on two slots do not share a line.
struct alignas(64) slot {
  spin_flag lock;
  batch_node* empty_nodes = nullptr;  // emptied by refills here, filled again by flushes here
  class_state classes[class_count];
};

constinit slot slots[smp_resource::max_slots];
constinit std::atomic<unsigned> slot_count{0};
constinit std::atomic<unsigned> next_start{0};

// Batch nodes not yet in any slot: mapped a chunk at a time.
constinit metadata_pool<batch_node> node_pool;

// The CPU count, capped at max_slots; 1 when unknown. Computed once; racing first callers agree.
unsigned count_slots() noexcept {
  unsigned n = slot_count.load(std::memory_order_relaxed);
  if (n != 0) return n;
  n = std::thread::hardware_concurrency();
  if (n == 0) n = 1;
  if (n > smp_resource::max_slots) n = smp_resource::max_slots;
  slot_count.store(n, std::memory_order_relaxed);
  return n;
}

// Locks the thread's slot, or the next one that is free, and remembers it (Zig's migration):
// spinning over the slots, yielding after each full round.
slot& lock_own(thread_cache& t) noexcept {
  const unsigned n = count_slots();
  unsigned i = t.slot;
  for (unsigned tries = 1;; ++tries) {
    if (slots[i].lock.try_lock()) break;
    i = i + 1 == n ? 0 : i + 1;
    if (tries % n == 0) std::this_thread::yield();
  }
  t.slot = i;
  return slots[i];
}

// Waits a little for another slot: its lock is held for a few list operations at a time. Gives up
// (the caller maps a slab instead) rather than wait for ever, which matters in a child of fork()
// where the holder no longer exists.
bool lock_briefly(slot& s) noexcept {
  for (int tries = 0; tries < 64; ++tries) {
    if (s.lock.try_lock()) return true;
    std::this_thread::yield();
  }
  return false;
}

void add_waiting(class_state& cs, std::size_t n) noexcept {
  cs.waiting.store(cs.waiting.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
void sub_waiting(class_state& cs, std::size_t n) noexcept {
  cs.waiting.store(cs.waiting.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
}

// An empty batch node: the slot's own spares first (requires its lock), else the pool, which maps
// a chunk when it runs dry. nullptr when the OS refuses.
batch_node* take_node(slot& s) noexcept {
  if (batch_node* const n = s.empty_nodes) {
    s.empty_nodes = n->next;
    return n;
  }
  return node_pool.take();
}

// Moves blocks of class c waiting in `cs` to `out`: a whole batch (out has room for limit(c) and
// for max_batch pointers), else up to batch(c) loose blocks. Requires the slot's lock. Returns the
// count, 0 when none wait.
std::uint32_t take_waiting(slot& s, class_state& cs, unsigned c, void** out) noexcept {
  if (batch_node* const b = cs.batches) {
    cs.batches = b->next;
    sub_waiting(cs, 1);
    const std::uint32_t n = b->count;
    std::copy_n(b->blocks, n, out);
    b->next = s.empty_nodes;
    s.empty_nodes = b;
    return n;
  }
  std::uint32_t n = 0;
  while (cs.loose != nullptr && n < batch(c)) {
    out[n++] = cs.loose;
    cs.loose = cs.loose->next;
  }
  sub_waiting(cs, n);
  return n;
}

// Gives `n` blocks (at most max_batch) of class c to `s` as one batch, or linked through
// themselves when no node can be had. Requires the slot's lock.
void put_waiting(slot& s, unsigned c, void* const* blocks, std::uint32_t n) noexcept {
  class_state& cs = s.classes[c];
  if (batch_node* const b = take_node(s)) {
    b->count = n;
    std::copy_n(blocks, n, b->blocks);
    b->next = cs.batches;
    cs.batches = b;
    add_waiting(cs, 1);
    return;
  }
  for (std::uint32_t i = 0; i < n; ++i) {
    auto* const b = static_cast<block*>(blocks[i]);
    b->next = cs.loose;
    cs.loose = b;
  }
  add_waiting(cs, n);
}

// Takes up to batch(c) slots from the class's slab. Requires the slot's lock. Returns the first
// and the count; the caller lists them after unlocking.
std::byte* carve(class_state& cs, unsigned c, std::uint32_t& n) noexcept {
  const std::size_t size = std::size_t{1} << (c + min_shift);
  const std::size_t left = static_cast<std::size_t>(cs.bump_end - cs.bump) / size;
  n = left < batch(c) ? static_cast<std::uint32_t>(left) : batch(c);
  std::byte* const first = cs.bump;
  cs.bump += n * size;
  return first;
}

// Lists `n` carved slots from `first`, the lowest address on top, so they go out in address order.
void list_carved(thread_cache& t, unsigned c, std::byte* first, std::uint32_t n) noexcept {
  const std::size_t size = std::size_t{1} << (c + min_shift);
  for (std::uint32_t i = 0; i < n; ++i) t.base[c][i] = first + (n - 1 - i) * size;
  t.count[c] = n;
}

}  // namespace

constinit counters stats;

void add_mapped(std::atomic<std::size_t>& counter, std::size_t delta) noexcept {
  counter.fetch_add(delta, std::memory_order_relaxed);
  const std::size_t now = stats.slab_bytes.load(std::memory_order_relaxed) +
                          stats.large_bytes.load(std::memory_order_relaxed) +
                          stats.metadata_bytes.load(std::memory_order_relaxed);
  std::size_t peak = stats.peak.load(std::memory_order_relaxed);
  while (now > peak && !stats.peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

void* map_metadata(std::size_t bytes) noexcept {
  void* const p = platform::map(bytes, alignof(std::max_align_t));
  if (p != nullptr) add_mapped(stats.metadata_bytes, bytes);
  return p;
}

std::size_t slots_in_use() noexcept { return slot_count.load(std::memory_order_relaxed); }

void start(thread_cache& t, void** storage) noexcept {
  t.slot = next_start.fetch_add(1, std::memory_order_relaxed) % count_slots();
  for (unsigned c = 0; c < class_count; ++c) {
    t.base[c] = storage;
    t.count[c] = 0;
    t.capacity[c] = limit(c);
    storage += limit(c);
  }
  t.state = cache_state::live;
}

bool refill(thread_cache& t, unsigned c) noexcept {
  // 1. The thread's own slot: waiting blocks, else the slab being carved.
  slot* own = &lock_own(t);
  class_state* cs = &own->classes[c];
  if (cs->waiting.load(std::memory_order_relaxed) != 0) {
    t.count[c] = take_waiting(*own, *cs, c, t.base[c]);
    own->lock.unlock();
    return true;
  }
  std::uint32_t n = 0;
  std::byte* first = carve(*cs, c, n);
  own->lock.unlock();
  if (n != 0) {
    list_carved(t, c, first, n);
    return true;
  }
  // 2. The other slots, so that blocks a consumer freed reach the producer before a new slab is
  //    mapped. The unlocked count skips empty ones; no lock is held while waiting for one.
  const unsigned slots_n = count_slots();
  for (unsigned k = 1; k < slots_n; ++k) {
    const unsigned i = (t.slot + k) % slots_n;
    class_state& other = slots[i].classes[c];
    if (other.waiting.load(std::memory_order_relaxed) == 0) continue;
    if (!lock_briefly(slots[i])) continue;
    t.count[c] = take_waiting(slots[i], other, c, t.base[c]);
    slots[i].lock.unlock();
    if (t.count[c] != 0) return true;
  }
  // 3. A new slab, mapped with no lock held.
  void* const slab = platform::map(smp_resource::slab_size, smp_resource::slab_size);
  if (slab == nullptr) return false;
  own = &lock_own(t);
  cs = &own->classes[c];
  const bool installed = cs->bump == cs->bump_end;
  if (installed) {
    cs->bump = static_cast<std::byte*>(slab);
    cs->bump_end = cs->bump + smp_resource::slab_size;
  }
  // Another thread on this slot installed a slab meanwhile: carve that one, drop ours.
  first = carve(*cs, c, n);
  own->lock.unlock();
  if (installed) {
    stats.slabs.fetch_add(1, std::memory_order_relaxed);
    add_mapped(stats.slab_bytes, smp_resource::slab_size);
  } else {
    platform::unmap(slab, smp_resource::slab_size);
  }
  list_carved(t, c, first, n);
  return true;
}

void flush_surplus(thread_cache& t, unsigned c) noexcept {
  // The oldest blocks (the bottom of the stack) go; the newest, likelier in this core's cache, stay.
  const std::uint32_t n = batch(c);
  slot& own = lock_own(t);
  put_waiting(own, c, t.base[c], n);
  own.lock.unlock();
  std::copy(t.base[c] + n, t.base[c] + t.count[c], t.base[c]);
  t.count[c] -= n;
}

void flush_all(thread_cache& t, cache_state state) noexcept {
  if (state == cache_state::dead) t.state = cache_state::dead;
  slot* own = nullptr;
  for (unsigned c = 0; c < class_count; ++c) {
    for (std::uint32_t done = 0; done < t.count[c];) {
      const std::uint32_t n = std::min(t.count[c] - done, max_batch);
      if (own == nullptr) own = &lock_own(t);
      put_waiting(*own, c, t.base[c] + done, n);
      done += n;
    }
    t.count[c] = 0;
    if (t.state == cache_state::dead) t.capacity[c] = 0;
  }
  if (own != nullptr) own->lock.unlock();
}

void give_block(void* p, unsigned c) noexcept {
  // Rare (a thread whose cache is gone): linked through itself, no node for one block.
  thread_cache local{};
  slot& s = lock_own(local);
  class_state& cs = s.classes[c];
  auto* const b = static_cast<block*>(p);
  b->next = cs.loose;
  cs.loose = b;
  add_waiting(cs, 1);
  s.lock.unlock();
}

}  // namespace pmrheap::smp
