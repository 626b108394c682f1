// SPDX-License-Identifier: MIT
// Workload 5: c_resource allocate + deallocate pairs against malloc/free and posix_memalign, at
// alignment 16, 64 and 4096. c_resource is called through std::pmr::memory_resource*, as users do;
// so is std::pmr::new_delete_resource(), the peer that pays the same two virtual calls.
#include <cstdlib>

#include "common.hpp"
#include "pmrheap/c_resource.hpp"

namespace {

// Pairs through `mr`, as users call a resource.
void resource_pair(benchmark::State& state, std::pmr::memory_resource* mr) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  const auto alignment = static_cast<std::size_t>(state.range(1));
  benchmark::DoNotOptimize(mr);
  for (auto _ : state) {
    void* p = mr->allocate(bytes, alignment);
    benchmark::DoNotOptimize(p);
    mr->deallocate(p, bytes, alignment);
  }
}

void malloc_pair(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    void* p = std::malloc(bytes);
    benchmark::DoNotOptimize(p);
    std::free(p);
  }
}

void posix_memalign_pair(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  const auto alignment = static_cast<std::size_t>(state.range(1));
  for (auto _ : state) {
    void* p = nullptr;
    if (::posix_memalign(&p, alignment, bytes) != 0) state.SkipWithError("posix_memalign failed");
    benchmark::DoNotOptimize(p);
    std::free(p);
  }
}

}  // namespace

BENCHMARK_CAPTURE(resource_pair, c, pmrheap::c_resource::instance())
    ->Name("c/c_resource")
    ->Args({64, 16})
    ->Args({64, 64})
    ->Args({64, 4096})
    ->Args({4096, 4096});
BENCHMARK_CAPTURE(resource_pair, new_delete, std::pmr::new_delete_resource())
    ->Name("c/new_delete")
    ->Args({64, 16})
    ->Args({64, 64})
    ->Args({64, 4096});
BENCHMARK(malloc_pair)->Name("c/malloc")->Args({64, 16})->Args({4096, 4096});
BENCHMARK(posix_memalign_pair)->Name("c/posix_memalign")->Args({64, 64})->Args({64, 4096})->Args({4096, 4096});
BENCHMARK_MAIN();
