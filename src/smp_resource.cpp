// SPDX-License-Identifier: MIT
#include "pmrheap/smp_resource.hpp"

#include "immortal.hpp"
#include "smp/state.hpp"

#if defined(__MINGW32__)
#  include <pthread.h>
#endif

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
#if defined(__MINGW32__)
#  define PMRHEAP_SMP_CACHE_RECORDS 1
#endif

#if !defined(PMRHEAP_SMP_CACHE_RECORDS)
PMRHEAP_SMP_TLS_MODEL constinit thread_local smp::thread_cache cache{};
smp::thread_cache& my_cache() noexcept { return cache; }

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
#else
// mingw-w64's g++ keeps thread_locals in emulated TLS, whose storage winpthreads frees before the
// C++ thread_local destructors run: a flusher found the cache zeroed, and every thread that exited
// stranded its cached blocks (seen under wine). Here the cache is a record of ours, the thread_local
// holds only its address, and a pthread key's destructor, which is handed the record itself,
// flushes it and recycles the record. The fresh and dead caches are shared and never written: their
// room is 0 and their lists empty, so every call on them takes a slow path, which does not write them.
struct cache_record {
  smp::thread_cache cache;
  cache_record* next_free;
};
constinit smp::thread_cache fresh_cache{};
constinit smp::thread_cache dead_cache{{}, {}, 0, smp::cache_state::dead};
constinit thread_local smp::thread_cache* cache = &fresh_cache;
smp::thread_cache& my_cache() noexcept { return *cache; }

constinit smp::spin_flag records_lock;
constinit cache_record* free_records = nullptr;

cache_record* take_record() noexcept {
  records_lock.lock();
  if (free_records == nullptr) {
    // Records are never unmapped, like slabs; threads that exit give theirs back for reuse.
    constexpr std::size_t chunk = std::size_t{64} << 10;
    if (auto* const first = static_cast<cache_record*>(platform::map(chunk, alignof(cache_record)))) {
      for (std::size_t i = 0; i < chunk / sizeof(cache_record); ++i) {
        first[i].next_free = free_records;
        free_records = &first[i];
      }
    }
  }
  cache_record* const r = free_records;
  if (r != nullptr) free_records = r->next_free;
  records_lock.unlock();
  return r;
}

void give_record(cache_record* r) noexcept {
  records_lock.lock();
  r->next_free = free_records;
  free_records = r;
  records_lock.unlock();
}

void on_thread_exit(void* p) noexcept {
  auto* const r = static_cast<cache_record*>(p);
  cache = &dead_cache;  // first: nothing may reach the record once it is recycled
  smp::flush_all(r->cache, smp::cache_state::dead);
  give_record(r);
}

PMRHEAP_NOINLINE void start_cache() noexcept {
  static pthread_key_t exit_key;
  static const bool have_key = ::pthread_key_create(&exit_key, on_thread_exit) == 0;
  cache_record* const r = have_key ? take_record() : nullptr;
  if (r == nullptr) {
    cache = &dead_cache;  // no record: every block goes straight to a slot
    return;
  }
  r->cache = smp::thread_cache{};
  smp::start(r->cache);
  if (::pthread_setspecific(exit_key, r) != 0) {
    give_record(r);
    cache = &dead_cache;
    return;
  }
  cache = &r->cache;
}
#endif

// A dead cache (the thread is exiting, or has no cache of its own) is never filled: each block
// goes to or comes from a slot through a cache on the stack.
PMRHEAP_NOINLINE void* allocate_dead(unsigned c) noexcept {
  smp::thread_cache local{};
  local.state = smp::cache_state::dead;
  if (!smp::refill(local, c)) return nullptr;
  smp::block* const b = local.head[c];
  local.head[c] = b->next;
  smp::flush_all(local, smp::cache_state::dead);
  return b;
}

PMRHEAP_NOINLINE void deallocate_dead(void* p, unsigned c) noexcept {
  smp::thread_cache local{};
  local.state = smp::cache_state::dead;
  auto* const b = static_cast<smp::block*>(p);
  b->next = nullptr;
  local.head[c] = b;
  smp::flush_all(local, smp::cache_state::dead);
}

std::size_t page_round(std::size_t bytes) noexcept {
  const std::size_t page = platform::page_size();
  return (bytes + page - 1) & ~(page - 1);
}

PMRHEAP_NOINLINE void* allocate_small_slow(unsigned c) noexcept {
  if (my_cache().state == smp::cache_state::fresh) start_cache();
  smp::thread_cache& t = my_cache();
  if (t.state == smp::cache_state::dead) return allocate_dead(c);
  if (t.head[c] == nullptr && !smp::refill(t, c)) return nullptr;
  smp::block* const b = t.head[c];
  t.head[c] = b->next;
  ++t.room[c];
  return b;
}

PMRHEAP_NOINLINE void deallocate_small_slow(void* p, unsigned c) noexcept {
  if (my_cache().state == smp::cache_state::fresh) start_cache();
  smp::thread_cache& t = my_cache();
  if (t.state == smp::cache_state::dead) return deallocate_dead(p, c);
  auto* const b = static_cast<smp::block*>(p);
  b->next = t.head[c];
  t.head[c] = b;
  if (t.room[c] != 0) {
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
    smp::thread_cache& t = my_cache();
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
  smp::thread_cache& t = my_cache();
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
    smp::thread_cache& t = my_cache();
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
