// SPDX-License-Identifier: MIT
// smp_resource's shared state: the slots that per-thread caches refill from and flush to.
#include "state.hpp"

#include <thread>

#include "pmrheap/platform/pages.hpp"

namespace pmrheap::smp {

namespace {

// What a slot holds for one class: batches of free blocks (each a null-terminated chain of at most
// limit(c) blocks, linked through the first block's next_batch) and the slab being carved.
struct class_state {
  block* batches = nullptr;
  std::byte* bump = nullptr;
  std::byte* bump_end = nullptr;
  // Batches waiting here, read without the lock by other threads' refills to skip empty slots.
  std::atomic<std::size_t> waiting{0};
};

// Cache-line aligned so two threads on two slots do not share a line.
struct alignas(64) slot {
  spin_flag lock;
  class_state classes[class_count];
};

constinit slot slots[smp_resource::max_slots];
constinit std::atomic<unsigned> slot_count{0};
constinit std::atomic<unsigned> next_start{0};

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

// Pops a batch. Requires the slot's lock and a batch waiting.
block* take_batch(class_state& cs) noexcept {
  block* const b = cs.batches;
  cs.batches = b->next_batch;
  cs.waiting.store(cs.waiting.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  return b;
}

// Pushes the chain `b` of `n` blocks as a batch. Requires the slot's lock. The count rides in the
// second block's spare link, so whoever takes the batch learns it from one read instead of walking
// a chain of cold blocks.
void put_batch(class_state& cs, block* b, std::uint32_t n) noexcept {
  if (n > 1) b->next->next_batch = reinterpret_cast<block*>(static_cast<std::uintptr_t>(n));
  b->next_batch = cs.batches;
  cs.batches = b;
  cs.waiting.store(cs.waiting.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

// Makes the batch `b` class c's list. A batch never holds more than limit(c) blocks.
void install(thread_cache& t, unsigned c, block* b) noexcept {
  const std::uint32_t n =
      b->next == nullptr ? 1 : static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(b->next->next_batch));
  t.head[c] = b;
  t.room[c] = t.state == cache_state::live ? limit(c) - n : 0;
}

// Takes up to batch(c) slots from the class's slab. Requires the slot's lock. Returns the first
// and the count; the caller links them after unlocking.
std::byte* carve(class_state& cs, unsigned c, std::uint32_t& n) noexcept {
  const std::size_t size = std::size_t{1} << (c + min_shift);
  const std::size_t left = static_cast<std::size_t>(cs.bump_end - cs.bump) / size;
  n = left < batch(c) ? static_cast<std::uint32_t>(left) : batch(c);
  std::byte* const first = cs.bump;
  cs.bump += n * size;
  return first;
}

void link_carved(thread_cache& t, unsigned c, std::byte* first, std::uint32_t n) noexcept {
  const std::size_t size = std::size_t{1} << (c + min_shift);
  block* head = nullptr;
  for (std::uint32_t i = n; i-- > 0;) {
    auto* b = reinterpret_cast<block*>(first + i * size);
    b->next = head;
    head = b;
  }
  t.head[c] = head;
  t.room[c] = t.state == cache_state::live ? limit(c) - n : 0;
}

}  // namespace

constinit counters stats;

void add_mapped(std::atomic<std::size_t>& counter, std::size_t delta) noexcept {
  counter.fetch_add(delta, std::memory_order_relaxed);
  const std::size_t now =
      stats.slab_bytes.load(std::memory_order_relaxed) + stats.large_bytes.load(std::memory_order_relaxed);
  std::size_t peak = stats.peak.load(std::memory_order_relaxed);
  while (now > peak && !stats.peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

std::size_t slots_in_use() noexcept { return slot_count.load(std::memory_order_relaxed); }

void start(thread_cache& t) noexcept {
  t.slot = next_start.fetch_add(1, std::memory_order_relaxed) % count_slots();
  for (unsigned c = 0; c < class_count; ++c) t.room[c] = limit(c);
  t.state = cache_state::live;
}

bool refill(thread_cache& t, unsigned c) noexcept {
  // 1. The thread's own slot: a waiting batch, else the slab being carved.
  slot* own = &lock_own(t);
  class_state* cs = &own->classes[c];
  if (cs->batches != nullptr) {
    block* const b = take_batch(*cs);
    own->lock.unlock();
    install(t, c, b);
    return true;
  }
  std::uint32_t n = 0;
  std::byte* first = carve(*cs, c, n);
  own->lock.unlock();
  if (n != 0) {
    link_carved(t, c, first, n);
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
    block* const b = other.batches != nullptr ? take_batch(other) : nullptr;
    slots[i].lock.unlock();
    if (b != nullptr) {
      install(t, c, b);
      return true;
    }
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
  link_carved(t, c, first, n);
  return true;
}

void flush_surplus(thread_cache& t, unsigned c) noexcept {
  // Keep the newest batch(c) blocks (the ones still in cache) and hand on the rest.
  block* cut = t.head[c];
  for (std::uint32_t i = 1; i < batch(c); ++i) cut = cut->next;
  block* const rest = cut->next;
  cut->next = nullptr;
  t.room[c] = limit(c) - batch(c);
  slot& own = lock_own(t);
  put_batch(own.classes[c], rest, limit(c) + 1 - batch(c));
  own.lock.unlock();
}

void flush_all(thread_cache& t, cache_state state) noexcept {
  if (state == cache_state::dead) t.state = cache_state::dead;
  slot* own = nullptr;
  for (unsigned c = 0; c < class_count; ++c) {
    if (t.head[c] != nullptr) {
      // Rare (thread exit, or a dead cache's one block): the thread's own blocks are walked.
      std::uint32_t n = 0;
      for (block* i = t.head[c]; i != nullptr; i = i->next) ++n;
      if (own == nullptr) own = &lock_own(t);
      put_batch(own->classes[c], t.head[c], n);
      t.head[c] = nullptr;
    }
    t.room[c] = t.state == cache_state::live ? limit(c) : 0;
  }
  if (own != nullptr) own->lock.unlock();
}

}  // namespace pmrheap::smp
