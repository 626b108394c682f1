// SPDX-License-Identifier: MIT
// The fuzz target of smp_resource, driven from one thread (the threads and stress tests cover the
// rest).
#include "pmrheap/smp_resource.hpp"

#include "models/common.hpp"
#include "pmrheap/platform/pages.hpp"

namespace pmrheap::fuzz::models {
namespace {

// smp_resource (docs/resources/smp_resource.md): blocks up to 2 MiB never fail here. A small block
// (slot_size != 0) resizes and remaps in place exactly when the new size keeps its slot size, and
// never to or from a large block; a large block is a fresh zeroed mapping that behaves as
// page_resource's.
class smp_model final : public model {
 public:
  [[nodiscard]] expect allocate(std::size_t, std::size_t) const override { return expect::success; }
  [[nodiscard]] std::size_t zero_from(const block& b) const override { return small(b) ? size_max : 0; }
  [[nodiscard]] expect resize(const block& b, std::size_t new_bytes) const override {
    return change(b, new_bytes, false);
  }
  [[nodiscard]] expect remap(const block& b, std::size_t new_bytes) const override {
    return change(b, new_bytes, true);
  }
  [[nodiscard]] bool remap_may_move(const block& b, std::size_t new_bytes) const override {
    return !small(b) && page_rounded(new_bytes) != page_rounded(b.bytes);
  }
  [[nodiscard]] std::size_t zero_after_growth(const block& before) const override {
    return small(before) ? size_max : page_rounded(before.bytes);
  }

 private:
  static bool small(const block& b) noexcept { return pmrheap::smp_resource::slot_size(b.bytes, b.alignment) != 0; }
  static std::size_t page_rounded(std::size_t bytes) noexcept {
    return pmrheap::detail::align_up(bytes, pmrheap::platform::page_size());
  }
  static expect change(const block& b, std::size_t new_bytes, bool may_move) noexcept {
    const std::size_t old_slot = pmrheap::smp_resource::slot_size(b.bytes, b.alignment);
    const std::size_t new_slot = pmrheap::smp_resource::slot_size(new_bytes, b.alignment);
    if (old_slot != 0 || new_slot != 0) return old_slot == new_slot ? expect::success : expect::failure;
    if (page_rounded(new_bytes) == page_rounded(b.bytes)) return expect::success;
    if (b.alignment > pmrheap::platform::page_size()) return expect::failure;
    if (new_bytes < b.bytes) return expect::success;
#if defined(__linux__)
    return may_move ? expect::success : expect::failure;
#else
    static_cast<void>(may_move);
    return expect::failure;
#endif
  }
};

const target_registration smp_resource_target{{"smp_resource", "smp_resource", make<smp_model>}};

}  // namespace
}  // namespace pmrheap::fuzz::models
