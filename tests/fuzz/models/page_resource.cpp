// SPDX-License-Identifier: MIT
// The fuzz target of page_resource.
#include "models/common.hpp"
#include "pmrheap/platform/pages.hpp"

namespace pmrheap::fuzz::models {
namespace {

// page_resource (docs/resources/page_resource.md): whole zeroed pages; the same page count always
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

const target_registration page_resource_target{{"page_resource", "page_resource", make<page_model>}};

}  // namespace
}  // namespace pmrheap::fuzz::models
