// SPDX-License-Identifier: MIT
// The fuzz targets of fixed_buffer_resource and concurrent_fixed_buffer_resource.
#include "pmrheap/fixed_buffer_resource.hpp"

#include <string>
#include <vector>

#include "models/common.hpp"

namespace pmrheap::fuzz::models {
namespace {

// fixed_buffer_resource and concurrent_fixed_buffer_resource (used from one thread here): the bump
// rules exactly, used() and is_last_allocation() as the model says, owns() for every live block.
template <class R>
class fixed_model final : public model {
 public:
  fixed_model(const R& r, const void* base, std::size_t capacity) : r_(r), rules_(base, capacity) {}

  [[nodiscard]] expect allocate(std::size_t bytes, std::size_t alignment) const override {
    std::size_t start = 0;
    return rules_.fits(bytes, alignment, start) ? expect::success : expect::failure;
  }
  [[nodiscard]] expect resize(const block& b, std::size_t new_bytes) const override {
    return rules_.resize(b, new_bytes);
  }
  [[nodiscard]] expect remap(const block& b, std::size_t new_bytes) const override {
    return rules_.resize(b, new_bytes);
  }
  [[nodiscard]] bool remap_may_move(const block&, std::size_t) const override { return false; }
  void allocated(const block& b) override {
    if (std::string problem = rules_.allocated(b); !problem.empty()) complain(problem);
  }
  void resized(const block& before, const block& after) override { rules_.resized(before, after); }
  void freed(const block& b) override { rules_.freed(b); }
  void released() override { rules_.reset(); }
  [[nodiscard]] std::string check(pmrheap::resource&, const std::vector<block>& live) override {
    if (r_.used() != rules_.used())
      return "used() is " + std::to_string(r_.used()) + ", the model says " + std::to_string(rules_.used());
    for (const block& b : live) {
      if (!r_.owns(b.p) || !r_.owns(b.p + b.bytes - 1)) return "owns() denies a live block";
      if (r_.is_last_allocation(b.p, b.bytes) != rules_.is_last(b))
        return "is_last_allocation() disagrees with the model on a live block";
    }
    return rules_.check_owns(r_);
  }

 private:
  const R& r_;
  bump_rules rules_;
};

template <class R>
subject make_fixed(const std::uint8_t* setup) {
  struct holder {
    explicit holder(const std::uint8_t* s) : buffer(s), top(buffer.data(), buffer.size()) {}
    buffer_storage buffer;
    R top;
  };
  auto h = std::make_shared<holder>(setup);
  return {{h, &h->top},
          std::make_unique<fixed_model<R>>(h->top, h->buffer.data(), h->buffer.size()),
          pmrheap::test::catalog_detail::reset<R>};
}

const target_registration fixed_buffer_target{{"fixed_buffer",
                                               "fixed_buffer_resource, buffer size and offset from setup", nullptr,
                                               make_fixed<pmrheap::fixed_buffer_resource>, 2}};
const target_registration concurrent_fixed_buffer_target{
    {"concurrent_fixed_buffer", "concurrent_fixed_buffer_resource, buffer size and offset from setup", nullptr,
     make_fixed<pmrheap::concurrent_fixed_buffer_resource>, 2}};

}  // namespace
}  // namespace pmrheap::fuzz::models
