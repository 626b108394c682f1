// SPDX-License-Identifier: MIT
// default_resource_guard: installs a resource as std::pmr's default for a scope and puts the
// previous one back (BDE's DefaultAllocatorGuard).
#ifndef PMRHEAP_TESTING_DEFAULT_RESOURCE_GUARD_HPP
#define PMRHEAP_TESTING_DEFAULT_RESOURCE_GUARD_HPP

#include <memory_resource>

namespace pmrheap {

/// RAII for std::pmr::set_default_resource: the constructor installs `r`, the destructor restores
/// the resource that was the default before. Meant for tests: swap in a debug_resource or a
/// failing_resource around code that allocates through std::pmr::get_default_resource().
/// - A null `r` installs std::pmr::new_delete_resource(), as set_default_resource does.
/// - Guards nest: destroy them in reverse order (automatic for scoped objects).
/// - The default resource is process-wide: other threads see the swap while the guard lives.
/// **Cost**: two atomic exchanges. **Thread safety**: as std::pmr::set_default_resource.
class default_resource_guard {
 public:
  /// Makes `r` the default resource until this guard is destroyed, which restores the previous one.
  explicit default_resource_guard(std::pmr::memory_resource* r) noexcept
      : previous_(std::pmr::set_default_resource(r)) {}
  default_resource_guard(const default_resource_guard&) = delete;
  default_resource_guard& operator=(const default_resource_guard&) = delete;
  ~default_resource_guard() { std::pmr::set_default_resource(previous_); }

  /// The default resource before this guard, restored when it is destroyed.
  [[nodiscard]] std::pmr::memory_resource* previous() const noexcept { return previous_; }

 private:
  std::pmr::memory_resource* previous_;
};

}  // namespace pmrheap

#endif  // PMRHEAP_TESTING_DEFAULT_RESOURCE_GUARD_HPP
