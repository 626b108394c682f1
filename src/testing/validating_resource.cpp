// SPDX-License-Identifier: MIT
// validating_resource: every call is checked under one lock against a map of the live blocks, so a
// violation names the operation, the block and what it overlaps. Speed is not a goal here.
#include "pmrheap/testing/validating_resource.hpp"

#include <fmt/format.h>

#include <cstdint>

#include "pmrheap/detail/align.hpp"
#include "pmrheap/testing/conformance.hpp"

namespace pmrheap::testing {

validating_resource::~validating_resource() = default;

void validating_resource::check() const {
  std::lock_guard lock(mutex_);
  throw_if_violated();
}

std::size_t validating_resource::blocks_in_use() const {
  std::lock_guard lock(mutex_);
  return live_.size();
}

namespace {
// "validating_resource (in check_basic)" while a conformance check runs, else "validating_resource".
std::string who() {
  const char* check = running_check();
  return check != nullptr ? fmt::format("validating_resource (in {})", check) : std::string("validating_resource");
}
}  // namespace

bool validating_resource::zero_to_upstream(std::size_t bytes, std::size_t alignment) const noexcept {
  return bytes == 0 && detail::is_pow2(alignment) && upstream_resource() != std::pmr::null_memory_resource();
}

void validating_resource::throw_if_violated() const {
  if (!violation_.empty()) throw conformance_error(violation_);
}

void validating_resource::record(std::string violation) noexcept {
  if (violation_.empty()) violation_ = std::move(violation);
}

std::string validating_resource::admit(void* p, std::size_t bytes, std::size_t alignment, const char* operation) {
  if (p == nullptr) return fmt::format("{}: {}({}, {}) returned null", who(), operation, bytes, alignment);
  if (!detail::is_aligned(p, alignment))
    return fmt::format("{}: {}({}, {}) returned {}, not aligned to {}", who(), operation, bytes, alignment, p,
                       alignment);
  if (reinterpret_cast<std::uintptr_t>(p) > ~std::uintptr_t{0} - bytes)
    return fmt::format("{}: {}({}, {}) returned {}, a block that wraps the address space", who(), operation, bytes,
                       alignment, p);
  const auto* begin = static_cast<const std::byte*>(p);
  auto next = live_.lower_bound(begin);
  if (next != live_.end() && next->first < begin + bytes)
    return fmt::format("{}: {}({}, {}) returned {}, overlapping the live block at {}", who(), operation, bytes,
                       alignment, p, static_cast<const void*>(next->first));
  if (next != live_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second.bytes > begin)
      return fmt::format("{}: {}({}, {}) returned {}, inside the live block at {} of {} bytes", who(), operation, bytes,
                         alignment, p, static_cast<const void*>(prev->first), prev->second.bytes);
  }
  live_.emplace(begin, block{bytes, alignment});
  return {};
}

std::string validating_resource::find_live(void* p, std::size_t bytes, std::size_t alignment,
                                           const char* operation) const {
  auto it = live_.find(static_cast<const std::byte*>(p));
  if (it == live_.end()) return fmt::format("{}: {}({}, {} bytes) names no live block", who(), operation, p, bytes);
  if (it->second.bytes != bytes || it->second.alignment != alignment)
    return fmt::format("{}: {}({}) with {} bytes, alignment {}; the block has {} bytes, alignment {}", who(), operation,
                       p, bytes, alignment, it->second.bytes, it->second.alignment);
  return {};
}

void* validating_resource::do_allocate(std::size_t bytes, std::size_t alignment) {
  std::lock_guard lock(mutex_);
  throw_if_violated();
  // Screened: bad alignments and sizes throw here. Zero bytes are asked of the upstream too (what
  // it answers is part of what is checked), except of the null upstream: the empty block.
  void* const p = zero_to_upstream(bytes, alignment) ? upstream_resource()->allocate(0, alignment)
                                                     : forward_allocate(bytes, alignment);
  if (bytes == 0) {
    if (p == nullptr || !detail::is_aligned(p, alignment))
      throw conformance_error(fmt::format("{}: allocate(0, {}) returned {}", who(), alignment, p));
    return p;
  }
  if (std::string violation = admit(p, bytes, alignment, "allocate"); !violation.empty())
    throw conformance_error(violation);
  return p;
}

void* validating_resource::do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept {
  std::lock_guard lock(mutex_);
  void* const p = forward_try_allocate(bytes, alignment);
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
  if (zero_to_upstream(bytes, alignment)) return upstream_resource()->deallocate(p, 0, alignment);
  forward_deallocate(p, bytes, alignment);
}

bool validating_resource::do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes,
                                    std::size_t alignment) noexcept {
  std::lock_guard lock(mutex_);
  if (std::string violation = find_live(p, old_bytes, alignment, "resize"); !violation.empty()) {
    record(std::move(violation));
    return false;
  }
  if (!forward_resize(p, old_bytes, new_bytes, alignment)) return false;
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
  void* const q = forward_remap(p, old_bytes, new_bytes, alignment);
  if (q == nullptr) return nullptr;
  live_.erase(static_cast<const std::byte*>(p));
  record(admit(q, new_bytes, alignment, "remap"));
  return q;
}

}  // namespace pmrheap::testing
