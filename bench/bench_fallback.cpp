// SPDX-License-Identifier: MIT
// Workload 6: a std::pmr::vector<std::pmr::string> of N strings built on a 4 KiB stack buffer with
// a heap fallback: stack_fallback_resource<4096> against the standard idiom
// (monotonic_buffer_resource over a stack buffer, new_delete upstream) and the default resource;
// also stack_fallback_resource over an arena_resource, the chain for workloads that spill.
// 9-char strings fit the SSO buffer; 28-char ones allocate; N = 100 spills past 4 KiB.
#include <string>

#include "common.hpp"
#include "pmrheap/arena_resource.hpp"
#include "pmrheap/stack_fallback_resource.hpp"

namespace {

void build(std::pmr::memory_resource* mr, std::size_t n, std::size_t length) {
  std::pmr::vector<std::pmr::string> v(mr);
  for (std::size_t i = 0; i < n; ++i) v.emplace_back(length, static_cast<char>('a' + i % 26));
  benchmark::DoNotOptimize(v.data());
}

void fallback_stack(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto length = static_cast<std::size_t>(state.range(1));
  for (auto _ : state) {
    pmrheap::stack_fallback_resource<4096> r(std::pmr::new_delete_resource());
    build(&r, n, length);
  }
}

// What spills past the buffer goes to an arena: bumped, like the monotonic resource's chunks,
// instead of one heap call per block.
void fallback_stack_arena(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto length = static_cast<std::size_t>(state.range(1));
  for (auto _ : state) {
    pmrheap::arena_resource arena(std::pmr::new_delete_resource());
    pmrheap::stack_fallback_resource<4096> r(&arena);
    build(&r, n, length);
  }
}

void fallback_std_monotonic_stack(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto length = static_cast<std::size_t>(state.range(1));
  for (auto _ : state) {
    alignas(std::max_align_t) std::byte buffer[4096];
    std::pmr::monotonic_buffer_resource r(buffer, sizeof buffer, std::pmr::new_delete_resource());
    build(&r, n, length);
  }
}

void fallback_default(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto length = static_cast<std::size_t>(state.range(1));
  for (auto _ : state) build(std::pmr::get_default_resource(), n, length);
}

}  // namespace

BENCHMARK(fallback_stack)->Name("fallback/stack_fallback")->Args({10, 9})->Args({10, 28})->Args({100, 28});
BENCHMARK(fallback_stack_arena)->Name("fallback/stack_fallback_arena")->Args({10, 9})->Args({10, 28})->Args({100, 28});
BENCHMARK(fallback_std_monotonic_stack)
    ->Name("fallback/std_monotonic_stack")
    ->Args({10, 9})
    ->Args({10, 28})
    ->Args({100, 28});
BENCHMARK(fallback_default)->Name("fallback/default_resource")->Args({10, 9})->Args({10, 28})->Args({100, 28});
BENCHMARK_MAIN();
