// SPDX-License-Identifier: MIT
// debug_resource's quarantine: freed blocks filled with 0xDD and held back, oldest first, bounded
// by bytes and count, every held byte checked when a block leaves. The steps every deallocate
// runs are inline at the end of debug_state.hpp; the ring's growth and the whole-quarantine walks
// are here.
//
// We cannot stop the backing from reusing memory (Zig never reuses a small slot), so freed blocks
// wait in a FIFO. Their records move there from the table: the oldest is then the next record in
// the ring, not a lookup in a table the size of the quarantine (measured: that lookup and the erase
// behind it were a third of a pair's time), and a double free still finds all three traces (the
// report searches the ring). The checks compare 16 bytes a step (debug_records.hpp), the reports
// are out of line in debug_report.cpp.
#include <new>

#include "debug_state.hpp"

namespace pmrheap::detail {

bool debug::record_ring::grow() noexcept {
  const std::size_t new_capacity = slots_ ? capacity() * 2 : 64;
  std::unique_ptr<record[]> slots(new (std::nothrow) record[new_capacity]);
  if (!slots) return false;
  for (std::size_t i = 0; i < size_; ++i) slots[i] = (*this)[i];
  slots_ = std::move(slots);
  capacity_ = new_capacity;
  mask_ = new_capacity - 1;
  head_ = 0;
  return true;
}

void debug_state::release_all(const char* when, error_list& errors) {
  while (!quarantine_.empty()) release_oldest(when, errors);
  drop_spare();
}

void debug_state::verify_all(const call& c, error_list& errors) {
  for (const record* r : live_by_serial()) check_canary(*r, c, errors);
  for (std::size_t i = 0; i < quarantine_.size(); ++i) check_fill(quarantine_[i], "by verify", errors);
  if (spare_.at != nullptr) check_fill(spare_, "by verify", errors);
}

}  // namespace pmrheap::detail
