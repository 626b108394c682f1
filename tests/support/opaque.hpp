// SPDX-License-Identifier: MIT
// Hides a value from the optimiser. clang rejects a literal non-power-of-two alignment passed to
// std::pmr::memory_resource::allocate at compile time (alloc_align attribute); the tests need to
// pass exactly that at run time.
#ifndef PMRHEAP_TESTS_SUPPORT_OPAQUE_HPP
#define PMRHEAP_TESTS_SUPPORT_OPAQUE_HPP

#include <cstddef>

namespace pmrheap::test {

[[nodiscard]] inline std::size_t opaque(std::size_t value) noexcept {
  volatile std::size_t hidden = value;
  return hidden;
}

}  // namespace pmrheap::test

#endif  // PMRHEAP_TESTS_SUPPORT_OPAQUE_HPP
