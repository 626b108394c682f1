// SPDX-License-Identifier: MIT
// smp_resource as the default resource of a multithreaded program: every std::pmr container built
// without a resource uses it, on every thread. Four threads count words into their own maps and
// hand the maps to the main thread, which merges them and frees blocks other threads allocated.
#include <fmt/format.h>

#include <memory_resource>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "pmrheap/smp_resource.hpp"

int main() {
  std::pmr::set_default_resource(pmrheap::smp_resource::instance());

  constexpr int workers = 4;
  std::vector<std::pmr::unordered_map<std::pmr::string, int>> counts(workers);
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([w, &counts] {
      std::pmr::unordered_map<std::pmr::string, int> mine;  // on the default resource
      for (int i = 0; i < 20000; ++i)
        ++mine[std::pmr::string("word-number-") + std::to_string((i * (w + 3)) % 997).c_str()];
      counts[static_cast<std::size_t>(w)] = std::move(mine);
    });
  }
  for (auto& t : threads) t.join();

  std::pmr::unordered_map<std::pmr::string, int> total;
  for (auto& m : counts) {
    for (auto& [word, n] : m) total[word] += n;
    m.clear();  // blocks another thread allocated, freed here
  }
  int sum = 0;
  for (auto& [word, n] : total) sum += n;
  const pmrheap::smp_statistics s = pmrheap::smp_resource::statistics();
  fmt::print("{} distinct words, {} counted; smp_resource maps {} bytes ({} slabs)\n", total.size(), sum,
             s.bytes_mapped, s.slabs);
  std::pmr::set_default_resource(nullptr);
  return sum == workers * 20000 && total.size() == 997 ? 0 : 1;
}
