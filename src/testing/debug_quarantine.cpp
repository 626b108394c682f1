// SPDX-License-Identifier: MIT
// debug_resource's quarantine: freed blocks filled with 0xDD and held back, oldest first, bounded
// by bytes and count, every held byte checked when a block leaves.
//
// We cannot stop the backing from reusing memory (Zig never reuses a small slot), so freed blocks
// wait in a FIFO of addresses. Their records stay in the table, flipped to freed, so a double free
// finds all three traces. The checks are a word compare here, the report out of line in
// debug_report.cpp.
#include <new>

#include "debug_state.hpp"

namespace pmrheap::detail {

bool debug::address_ring::grow() noexcept {
  const std::size_t new_capacity = slots_ ? capacity() * 2 : 64;
  std::unique_ptr<address[]> slots(new (std::nothrow) address[new_capacity]);
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

void debug_state::quarantine(record* block, const stack_trace* trace, error_list& errors) {
  if (block->traces != debug::no_traces) traces_[block->traces].freed = trace != nullptr ? *trace : stack_trace{};
  const bool hold = (options_.never_unmap || options_.quarantine_blocks > 0) && quarantine_.push_back(block->at);
  if (!hold) {  // no quarantine, or no room in it: the memory goes back at once
    const record gone = *block;
    records_.erase(block);
    give_back(gone);
    if (options_.retain_metadata) retain(gone);
    traces_.release(gone.traces);
    return;
  }
  block->freed = true;
  if (options_.fill) debug::fill(block->at, block->bytes + options_.canary_bytes, debug_resource::freed_fill);
  ++stats_.quarantined_blocks;
  stats_.quarantined_bytes += block->bytes;
  evict(errors);  // moves records: `block` is not used after this
}

void debug_state::evict(error_list& errors) {
  if (options_.never_unmap) return;
  // The newest free stays even when it alone passes quarantine_bytes.
  while (quarantine_.size() > options_.quarantine_blocks ||
         (stats_.quarantined_bytes > options_.quarantine_bytes && quarantine_.size() > 1))
    release_oldest("when it left the quarantine", errors);
  // The next block to leave was freed long ago: its record and its first bytes are likely out of
  // the cache by now. Ask for them one free ahead.
  if (!quarantine_.empty()) {
    records_.prefetch(quarantine_[0]);
    debug::prefetch(quarantine_[0]);
  }
}

void debug_state::release_oldest(const char* when, error_list& errors) {
  record* const r = records_.find(quarantine_.pop_front());
  PMRHEAP_ASSERT(r != nullptr && r->freed, "every quarantined block has a freed record");
  check_fill(*r, when, errors);
  const record gone = *r;
  records_.erase(r);
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
  for (std::size_t i = 0; i < quarantine_.size(); ++i) check_fill(*records_.find(quarantine_[i]), "by verify", errors);
}

}  // namespace pmrheap::detail
