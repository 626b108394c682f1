// SPDX-License-Identifier: MIT
// Workload 3: page_resource against raw mmap/munmap; 2 MiB-aligned blocks against a hand-written
// over-map-and-trim. Blocks are not touched: this measures the mapping, not page faults.
#include <sys/mman.h>

#include "common.hpp"
#include "pmrheap/page_resource.hpp"

namespace {

void pages_page_resource(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  std::pmr::memory_resource* mr = pmrheap::page_resource::instance();
  for (auto _ : state) {
    void* p = mr->allocate(bytes, 16);
    benchmark::DoNotOptimize(p);
    mr->deallocate(p, bytes, 16);
  }
}

void pages_mmap(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    benchmark::DoNotOptimize(p);
    ::munmap(p, bytes);
  }
}

// page_resource's placement without page_resource: each mapping hinted just below the previous
// one (src/platform/posix.cpp), so the cost of that policy shows apart from pmrheap's code.
void pages_mmap_hinted(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  static std::uintptr_t last = 0;  // kept across runs, like page_resource's own hint
  for (auto _ : state) {
    void* hint = last > bytes ? reinterpret_cast<void*>(pmrheap::detail::align_down(last - bytes, 4096)) : nullptr;
    void* p = ::mmap(hint, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    benchmark::DoNotOptimize(p);
    last = reinterpret_cast<std::uintptr_t>(p);
    ::munmap(p, bytes);
  }
}

constexpr std::size_t mib2 = std::size_t{2} << 20;

void aligned_page_resource(benchmark::State& state) {
  std::pmr::memory_resource* mr = pmrheap::page_resource::instance();
  for (auto _ : state) {
    void* p = mr->allocate(mib2, mib2);
    benchmark::DoNotOptimize(p);
    mr->deallocate(p, mib2, mib2);
  }
}

// What a user writes by hand: over-map by alignment - page, trim both ends.
void aligned_hand_trim(benchmark::State& state) {
  const std::size_t page = 4096;
  for (auto _ : state) {
    const std::size_t total = mib2 + mib2 - page;
    auto* raw =
        static_cast<std::byte*>(::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    std::byte* p = raw + pmrheap::detail::align_offset(raw, mib2);
    if (p != raw) ::munmap(raw, static_cast<std::size_t>(p - raw));
    if (p + mib2 != raw + total) ::munmap(p + mib2, static_cast<std::size_t>(raw + total - (p + mib2)));
    benchmark::DoNotOptimize(p);
    ::munmap(p, mib2);
  }
}

}  // namespace

BENCHMARK(pages_page_resource)->Name("pages/page_resource")->Arg(4 << 10)->Arg(64 << 10)->Arg(1 << 20)->Arg(16 << 20);
BENCHMARK(pages_mmap)->Name("pages/mmap")->Arg(4 << 10)->Arg(64 << 10)->Arg(1 << 20)->Arg(16 << 20);
BENCHMARK(pages_mmap_hinted)->Name("pages/mmap_hinted")->Arg(4 << 10)->Arg(64 << 10)->Arg(1 << 20)->Arg(16 << 20);
BENCHMARK(aligned_page_resource)->Name("aligned/page_resource");
BENCHMARK(aligned_hand_trim)->Name("aligned/hand_trim");
BENCHMARK_MAIN();
