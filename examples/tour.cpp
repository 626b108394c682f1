// SPDX-License-Identifier: MIT
// The pmrheap tour: what each resource does, in a few lines each. `./scripts/demo` runs it.
// Each section is explained in docs/index.md.
#include <fmt/format.h>

#include <cstring>
#include <map>
#include <memory_resource>
#include <string>
#include <thread>
#include <vector>

#include "pmrheap/pmrheap.hpp"
#include "pmrheap/testing.hpp"
#include "pmrheap/testing/fmt.hpp"

namespace {

void heading(const char* title) { fmt::print("\n== {} ==\n", title); }

void c_resource_section() {
  heading("c_resource: the C heap behind std::pmr");
  std::pmr::vector<std::pmr::string> names(pmrheap::c_resource::instance());
  for (const char* n : {"arena", "page", "fixed buffer", "stack fallback", "debug", "failing"}) names.emplace_back(n);
  fmt::print("a std::pmr::vector<std::pmr::string> of {} names on c_resource; last: '{}'\n", names.size(),
             names.back());

  pmrheap::c_resource& c = *pmrheap::c_resource::instance();
  void* block = c.allocate(64, 256);
  fmt::print("allocate(64, alignment 256): aligned = {}\n", pmrheap::detail::is_aligned(block, 256));
  fmt::print("resize in place 64 -> 16 bytes: {}\n", c.resize(block, 64, 16, 256));
  c.deallocate(block, 16, 256);
}

void page_resource_section() {
  heading("page_resource: one OS mapping per allocation");
  fmt::print("page size: {} bytes\n", pmrheap::platform::page_size());
  std::pmr::vector<int> numbers(pmrheap::page_resource::instance());
  for (int i = 0; i < 100000; ++i) numbers.push_back(i);
  fmt::print("a std::pmr::vector<int> of {} ints on page_resource\n", numbers.size());
  void* huge_aligned = pmrheap::page_resource::instance()->allocate(4096, std::size_t{2} << 20);
  fmt::print("allocate(4 KiB, alignment 2 MiB): aligned = {}\n",
             pmrheap::detail::is_aligned(huge_aligned, std::size_t{2} << 20));
  pmrheap::page_resource::instance()->deallocate(huge_aligned, 4096, std::size_t{2} << 20);
}

void arena_section() {
  heading("arena_resource: bump allocation, everything given back at once");
  pmrheap::arena_resource arena;  // nodes from the default resource: 1024 bytes first, then x1.5
  {
    std::pmr::vector<std::pmr::string> words(&arena);
    for (const char* w : {"nodes", "bump", "reset", "retain", "capacity", "poison"}) words.emplace_back(w);
    fmt::print("a std::pmr::vector<std::pmr::string> of {} words on an arena of {} bytes\n", words.size(),
               arena.capacity());
  }  // nothing may point into the arena across a reset

  void* newest = arena.allocate(100);
  arena.deallocate(newest, 100);  // the newest block gives its bytes back
  fmt::print("deallocate of the newest block, then allocate: same address = {}\n", arena.allocate(100) == newest);
  static_cast<void>(arena.allocate(std::size_t{1} << 20));  // a node of its own, exactly 1 MiB + header
  fmt::print("after a 1 MiB block: capacity {} bytes\n", arena.capacity());

  bool ok = arena.reset();  // retain_capacity
  fmt::print("reset(retain_capacity): {}, capacity {} bytes, now in one node\n", ok, arena.capacity());
  ok = arena.reset(pmrheap::retain_with_limit{4096});
  fmt::print("reset(retain_with_limit{{4096}}): {}, capacity {} bytes\n", ok, arena.capacity());
  arena.release();
  fmt::print("release(): capacity {} bytes\n", arena.capacity());

  // Savepoints: a scope frees what was allocated in it, the blocks before it stay.
  void* kept = arena.allocate(64);
  {
    pmrheap::arena_scope scope(arena);
    for (int i = 0; i < 100; ++i) static_cast<void>(arena.allocate(200));
  }
  fmt::print("after an arena_scope: the next block follows the one before it = {}\n",
             arena.allocate(64) == static_cast<char*>(kept) + 64);

  // An arena that starts in a buffer of the caller's, as std::pmr::monotonic_buffer_resource can.
  alignas(16) unsigned char buffer[1024];
  pmrheap::arena_resource local(buffer, sizeof buffer, std::pmr::get_default_resource());
  fmt::print("arena over a 1 KiB buffer: first block in the buffer = {}\n", local.allocate(100) == buffer);
}

void concurrent_arena_section() {
  heading("concurrent_arena_resource: one arena, many threads, no lock");
  pmrheap::concurrent_arena_resource arena;
  std::vector<std::thread> threads;
  std::vector<std::size_t> lengths(4);
  for (std::size_t t = 0; t < lengths.size(); ++t)
    threads.emplace_back([&arena, &lengths, t] {  // each thread bumps in a span of its own
      std::pmr::vector<std::pmr::string> lines(&arena);
      for (int i = 0; i < 1000; ++i) lines.emplace_back("a line long enough to leave the small buffer");
      lengths[t] = lines.size();
    });
  for (std::thread& t : threads) t.join();
  fmt::print("4 threads x {} strings on one arena of {} bytes\n", lengths[0], arena.capacity());
  const bool ok = arena.reset();  // not thread-safe: every thread is done
  fmt::print("reset(retain_capacity): {}, capacity {} bytes, in one node\n", ok, arena.capacity());
}

// Grows a buffer by doubling. remap either grows it without copying (mremap, realloc) or returns
// nullptr, and then reallocate copies.
void grow(pmrheap::resource& r, const char* name) {
  std::size_t bytes = 4096;
  auto* p = static_cast<unsigned char*>(r.allocate(bytes));
  std::memset(p, 0x42, bytes);
  int without_copy = 0;
  int doublings = 0;
  while (bytes < (std::size_t{64} << 20)) {
    void* q = r.remap(p, bytes, bytes * 2);
    if (q != nullptr) {
      ++without_copy;
    } else {
      q = pmrheap::reallocate(r, p, bytes, bytes * 2);
    }
    p = static_cast<unsigned char*>(q);
    std::memset(p + bytes, 0x42, bytes);
    bytes *= 2;
    ++doublings;
  }
  fmt::print("{:<14} 4 KiB -> 64 MiB: {} of {} doublings needed no copy; contents kept: {}\n", name, without_copy,
             doublings, p[0] == 0x42 && p[bytes - 1] == 0x42);
  r.deallocate(p, bytes);
}

void reallocate_section() {
  heading("pmrheap::reallocate: remap first, copy only when it must");
  grow(*pmrheap::page_resource::instance(), "page_resource");
  grow(*pmrheap::c_resource::instance(), "c_resource");
  void* p = pmrheap::reallocate(*std::pmr::new_delete_resource(), nullptr, 0, 100);
  p = pmrheap::reallocate(*std::pmr::new_delete_resource(), p, 100, 200);
  fmt::print("works on any std::pmr::memory_resource too (new_delete_resource: allocate + copy + free)\n");
  std::pmr::new_delete_resource()->deallocate(p, 200);
}

// A vector on a stack buffer: each time it outgrows its block it asks for one twice the size, and
// once the buffer cannot hold that, the request goes to the fallback.
void stack_fallback_section() {
  heading("stack_fallback_resource: a stack buffer that spills into its fallback");
  pmrheap::stack_fallback_resource<512> scratch(pmrheap::c_resource::instance());
  std::pmr::vector<int> numbers(&scratch);
  for (int i = 0; i < 200; ++i) {
    const int* before = numbers.data();
    numbers.push_back(i);
    if (numbers.data() != before)
      fmt::print("capacity {:>3} ints ({:>4} bytes): {}\n", numbers.capacity(), numbers.capacity() * sizeof(int),
                 scratch.owns(numbers.data()) ? "in the 512-byte stack buffer" : "spilled to c_resource");
  }
  fmt::print("stack buffer used: {} of {} bytes (outgrown blocks are not reclaimed before reset())\n", scratch.used(),
             scratch.capacity());
}

// Resources chain through their upstreams: a stack buffer first, an arena behind it, pages behind
// that (examples/fallback_chain.cpp logs every call between the layers).
void fallback_chain_section() {
  heading("a fallback chain: stack buffer -> arena_resource -> page_resource");
  pmrheap::arena_resource arena(pmrheap::page_resource::instance());
  pmrheap::stack_fallback_resource<256> stack(&arena);
  for (std::size_t bytes : {64, 128, 1000, 32, 100}) {
    void* const p = stack.allocate(bytes);
    fmt::print("allocate {:>4} bytes: served by the {}\n", bytes, stack.owns(p) ? "stack buffer" : "arena");
  }
  fmt::print("stack buffer {} of {} bytes used; arena capacity {} bytes\n", stack.used(), stack.capacity(),
             arena.capacity());
}  // the arena gives its nodes back to page_resource here

void virtual_arena_section() {
  heading("virtual_arena_resource: reserve address space, grow in place");
  pmrheap::virtual_arena_resource arena;
  fmt::print("reserved {} GiB of address space; committed {} bytes\n", arena.reserved() >> 30, arena.committed());
  std::size_t bytes = 4096;
  void* const first = arena.allocate(bytes);
  void* p = first;
  while (bytes < (std::size_t{64} << 20)) {
    p = pmrheap::reallocate(arena, p, bytes, bytes * 2);  // the last block: resized in place
    bytes *= 2;
  }
  fmt::print("a buffer doubled 4 KiB -> 64 MiB never moved: {}; committed {} MiB\n", p == first,
             arena.committed() >> 20);
  arena.reset(pmrheap::retain_with_limit{std::size_t{1} << 20});
  fmt::print("reset keeping at most 1 MiB: committed {} KiB, the rest back to the OS\n", arena.committed() >> 10);

  // std::pmr::vector cannot ask for in-place growth: every growth leaves the old buffer behind.
  std::pmr::vector<int> v(&arena);
  for (int i = 0; i < 1000000; ++i) v.push_back(i);
  fmt::print("std::pmr::vector of a million ints on it: {:.1f} MiB used for {:.1f} MiB of ints\n",
             static_cast<double>(arena.used()) / (1 << 20), static_cast<double>(v.size() * sizeof(int)) / (1 << 20));
  fmt::print("(a Boost vector with pmrheap::resizable_allocator grows in place: examples/boost_growth.cpp)\n");
}

// Test tooling: make allocations fail on purpose, prove every failure is handled, catch misuse.
void smp_section() {
  heading("smp_resource: a thread-safe general-purpose resource, shared by the whole process");
  pmrheap::smp_resource& smp = *pmrheap::smp_resource::instance();
  std::pmr::vector<std::pmr::string> lines(&smp);
  std::thread worker([&smp] {  // another thread's blocks come from its own cache
    std::pmr::vector<int> numbers(&smp);
    for (int i = 0; i < 1000; ++i) numbers.push_back(i);
  });
  for (const char* l : {"per-thread cache", "per-CPU slots", "slabs of 64 KiB"}) lines.emplace_back(l);
  worker.join();
  void* p = smp.allocate(40);
  fmt::print("allocate(40) takes a slot of {} bytes; resize 40 -> 64 in place: {}, then 64 -> 65: {}\n",
             pmrheap::smp_resource::slot_size(40), smp.resize(p, 40, 64), smp.resize(p, 64, 65));
  smp.deallocate(p, 64);
  const pmrheap::smp_statistics s = pmrheap::smp_resource::statistics();
  fmt::print("mapped: {} bytes in {} slabs and {} large blocks, {} slots\n", s.bytes_mapped, s.slabs, s.large_blocks,
             s.slots);
}

void pool_section() {
  heading("pool_resource and memory_pool: many small blocks, freed one by one, reused");
  pmrheap::pool_resource pool(pmrheap::c_resource::instance());
  {
    std::pmr::map<int, std::pmr::string> m(&pool);
    for (int i = 0; i < 1000; ++i) m.emplace(i, fmt::format("value number {} of the map", i));
    for (int i = 0; i < 1000; i += 2) m.erase(i);
    for (int i = 0; i < 1000; i += 2) m.emplace(i, "again");  // the freed nodes are reused
    fmt::print("a map of 1000 entries, half erased and put back: {}\n", pool.statistics());
  }
  void* odd = pool.allocate(24, 16);  // class 24 is 8-aligned; class 32 serves this
  fmt::print("allocate(24, alignment 16): aligned = {}\n", pmrheap::detail::is_aligned(odd, 16));
  pool.deallocate(odd, 24, 16);

  struct particle {
    double x, y, dx, dy;
  };
  pmrheap::memory_pool<particle> particles(pmrheap::c_resource::instance());
  particle* a = particles.create(particle{0, 0, 1, 1});
  particles.destroy(a);
  particle* b = particles.create(particle{1, 1, 0, 0});
  fmt::print("memory_pool<particle>: the destroyed slot is reused: {}; capacity {}\n", a == b, particles.capacity());
}

void testing_section() {
  heading("testing: failing_resource, check_all_allocation_failures, debug_resource");
  pmrheap::failing_resource failing(pmrheap::c_resource::instance(), 2);
  std::pmr::vector<int> numbers(&failing);
  try {
    for (int i = 0; i < 100; ++i) numbers.push_back(i);
  } catch (const std::bad_alloc&) {
    fmt::print("failing_resource(fail_index 2): push_back threw std::bad_alloc at size {}\n", numbers.size());
  }

  int runs = 0;
  pmrheap::testing::check_all_allocation_failures(*pmrheap::c_resource::instance(), [&runs](auto& mr) {
    ++runs;
    std::pmr::vector<std::pmr::string> names(&mr);
    for (int i = 0; i < 3; ++i) names.emplace_back(fmt::format("a name too long for the small buffer #{}", i));
  });
  fmt::print("check_all_allocation_failures: {} runs, every induced failure handled without a leak\n", runs);

  std::vector<pmrheap::debug_error_kind> found;
  pmrheap::debug_options options;
  options.on_error = [&found](const pmrheap::debug_error& e) { found.push_back(e.kind); };
  pmrheap::debug_resource debug(pmrheap::c_resource::instance(), options);
  auto* block = static_cast<unsigned char*>(debug.allocate(24));
  unsigned char* volatile past_the_end = block + 24;  // volatile: hides the bug from the compiler's checks
  *past_the_end = 0;                                  // one byte past the end, into the canary
  debug.deallocate(block, 24);                        // overrun
  debug.deallocate(block, 24);                        // double free
  void* kept = debug.allocate(100);
  debug.deallocate(kept, 50);  // size mismatch (freed anyway, with the recorded size)
  void* leaked = debug.allocate(8);
  debug.report_leaks();  // leak
  debug.deallocate(leaked, 8);
  fmt::print("debug_resource found:");
  for (auto kind : found) fmt::print(" [{}]", kind);
  fmt::print("\nstatistics: {}\n", debug.statistics());
}

}  // namespace

int main() {
  fmt::print("pmrheap tour\n");
  c_resource_section();
  page_resource_section();
  arena_section();
  concurrent_arena_section();
  reallocate_section();
  stack_fallback_section();
  fallback_chain_section();
  virtual_arena_section();
  smp_section();
  pool_section();
  testing_section();
  fmt::print("\nEverything above is explained in docs/index.md.\n");
}
