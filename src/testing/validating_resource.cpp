// SPDX-License-Identifier: MIT
// validating_resource: every call is checked under one lock against a map of the live blocks, so a
// violation names the operation, the block and what it overlaps. Speed is not a goal here.
#include "pmrheap/testing/validating_resource.hpp"

#include <fmt/format.h>

#include <bit>
#include <cstdint>

#include "pmrheap/testing/conformance.hpp"

namespace pmrheap::testing {

validating_resource::~validating_resource() = default;

void validating_resource::check() const {
  std::lock_guard lock(mutex_);
  throw_if_violated();
}

std::size_t validating_resource::live_blocks() const {
  std::lock_guard lock(mutex_);
  return live_.size();
}

void validating_resource::throw_if_violated() const {
  if (!violation_.empty()) throw conformance_error(violation_);
}

void validating_resource::record(std::string violation) noexcept {
  if (violation_.empty()) violation_ = std::move(violation);
}

std::string validating_resource::admit(void* p, std::size_t bytes, std::size_t alignment, const char* operation) {
  if (p == nullptr) return fmt::format("validating_resource: {}({}, {}) returned null", operation, bytes, alignment);
  if (!detail::is_aligned(p, alignment))
    return fmt::format("validating_resource: {}({}, {}) returned {}, not aligned to {}", operation, bytes, alignment, p,
                       alignment);
  if (reinterpret_cast<std::uintptr_t>(p) > ~std::uintptr_t{0} - bytes)
    return fmt::format("validating_resource: {}({}, {}) returned {}, a block that wraps the address space", operation,
                       bytes, alignment, p);
  const auto* begin = static_cast<const std::byte*>(p);
  auto next = live_.lower_bound(begin);
  if (next != live_.end() && next->first < begin + bytes)
    return fmt::format("validating_resource: {}({}, {}) returned {}, overlapping the live block at {}", operation,
                       bytes, alignment, p, static_cast<const void*>(next->first));
  if (next != live_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second.bytes > begin)
      return fmt::format("validating_resource: {}({}, {}) returned {}, inside the live block at {} of {} bytes",
                         operation, bytes, alignment, p, static_cast<const void*>(prev->first), prev->second.bytes);
  }
  live_.emplace(begin, block{bytes, alignment});
  return {};
}

std::string validating_resource::find_live(void* p, std::size_t bytes, std::size_t alignment,
                                           const char* operation) const {
  auto it = live_.find(static_cast<const std::byte*>(p));
  if (it == live_.end())
    return fmt::format("validating_resource: {}({}, {} bytes) names no live block", operation, p, bytes);
  if (it->second.bytes != bytes || it->second.alignment != alignment)
    return fmt::format("validating_resource: {}({}) with {} bytes, alignment {}; the block has {} bytes, alignment {}",
                       operation, p, bytes, alignment, it->second.bytes, it->second.alignment);
  return {};
}

void* validating_resource::do_allocate(std::size_t bytes, std::size_t alignment) {
  if (!std::has_single_bit(alignment)) throw_allocation_failure(bytes, alignment);
  std::lock_guard lock(mutex_);
  throw_if_violated();
  void* const p = upstream_->allocate(bytes, alignment);
  if (bytes == 0) {
    if (p == nullptr || !detail::is_aligned(p, alignment))
      throw conformance_error(fmt::format("validating_resource: allocate(0, {}) returned {}", alignment, p));
    return p;
  }
  if (std::string violation = admit(p, bytes, alignment, "allocate"); !violation.empty())
    throw conformance_error(violation);
  return p;
}

void* validating_resource::do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept {
  std::lock_guard lock(mutex_);
  void* const p = pmrheap::try_allocate(*upstream_, bytes, alignment);
  if (p != nullptr) record(admit(p, bytes, alignment, "try_allocate"));
  return p;
}

void validating_resource::do_deallocate(void* p, std::size_t bytes, std::size_t alignment) {
  std::lock_guard lock(mutex_);
  if (bytes != 0) {
    if (std::string violation = find_live(p, bytes, alignment, "deallocate"); !violation.empty()) {
      // Throwing while another exception unwinds would terminate; keep it for check() instead.
      if (std::uncaught_exceptions() > 0) return record(std::move(violation));
      throw conformance_error(violation);
    }
    live_.erase(static_cast<const std::byte*>(p));
  }
  upstream_->deallocate(p, bytes, alignment);
}

bool validating_resource::do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes,
                                    std::size_t alignment) noexcept {
  std::lock_guard lock(mutex_);
  if (std::string violation = find_live(p, old_bytes, alignment, "resize"); !violation.empty()) {
    record(std::move(violation));
    return false;
  }
  if (!pmrheap::resize(*upstream_, p, old_bytes, new_bytes, alignment)) return false;
  live_.erase(static_cast<const std::byte*>(p));
  record(admit(p, new_bytes, alignment, "resize"));
  return true;
}

void* validating_resource::do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes,
                                    std::size_t alignment) noexcept {
  std::lock_guard lock(mutex_);
  if (std::string violation = find_live(p, old_bytes, alignment, "remap"); !violation.empty()) {
    record(std::move(violation));
    return nullptr;
  }
  void* const q = pmrheap::remap(*upstream_, p, old_bytes, new_bytes, alignment);
  if (q == nullptr) return nullptr;
  live_.erase(static_cast<const std::byte*>(p));
  record(admit(q, new_bytes, alignment, "remap"));
  return q;
}

}  // namespace pmrheap::testing
