// SPDX-License-Identifier: MIT
// Workload 1: 2^20 small allocations (8..128 B, alignment 8) through std::pmr::memory_resource*,
// then release, per iteration (construction and release included). Reports time per allocation
// via the items/s rate. The references are written here: an inline bump pointer (the physical
// limit) and a minimal virtual bump resource (the limit at the pmr interface).
#include <boost/container/pmr/monotonic_buffer_resource.hpp>

#include <cstring>

#include "common.hpp"
#include "pmrheap/pmrheap.hpp"

namespace {

constexpr std::size_t count = std::size_t{1} << 20;
constexpr std::size_t buffer_bytes = std::size_t{96} << 20;  // holds the workload (71 MB) with padding
const std::vector<std::uint32_t> sizes = pmrheap::bench::small_sizes(count);

// A pre-faulted buffer for the cases that take one, so no case pays first-touch faults in the loop.
std::byte* prefaulted_buffer() {
  static std::byte* buffer = [] {
    auto* b = static_cast<std::byte*>(pmrheap::page_resource::instance()->allocate(buffer_bytes));
    std::memset(b, 0, buffer_bytes);
    return b;
  }();
  return buffer;
}

template <class Resource>
void run_pmr(Resource& r) {
  std::pmr::memory_resource* mr = &r;
  benchmark::DoNotOptimize(mr);
  for (std::uint32_t s : sizes) benchmark::DoNotOptimize(mr->allocate(s, 8));
}

void finish(benchmark::State& state) { state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * count)); }

void small_monotonic(benchmark::State& state) {
  for (auto _ : state) {
    std::pmr::monotonic_buffer_resource r;
    run_pmr(r);
  }
  finish(state);
}

void small_monotonic_presized(benchmark::State& state) {
  for (auto _ : state) {
    std::pmr::monotonic_buffer_resource r(prefaulted_buffer(), buffer_bytes);
    run_pmr(r);
  }
  finish(state);
}

void small_boost_monotonic(benchmark::State& state) {
  for (auto _ : state) {
    boost::container::pmr::monotonic_buffer_resource r;
    boost::container::pmr::memory_resource* mr = &r;
    benchmark::DoNotOptimize(mr);
    for (std::uint32_t s : sizes) benchmark::DoNotOptimize(mr->allocate(s, 8));
  }
  finish(state);
}

void small_virtual_bump(benchmark::State& state) {
  for (auto _ : state) {
    pmrheap::bench::virtual_bump r(prefaulted_buffer(), buffer_bytes);
    run_pmr(r);
  }
  finish(state);
}

void small_fixed_buffer(benchmark::State& state) {
  for (auto _ : state) {
    pmrheap::fixed_buffer_resource r(prefaulted_buffer(), buffer_bytes);
    run_pmr(r);
  }
  finish(state);
}

void small_arena(benchmark::State& state) {
  for (auto _ : state) {
    pmrheap::arena_resource r;  // upstream: the default resource, as std monotonic's
    run_pmr(r);
  }
  finish(state);
}

// The same arena called through its own type: allocate binds statically and inlines the bump.
void small_arena_concrete(benchmark::State& state) {
  for (auto _ : state) {
    pmrheap::arena_resource r;
    for (std::uint32_t s : sizes) benchmark::DoNotOptimize(r.allocate(s, 8));
  }
  finish(state);
}

void small_virtual_arena(benchmark::State& state) {
  pmrheap::virtual_arena_resource r(std::size_t{1} << 30);
  for (auto _ : state) {
    run_pmr(r);
    r.reset(pmrheap::reset_mode::retain_capacity);  // keeps its pages committed, as a reused arena would
  }
  finish(state);
}

// arena_resource starting in the caller's buffer (the pre-faulted one, as std_monotonic_presized):
// the whole workload bumps in it, no upstream call.
void small_arena_presized(benchmark::State& state) {
  for (auto _ : state) {
    pmrheap::arena_resource r(prefaulted_buffer(), buffer_bytes, std::pmr::get_default_resource());
    run_pmr(r);
  }
  finish(state);
}

// A warmed arena reused through a savepoint: each round is an arena_scope, its rewind the only
// cost besides the bumps (the node a retaining reset kept holds the whole round).
void small_arena_scope(benchmark::State& state) {
  pmrheap::arena_resource r;
  run_pmr(r);
  r.reset(pmrheap::reset_mode::retain_capacity);
  for (auto _ : state) {
    pmrheap::arena_scope scope(r);
    run_pmr(r);
  }
  finish(state);
}

// The same rounds with reset(retain_capacity) instead of a scope, for comparison.
void small_arena_retained(benchmark::State& state) {
  pmrheap::arena_resource r;
  run_pmr(r);
  r.reset(pmrheap::reset_mode::retain_capacity);
  for (auto _ : state) {
    run_pmr(r);
    r.reset(pmrheap::reset_mode::retain_capacity);
  }
  finish(state);
}

void small_inline_bump(benchmark::State& state) {
  for (auto _ : state) {
    pmrheap::bench::inline_bump b{prefaulted_buffer(), prefaulted_buffer() + buffer_bytes};
    for (std::uint32_t s : sizes) benchmark::DoNotOptimize(b.allocate(s, 8));
  }
  finish(state);
}

void small_malloc(benchmark::State& state) {
  std::vector<void*> blocks(count);
  for (auto _ : state) {
    for (std::size_t i = 0; i < count; ++i) blocks[i] = std::malloc(sizes[i]);
    benchmark::DoNotOptimize(blocks.data());
    for (void* p : blocks) std::free(p);
  }
  finish(state);
}

void small_per_block(benchmark::State& state, std::pmr::memory_resource* mr) {
  std::vector<void*> blocks(count);
  for (auto _ : state) {
    for (std::size_t i = 0; i < count; ++i) blocks[i] = mr->allocate(sizes[i], 8);
    benchmark::DoNotOptimize(blocks.data());
    for (std::size_t i = 0; i < count; ++i) mr->deallocate(blocks[i], sizes[i], 8);
  }
  finish(state);
}

void small_new_delete(benchmark::State& state) { small_per_block(state, std::pmr::new_delete_resource()); }

void small_pool(benchmark::State& state) {
  std::pmr::unsynchronized_pool_resource pool;
  small_per_block(state, &pool);
}

}  // namespace

#define PMRHEAP_SMALL(fn, name) BENCHMARK(fn)->Name("small/" name)->Unit(benchmark::kMillisecond)
PMRHEAP_SMALL(small_inline_bump, "inline_bump");
PMRHEAP_SMALL(small_virtual_bump, "virtual_bump");
PMRHEAP_SMALL(small_arena, "arena_resource");
PMRHEAP_SMALL(small_arena_concrete, "arena_concrete");
PMRHEAP_SMALL(small_arena_presized, "arena_presized");
PMRHEAP_SMALL(small_arena_scope, "arena_scope");
PMRHEAP_SMALL(small_arena_retained, "arena_retained");
PMRHEAP_SMALL(small_virtual_arena, "virtual_arena_retained");
PMRHEAP_SMALL(small_fixed_buffer, "fixed_buffer_resource");
PMRHEAP_SMALL(small_monotonic, "std_monotonic");
PMRHEAP_SMALL(small_monotonic_presized, "std_monotonic_presized");
PMRHEAP_SMALL(small_boost_monotonic, "boost_monotonic");
PMRHEAP_SMALL(small_malloc, "malloc_free");
PMRHEAP_SMALL(small_new_delete, "new_delete");
PMRHEAP_SMALL(small_pool, "std_unsync_pool");
BENCHMARK_MAIN();
