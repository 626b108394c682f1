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

// A thread's cache is a header (per class: where its stack of pointers is, how many, how many fit)
// and the stacks themselves, about 5 KiB on 64-bit targets. The stacks are a record mapped by
// smp_resource and recycled when the thread exits, so the static TLS a library gets stays small (a
// library loaded by dlopen gets little). The header is a thread_local, zero (fresh: capacity 0 and
// every list empty, so every call takes a slow path) until the thread's first slow path; the fast
// path then reads it at a fixed offset from the thread pointer. Initial-exec TLS on ELF makes that
// one %fs-relative access even in the shared library, instead of a call to __tls_get_addr.
//
// mingw-w64's g++ keeps thread_locals in emulated TLS, whose storage winpthreads frees before the
// C++ thread_local destructors run: a flusher found the header zeroed, and every thread that exited
// stranded its cached blocks (seen under wine). There the header is in the record too, the
// thread_local holds only its address, and a pthread key's destructor, which is handed the record
// itself, flushes it and recycles the record. Its fresh and dead headers are shared and never
// written: their capacity is 0 and their lists empty, so every call on them takes a slow path, which
// does not write them.
#if defined(__ELF__)
#  define PMRHEAP_SMP_TLS_MODEL [[gnu::tls_model("initial-exec")]]
#else
#  define PMRHEAP_SMP_TLS_MODEL
#endif

struct cache_record {
#if defined(__MINGW32__)
  smp::thread_cache cache;  // first, so a header's address is its record's
#endif
  cache_record* next;  // in the pool
  void* blocks[smp::cached_max()];
};

constinit smp::metadata_pool<cache_record> records;

#if !defined(__MINGW32__)
PMRHEAP_SMP_TLS_MODEL constinit thread_local smp::thread_cache cache{};
smp::thread_cache& my_cache() noexcept { return cache; }

// Registered on a thread's first slow path; its destructor runs among the thread_local
// destructors, gives every cached block to a slot and leaves the header dead, so blocks freed by
// later destructors go to a slot too.
struct cache_flusher {
  cache_record* record = nullptr;
  ~cache_flusher() {
    smp::flush_all(cache, smp::cache_state::dead);
    if (record != nullptr) records.give(record);
  }
};
thread_local cache_flusher flusher;

PMRHEAP_NOINLINE void start_cache() noexcept {
  cache_record* const r = records.take();
  if (r == nullptr) {
    cache.state = smp::cache_state::dead;  // no stacks: every block goes straight to a slot
    return;
  }
  smp::start(cache, r->blocks);
  flusher.record = r;
}
#else
constinit smp::thread_cache fresh_cache{};
constinit smp::thread_cache dead_cache{{}, {}, {}, 0, smp::cache_state::dead};
constinit thread_local smp::thread_cache* cache = &fresh_cache;
smp::thread_cache& my_cache() noexcept { return *cache; }

void on_thread_exit(void* p) noexcept {
  auto* const r = static_cast<cache_record*>(p);
  cache = &dead_cache;  // first: nothing may reach the record once it is recycled
  smp::flush_all(r->cache, smp::cache_state::dead);
  records.give(r);
}

PMRHEAP_NOINLINE void start_cache() noexcept {
  static pthread_key_t exit_key;
  static const bool have_key = ::pthread_key_create(&exit_key, on_thread_exit) == 0;
  cache_record* const r = have_key ? records.take() : nullptr;
  if (r == nullptr) {
    cache = &dead_cache;  // no record: every block goes straight to a slot
    return;
  }
  r->cache = smp::thread_cache{};
  smp::start(r->cache, r->blocks);
  if (::pthread_setspecific(exit_key, r) != 0) {
    records.give(r);
    cache = &dead_cache;
    return;
  }
  cache = &r->cache;
}
#endif

// A dead cache (the thread is exiting, or has no cache of its own) is never filled: an allocation
// takes a batch into a list on the stack and gives back the rest, a free goes straight to a slot.
PMRHEAP_NOINLINE void* allocate_dead(unsigned c) noexcept {
  void* blocks[2 * smp::max_batch];
  smp::thread_cache local{};
  local.state = smp::cache_state::dead;
  local.base[c] = blocks;
  if (!smp::refill(local, c)) return nullptr;
  void* const p = blocks[--local.count[c]];
  smp::flush_all(local, smp::cache_state::dead);
  return p;
}

std::size_t page_round(std::size_t bytes) noexcept {
  const std::size_t page = platform::page_size();
  return (bytes + page - 1) & ~(page - 1);
}

PMRHEAP_NOINLINE void* allocate_small_slow(unsigned c) noexcept {
  if (my_cache().state == smp::cache_state::fresh) start_cache();
  smp::thread_cache& t = my_cache();
  if (t.state == smp::cache_state::dead) return allocate_dead(c);
  if (t.count[c] == 0 && !smp::refill(t, c)) return nullptr;
  return t.base[c][--t.count[c]];
}

PMRHEAP_NOINLINE void deallocate_small_slow(void* p, unsigned c) noexcept {
  if (my_cache().state == smp::cache_state::fresh) start_cache();
  smp::thread_cache& t = my_cache();
  if (t.state == smp::cache_state::dead) return smp::give_block(p, c);
  if (t.count[c] == t.capacity[c]) smp::flush_surplus(t, c);
  t.base[c][t.count[c]++] = p;
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
  s.metadata_bytes = smp::stats.metadata_bytes.load(std::memory_order_relaxed);
  s.bytes_mapped = s.slab_bytes + s.large_bytes + s.metadata_bytes;
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

// The fast paths: a class from two OR-ed sizes, then a pop or push on the thread's own stack of
// block pointers. The block itself is not read or written, so a block last touched on another
// core costs no cache miss here.
void* smp_resource::do_allocate(std::size_t bytes, std::size_t alignment) {
  const unsigned shift = smp::class_shift(bytes, alignment);
  // Zero bytes and alignment 0 land above max_shift; the power-of-two test catches alignment 3.
  if (shift <= smp::max_shift && (alignment & (alignment - 1)) == 0) [[likely]] {
    const unsigned c = shift - smp::min_shift;
    smp::thread_cache& t = my_cache();
    if (const std::uint32_t n = t.count[c]) [[likely]] {
      t.count[c] = n - 1;
      return t.base[c][n - 1];
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
  if (const std::uint32_t n = t.count[c]) [[likely]] {
    t.count[c] = n - 1;
    return t.base[c][n - 1];
  }
  return allocate_small_slow(c);
}

void smp_resource::do_deallocate(void* p, std::size_t bytes, std::size_t alignment) {
  const unsigned shift = smp::class_shift(bytes, alignment);
  if (shift <= smp::max_shift) [[likely]] {
    const unsigned c = shift - smp::min_shift;
    smp::thread_cache& t = my_cache();
    const std::uint32_t n = t.count[c];
    if (n != t.capacity[c]) [[likely]] {
      t.base[c][n] = p;
      t.count[c] = n + 1;
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
