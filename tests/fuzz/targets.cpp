// SPDX-License-Identifier: MIT
// The fuzz targets and the shadow model of each resource (harness.hpp). A new target is one entry
// in targets(), a model if the resource promises more than the shared contract, and a seed corpus
// in tests/fuzz/corpus/<name>/ (the replay test insists on one).
#include <cstddef>

#include "harness.hpp"
#include "pmrheap/detail/align.hpp"
#include "pmrheap/platform.hpp"

namespace pmrheap::fuzz {
namespace {

// c_resource (docs/resources.md#c_resource): the C heap never refuses a block of at most 2 MiB
// here; shrinking is always in place; growth of a malloc-strategy block always succeeds by
// realloc; an over-aligned block is never moved (realloc could lose the alignment).
class c_model final : public model {
 public:
  [[nodiscard]] expect allocate(std::size_t, std::size_t) const override { return expect::success; }
  [[nodiscard]] expect resize(const block& b, std::size_t new_bytes) const override {
    return new_bytes < b.bytes ? expect::success : expect::either;
  }
  [[nodiscard]] expect remap(const block& b, std::size_t new_bytes) const override {
    if (new_bytes < b.bytes || malloc_strategy(b)) return expect::success;
    return expect::either;  // grows only within the usable size
  }
  [[nodiscard]] bool remap_may_move(const block& b, std::size_t new_bytes) const override {
    return new_bytes > b.bytes && malloc_strategy(b);
  }

 private:
  static bool malloc_strategy(const block& b) noexcept { return b.alignment <= alignof(std::max_align_t); }
};

// page_resource (docs/resources.md#page_resource): whole zeroed pages; the same page count always
// resizes; blocks aligned above a page never change their page count; shrinking across pages
// works; growth across pages only by remap, and only where mremap exists (Linux).
class page_model final : public model {
 public:
  [[nodiscard]] expect allocate(std::size_t, std::size_t) const override { return expect::success; }
  [[nodiscard]] std::size_t zero_from(const block&) const override { return 0; }
  [[nodiscard]] expect resize(const block& b, std::size_t new_bytes) const override {
    if (page_rounded(new_bytes) == page_rounded(b.bytes)) return expect::success;
    if (b.alignment > page()) return expect::failure;
    return new_bytes < b.bytes ? expect::success : expect::failure;
  }
  [[nodiscard]] expect remap(const block& b, std::size_t new_bytes) const override {
    if (page_rounded(new_bytes) == page_rounded(b.bytes)) return expect::success;
    if (b.alignment > page()) return expect::failure;
    if (new_bytes < b.bytes) return expect::success;
#if defined(__linux__)
    return expect::success;
#else
    return expect::failure;
#endif
  }
  [[nodiscard]] bool remap_may_move(const block& b, std::size_t new_bytes) const override {
    return page_rounded(new_bytes) != page_rounded(b.bytes);
  }
  [[nodiscard]] std::size_t zero_after_growth(const block& before) const override { return page_rounded(before.bytes); }

 private:
  static std::size_t page() noexcept { return pmrheap::platform::page_size(); }
  static std::size_t page_rounded(std::size_t bytes) noexcept { return pmrheap::detail::align_up(bytes, page()); }
};

template <class Model>
std::unique_ptr<model> make() {
  return std::make_unique<Model>();
}

}  // namespace

const std::vector<target>& targets() {
  static const std::vector<target> list = {
      {"c_resource", "c_resource", make<c_model>},
      {"page_resource", "page_resource", make<page_model>},
      {"validating_c_resource", "validating_resource(c_resource)", make<c_model>},
  };
  return list;
}

}  // namespace pmrheap::fuzz
