// SPDX-License-Identifier: MIT
// What the fuzz models share (tests/fuzz/harness.hpp has the recipe for a model file): address
// arithmetic, the C heap's rules (c_resource's and those of every resource over it), the bump rules
// of the fixed buffers, the buffer a fixed-buffer target stands on.
#ifndef PMRHEAP_TESTS_FUZZ_MODELS_COMMON_HPP
#define PMRHEAP_TESTS_FUZZ_MODELS_COMMON_HPP

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "harness.hpp"
#include "pmrheap/detail/align.hpp"
#include "support/resources.hpp"

namespace pmrheap::fuzz::models {

using pmrheap::detail::size_max;

inline std::uintptr_t address(const void* p) noexcept { return reinterpret_cast<std::uintptr_t>(p); }
inline std::uintptr_t end_of(const block& b) noexcept { return address(b.p) + b.bytes; }

/// A model made with its default constructor, for targets of a catalog configuration.
template <class Model>
std::unique_ptr<model> make() {
  return std::make_unique<Model>();
}

// c_resource (docs/resources/c_resource.md): the C heap never refuses a block of at most 2 MiB
// here; shrinking is always in place; growth of a malloc-strategy block always succeeds by
// realloc; an over-aligned block is never moved (realloc could lose the alignment).
struct c_rules {
  static bool malloc_strategy(const block& b) noexcept { return b.alignment <= alignof(std::max_align_t); }
  static expect resize(const block& b, std::size_t new_bytes) noexcept {
    return new_bytes < b.bytes ? expect::success : expect::either;
  }
  static expect remap(const block& b, std::size_t new_bytes) noexcept {
    if (new_bytes < b.bytes || malloc_strategy(b)) return expect::success;
    return expect::either;  // grows only within the usable size
  }
  static bool remap_may_move(const block& b, std::size_t new_bytes) noexcept {
    return new_bytes > b.bytes && malloc_strategy(b);
  }
};

// c_resource's rules as a model: also validating_resource(c_resource)'s.
class c_model final : public model {
 public:
  [[nodiscard]] expect allocate(std::size_t, std::size_t) const override { return expect::success; }
  [[nodiscard]] expect resize(const block& b, std::size_t new_bytes) const override {
    return c_rules::resize(b, new_bytes);
  }
  [[nodiscard]] expect remap(const block& b, std::size_t new_bytes) const override {
    return c_rules::remap(b, new_bytes);
  }
  [[nodiscard]] bool remap_may_move(const block& b, std::size_t new_bytes) const override {
    return c_rules::remap_may_move(b, new_bytes);
  }
};

// The bump rules of fixed_buffer_resource (docs/resources/fixed_buffer_resource.md), exactly: a
// block goes at the first address aligned as asked after the used bytes, and fails exactly when it
// does not fit; only the last block (ending at used()) is reclaimed by deallocate and shrinking,
// and only it grows, within the buffer. Shared by the two fixed buffers and buffer_first.
class bump_rules {
 public:
  bump_rules(const void* base, std::size_t capacity) noexcept
      : base_(base == nullptr ? 0 : address(base)), capacity_(base == nullptr ? 0 : capacity) {}

  [[nodiscard]] std::size_t used() const noexcept { return used_; }
  [[nodiscard]] bool owns(const void* p) const noexcept { return address(p) - base_ < capacity_; }
  // Where allocate(bytes, alignment) puts its block; false when it must fail.
  [[nodiscard]] bool fits(std::size_t bytes, std::size_t alignment, std::size_t& start) const noexcept {
    start = used_ + pmrheap::detail::align_offset(reinterpret_cast<const void*>(base_ + used_), alignment);
    return start <= capacity_ && bytes <= capacity_ - start;
  }
  [[nodiscard]] bool is_last(const block& b) const noexcept { return offset(b) + b.bytes == used_; }
  [[nodiscard]] expect resize(const block& b, std::size_t new_bytes) const noexcept {
    if (new_bytes < b.bytes) return expect::success;
    return is_last(b) && new_bytes - b.bytes <= capacity_ - used_ ? expect::success : expect::failure;
  }
  // "" when `b` is where the rules put it.
  [[nodiscard]] std::string allocated(const block& b) {
    std::size_t start = 0;
    if (!fits(b.bytes, b.alignment, start)) return "a block the buffer has no room for was handed out";
    if (address(b.p) != base_ + start)
      return "the block is at offset " + std::to_string(address(b.p) - base_) + ", not " + std::to_string(start);
    used_ = start + b.bytes;
    return {};
  }
  void resized(const block& before, const block& after) noexcept {
    if (is_last(before)) used_ = offset(before) + after.bytes;
  }
  void freed(const block& b) noexcept {
    if (is_last(b)) used_ = offset(b);
  }
  void reset() noexcept { used_ = 0; }

  // owns() must say yes to every byte of the buffer and no just outside it.
  template <class R>
  [[nodiscard]] std::string check_owns(const R& r) const {
    if (capacity_ == 0) return {};
    if (!r.owns(reinterpret_cast<const void*>(base_)) || !r.owns(reinterpret_cast<const void*>(base_ + capacity_ - 1)))
      return "owns() denies a byte of the buffer";
    if (r.owns(reinterpret_cast<const void*>(base_ - 1)) || r.owns(reinterpret_cast<const void*>(base_ + capacity_)))
      return "owns() claims a byte next to the buffer";
    return {};
  }

 private:
  [[nodiscard]] std::size_t offset(const block& b) const noexcept { return address(b.p) - base_; }

  std::uintptr_t base_;
  std::size_t capacity_;
  std::size_t used_ = 0;
};

// The buffer of a fixed-buffer target: `setup[0]` picks the size (0 to 32 MiB, powers of two and
// odd sizes; 255 is a null buffer), `setup[1]` how far past an aligned address it starts.
class buffer_storage {
 public:
  explicit buffer_storage(const std::uint8_t* setup) {
    if (setup[0] == 255) return;
    const unsigned shift = setup[0] % 26u;
    size_ = (std::size_t{1} << shift) + (setup[0] >= 128 ? setup[0] * 37u % 4099u : 0u);
    const std::size_t skew = setup[1] % 64u;
    // Uninitialised (no zeroing of up to 32 MiB per input); aligned to 64 before the skew.
    memory_.reset(new std::byte[size_ + 64 + skew]);
    data_ = memory_.get() + pmrheap::detail::align_offset(memory_.get(), 64) + skew;
  }
  [[nodiscard]] std::byte* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

 private:
  std::unique_ptr<std::byte[]> memory_;
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace pmrheap::fuzz::models

#endif  // PMRHEAP_TESTS_FUZZ_MODELS_COMMON_HPP
