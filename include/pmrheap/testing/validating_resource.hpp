// SPDX-License-Identifier: MIT
// validating_resource: a decorator that checks every call it forwards against the pmrheap contract
// (docs/design.md), the conformance kit's way to test any resource from the outside.
#ifndef PMRHEAP_TESTING_VALIDATING_RESOURCE_HPP
#define PMRHEAP_TESTING_VALIDATING_RESOURCE_HPP

#include <cstddef>
#include <map>
#include <memory_resource>
#include <mutex>
#include <string>

#include "pmrheap/resource.hpp"

namespace pmrheap::testing {

/// Forwards every call to `upstream` and checks it against the contract (docs/design.md):
/// results are non-null and aligned, no live block overlaps another, deallocate/resize/remap name
/// a live block with its current size and original alignment, remap results are aligned.
/// A block whose end would pass the top of the address space is a violation too (libstdc++ 12's
/// new_delete_resource returns one for allocate(SIZE_MAX, 8): the rounded size wraps to 0).
/// A violation in allocate or deallocate throws conformance_error at once; a violation inside a
/// noexcept operation (try_allocate, resize, remap) is recorded and thrown by the next allocate,
/// deallocate or check(). Thread-safe (one mutex); meant for tests, not for speed.
class PMRHEAP_TESTING_API validating_resource final : public resource {
 public:
  /// Checks every block `upstream` hands out; `upstream` must outlive this resource.
  explicit validating_resource(std::pmr::memory_resource* upstream) noexcept : upstream_(upstream) {}
  validating_resource(const validating_resource&) = delete;
  validating_resource& operator=(const validating_resource&) = delete;
  ~validating_resource() override;

  /// The resource under test.
  [[nodiscard]] std::pmr::memory_resource* upstream_resource() const noexcept { return upstream_; }

  /// Throws the first recorded violation, if any.
  void check() const;
  /// Blocks handed out and not yet deallocated (zero-size blocks are not counted).
  [[nodiscard]] std::size_t live_blocks() const;

 private:
  struct block {
    std::size_t bytes;
    std::size_t alignment;
  };

  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void* do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override;
  bool do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override;
  void* do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override;

  // Callers hold mutex_.
  std::string admit(void* p, std::size_t bytes, std::size_t alignment, const char* operation);
  std::string find_live(void* p, std::size_t bytes, std::size_t alignment, const char* operation) const;
  void record(std::string violation) noexcept;
  void throw_if_violated() const;

  std::pmr::memory_resource* upstream_;
  mutable std::mutex mutex_;
  std::map<const std::byte*, block> live_;
  std::string violation_;
};

}  // namespace pmrheap::testing

#endif  // PMRHEAP_TESTING_VALIDATING_RESOURCE_HPP
