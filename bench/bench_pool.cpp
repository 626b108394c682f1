// SPDX-License-Identifier: MIT
// Pools: pool_resource and memory_pool<T> beside their peers (docs/resources/pool_resource.md,
// docs/resources/memory_pool.md).
// - pool/churn: random 8..512 B blocks, about 1,000 live, each step freeing a random one and
//   allocating another, through std::pmr::memory_resource*. Time per step (a free + an allocate).
// - pool/bulk: bench_small's 2^20 allocations of 8..128 B without frees, then release, against
//   arena_resource.
// - pool/object: memory_pool<T> create + destroy against an inline bump allocation.
// - pool/held: bytes held from the upstream (or by glibc) with about 10,000 live random 8..512 B
//   blocks at steady state, over the bytes the caller asked for (counter held_per_live_byte);
//   one iteration, it is a memory figure, not a time.
#include <cstring>
#include <memory_resource>

#include "common.hpp"
#include "pmrheap/pmrheap.hpp"

// After a C library header, so that __GLIBC__ is known.
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
#  include <malloc.h>
#  define PMRHEAP_BENCH_MALLINFO2 1
#endif

#include "common.hpp"
#include "pmrheap/pmrheap.hpp"

namespace {

using pmrheap::bench::splitmix64;

// A replayable churn: `live` blocks first, then `steps` replacements of a random live block.
struct churn_plan {
  std::vector<std::uint32_t> sizes;    // live + steps sizes, 8..512
  std::vector<std::uint32_t> victims;  // per step, the slot replaced
};

churn_plan make_plan(std::size_t live, std::size_t steps, std::uint64_t seed) {
  churn_plan plan;
  plan.sizes.resize(live + steps);
  plan.victims.resize(steps);
  for (auto& s : plan.sizes) s = static_cast<std::uint32_t>(8 + splitmix64(seed) % 505);
  for (auto& v : plan.victims) v = static_cast<std::uint32_t>(splitmix64(seed) % live);
  return plan;
}

constexpr std::size_t churn_live = 1000;
constexpr std::size_t churn_steps = std::size_t{1} << 16;
const churn_plan churn = make_plan(churn_live, churn_steps, 7);

struct slot {
  void* p;
  std::uint32_t bytes;
};

// Fills the live set once (outside the timing), then replays the steps every iteration; the
// resource stays warm, as a long-lived pool does.
void run_churn(benchmark::State& state, std::pmr::memory_resource* mr) {
  benchmark::DoNotOptimize(mr);
  std::vector<slot> live(churn_live);
  for (std::size_t i = 0; i < churn_live; ++i) live[i] = {mr->allocate(churn.sizes[i], 8), churn.sizes[i]};
  for (auto _ : state) {
    for (std::size_t i = 0; i < churn_steps; ++i) {
      slot& s = live[churn.victims[i]];
      mr->deallocate(s.p, s.bytes, 8);
      const std::uint32_t bytes = churn.sizes[churn_live + i];
      s = {mr->allocate(bytes, 8), bytes};
      benchmark::DoNotOptimize(s.p);
    }
  }
  for (slot& s : live) mr->deallocate(s.p, s.bytes, 8);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * churn_steps));
}

void churn_pool(benchmark::State& state) {
  pmrheap::pool_resource pool;
  run_churn(state, &pool);
}
void churn_std_pool(benchmark::State& state) {
  std::pmr::unsynchronized_pool_resource pool;
  run_churn(state, &pool);
}
void churn_new_delete(benchmark::State& state) { run_churn(state, std::pmr::new_delete_resource()); }

// ---- bulk: the arena workload ------------------------------------------------------------------

constexpr std::size_t bulk_count = std::size_t{1} << 20;
const std::vector<std::uint32_t> bulk_sizes = pmrheap::bench::small_sizes(bulk_count);

template <class Resource>
void run_bulk(benchmark::State& state) {
  for (auto _ : state) {
    Resource r;
    std::pmr::memory_resource* mr = &r;
    benchmark::DoNotOptimize(mr);
    for (std::uint32_t s : bulk_sizes) benchmark::DoNotOptimize(mr->allocate(s, 8));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * bulk_count));
}

// ---- memory_pool<T> ---------------------------------------------------------------------------

struct node {
  node* left;
  node* right;
  std::uint64_t key;
  std::uint64_t value;
};

constexpr std::size_t object_count = std::size_t{1} << 20;

void object_memory_pool(benchmark::State& state) {
  pmrheap::memory_pool<node> pool(64, std::pmr::new_delete_resource());
  for (auto _ : state) {
    for (std::size_t i = 0; i < object_count; ++i) {
      node* n = pool.create(node{nullptr, nullptr, i, i});
      benchmark::DoNotOptimize(n);
      pool.destroy(n);
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * object_count));
}

// 2^20 live objects, then all destroyed: the slots come from the arena the first time round and
// from the free list after.
void object_memory_pool_many(benchmark::State& state) {
  pmrheap::memory_pool<node> pool(std::pmr::new_delete_resource());
  std::vector<node*> nodes(object_count);
  for (auto _ : state) {
    for (std::size_t i = 0; i < object_count; ++i) nodes[i] = pool.create(node{nullptr, nullptr, i, i});
    benchmark::DoNotOptimize(nodes.data());
    for (node* n : nodes) pool.destroy(n);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * object_count));
}

void object_inline_bump(benchmark::State& state) {
  static std::vector<std::byte> buffer(object_count * sizeof(node));
  for (auto _ : state) {
    pmrheap::bench::inline_bump b{buffer.data(), buffer.data() + buffer.size()};
    for (std::size_t i = 0; i < object_count; ++i) {
      node* n = ::new (b.allocate(sizeof(node), alignof(node))) node{nullptr, nullptr, i, i};
      benchmark::DoNotOptimize(n);
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * object_count));
}

// ---- bytes held at steady state ---------------------------------------------------------------

constexpr std::size_t held_live = 10000;
constexpr std::size_t held_steps = 400000;

const churn_plan held_plan = make_plan(held_live, held_steps, 11);

// Runs the steady-state churn and reports held / live requested bytes. `start` is called once the
// bookkeeping is allocated and before the first block, `held` at the end.
template <class Start, class Held>
void run_held(benchmark::State& state, std::pmr::memory_resource* mr, Start start, Held held) {
  std::vector<slot> live(held_live);
  double ratio = 0;
  for (auto _ : state) {
    start();
    std::size_t requested = 0;
    for (std::size_t i = 0; i < held_live; ++i) {
      live[i] = {mr->allocate(held_plan.sizes[i], 8), held_plan.sizes[i]};
      requested += held_plan.sizes[i];
    }
    for (std::size_t i = 0; i < held_steps; ++i) {
      slot& s = live[held_plan.victims[i]];
      requested -= s.bytes;
      mr->deallocate(s.p, s.bytes, 8);
      const std::uint32_t bytes = held_plan.sizes[held_live + i];
      s = {mr->allocate(bytes, 8), bytes};
      requested += bytes;
    }
    const std::size_t bytes_held = held();
    ratio = static_cast<double>(bytes_held) / static_cast<double>(requested);
    state.counters["live_bytes"] = static_cast<double>(requested);
    state.counters["held_bytes"] = static_cast<double>(bytes_held);
    for (slot& s : live) mr->deallocate(s.p, s.bytes, 8);
  }
  state.counters["held_per_live_byte"] = ratio;
}

template <class Pool>
void held_upstream(benchmark::State& state) {
  pmrheap::bench::counting_upstream upstream;
  Pool pool(&upstream);
  run_held(
      state, &pool, [] {}, [&] { return upstream.held; });
}

#ifdef PMRHEAP_BENCH_MALLINFO2
// glibc: the growth of its heap (arena + mmapped bytes, free chunks included, as the pools' free
// blocks are) during the run.
void held_glibc(benchmark::State& state) {
  struct mallinfo2 before {};
  run_held(
      state, std::pmr::new_delete_resource(), [&] { before = mallinfo2(); },
      [&] {
        const struct mallinfo2 now = mallinfo2();
        return (now.arena + now.hblkhd) - (before.arena + before.hblkhd);
      });
}
// glibc, bytes in chunks in use (headers and rounding, no free chunks): its floor.
void held_glibc_in_use(benchmark::State& state) {
  struct mallinfo2 before {};
  run_held(
      state, std::pmr::new_delete_resource(), [&] { before = mallinfo2(); },
      [&] {
        const struct mallinfo2 now = mallinfo2();
        return (now.uordblks + now.hblkhd) - (before.uordblks + before.hblkhd);
      });
}
#endif

}  // namespace

#define PMRHEAP_POOL(fn, name) BENCHMARK(fn)->Name("pool/" name)->Unit(benchmark::kMicrosecond)
PMRHEAP_POOL(churn_pool, "churn/pool_resource");
PMRHEAP_POOL(churn_std_pool, "churn/std_unsync_pool");
PMRHEAP_POOL(churn_new_delete, "churn/new_delete");
PMRHEAP_POOL(run_bulk<pmrheap::pool_resource>, "bulk/pool_resource");
PMRHEAP_POOL(run_bulk<pmrheap::arena_resource>, "bulk/arena_resource");
PMRHEAP_POOL(object_memory_pool, "object/memory_pool_create_destroy");
PMRHEAP_POOL(object_memory_pool_many, "object/memory_pool_2^20_then_destroy");
PMRHEAP_POOL(object_inline_bump, "object/inline_bump");
#define PMRHEAP_HELD(fn, name) BENCHMARK(fn)->Name("pool/held/" name)->Iterations(1)->Unit(benchmark::kMillisecond)
PMRHEAP_HELD(held_upstream<pmrheap::pool_resource>, "pool_resource");
PMRHEAP_HELD(held_upstream<std::pmr::unsynchronized_pool_resource>, "std_unsync_pool");
PMRHEAP_HELD(held_upstream<std::pmr::synchronized_pool_resource>, "std_sync_pool");
#ifdef PMRHEAP_BENCH_MALLINFO2
// Run alone (--benchmark_filter): free chunks left by earlier cases would be reused and hide growth.
PMRHEAP_HELD(held_glibc, "glibc_heap");
PMRHEAP_HELD(held_glibc_in_use, "glibc_in_use");
#endif
BENCHMARK_MAIN();
