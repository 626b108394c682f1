// SPDX-License-Identifier: MIT
// debug_resource: the records, the hooks, the quarantine. The checks that read canaries and fills,
// and the wording of every report, are in debug_report.cpp.
//
// Design notes:
// - Records are kept by address in one open-addressing table on the global heap (32 bytes each,
//   no allocation per block; a free flips the record to freed in place), not in headers in front
//   of the blocks: an unknown pointer is found by lookup, never dereferenced, and blocks keep the
//   backing's alignment. Traces, when captured, sit in a pool beside it. Retained records
//   (retain_metadata) are in an ordered map: a block handed out drops those inside it, a range query.
// - The canary follows the block (the backing is asked for bytes + canary_bytes): overruns, the
//   common direction, are caught; underruns would need padding before every over-aligned block.
// - We cannot stop the backing from reusing memory (Zig never reuses a small slot), so freed blocks
//   wait in a FIFO quarantine (a ring of addresses) bounded by bytes and count, filled with 0xDD;
//   every held byte is checked when the block leaves. The checks are a word compare here, the
//   report out of line in debug_report.cpp.
// - Problems are collected under the lock and handed to on_error after it is released, with the
//   state already consistent, so a handler may call back into the resource.
// - Rejected: poisoning the canary and the quarantine for AddressSanitizer. ASan would then stop
//   at the first stray write, before this resource could report it, and the resource's own
//   detection (what users without sanitizers rely on) could not be tested in ASan builds.
#include "pmrheap/testing/debug_resource.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <new>
#include <utility>

namespace pmrheap {
namespace {

using address = detail::debug_state::address;

// Whether [p, p + n) holds only `value`, eight bytes at a time: every deallocate checks a canary
// and every block leaving the quarantine its whole fill.
bool filled_with(address p, std::size_t n, unsigned char value) noexcept {
  const std::uint64_t pattern = std::uint64_t{0x0101010101010101} * value;
  const auto differs = [&](std::size_t i) {
    std::uint64_t word = 0;
    std::memcpy(&word, p + i, sizeof word);
    return word ^ pattern;
  };
  if (n < sizeof pattern) {
    bool same = true;
    for (std::size_t i = 0; i < n; ++i) same &= static_cast<unsigned char>(p[i]) == value;
    return same;
  }
  // The last word overlaps the one before it when n is not a multiple of eight: no tail loop.
  std::uint64_t differ = differs(n - sizeof pattern);
  for (std::size_t i = 0; i + sizeof pattern < n; i += sizeof pattern) differ |= differs(i);
  return differ == 0;
}

// A hint that `p` is read soon; nothing where the compiler has no way to say it.
void prefetch(const void* p) noexcept {
#if defined(__GNUC__)
  __builtin_prefetch(p);
#else
  static_cast<void>(p);
#endif
}

}  // namespace

// ---- the record table ---------------------------------------------------------------------------

namespace detail {

std::size_t debug_state::record_table::home(address p) const noexcept {
  // Fibonacci hashing: blocks are aligned, so the low bits of an address say little; the top bits
  // of the product mix all of them.
  return static_cast<std::size_t>((reinterpret_cast<std::uintptr_t>(p) * std::uint64_t{0x9e3779b97f4a7c15}) >> shift_);
}

debug_state::record* debug_state::record_table::find(address p) const noexcept {
  // Null marks an empty slot. std::pmr declares deallocate's pointer non-null, so a null here is
  // already outside the contract; it must still never match an empty slot.
  if (size_ == 0 || p == nullptr) return nullptr;
  for (std::size_t i = home(p);; i = (i + 1) & mask_) {
    record& r = slots_[i];
    if (r.at == p) return &r;
    if (r.at == nullptr) return nullptr;
  }
}

void debug_state::record_table::prefetch(address p) const noexcept {
  if (slots_) pmrheap::prefetch(&slots_[home(p)]);
}

bool debug_state::record_table::grow() noexcept {
  const std::size_t capacity = slots_ ? (mask_ + 1) * 2 : 64;
  std::unique_ptr<record[]> slots(new (std::nothrow) record[capacity]());
  if (!slots) return false;
  std::unique_ptr<record[]> old = std::exchange(slots_, std::move(slots));
  const std::size_t old_capacity = old ? mask_ + 1 : 0;
  mask_ = capacity - 1;
  shift_ = 64U - static_cast<unsigned>(std::countr_zero(capacity));
  for (std::size_t i = 0; i < old_capacity; ++i) {
    if (old[i].at == nullptr) continue;
    std::size_t j = home(old[i].at);
    while (slots_[j].at != nullptr) j = (j + 1) & mask_;
    slots_[j] = old[i];
  }
  return true;
}

inline debug_state::record* debug_state::record_table::insert(address p) noexcept {
  if ((size_ + 1) * 2 > (slots_ ? mask_ + 1 : 0) && !grow()) [[unlikely]]
    return nullptr;
  std::size_t i = home(p);
  while (slots_[i].at != nullptr) {
    PMRHEAP_ASSERT(slots_[i].at != p, "a block the backing hands out is not one this resource still holds");
    i = (i + 1) & mask_;
  }
  ++size_;
  slots_[i].at = p;
  return &slots_[i];
}

inline void debug_state::record_table::erase(record* r) noexcept {
  // Backward shift: a later record of the run moves into the hole when the hole lies on its probe
  // path (from its home to its slot). Distances are taken modulo the capacity, so a run that wraps
  // past the end of the table needs no case of its own.
  auto hole = static_cast<std::size_t>(r - slots_.get());
  for (std::size_t i = (hole + 1) & mask_; slots_[i].at != nullptr; i = (i + 1) & mask_) {
    if (((i - home(slots_[i].at)) & mask_) < ((i - hole) & mask_)) continue;
    slots_[hole] = slots_[i];
    hole = i;
  }
  slots_[hole].at = nullptr;
  --size_;
}

// ---- the quarantine ring ------------------------------------------------------------------------

bool debug_state::address_ring::grow() noexcept {
  const std::size_t capacity = slots_ ? (mask_ + 1) * 2 : 64;
  std::unique_ptr<address[]> slots(new (std::nothrow) address[capacity]);
  if (!slots) return false;
  for (std::size_t i = 0; i < size_; ++i) slots[i] = (*this)[i];
  slots_ = std::move(slots);
  mask_ = capacity - 1;
  head_ = 0;
  return true;
}

bool debug_state::address_ring::push_back(address p) noexcept {
  if (size_ == (slots_ ? mask_ + 1 : 0) && !grow()) [[unlikely]]
    return false;
  slots_[(head_ + size_) & mask_] = p;
  ++size_;
  return true;
}

debug_state::address debug_state::address_ring::pop_front() noexcept {
  const address p = slots_[head_];
  head_ = (head_ + 1) & mask_;
  --size_;
  return p;
}

// ---- allocate, deallocate, resize ---------------------------------------------------------------

debug_state::debug_state(std::pmr::memory_resource* backing, debug_options options)
    : backing_(backing != nullptr ? backing : page_resource::instance()),
      native_backing_(dynamic_cast<resource*>(backing_)),
      options_(std::move(options)) {
  if (options_.stack_trace_frames > stack_trace::max_frames) options_.stack_trace_frames = stack_trace::max_frames;
}

// The functions defined `inline` in this file are the per-call path (allocate, deallocate, the
// quarantine, the table's insert and erase), used nowhere else: inline lets the compiler fold the
// chain into the two entry points, which measured 3-5 ns of the 25-40 a pair costs.

inline void* debug_state::allocate_block(std::size_t bytes, std::size_t alignment, const stack_trace* trace) {
  std::size_t total = 0;
  const char* refused = nullptr;
  void* p = nullptr;
  // live_bytes never exceeds the limit, so the subtraction cannot wrap.
  if (bytes > options_.memory_limit - stats_.live_bytes) {
    refused = "memory limit";
  } else if (!detail::checked_add(bytes, options_.canary_bytes, total)) {
    refused = "size overflows";
  } else if ((p = native_backing_ != nullptr ? native_backing_->try_allocate(total, alignment)
                                             : pmrheap::try_allocate(*backing_, total, alignment)) == nullptr) {
    refused = "backing refused";
  }
  if (refused != nullptr) {
    if (options_.verbose_log) log_allocate(bytes, alignment, nullptr, refused);
    return nullptr;
  }
  const auto at = static_cast<address>(p);
  const std::uint32_t traces = trace != nullptr ? acquire_traces() : no_traces;
  record* const r = trace != nullptr && traces == no_traces ? nullptr : records_.insert(at);
  if (r == nullptr) {  // no room for the record: the allocation fails
    release_traces(traces);
    backing_->deallocate(p, total, alignment);
    return nullptr;
  }
  const auto alignment_log2 = static_cast<std::uint8_t>(std::countr_zero(alignment));
  *r = record{at, bytes, stats_.total_allocations + 1, traces, alignment_log2, false};
  if (traces != no_traces) traces_[traces].allocated = *trace;
  if (!retained_.empty()) forget_retained(at, total);
  if (options_.fill) fill(at, bytes, debug_resource::allocated_fill);
  fill(at + bytes, options_.canary_bytes, debug_resource::canary_fill);
  ++stats_.total_allocations;
  ++stats_.live_allocations;
  stats_.live_bytes += bytes;
  stats_.total_bytes += bytes;
  if (stats_.live_bytes > stats_.peak_bytes) stats_.peak_bytes = stats_.live_bytes;
  if (options_.verbose_log) log_allocate(bytes, alignment, p, nullptr);
  return p;
}

inline void debug_state::deallocate_block(const call& c, error_list& errors) {
  record* const r = records_.find(static_cast<address>(c.p));
  if (r == nullptr || r->freed) [[unlikely]] {
    if (c.bytes != 0) report_unknown(c, errors);  // else the empty block: nothing to free
    return;
  }
  // Reported, then freed with the recorded size anyway.
  if (c.bytes != r->bytes || c.alignment != r->alignment()) [[unlikely]]
    report_mismatch(c, *r, errors);
  check_canary(*r, c, errors);
  --stats_.live_allocations;
  stats_.live_bytes -= r->bytes;
  ++stats_.total_deallocations;
  if (options_.verbose_log) log_deallocate(*r);
  quarantine(r, c.trace, errors);
}

void* debug_state::resize_block(const call& c, error_list& errors) {
  const auto at = static_cast<address>(c.p);
  record* r = records_.find(at);
  if (r == nullptr || r->freed) {
    report_unknown(c, errors);
    return nullptr;
  }
  if (!report_mismatch(c, *r, errors)) return nullptr;  // the caller's idea of the block is wrong
  check_canary(*r, c, errors);
  const bool grows = c.new_bytes > c.bytes;
  std::size_t new_total = 0;
  void* q = nullptr;
  if ((!grows || c.new_bytes - c.bytes <= options_.memory_limit - stats_.live_bytes) &&
      detail::checked_add(c.new_bytes, options_.canary_bytes, new_total)) {
    const std::size_t old_total = c.bytes + options_.canary_bytes;
    if (c.op == operation::remap) {
      q = native_backing_ != nullptr ? native_backing_->remap(c.p, old_total, new_total, c.alignment)
                                     : pmrheap::remap(*backing_, c.p, old_total, new_total, c.alignment);
    } else if (native_backing_ != nullptr ? native_backing_->resize(c.p, old_total, new_total, c.alignment)
                                          : pmrheap::resize(*backing_, c.p, old_total, new_total, c.alignment)) {
      q = c.p;
    }
  }
  if (options_.verbose_log) log_resize(c, q);
  if (q == nullptr) return nullptr;

  const auto moved_to = static_cast<address>(q);
  if (grows && options_.fill) fill(moved_to + c.bytes, c.new_bytes - c.bytes, debug_resource::allocated_fill);
  fill(moved_to + c.new_bytes, options_.canary_bytes, debug_resource::canary_fill);
  if (grows) {
    stats_.live_bytes += c.new_bytes - c.bytes;
    stats_.total_bytes += c.new_bytes - c.bytes;
    if (stats_.live_bytes > stats_.peak_bytes) stats_.peak_bytes = stats_.live_bytes;
  } else {
    stats_.live_bytes -= c.bytes - c.new_bytes;
  }
  r->bytes = c.new_bytes;
  if (moved_to != at) {
    // Re-keyed: an erase then an insert keeps the count, so the table does not grow or fail.
    record moved = *r;
    records_.erase(r);
    r = records_.insert(moved_to);
    PMRHEAP_ASSERT(r != nullptr, "re-inserting after an erase never grows the table");
    moved.at = moved_to;
    *r = moved;
    if (!retained_.empty()) forget_retained(moved_to, new_total);
  }
  return q;
}

// ---- checks, quarantine and records -------------------------------------------------------------

void debug_state::check_canary(const record& block, const call& c, error_list& errors) {
  if (!filled_with(block.at + block.bytes, options_.canary_bytes, debug_resource::canary_fill)) [[unlikely]]
    report_overrun(block, c, errors);
}

void debug_state::check_fill(const record& block, const char* when, error_list& errors) {
  if (options_.fill && !filled_with(block.at, block.bytes + options_.canary_bytes, debug_resource::freed_fill))
      [[unlikely]]
    report_written_after_free(block, when, errors);
}

inline void debug_state::quarantine(record* block, const stack_trace* trace, error_list& errors) {
  if (block->traces != no_traces) traces_[block->traces].freed = trace != nullptr ? *trace : stack_trace{};
  const bool hold = (options_.never_unmap || options_.quarantine_blocks > 0) && quarantine_.push_back(block->at);
  if (!hold) {  // no quarantine, or no room in it: the memory goes back at once
    const record gone = *block;
    records_.erase(block);
    give_back(gone);
    if (options_.retain_metadata) retain(gone);
    release_traces(gone.traces);
    return;
  }
  block->freed = true;
  if (options_.fill) fill(block->at, block->bytes + options_.canary_bytes, debug_resource::freed_fill);
  ++stats_.quarantined_blocks;
  stats_.quarantined_bytes += block->bytes;
  evict(errors);  // moves records: `block` is not used after this
}

inline void debug_state::evict(error_list& errors) {
  if (options_.never_unmap) return;
  // The newest free stays even when it alone passes quarantine_bytes.
  while (quarantine_.size() > options_.quarantine_blocks ||
         (stats_.quarantined_bytes > options_.quarantine_bytes && quarantine_.size() > 1))
    release_oldest("when it left the quarantine", errors);
  // The next block to leave was freed long ago: its record and its first bytes are likely out of
  // the cache by now. Ask for them one free ahead.
  if (!quarantine_.empty()) {
    records_.prefetch(quarantine_[0]);
    prefetch(quarantine_[0]);
  }
}

inline void debug_state::release_oldest(const char* when, error_list& errors) {
  record* const r = records_.find(quarantine_.pop_front());
  PMRHEAP_ASSERT(r != nullptr && r->freed, "every quarantined block has a freed record");
  check_fill(*r, when, errors);
  const record gone = *r;
  records_.erase(r);
  give_back(gone);
  --stats_.quarantined_blocks;
  stats_.quarantined_bytes -= gone.bytes;
  if (options_.retain_metadata) retain(gone);
  release_traces(gone.traces);
}

void debug_state::retain(const record& block) noexcept {
  try {
    retained_.insert_or_assign(block.at,
                               retained_record{block.bytes, block.alignment(), block.serial, traces_of(block)});
  } catch (...) {
    // Losing a record only weakens a later report.
  }
}

void debug_state::forget_retained(address p, std::size_t bytes) noexcept {
  // Memory the backing handed out again: old records inside it describe nothing any more.
  retained_.erase(retained_.lower_bound(p), retained_.lower_bound(p + bytes));
}

std::uint32_t debug_state::acquire_traces() noexcept {
  if (!free_traces_.empty()) {
    const std::uint32_t index = free_traces_.back();
    free_traces_.pop_back();
    return index;
  }
  if (traces_.size() >= no_traces) return no_traces;
  try {
    // Room in the free list for every entry first, so that release_traces never allocates.
    if (free_traces_.capacity() <= traces_.size()) free_traces_.reserve(2 * traces_.size() + 64);
    traces_.emplace_back();
  } catch (...) {
    return no_traces;
  }
  return static_cast<std::uint32_t>(traces_.size() - 1);
}

void debug_state::release_traces(std::uint32_t index) noexcept {
  if (index != no_traces) free_traces_.push_back(index);  // within the reserved capacity
}

const debug_state::trace_pair& debug_state::traces_of(const record& block) const noexcept {
  static const trace_pair none{};
  return block.traces != no_traces ? traces_[block.traces] : none;
}

std::vector<const debug_state::record*> debug_state::live_by_serial() const {
  std::vector<const record*> live;
  live.reserve(stats_.live_allocations);
  for (const record& r : records_)
    if (r.at != nullptr && !r.freed) live.push_back(&r);
  std::sort(live.begin(), live.end(), [](const record* a, const record* b) { return a->serial < b->serial; });
  return live;
}

void debug_state::fill(address p, std::size_t bytes, unsigned char value) noexcept {
  // The resource owns the memory of its blocks; the const is only the table's key type.
  auto* const out = const_cast<std::byte*>(p);
  if (bytes < 8 || bytes > 64) {
    std::memset(out, value, bytes);
    return;
  }
  // Canaries and small blocks: two overlapping stores of fixed size, cheaper than the call (and
  // than a loop, which the compiler may turn into `rep stos`).
  unsigned char pattern[32];
  std::memset(pattern, value, sizeof pattern);
  if (bytes <= 16) {
    std::memcpy(out, pattern, 8);
    std::memcpy(out + bytes - 8, pattern, 8);
  } else if (bytes <= 32) {
    std::memcpy(out, pattern, 16);
    std::memcpy(out + bytes - 16, pattern, 16);
  } else {
    std::memcpy(out, pattern, 32);
    std::memcpy(out + bytes - 32, pattern, 32);
  }
}

void debug_state::give_back(const record& block) noexcept {
  backing_->deallocate(const_cast<std::byte*>(block.at), block.bytes + options_.canary_bytes, block.alignment());
}

// ---- the locked entry points --------------------------------------------------------------------

namespace {
// The lock of every entry point: held for the caller's scope, or not taken at all with
// debug_options::thread_safe off.
std::unique_lock<std::mutex> lock_state(std::mutex& m, bool thread_safe) {
  return thread_safe ? std::unique_lock<std::mutex>(m) : std::unique_lock<std::mutex>(m, std::defer_lock);
}
}  // namespace

inline void* debug_state::allocate(std::size_t bytes, std::size_t alignment, const stack_trace* trace) {
  const auto lock = lock_state(mutex_, options_.thread_safe);
  return allocate_block(bytes, alignment, trace);
}

inline void debug_state::deallocate(const call& c) {
  error_list errors;
  {
    const auto lock = lock_state(mutex_, options_.thread_safe);
    deallocate_block(c, errors);
  }
  if (!errors.empty()) [[unlikely]]
    dispatch(errors);
}

void* debug_state::resize(const call& c) {
  error_list errors;
  void* q = nullptr;
  {
    const auto lock = lock_state(mutex_, options_.thread_safe);
    q = resize_block(c, errors);
  }
  dispatch(errors);
  return q;
}

std::size_t debug_state::live_blocks() const {
  const auto lock = lock_state(mutex_, options_.thread_safe);
  return stats_.live_allocations;
}

debug_statistics debug_state::statistics() const {
  const auto lock = lock_state(mutex_, options_.thread_safe);
  return stats_;
}

std::size_t debug_state::report_leaks() {
  error_list errors;
  {
    const auto lock = lock_state(mutex_, options_.thread_safe);
    add_leaks(errors);
  }
  dispatch(errors);
  return errors.size();
}

std::size_t debug_state::verify(const stack_trace& trace) {
  error_list errors;
  {
    const auto lock = lock_state(mutex_, options_.thread_safe);
    const call c{operation::verify, nullptr, 0, 0, 0, &trace};
    for (const record* r : live_by_serial()) check_canary(*r, c, errors);
    for (std::size_t i = 0; i < quarantine_.size(); ++i)
      check_fill(*records_.find(quarantine_[i]), "by verify", errors);
  }
  dispatch(errors);
  return errors.size();
}

void debug_state::release_quarantine() {
  error_list errors;
  {
    const auto lock = lock_state(mutex_, options_.thread_safe);
    release_all("by release_quarantine", errors);
  }
  dispatch(errors);
}

void debug_state::flush_retained() {
  const auto lock = lock_state(mutex_, options_.thread_safe);
  retained_.clear();
}

void debug_state::close() {
  error_list errors;
  {
    const auto lock = lock_state(mutex_, options_.thread_safe);
    add_leaks(errors);
    release_all("when the resource was destroyed", errors);
    retained_.clear();
  }
  dispatch(errors);
}

void debug_state::release_all(const char* when, error_list& errors) {
  while (!quarantine_.empty()) release_oldest(when, errors);
}

}  // namespace detail

// ---- debug_resource: capture the caller's trace first (skipping the hook's own frame), then lock --
// With stack_trace_frames 0 nothing is captured, built or copied.

debug_resource::debug_resource(std::pmr::memory_resource* backing, debug_options options)
    : state_(backing, std::move(options)) {}

debug_resource::~debug_resource() { state_.close(); }

void* debug_resource::do_allocate(std::size_t bytes, std::size_t alignment) {
  if (bytes == 0 || !detail::is_pow2(alignment)) return resource::do_allocate(bytes, alignment);
  void* p = nullptr;
  if (options().stack_trace_frames == 0) {
    p = state_.allocate(bytes, alignment, nullptr);
  } else {
    const stack_trace trace = stack_trace::capture(options().stack_trace_frames, 1);
    p = state_.allocate(bytes, alignment, &trace);
  }
  if (p == nullptr) throw_allocation_failure(bytes, alignment);
  return p;
}

void* debug_resource::do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept {
  if (options().stack_trace_frames == 0) return state_.allocate(bytes, alignment, nullptr);
  const stack_trace trace = stack_trace::capture(options().stack_trace_frames, 1);
  return state_.allocate(bytes, alignment, &trace);
}

void debug_resource::do_deallocate(void* p, std::size_t bytes, std::size_t alignment) {
  using op = detail::debug_state::operation;
  if (options().stack_trace_frames == 0) return state_.deallocate({op::deallocate, p, bytes, 0, alignment, nullptr});
  const stack_trace trace = stack_trace::capture(options().stack_trace_frames, 1);
  state_.deallocate({op::deallocate, p, bytes, 0, alignment, &trace});
}

bool debug_resource::do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept {
  using op = detail::debug_state::operation;
  if (options().stack_trace_frames == 0)
    return state_.resize({op::resize, p, old_bytes, new_bytes, alignment, nullptr}) != nullptr;
  const stack_trace trace = stack_trace::capture(options().stack_trace_frames, 1);
  return state_.resize({op::resize, p, old_bytes, new_bytes, alignment, &trace}) != nullptr;
}

void* debug_resource::do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept {
  using op = detail::debug_state::operation;
  if (options().stack_trace_frames == 0) return state_.resize({op::remap, p, old_bytes, new_bytes, alignment, nullptr});
  const stack_trace trace = stack_trace::capture(options().stack_trace_frames, 1);
  return state_.resize({op::remap, p, old_bytes, new_bytes, alignment, &trace});
}

std::size_t debug_resource::leak_count() const { return state_.live_blocks(); }

std::size_t debug_resource::report_leaks() { return state_.report_leaks(); }

std::size_t debug_resource::verify() {
  const stack_trace trace = stack_trace::capture(options().stack_trace_frames, 1);
  return state_.verify(trace);
}

void debug_resource::release_quarantine() { state_.release_quarantine(); }

void debug_resource::flush_retained_metadata() { state_.flush_retained(); }

debug_statistics debug_resource::statistics() const { return state_.statistics(); }

}  // namespace pmrheap
