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

#include "pmrheap/forwarding_resource.hpp"

namespace pmrheap::testing {

/// Forwards every call to `upstream` and checks it against the contract (docs/design.md):
/// results are non-null and aligned, no live block overlaps another, deallocate/resize/remap name
/// a live block with its current size and original alignment, remap results are aligned.
/// A block whose end would pass the top of the address space is a violation too (libstdc++ 12's
/// new_delete_resource returns one for allocate(SIZE_MAX, 8): the rounded size wraps to 0).
/// A violation in allocate or deallocate throws conformance_error at once; a violation inside a
/// noexcept operation (try_allocate, resize, remap) is recorded and thrown by the next allocate,
/// deallocate or check(). A violation found while a conformance check runs names that check
/// (running_check()). Thread-safe (one mutex); meant for tests, not for speed.
/// Forwarding, screening and a null upstream as forwarding_resource: null means
/// std::pmr::null_memory_resource(); a size that cannot be an object never reaches the upstream.
/// Unlike other forwarding resources it passes zero-byte requests on (the upstream's answer to them
/// is checked too), except to the null upstream, where they get the contract's empty block.
/// **Adapting it**: not final. A derived class overrides the do_* hooks it wants to observe and
/// calls the base's for the checks and the forwarding (validating_resource::do_allocate(...)), the
/// way libstdc++'s testsuite counts calls on top of a checking resource; tests/testing/conformance.cpp
/// has one that counts allocations.
class PMRHEAP_TESTING_API validating_resource : public forwarding_resource {
 public:
  /// Checks every block `upstream` hands out; `upstream` must outlive this resource. Null is
  /// std::pmr::null_memory_resource() (forwarding_resource).
  explicit validating_resource(std::pmr::memory_resource* upstream) noexcept : forwarding_resource(upstream) {}
  validating_resource(const validating_resource&) = delete;
  validating_resource& operator=(const validating_resource&) = delete;
  ~validating_resource() override;

  /// Throws the first recorded violation, if any.
  void check() const;
  /// Blocks handed out and not yet deallocated (zero-size blocks are not counted).
  [[nodiscard]] std::size_t blocks_in_use() const;

  /// Protected so a derived checker can add its own counting around the checked call.
 protected:
  /// Checks and forwards allocate; a violation throws conformance_error.
  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void* do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept override;
  /// Checks that `p` is a live block of that size and alignment, then forwards it.
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override;
  bool do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override;
  void* do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override;

 private:
  struct block {
    std::size_t bytes;
    std::size_t alignment;
  };

  [[nodiscard]] bool zero_to_upstream(std::size_t bytes, std::size_t alignment) const noexcept;
  // Callers hold mutex_.
  std::string admit(void* p, std::size_t bytes, std::size_t alignment, const char* operation);
  std::string find_live(void* p, std::size_t bytes, std::size_t alignment, const char* operation) const;
  void record(std::string violation) noexcept;
  void throw_if_violated() const;

  mutable std::mutex mutex_;
  std::map<const std::byte*, block> live_;
  std::string violation_;
};

}  // namespace pmrheap::testing

#endif  // PMRHEAP_TESTING_VALIDATING_RESOURCE_HPP
