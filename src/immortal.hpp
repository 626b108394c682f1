// SPDX-License-Identifier: MIT
// Storage for process-wide resource instances that are constant-initialised and never destroyed,
// so they work during static initialisation and destruction of other objects. Internal.
#ifndef PMRHEAP_SRC_IMMORTAL_HPP
#define PMRHEAP_SRC_IMMORTAL_HPP

namespace pmrheap::detail {

template <class T>
union immortal {
  constexpr immortal() noexcept : value() {}
  ~immortal() {}  // Deliberately never destroys `value`.
  T value;
};

}  // namespace pmrheap::detail

#endif  // PMRHEAP_SRC_IMMORTAL_HPP
