// SPDX-License-Identifier: MIT
// The fuzz target of concurrent_arena_resource, driven from one thread (tests/
// concurrent_arena_resource_threads.cpp ports Zig's multithreaded fuzz test).
#include "pmrheap/concurrent_arena_resource.hpp"

#include <algorithm>

#include "models/common.hpp"
#include "pmrheap/c_resource.hpp"

namespace pmrheap::fuzz::models {
namespace {

// docs/resources/concurrent_arena_resource.md. A block comes from the thread's span when its size
// and alignment are both at most span_block_limit, else straight from the node; each level
// reclaims and grows only its newest block. The model keeps one stack of live blocks per level, and
// the thread's span cursor (the end of the newest span block, or where a block that ended there
// began after it gave its bytes back):
// - only a reclaimable block may grow (anything else must fail; shrinking always works): the top
//   of its level's stack, or any block that ends at the span cursor (a node-level block reserved
//   just before the span was, once the span's own blocks are gone); remap never moves a block;
// - bytes freed or cut off a block that is not reclaimable are never handed out again before a
//   reset;
// - reset (the upstream never refuses) returns true and leaves exactly the capacity its mode keeps.

class concurrent_arena_model final : public model {
 public:
  explicit concurrent_arena_model(const pmrheap::concurrent_arena_resource& arena) : arena_(arena) {}

  [[nodiscard]] expect allocate(std::size_t, std::size_t) const override { return expect::success; }
  [[nodiscard]] expect resize(const block& b, std::size_t new_bytes) const override {
    if (new_bytes < b.bytes) return expect::success;
    return reclaimable(b) ? expect::either : expect::failure;
  }
  [[nodiscard]] expect remap(const block& b, std::size_t new_bytes) const override { return resize(b, new_bytes); }
  [[nodiscard]] bool remap_may_move(const block&, std::size_t) const override { return false; }

  void allocated(const block& b) override {
    for (const auto& d : dead_)
      if (d.first < end_of(b) && address(b.p) < d.second)
        complain("a block overlaps bytes that were given back but are not reclaimable");
    stack_of(b).push_back(b);
    if (from_span(b)) span_cursor_ = end_of(b);
  }
  void resized(const block& before, const block& after) override {
    const bool top = reclaimable(before);
    if (after.bytes < before.bytes && !top) dead_.emplace_back(end_of(after), end_of(before));
    if (after.bytes > before.bytes && !top) complain("a block that is not the newest of its level grew");
    if (end_of(before) == span_cursor_) span_cursor_ = end_of(after);
    for (block& held : stack_of(before))
      if (held.p == before.p) held.bytes = after.bytes;
  }
  void freed(const block& b) override {
    auto& stack = stack_of(b);
    if (!reclaimable(b)) dead_.emplace_back(address(b.p), end_of(b));
    if (end_of(b) == span_cursor_) span_cursor_ = address(b.p);
    stack.erase(std::remove_if(stack.begin(), stack.end(), [&](const block& h) { return h.p == b.p; }), stack.end());
  }
  void released() override { start_over(); }

  [[nodiscard]] bool has_reset() const override { return true; }
  void reset(pmrheap::resource&, const reset_request& request) override {
    auto& arena = const_cast<pmrheap::concurrent_arena_resource&>(arena_);  // ours to drive
    const std::size_t before = arena.capacity();
    std::size_t expected = before;
    const bool ok = request.apply(arena);
    if (request.limit)
      expected = std::min(*request.limit, before);
    else if (request.mode == pmrheap::reset_mode::free_all)
      expected = 0;
    if (!ok) complain("reset returned false, though the upstream never refuses here");
    if (arena.capacity() != expected)
      complain("capacity() after the reset is " + std::to_string(arena.capacity()) + ", not " +
               std::to_string(expected));
    start_over();
  }

 private:
  using range = std::pair<std::uintptr_t, std::uintptr_t>;

  // The level a block of this size and alignment comes from (at allocation; it keeps it).
  static bool from_span(const block& b) noexcept {
    return std::max(b.bytes, b.alignment) <= pmrheap::concurrent_arena_resource::span_block_limit;
  }
  std::vector<block>& stack_of(const block& b) {
    for (auto* stack : {&span_blocks_, &node_blocks_})
      for (const block& held : *stack)
        if (held.p == b.p) return *stack;
    return from_span(b) ? span_blocks_ : node_blocks_;
  }
  [[nodiscard]] bool is_top(const block& b) const {
    for (const auto* stack : {&span_blocks_, &node_blocks_})
      if (!stack->empty() && stack->back().p == b.p) return true;
    return false;
  }
  [[nodiscard]] bool reclaimable(const block& b) const { return is_top(b) || end_of(b) == span_cursor_; }
  void start_over() {
    span_cursor_ = 0;
    span_blocks_.clear();
    node_blocks_.clear();
    dead_.clear();
  }

  const pmrheap::concurrent_arena_resource& arena_;
  std::vector<block> span_blocks_;  // in allocation order
  std::vector<block> node_blocks_;
  std::vector<range> dead_;
  std::uintptr_t span_cursor_ = 0;  // 0: no span yet (since the last reset)
};

subject make_concurrent_arena(const std::uint8_t* setup) {
  struct holder {
    explicit holder(std::size_t initial) : top(initial, pmrheap::c_resource::instance()) {}
    pmrheap::concurrent_arena_resource top;
  };
  // setup[0] odd: an initial capacity of 2^(setup[0] / 2 % 22) + setup[0] bytes.
  const std::size_t initial = setup[0] % 2 == 0 ? 0 : (std::size_t{1} << (setup[0] / 2 % 22)) + setup[0];
  auto h = std::make_shared<holder>(initial);
  return {{h, &h->top},
          std::make_unique<concurrent_arena_model>(h->top),
          pmrheap::test::catalog_detail::release<pmrheap::concurrent_arena_resource>};
}

const target_registration concurrent_arena_target{{"concurrent_arena",
                                                   "concurrent_arena_resource(c_resource), initial capacity from setup",
                                                   nullptr, make_concurrent_arena, 1}};

}  // namespace
}  // namespace pmrheap::fuzz::models
