// SPDX-License-Identifier: MIT
// debug_resource's records: the slow halves of the table (growth) and of the trace pool.
#include "debug_records.hpp"

#include <bit>
#include <new>
#include <utility>

namespace pmrheap::detail::debug {

bool record_table::grow() noexcept {
  const std::size_t new_capacity = slots_ ? capacity() * 2 : 64;
  std::unique_ptr<record[]> slots(new (std::nothrow) record[new_capacity]());
  if (!slots) return false;
  std::unique_ptr<record[]> old = std::exchange(slots_, std::move(slots));
  const std::size_t old_capacity = old ? mask_ + 1 : 0;
  mask_ = new_capacity - 1;
  max_size_ = new_capacity / 2;
  shift_ = 64U - static_cast<unsigned>(std::countr_zero(new_capacity));
  for (std::size_t i = 0; i < old_capacity; ++i) {
    if (old[i].at == nullptr) continue;
    std::size_t j = home(old[i].at);
    while (slots_[j].at != nullptr) j = (j + 1) & mask_;
    slots_[j] = old[i];
  }
  return true;
}

std::uint32_t trace_pool::acquire_new() noexcept {
  if (traces_.size() >= no_traces) return no_traces;
  try {
    // Room in the free list for every entry first, so that release never allocates.
    if (free_.capacity() <= traces_.size()) free_.reserve(2 * traces_.size() + 64);
    traces_.emplace_back();
  } catch (...) {
    return no_traces;
  }
  return static_cast<std::uint32_t>(traces_.size() - 1);
}

const trace_pair& trace_pool::of(std::uint32_t index) const noexcept {
  static const trace_pair none{};
  return index != no_traces ? traces_[index] : none;
}

}  // namespace pmrheap::detail::debug
