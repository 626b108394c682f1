// SPDX-License-Identifier: MIT
// Every thread-safe resource of tests/support/resources.hpp shared by four threads, each
// allocating, filling, growing, shrinking and freeing its own blocks: no block is ever written by
// another thread, none is misaligned. Run under ThreadSanitizer by `./scripts/test --tsan`
// (suite 'threads'), where a data race inside a resource is reported (docs/reliability.md).
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pmrheap/detail/align.hpp"
#include "pmrheap/resource.hpp"
#include "support/resources.hpp"

namespace {

constexpr int thread_count = 4;
constexpr int rounds = 1000;
constexpr std::size_t slots = 16;

struct slot {
  unsigned char* p = nullptr;
  std::size_t bytes = 0;
  std::size_t alignment = 1;
};

unsigned char pattern(int thread, std::size_t i) noexcept { return static_cast<unsigned char>(thread * 61 + i); }

bool intact(const slot& s, int thread) noexcept {
  for (std::size_t i = 0; i < s.bytes; ++i)
    if (s.p[i] != pattern(thread, i)) return false;
  return true;
}

// One thread's work; returns the number of broken promises it saw.
int hammer(pmrheap::resource& r, int thread) {
  std::array<slot, slots> held{};
  unsigned state = 2463534242u + static_cast<unsigned>(thread);
  const auto next = [&state] {  // xorshift: each thread its own deterministic sequence
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
  };
  int broken = 0;
  for (int round = 0; round < rounds; ++round) {
    slot& s = held[next() % slots];
    if (s.p != nullptr && !intact(s, thread)) ++broken;
    switch (s.p == nullptr ? 0 : next() % 3) {
      case 0: {  // allocate (or replace)
        if (s.p != nullptr) r.deallocate(s.p, s.bytes, s.alignment);
        s.bytes = next() % 8000 + 1;
        s.alignment = std::size_t{1} << (next() % 13);
        s.p = static_cast<unsigned char*>(r.allocate(s.bytes, s.alignment));
        if (!pmrheap::detail::is_aligned(s.p, s.alignment)) ++broken;
        break;
      }
      case 1: {  // grow or shrink, moving if need be
        const std::size_t bytes = next() % 16000 + 1;
        s.p = static_cast<unsigned char*>(pmrheap::reallocate(r, s.p, s.bytes, bytes, s.alignment));
        if (!pmrheap::detail::is_aligned(s.p, s.alignment)) ++broken;
        for (std::size_t i = 0; i < std::min(s.bytes, bytes); ++i) broken += s.p[i] != pattern(thread, i);
        s.bytes = bytes;
        break;
      }
      default: {  // free
        r.deallocate(s.p, s.bytes, s.alignment);
        s = slot{};
        continue;
      }
    }
    for (std::size_t i = 0; i < s.bytes; ++i) s.p[i] = pattern(thread, i);
  }
  for (slot& s : held) {
    if (s.p == nullptr) continue;
    if (!intact(s, thread)) ++broken;
    r.deallocate(s.p, s.bytes, s.alignment);
  }
  return broken;
}

}  // namespace

TEST_CASE("threads: every thread-safe resource shared by four threads keeps every block to its owner") {
  std::size_t driven = 0;
  for (const auto& entry : pmrheap::test::all_resources()) {
    if (!entry.thread_safe) continue;
    CAPTURE(entry.name);
    auto r = entry.make();
    std::atomic<int> broken{0};
    std::mutex failures_mutex;
    std::vector<std::string> failures;  // an exception escaping a thread would terminate the run
    std::vector<std::thread> threads;
    for (int t = 0; t < thread_count; ++t)
      threads.emplace_back([&, t] {
        try {
          broken += hammer(*r, t);
        } catch (const std::exception& e) {
          const std::lock_guard lock(failures_mutex);
          failures.emplace_back(e.what());
        }
      });
    for (auto& t : threads) t.join();
    for (const std::string& f : failures) FAIL_CHECK("a thread threw: " << f);
    CHECK(broken == 0);
    ++driven;
  }
  CHECK(driven >= 2);  // at least c_resource and page_resource
}
