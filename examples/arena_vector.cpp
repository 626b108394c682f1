// SPDX-License-Identifier: MIT
// Shows std::pmr containers on an arena_resource that is reset between rounds: after the first round
// the arena serves everything from the capacity it kept. Explained in docs/resources/arena_resource.md.
#include <fmt/format.h>

#include <cstddef>
#include <memory_resource>
#include <string>
#include <vector>

#include "pmrheap/arena_resource.hpp"

namespace {

// Forwards to new_delete_resource and counts what the arena asks of it.
class counting_upstream final : public std::pmr::memory_resource {
 public:
  std::size_t allocations = 0;
  std::size_t deallocations = 0;
  std::size_t held = 0;  // bytes currently allocated

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    void* const p = std::pmr::new_delete_resource()->allocate(bytes, alignment);
    ++allocations;
    held += bytes;
    return p;
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    ++deallocations;
    held -= bytes;
    std::pmr::new_delete_resource()->deallocate(p, bytes, alignment);
  }
  [[nodiscard]] bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }
};

}  // namespace

int main() {
  counting_upstream upstream;
  pmrheap::arena_resource arena(&upstream);

  std::size_t calls_after_first_round = 0;
  for (int round = 1; round <= 4; ++round) {
    const std::size_t allocations = upstream.allocations;
    const std::size_t deallocations = upstream.deallocations;
    {
      // Containers built and dropped within the round. A pmr::vector of pmr::strings hands its
      // allocator to every string, so the strings' buffers come from the arena too.
      std::pmr::vector<int> numbers(&arena);
      std::pmr::vector<std::pmr::string> lines(&arena);
      for (int i = 0; i < 10000; ++i) numbers.push_back(i * round);
      for (int i = 0; i < 500; ++i)
        lines.emplace_back(fmt::format("round {}, line {}: long enough for the heap", round, i));
      fmt::print("round {}: {} ints (last {}), {} strings (last '{}')\n", round, numbers.size(), numbers.back(),
                 lines.size(), lines.back());
    }
    // Everything above is gone at once; the arena keeps its capacity in one node.
    const bool kept = arena.reset(pmrheap::reset_mode::retain_capacity);
    const std::size_t calls = upstream.allocations - allocations + upstream.deallocations - deallocations;
    if (round > 1) calls_after_first_round += calls;
    fmt::print("  upstream calls this round (reset included): {} ({} allocations, {} deallocations)\n", calls,
               upstream.allocations - allocations, upstream.deallocations - deallocations);
    fmt::print("  reset(retain_capacity) {}: capacity {} bytes in one node; upstream holds {} bytes\n",
               kept ? "succeeded" : "failed", arena.capacity(), upstream.held);
  }
  fmt::print("upstream calls in rounds 2 to 4: {}\n", calls_after_first_round);

  arena.release();
  fmt::print("after release(): capacity {}, upstream holds {} bytes\n", arena.capacity(), upstream.held);
}
