// SPDX-License-Identifier: MIT
// The fuzz target of failing_resource (testing kit) over c_resource.
#include "pmrheap/testing/failing_resource.hpp"

#include <string>
#include <vector>

#include "models/common.hpp"
#include "pmrheap/c_resource.hpp"

namespace pmrheap::fuzz::models {
namespace {

// failing_resource over c_resource with fail indices from setup[0] and setup[1] (below 200: index
// byte / 4, so 0 to 49; else never): allocation number fail_index fails and so does every later
// one, likewise resizes and remaps with resize_fail_index; otherwise c_resource's rules; the
// counters follow every successful call and no failed one.
class failing_model final : public model {
 public:
  explicit failing_model(const pmrheap::failing_resource& f) : f_(f) {}

  [[nodiscard]] expect allocate(std::size_t, std::size_t) const override {
    if (allocations_ != f_.fail_index()) return expect::success;
    induced_ = true;
    return expect::failure;
  }
  [[nodiscard]] expect resize(const block& b, std::size_t new_bytes) const override {
    if (resizes_ == f_.resize_fail_index()) return induced_resize_ = true, expect::failure;
    return c_rules::resize(b, new_bytes);
  }
  [[nodiscard]] expect remap(const block& b, std::size_t new_bytes) const override {
    if (resizes_ == f_.resize_fail_index()) return induced_resize_ = true, expect::failure;
    return c_rules::remap(b, new_bytes);
  }
  [[nodiscard]] bool remap_may_move(const block& b, std::size_t new_bytes) const override {
    return c_rules::remap_may_move(b, new_bytes);
  }
  void allocated(const block& b) override {
    ++allocations_;
    allocated_bytes_ += b.bytes;
  }
  void resized(const block& before, const block& after) override {
    ++resizes_;
    if (after.bytes > before.bytes) {
      allocated_bytes_ += after.bytes - before.bytes;
    } else {
      freed_bytes_ += before.bytes - after.bytes;
    }
  }
  void freed(const block& b) override {
    ++deallocations_;
    freed_bytes_ += b.bytes;
  }
  // A moved block came from a remap (counted as a resize) or from allocate + copy + free: the
  // resource's allocation count tells which, and everything else is checked against it.
  void reallocated(const block& before, const block& after) override {
    if (after.p != before.p && f_.allocations() != allocations_) {
      allocated(after);
      freed(before);
    } else {
      resized(before, after);
    }
  }
  [[nodiscard]] std::string check(pmrheap::resource&, const std::vector<block>&) override {
    if (f_.allocations() != allocations_ || f_.alloc_index() != allocations_)
      return "allocations() or alloc_index() is " + std::to_string(f_.allocations()) + ", the model says " +
             std::to_string(allocations_);
    if (f_.deallocations() != deallocations_) return "deallocations() miscounts";
    if (f_.resize_index() != resizes_) return "resize_index() miscounts";
    if (f_.allocated_bytes() != allocated_bytes_ || f_.freed_bytes() != freed_bytes_)
      return "allocated_bytes() or freed_bytes() miscounts";
    if (f_.has_induced_failure() != induced_) return "has_induced_failure() disagrees with the model";
    if (induced_resize_ && !f_.has_induced_resize_failure()) return "an induced resize failure was not recorded";
    if (f_.has_induced_resize_failure() && f_.resize_index() != f_.resize_fail_index())
      return "an induced resize failure before resize_fail_index";
    return {};
  }

 private:
  const pmrheap::failing_resource& f_;
  std::size_t allocations_ = 0;
  std::size_t deallocations_ = 0;
  std::size_t resizes_ = 0;
  std::size_t allocated_bytes_ = 0;
  std::size_t freed_bytes_ = 0;
  mutable bool induced_ = false;
  mutable bool induced_resize_ = false;
};

subject make_failing(const std::uint8_t* setup) {
  const auto index = [](std::uint8_t b) { return b < 200 ? std::size_t{b} / 4 : pmrheap::failing_resource::never; };
  auto f =
      std::make_shared<pmrheap::failing_resource>(pmrheap::c_resource::instance(), index(setup[0]), index(setup[1]));
  return {f, std::make_unique<failing_model>(*f)};
}

const target_registration failing_resource_target{
    {"failing_resource", "failing_resource(c_resource), fail indices from setup", nullptr, make_failing, 2}};

}  // namespace
}  // namespace pmrheap::fuzz::models
