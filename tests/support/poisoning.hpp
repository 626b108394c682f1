// SPDX-License-Identifier: MIT
// Asserting AddressSanitizer poisoning in tests that also run without ASan.
#ifndef PMRHEAP_TESTS_SUPPORT_POISONING_HPP
#define PMRHEAP_TESTS_SUPPORT_POISONING_HPP

#include "pmrheap/detail/sanitizer.hpp"

namespace pmrheap::test {

/// True when ASan agrees that the byte at `p` is poisoned or not, as `expected` says. Without ASan
/// the poisoning hooks compile to nothing, so it is true exactly when no byte reads as poisoned.
[[nodiscard]] inline bool poisoned_is(const void* p, bool expected) noexcept {
  return pmrheap::detail::is_poisoned(p) == (PMRHEAP_HAS_ASAN && expected);
}

}  // namespace pmrheap::test

#endif  // PMRHEAP_TESTS_SUPPORT_POISONING_HPP
