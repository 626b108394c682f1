// SPDX-License-Identifier: MIT
// Workload 2: 2^20 push_back of int. Time per push_back, the number of buffers the vector moved
// through, and the bytes the upstream (or the OS) held at peak, as counters.
#include <vector>

#include "common.hpp"
#include "pmrheap/pmrheap.hpp"

namespace {

constexpr std::size_t count = std::size_t{1} << 20;

void report(benchmark::State& state, std::size_t moves, std::size_t peak) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * count));
  state.counters["buffers"] = static_cast<double>(moves);
  state.counters["peak_bytes"] = static_cast<double>(peak);
  state.counters["payload_bytes"] = static_cast<double>(count * sizeof(int));
}

template <class Vector>
std::size_t fill(Vector& v) {
  std::size_t moves = 0;
  const int* data = nullptr;
  for (std::size_t i = 0; i < count; ++i) {
    v.push_back(static_cast<int>(i));
    if (v.data() != data) {
      ++moves;
      data = v.data();
    }
  }
  return moves;
}

void vector_std(benchmark::State& state) {
  std::size_t moves = 0;
  for (auto _ : state) {
    std::vector<int> v;
    moves = fill(v);
    benchmark::DoNotOptimize(v.data());
  }
  // std::vector frees the old buffer after moving: peak is the last buffer plus the one before.
  report(state, moves, count * sizeof(int) + count * sizeof(int) / 2);
}

void vector_pmr_monotonic(benchmark::State& state) {
  std::size_t moves = 0;
  std::size_t peak = 0;
  for (auto _ : state) {
    pmrheap::bench::counting_upstream upstream;
    std::pmr::monotonic_buffer_resource mono(&upstream);
    {
      std::pmr::vector<int> v(&mono);
      moves = fill(v);
      benchmark::DoNotOptimize(v.data());
    }
    peak = upstream.peak;
  }
  report(state, moves, peak);
}

}  // namespace

BENCHMARK(vector_std)->Name("vector/std_vector")->Unit(benchmark::kMillisecond);
BENCHMARK(vector_pmr_monotonic)->Name("vector/pmr_vector_monotonic")->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
