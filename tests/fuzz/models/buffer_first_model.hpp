// SPDX-License-Identifier: MIT
// The model of buffer_first_resource, shared with stack_fallback_resource (the same rules around
// an inline buffer).
#ifndef PMRHEAP_TESTS_FUZZ_MODELS_BUFFER_FIRST_MODEL_HPP
#define PMRHEAP_TESTS_FUZZ_MODELS_BUFFER_FIRST_MODEL_HPP

#include <string>
#include <vector>

#include "models/common.hpp"

namespace pmrheap::fuzz::models {

// Buffer first, c_resource behind it (docs/resources/buffer_first_resource.md): a block goes to the
// buffer exactly when the bump rules fit it, else to the fallback, which never refuses here; owns()
// routes every later call, so buffer blocks follow the bump rules and fallback blocks c_resource's;
// no resize or remap moves a block from one to the other.
template <class R>
class buffer_first_model final : public model {
 public:
  buffer_first_model(const R& r, const void* base, std::size_t capacity) : r_(r), rules_(base, capacity) {}

  [[nodiscard]] expect allocate(std::size_t, std::size_t) const override { return expect::success; }
  [[nodiscard]] expect resize(const block& b, std::size_t new_bytes) const override {
    return rules_.owns(b.p) ? rules_.resize(b, new_bytes) : c_rules::resize(b, new_bytes);
  }
  [[nodiscard]] expect remap(const block& b, std::size_t new_bytes) const override {
    return rules_.owns(b.p) ? rules_.resize(b, new_bytes) : c_rules::remap(b, new_bytes);
  }
  [[nodiscard]] bool remap_may_move(const block& b, std::size_t new_bytes) const override {
    return !rules_.owns(b.p) && c_rules::remap_may_move(b, new_bytes);
  }
  void allocated(const block& b) override {
    std::size_t start = 0;
    const bool fits = rules_.fits(b.bytes, b.alignment, start);
    if (!rules_.owns(b.p)) {
      if (fits) complain("went to the fallback, but the buffer had room for it");
      return;
    }
    if (std::string problem = rules_.allocated(b); !problem.empty()) complain(problem);
  }
  void resized(const block& before, const block& after) override {
    if (rules_.owns(before.p) != rules_.owns(after.p))
      complain("resize or remap moved a block between buffer and fallback");
    if (rules_.owns(before.p)) rules_.resized(before, after);
  }
  void freed(const block& b) override {
    if (rules_.owns(b.p)) rules_.freed(b);
  }
  // A fallback block that moved and stayed in the fallback was remapped there (realloc), or
  // allocated there anew because the buffer had no room: the buffer saw neither. Any other move
  // is allocate + copy + free, and allocated() checks where the new block went.
  void reallocated(const block& before, const block& after) override {
    if (after.p == before.p) return resized(before, after);
    if (!rules_.owns(before.p) && !rules_.owns(after.p)) return;
    allocated(after);
    freed(before);
  }
  [[nodiscard]] std::string check(pmrheap::resource&, const std::vector<block>& live) override {
    if (r_.used() != rules_.used())
      return "used() is " + std::to_string(r_.used()) + ", the model says " + std::to_string(rules_.used());
    for (const block& b : live)
      if (r_.owns(b.p) != rules_.owns(b.p)) return "owns() disagrees with the buffer's bounds on a live block";
    return rules_.check_owns(r_);
  }

 private:
  const R& r_;
  bump_rules rules_;
};

}  // namespace pmrheap::fuzz::models

#endif  // PMRHEAP_TESTS_FUZZ_MODELS_BUFFER_FIRST_MODEL_HPP
