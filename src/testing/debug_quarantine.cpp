// SPDX-License-Identifier: MIT
// debug_resource's quarantine: freed blocks filled with 0xDD and held back, oldest first, bounded
// by bytes and count, every held byte checked when a block leaves.
//
// We cannot stop the backing from reusing memory (Zig never reuses a small slot), so freed blocks
// wait in a FIFO. Their records move there from the table: the oldest is then the next record in
// the ring, not a lookup in a table the size of the quarantine (measured: that lookup and the erase
// behind it were a third of a pair's time), and a double free still finds all three traces (the
// report searches the ring). The checks are a word compare here, the report out of line in
// debug_report.cpp.
#include <new>

#include "debug_state.hpp"

namespace pmrheap::detail {

bool debug::record_ring::grow() noexcept {
  const std::size_t new_capacity = slots_ ? capacity() * 2 : 64;
  std::unique_ptr<record[]> slots(new (std::nothrow) record[new_capacity]);
  if (!slots) return false;
  for (std::size_t i = 0; i < size_; ++i) slots[i] = (*this)[i];
  slots_ = std::move(slots);
  mask_ = new_capacity - 1;
  head_ = 0;
  return true;
}

void debug_state::check_fill(const record& block, const char* when, error_list& errors) {
  if (options_.fill && !debug::filled_with(block.at, block.bytes + options_.canary_bytes, debug_resource::freed_fill))
      [[unlikely]]
    report_written_after_free(block, when, errors);
}

void debug_state::quarantine(const record& block, const stack_trace* trace, error_list& errors) {
  if (block.traces != debug::no_traces) traces_[block.traces].freed = trace != nullptr ? *trace : stack_trace{};
  const bool hold = (options_.never_unmap || options_.quarantine_blocks > 0) && quarantine_.push_back(block);
  if (!hold) {  // no quarantine, or no room in it: the memory goes back at once
    give_back(block);
    if (options_.retain_metadata) retain(block);
    traces_.release(block.traces);
    return;
  }
  if (options_.fill) debug::fill(block.at, block.bytes + options_.canary_bytes, debug_resource::freed_fill);
  ++stats_.quarantined_blocks;
  stats_.quarantined_bytes += block.bytes;
  evict(errors);
}

void debug_state::evict(error_list& errors) {
  if (options_.never_unmap) return;
  // The newest free stays even when it alone passes quarantine_bytes.
  while (quarantine_.size() > options_.quarantine_blocks ||
         (stats_.quarantined_bytes > options_.quarantine_bytes && quarantine_.size() > 1))
    release_oldest("when it left the quarantine", errors);
  // A block leaving was freed long ago: its bytes are likely out of the cache by now. Ask for them
  // a few frees ahead, its first and its last line (the canary's), which is all of a small block.
  constexpr std::size_t ahead = 4;
  if (options_.fill && quarantine_.size() > ahead) {
    const record& next = quarantine_[ahead];
    debug::prefetch(next.at);
    debug::prefetch(next.at + next.bytes + options_.canary_bytes - 1);
  }
}

void debug_state::release_oldest(const char* when, error_list& errors) {
  const record gone = quarantine_.pop_front();
  check_fill(gone, when, errors);
  give_back(gone);
  --stats_.quarantined_blocks;
  stats_.quarantined_bytes -= gone.bytes;
  if (options_.retain_metadata) retain(gone);
  traces_.release(gone.traces);
}

void debug_state::release_all(const char* when, error_list& errors) {
  while (!quarantine_.empty()) release_oldest(when, errors);
}

void debug_state::verify_all(const call& c, error_list& errors) {
  for (const record* r : live_by_serial()) check_canary(*r, c, errors);
  for (std::size_t i = 0; i < quarantine_.size(); ++i) check_fill(quarantine_[i], "by verify", errors);
}

}  // namespace pmrheap::detail
