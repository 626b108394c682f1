// SPDX-License-Identifier: MIT
// The fuzz target of debug_resource (testing kit) over c_resource.
#include "pmrheap/testing/debug_resource.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "models/common.hpp"
#include "pmrheap/c_resource.hpp"

namespace pmrheap::fuzz::models {
namespace {

// debug_resource over c_resource: a correct call sequence must never be reported (the handler
// aborts with the report); blocks take `canary_bytes` more of the C heap, so c_resource's rules
// hold; `memory_limit` (setup[0] odd: 2^(setup[0] / 2 % 24) bytes) fails exactly the requests and
// growths that would pass it; the statistics follow every call; verify() finds nothing. Small
// quarantines (setup[0] >= 64) put the spare in play. setup[1] picks the options that choose the
// resource's code path (src/testing/debug_state.hpp): traces on (general), traces off with the
// lock or without (the plain paths), traces off with a 32-byte canary (general again).
class debug_model final : public model {
 public:
  debug_model(pmrheap::debug_resource& d, std::size_t limit) : d_(d), limit_(limit) {}

  [[nodiscard]] expect allocate(std::size_t bytes, std::size_t) const override {
    return bytes > limit_ - live_bytes_ ? expect::failure : expect::success;
  }
  [[nodiscard]] expect resize(const block& b, std::size_t new_bytes) const override {
    if (new_bytes > b.bytes && new_bytes - b.bytes > limit_ - live_bytes_) return expect::failure;
    return c_rules::resize(b, new_bytes);
  }
  [[nodiscard]] expect remap(const block& b, std::size_t new_bytes) const override {
    if (new_bytes > b.bytes && new_bytes - b.bytes > limit_ - live_bytes_) return expect::failure;
    return c_rules::remap(b, new_bytes);
  }
  [[nodiscard]] bool remap_may_move(const block& b, std::size_t new_bytes) const override {
    return c_rules::remap_may_move(b, new_bytes);
  }
  void allocated(const block& b) override {
    live_bytes_ += b.bytes;
    ++allocations_;
  }
  void resized(const block& before, const block& after) override {
    live_bytes_ = live_bytes_ - before.bytes + after.bytes;
  }
  void freed(const block& b) override {
    live_bytes_ -= b.bytes;
    ++deallocations_;
  }
  // A moved block came from the backing's remap or from allocate + copy + free: the resource's
  // allocation count tells which.
  void reallocated(const block& before, const block& after) override {
    if (after.p != before.p && d_.statistics().total_allocations != allocations_) {
      allocated(after);
      freed(before);
    } else {
      resized(before, after);
    }
  }
  [[nodiscard]] std::string check(pmrheap::resource&, const std::vector<block>& live) override {
    const pmrheap::debug_statistics s = d_.statistics();
    if (s.blocks_in_use != live.size()) return "statistics().blocks_in_use disagrees with the live blocks";
    if (s.live_bytes != live_bytes_) return "statistics().live_bytes disagrees with the live blocks";
    if (s.total_allocations != allocations_ || s.total_deallocations != deallocations_)
      return "statistics() miscounts allocations or deallocations";
    if (s.peak_bytes < s.live_bytes || s.errors != 0) return "statistics() are inconsistent";
    if (++checks_ % 16 == 0 && d_.verify() != 0) return "verify() found a problem";
    return {};
  }

 private:
  pmrheap::debug_resource& d_;
  std::size_t limit_;
  std::size_t live_bytes_ = 0;
  std::size_t allocations_ = 0;
  std::size_t deallocations_ = 0;
  std::size_t checks_ = 0;
};

subject make_debug(const std::uint8_t* setup) {
  pmrheap::debug_options options;
  options.memory_limit = setup[0] % 2 == 0 ? pmrheap::debug_options::no_limit : std::size_t{1} << (setup[0] / 2 % 24);
  // Setups of 64 and more hold 1 to 3 blocks in the quarantine: most frees then push a block out,
  // and the block that leaves serves the next allocation of its size (the spare).
  if (setup[0] >= 64) options.quarantine_blocks = setup[0] / 64;
  switch (setup[1] % 4) {
    case 0:
      options.stack_trace_frames = 2;  // traces are only printed with a report, and a report aborts
      break;
    case 1:
      options.stack_trace_frames = 0;
      break;
    case 2:
      options.stack_trace_frames = 0;
      options.thread_safe = false;
      break;
    default:
      options.stack_trace_frames = 0;
      options.thread_safe = false;
      options.canary_bytes = 32;
      break;
  }
  options.on_error = [](const pmrheap::debug_error& e) {
    std::fprintf(stderr, "pmrheap fuzz: debug_resource reported an error on a correct call sequence:\n%s\n",
                 e.message.c_str());
    std::abort();
  };
  auto d = std::make_shared<pmrheap::debug_resource>(pmrheap::c_resource::instance(), options);
  return {d, std::make_unique<debug_model>(*d, options.memory_limit)};
}

const target_registration debug_resource_target{
    {"debug_resource", "debug_resource(c_resource), memory_limit, quarantine and path from setup", nullptr, make_debug, 2}};

}  // namespace
}  // namespace pmrheap::fuzz::models
