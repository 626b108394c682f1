// SPDX-License-Identifier: MIT
#include "pmrheap/smp_resource.hpp"

#include "immortal.hpp"
#include "smp/state.hpp"

namespace pmrheap {

namespace {

constinit detail::immortal<smp_resource> global_smp_resource;

// The thread's cache: zero-initialised (fresh), no constructor or destructor, so the fast path
// reads it without a guard. Initial-exec TLS on ELF makes that one %fs-relative access even in the
// shared library, instead of a call to __tls_get_addr.
#if defined(__ELF__)
#  define PMRHEAP_SMP_TLS_MODEL [[gnu::tls_model("initial-exec")]]
#else
#  define PMRHEAP_SMP_TLS_MODEL
#endif
#if defined(__GNUC__)
#  define PMRHEAP_SMP_PREFETCH(p) __builtin_prefetch(p)
#else
#  define PMRHEAP_SMP_PREFETCH(p) static_cast<void>(p)
#endif
PMRHEAP_SMP_TLS_MODEL constinit thread_local smp::thread_cache cache{};

// Registered on a thread's first slow path; at thread exit it gives the cache's blocks back to a
// slot and leaves the cache dead, so blocks freed by later thread_local destructors go to a slot too.
struct cache_flusher {
  bool armed = false;
  ~cache_flusher() { smp::flush_all(cache, smp::cache_state::dead); }
};
thread_local cache_flusher flusher;

PMRHEAP_NOINLINE void start_cache() noexcept {
  smp::start(cache);
  flusher.armed = true;
}

std::size_t page_round(std::size_t bytes) noexcept {
  const std::size_t page = platform::page_size();
  return (bytes + page - 1) & ~(page - 1);
}

PMRHEAP_NOINLINE void* allocate_small_slow(unsigned c) noexcept {
  smp::thread_cache& t = cache;
  if (t.state == smp::cache_state::fresh) start_cache();
  if (t.head[c] == nullptr && !smp::refill(t, c)) return nullptr;
  smp::block* const b = t.head[c];
  t.head[c] = b->next;
  if (t.state == smp::cache_state::live)
    ++t.room[c];
  else
    smp::flush_all(t, smp::cache_state::dead);
  return b;
}

PMRHEAP_NOINLINE void deallocate_small_slow(void* p, unsigned c) noexcept {
  smp::thread_cache& t = cache;
  if (t.state == smp::cache_state::fresh) start_cache();
  auto* const b = static_cast<smp::block*>(p);
  b->next = t.head[c];
  t.head[c] = b;
  if (t.state == smp::cache_state::dead) {
    smp::flush_all(t, smp::cache_state::dead);
  } else if (t.room[c] != 0) {
    --t.room[c];
  } else {
    smp::flush_surplus(t, c);
  }
}

PMRHEAP_NOINLINE void* allocate_large(std::size_t bytes, std::size_t alignment) noexcept {
  void* const p = platform::map(bytes, alignment);
  if (p != nullptr) {
    smp::stats.large_blocks.fetch_add(1, std::memory_order_relaxed);
    smp::add_mapped(smp::stats.large_bytes, page_round(bytes));
  }
  return p;
}

PMRHEAP_NOINLINE void deallocate_large(void* p, std::size_t bytes) noexcept {
  if (bytes == 0) return;  // The empty block from allocate(0).
  platform::unmap(p, bytes);
  smp::stats.large_blocks.fetch_sub(1, std::memory_order_relaxed);
  smp::stats.large_bytes.fetch_sub(page_round(bytes), std::memory_order_relaxed);
}

// A large block went from `old_bytes` to `new_bytes` in place or by mremap.
void large_changed(std::size_t old_bytes, std::size_t new_bytes) noexcept {
  const std::size_t before = page_round(old_bytes);
  const std::size_t after = page_round(new_bytes);
  if (after > before)
    smp::add_mapped(smp::stats.large_bytes, after - before);
  else
    smp::stats.large_bytes.fetch_sub(before - after, std::memory_order_relaxed);
}

}  // namespace

smp_resource* smp_resource::instance() noexcept { return &global_smp_resource.value; }

smp_statistics smp_resource::statistics() noexcept {
  smp_statistics s;
  s.slab_bytes = smp::stats.slab_bytes.load(std::memory_order_relaxed);
  s.slabs = smp::stats.slabs.load(std::memory_order_relaxed);
  s.large_bytes = smp::stats.large_bytes.load(std::memory_order_relaxed);
  s.large_blocks = smp::stats.large_blocks.load(std::memory_order_relaxed);
  s.bytes_mapped = s.slab_bytes + s.large_bytes;
  s.peak_bytes_mapped = smp::stats.peak.load(std::memory_order_relaxed);
  if (s.peak_bytes_mapped < s.bytes_mapped) s.peak_bytes_mapped = s.bytes_mapped;
  s.slots = smp::slots_in_use();
  return s;
}

std::size_t smp_resource::slot_size(std::size_t bytes, std::size_t alignment) noexcept {
  if (bytes == 0 || !detail::is_pow2(alignment)) return 0;
  const unsigned shift = smp::class_shift(bytes, alignment);
  return shift <= smp::max_shift ? std::size_t{1} << shift : 0;
}

// The fast paths: a class from two OR-ed sizes, then a pop or push on the thread's own list.
void* smp_resource::do_allocate(std::size_t bytes, std::size_t alignment) {
  const unsigned shift = smp::class_shift(bytes, alignment);
  // Zero bytes and alignment 0 land above max_shift; the power-of-two test catches alignment 3.
  if (shift <= smp::max_shift && (alignment & (alignment - 1)) == 0) [[likely]] {
    const unsigned c = shift - smp::min_shift;
    smp::thread_cache& t = cache;
    if (smp::block* const b = t.head[c]) [[likely]] {
      smp::block* const next = b->next;
      t.head[c] = next;
      ++t.room[c];
      // The next allocation of this class reads `next`: a list refilled from a slot or left by
      // freed containers is in no address order, so start that load now.
      PMRHEAP_SMP_PREFETCH(next);
      return b;
    }
  }
  return allocate_checked(bytes, alignment);
}

// Out of line, so the fast path above needs no stack frame.
PMRHEAP_NOINLINE void* smp_resource::allocate_checked(std::size_t bytes, std::size_t alignment) {
  return resource::do_allocate(bytes, alignment);  // Validates, then do_try_allocate.
}

void* smp_resource::do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept {
  const unsigned shift = smp::class_shift(bytes, alignment);
  if (shift > smp::max_shift) return allocate_large(bytes, alignment);
  const unsigned c = shift - smp::min_shift;
  smp::thread_cache& t = cache;
  if (smp::block* const b = t.head[c]) [[likely]] {
    t.head[c] = b->next;
    ++t.room[c];
    return b;
  }
  return allocate_small_slow(c);
}

void smp_resource::do_deallocate(void* p, std::size_t bytes, std::size_t alignment) {
  const unsigned shift = smp::class_shift(bytes, alignment);
  if (shift <= smp::max_shift) [[likely]] {
    const unsigned c = shift - smp::min_shift;
    smp::thread_cache& t = cache;
    if (t.room[c] != 0) [[likely]] {
      auto* const b = static_cast<smp::block*>(p);
      b->next = t.head[c];
      t.head[c] = b;
      --t.room[c];
      return;
    }
    return deallocate_small_slow(p, c);
  }
  deallocate_large(p, bytes);
}

bool smp_resource::do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept {
  const unsigned old_shift = smp::class_shift(old_bytes, alignment);
  const unsigned new_shift = smp::class_shift(new_bytes, alignment);
  if (old_shift <= smp::max_shift || new_shift <= smp::max_shift) return old_shift == new_shift;
  if (platform::remap(p, old_bytes, new_bytes, alignment, /*may_move=*/false) == nullptr) return false;
  large_changed(old_bytes, new_bytes);
  return true;
}

void* smp_resource::do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept {
  const unsigned old_shift = smp::class_shift(old_bytes, alignment);
  const unsigned new_shift = smp::class_shift(new_bytes, alignment);
  if (old_shift <= smp::max_shift || new_shift <= smp::max_shift) return old_shift == new_shift ? p : nullptr;
  void* const q = platform::remap(p, old_bytes, new_bytes, alignment, /*may_move=*/true);
  if (q != nullptr) large_changed(old_bytes, new_bytes);
  return q;
}

bool smp_resource::do_is_equal(const std::pmr::memory_resource& other) const noexcept {
  return dynamic_cast<const smp_resource*>(&other) != nullptr;
}

}  // namespace pmrheap
