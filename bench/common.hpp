// SPDX-License-Identifier: MIT
// Pieces shared by the benchmarks: the physical limits written in the bench (an inline bump
// pointer, a minimal virtual bump resource), the size sequence, and a counting upstream.
#ifndef PMRHEAP_BENCH_COMMON_HPP
#define PMRHEAP_BENCH_COMMON_HPP

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory_resource>
#include <string>
#include <vector>

#include "pmrheap/detail/align.hpp"

namespace pmrheap::bench {

/// splitmix64: a fixed, fast sequence so every case sees the same sizes.
inline std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/// `count` sizes from 8 to 128 in steps of 8 (mean 68 B), the same every call.
inline std::vector<std::uint32_t> small_sizes(std::size_t count) {
  std::vector<std::uint32_t> sizes(count);
  std::uint64_t state = 42;
  for (auto& s : sizes) s = static_cast<std::uint32_t>(8 * (splitmix64(state) % 16 + 1));
  return sizes;
}

/// The physical limit: a bump pointer the compiler sees whole. No virtual call, no refill.
struct inline_bump {
  std::byte* cur;
  std::byte* end;
  void* allocate(std::size_t bytes, std::size_t alignment) noexcept {
    std::byte* p = cur + detail::align_offset(cur, alignment);
    if (static_cast<std::size_t>(end - p) < bytes) return nullptr;
    cur = p + bytes;
    return p;
  }
};

/// The practical limit at the pmr interface: a virtual call and a bump, nothing else (no growth;
/// the buffer is big enough for the workload).
class virtual_bump final : public std::pmr::memory_resource {
 public:
  virtual_bump(void* buffer, std::size_t size) noexcept : cur_(static_cast<std::byte*>(buffer)), end_(cur_ + size) {}

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    std::byte* p = cur_ + detail::align_offset(cur_, alignment);
    if (static_cast<std::size_t>(end_ - p) < bytes) throw std::bad_alloc();
    cur_ = p + bytes;
    return p;
  }
  void do_deallocate(void*, std::size_t, std::size_t) override {}
  bool do_is_equal(const memory_resource& o) const noexcept override { return this == &o; }
  std::byte* cur_;
  std::byte* end_;
};

/// Counts bytes and calls that reach the upstream, and the peak held.
class counting_upstream final : public std::pmr::memory_resource {
 public:
  explicit counting_upstream(std::pmr::memory_resource* upstream = std::pmr::new_delete_resource()) noexcept
      : upstream_(upstream) {}
  std::size_t calls = 0;
  std::size_t held = 0;
  std::size_t peak = 0;

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    void* p = upstream_->allocate(bytes, alignment);
    ++calls;
    held += bytes;
    if (held > peak) peak = held;
    return p;
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    held -= bytes;
    upstream_->deallocate(p, bytes, alignment);
  }
  bool do_is_equal(const memory_resource& o) const noexcept override { return this == &o; }
  std::pmr::memory_resource* upstream_;
};

/// A size from the environment (quick runs shrink the big workloads), else `fallback`.
inline std::size_t env_size(const char* name, std::size_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? static_cast<std::size_t>(std::strtoull(v, nullptr, 10)) : fallback;
}

}  // namespace pmrheap::bench

#endif  // PMRHEAP_BENCH_COMMON_HPP
