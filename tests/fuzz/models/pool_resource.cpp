// SPDX-License-Identifier: MIT
// The fuzz target of pool_resource over c_resource.
#include "pmrheap/pool_resource.hpp"

#include "models/common.hpp"

namespace pmrheap::fuzz::models {
namespace {

// pool_resource over c_resource (docs/resources/pool_resource.md), default options: a request of
// at most 4096 bytes goes to the smallest class that holds it and whose blocks are aligned enough
// (detail::pool_class_of, alignment the largest power of two dividing the class size), else to the
// upstream. Nothing is refused (c_resource never refuses here). Within a class, the next block
// handed out is the most recently freed one (LIFO reuse); resize and remap of a pool block succeed
// exactly when the new size is in the same class, never move it, and never move a block between
// the pools and the upstream; upstream blocks follow c_resource's rules. statistics() counts the
// live blocks.
class pool_model final : public model {
 public:
  static constexpr std::size_t none = size_max;

  [[nodiscard]] expect allocate(std::size_t, std::size_t) const override { return expect::success; }
  [[nodiscard]] expect resize(const block& b, std::size_t new_bytes) const override {
    const std::size_t from = route(b.bytes, b.alignment);
    const std::size_t to = route(new_bytes, b.alignment);
    if (from == none && to == none) return c_rules::resize(b, new_bytes);
    return from == to ? expect::success : expect::failure;
  }
  [[nodiscard]] expect remap(const block& b, std::size_t new_bytes) const override {
    const std::size_t from = route(b.bytes, b.alignment);
    const std::size_t to = route(new_bytes, b.alignment);
    if (from == none && to == none) return c_rules::remap(b, new_bytes);
    return from == to ? expect::success : expect::failure;
  }
  [[nodiscard]] bool remap_may_move(const block& b, std::size_t new_bytes) const override {
    return route(b.bytes, b.alignment) == none && c_rules::remap_may_move(b, new_bytes);
  }
  void allocated(const block& b) override {
    const std::size_t c = route(b.bytes, b.alignment);
    if (c == none) return;
    std::vector<std::byte*>& stack = freed_[c];
    if (!stack.empty()) {
      if (stack.back() != b.p) complain("a pool block was handed out while its class's last freed block waited");
      stack.pop_back();
    }
  }
  void freed(const block& b) override {
    const std::size_t c = route(b.bytes, b.alignment);
    if (c != none) freed_[c].push_back(b.p);
  }
  void released() override {
    for (auto& stack : freed_) stack.clear();
  }
  [[nodiscard]] std::string check(pmrheap::resource& r, const std::vector<block>& live) override {
    const pmrheap::pool_statistics s = dynamic_cast<pmrheap::pool_resource&>(r).statistics();
    if (s.blocks_in_use != live.size())
      return "statistics().blocks_in_use is " + std::to_string(s.blocks_in_use) + ", " + std::to_string(live.size()) +
             " blocks are live";
    std::size_t upstream = 0;
    for (const block& b : live) upstream += route(b.bytes, b.alignment) == none ? 1 : 0;
    if (s.upstream_blocks != upstream) return "statistics().upstream_blocks miscounts";
    return {};
  }

 private:
  static constexpr std::size_t classes =
      pmrheap::detail::pool_class_of(pmrheap::pool_resource::default_largest_block) + 1;

  static std::size_t route(std::size_t bytes, std::size_t alignment) noexcept {
    if (bytes > pmrheap::pool_resource::default_largest_block) return none;
    std::size_t c = pmrheap::detail::pool_class_of(bytes);
    const auto aligned = [](std::size_t size) { return size & (~size + 1); };
    while (c < classes && aligned(pmrheap::detail::pool_class_size(c)) < alignment) ++c;
    return c < classes ? c : none;
  }

  std::vector<std::byte*> freed_[classes];
};

const target_registration pool_resource_target{{"pool_resource", "pool_resource(c_resource)", make<pool_model>}};

}  // namespace
}  // namespace pmrheap::fuzz::models
