// SPDX-License-Identifier: MIT
// Workload 4: a buffer grown from 4 KiB by doubling to PMRHEAP_BENCH_GROWTH_MAX (default 1 GiB),
// every new byte written. pmrheap::reallocate on page_resource (mremap) and on c_resource
// (realloc) against raw mremap, realloc, and allocate + copy + free. Also: 15 MB of small blocks
// on a fresh virtual_arena_resource (a JSON parse's shape), counting its commits.
#include <cstring>
#include <sys/mman.h>

#include "common.hpp"
#include "pmrheap/c_resource.hpp"
#include "pmrheap/page_resource.hpp"
#include "pmrheap/virtual_arena_resource.hpp"

namespace {

const std::size_t growth_max = pmrheap::bench::env_size("PMRHEAP_BENCH_GROWTH_MAX", std::size_t{1} << 30);
constexpr std::size_t start = 4096;

void grow_reallocate(benchmark::State& state, std::pmr::memory_resource* mr) {
  for (auto _ : state) {
    std::size_t bytes = start;
    auto* p = static_cast<unsigned char*>(mr->allocate(bytes));
    std::memset(p, 1, bytes);
    while (bytes < growth_max) {
      p = static_cast<unsigned char*>(pmrheap::reallocate(*mr, p, bytes, 2 * bytes));
      std::memset(p + bytes, 1, bytes);
      bytes *= 2;
    }
    benchmark::DoNotOptimize(p);
    mr->deallocate(p, bytes);
  }
}

// The copy every pmr container pays: allocate the new block, copy, free the old.
void grow_copy(benchmark::State& state) {
  std::pmr::memory_resource* mr = pmrheap::page_resource::instance();
  for (auto _ : state) {
    std::size_t bytes = start;
    auto* p = static_cast<unsigned char*>(mr->allocate(bytes));
    std::memset(p, 1, bytes);
    while (bytes < growth_max) {
      auto* q = static_cast<unsigned char*>(mr->allocate(2 * bytes));
      std::memcpy(q, p, bytes);
      mr->deallocate(p, bytes);
      p = q;
      std::memset(p + bytes, 1, bytes);
      bytes *= 2;
    }
    benchmark::DoNotOptimize(p);
    mr->deallocate(p, bytes);
  }
}

// Raw mremap(MREMAP_MAYMOVE); with `huge`, MADV_HUGEPAGE on each grown block as well:
// page_resource_huge's raw equivalent, so the advice's effect on this machine (and its
// hypervisor's) shows apart from pmrheap's code.
void grow_mremap(benchmark::State& state, bool huge) {
  for (auto _ : state) {
    std::size_t bytes = start;
    auto* p =
        static_cast<unsigned char*>(::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    std::memset(p, 1, bytes);
    while (bytes < growth_max) {
      p = static_cast<unsigned char*>(::mremap(p, bytes, 2 * bytes, MREMAP_MAYMOVE));
      if (huge) ::madvise(p, 2 * bytes, MADV_HUGEPAGE);
      std::memset(p + bytes, 1, bytes);
      bytes *= 2;
    }
    benchmark::DoNotOptimize(p);
    ::munmap(p, bytes);
  }
}

void grow_realloc(benchmark::State& state) {
  for (auto _ : state) {
    std::size_t bytes = start;
    auto* p = static_cast<unsigned char*>(std::malloc(bytes));
    std::memset(p, 1, bytes);
    while (bytes < growth_max) {
      p = static_cast<unsigned char*>(std::realloc(p, 2 * bytes));
      std::memset(p + bytes, 1, bytes);
      bytes *= 2;
    }
    benchmark::DoNotOptimize(p);
    std::free(p);
  }
}

// A fresh virtual arena takes 15 MB in blocks of 8..128 bytes, each written; the counter is its
// commit calls (doubling commits: 9; fixed 64 KiB steps made 240).
void grow_virtual_arena_small_blocks(benchmark::State& state) {
  constexpr std::size_t total = std::size_t{15} << 20;
  std::size_t commits = 0;
  for (auto _ : state) {
    pmrheap::virtual_arena_resource arena(std::size_t{1} << 30);
    std::pmr::memory_resource* mr = &arena;
    for (std::size_t taken = 0, i = 0; taken < total; ++i) {
      const std::size_t bytes = 8 + (i * 40503 % 121);
      auto* p = static_cast<unsigned char*>(mr->allocate(bytes, 8));
      p[0] = 1;
      taken += bytes;
    }
    commits = arena.commit_count();
  }
  state.counters["commits"] = static_cast<double>(commits);
}

}  // namespace

BENCHMARK(grow_virtual_arena_small_blocks)->Name("growth/virtual_arena_15MB_small")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(grow_reallocate, page, pmrheap::page_resource::instance())
    ->Name("growth/page_resource")
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);
BENCHMARK_CAPTURE(grow_reallocate, c, pmrheap::c_resource::instance())
    ->Name("growth/c_resource")
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);
// Huge-page advice: 512 faults per 2 MiB instead of one per 4 KiB page.
const pmrheap::page_resource huge_pages_resource(pmrheap::huge_pages::advise);
BENCHMARK_CAPTURE(grow_reallocate, page_huge, const_cast<pmrheap::page_resource*>(&huge_pages_resource))
    ->Name("growth/page_resource_huge")
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);
BENCHMARK_CAPTURE(grow_mremap, plain, false)->Name("growth/mremap")->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK_CAPTURE(grow_mremap, huge, true)->Name("growth/mremap_huge")->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(grow_realloc)->Name("growth/realloc")->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(grow_copy)->Name("growth/allocate_copy_free")->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK_MAIN();
