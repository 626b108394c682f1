// SPDX-License-Identifier: MIT
// debug_resource: the allocate, deallocate and resize paths, the locked entry points and the public
// class. The records are in debug_records.*, the quarantine in debug_quarantine.cpp, the lock in
// debug_lock.*, the reports in debug_report.cpp (debug_state.hpp says why the state is a class of
// its own).
//
// Design notes:
// - Records are kept by address in one open-addressing table on the global heap (32 bytes each,
//   no allocation per block; a free moves the record to the quarantine's ring), not in headers in front
//   of the blocks: an unknown pointer is found by lookup, never dereferenced, and blocks keep the
//   backing's alignment. Traces, when captured, sit in a pool beside it. Retained records
//   (retain_metadata) are in an ordered map: a block handed out drops those inside it, a range query.
// - The canary follows the block (the backing is asked for bytes + canary_bytes): overruns, the
//   common direction, are caught; underruns would need padding before every over-aligned block.
// - Problems are collected under the lock and handed to on_error after it is released, with the
//   state already consistent, so a handler may call back into the resource.
// - No verbose log of its own: a logging_resource above or below does that, one way for the kit.
// - Rejected: poisoning the canary and the quarantine for AddressSanitizer. ASan would then stop
//   at the first stray write, before this resource could report it, and the resource's own
//   detection (what users without sanitizers rely on) could not be tested in ASan builds.
#include "pmrheap/testing/debug_resource.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <new>
#include <utility>

#include "debug_state.hpp"
#include "pmrheap/c_resource.hpp"
#include "pmrheap/detail/align.hpp"

namespace pmrheap {
namespace detail {

// ---- allocate, deallocate, resize ---------------------------------------------------------------

debug_state::debug_state(std::pmr::memory_resource* backing, debug_options options)
    : backing_(backing), native_backing_(dynamic_cast<resource*>(backing_)), options_(std::move(options)) {
  if (options_.stack_trace_frames > stack_trace::max_frames) options_.stack_trace_frames = stack_trace::max_frames;
  const bool plain = options_.stack_trace_frames == 0 && options_.fill && options_.canary_bytes == plain_canary_bytes &&
                     !options_.never_unmap && !options_.retain_metadata && options_.quarantine_blocks > 0;
  path_ = !plain ? path::general : options_.thread_safe ? path::plain_locked : path::plain;
  prefix_ = options_.name.empty() ? "pmrheap::debug_resource: " : "pmrheap::debug_resource \"" + options_.name + "\": ";
}

// The functions defined always-inline in this file are the per-call path (allocate, deallocate),
// used nowhere else: the chain folds into each entry point, one set of register saves per call
// (g++ kept allocate a call of its own, as it has four callers, and the quarantine's steps too:
// 93 instructions of a 657-instruction pair were calls, register saves and reloads). The table's
// find, insert and erase are inline in its header, the quarantine's steps at the end of
// debug_state.hpp. Each is a template on the path (debug_state.hpp), so an entry point holds one
// copy of the chain per path; only the chosen one runs.

template <debug_state::path P>
PMRHEAP_ALWAYS_INLINE void* debug_state::allocate_block(std::size_t bytes, std::size_t alignment,
                                                        const stack_trace* trace) {
  // live_bytes never exceeds the limit, so the subtraction cannot wrap.
  if (bytes > options_.memory_limit - stats_.live_bytes) return nullptr;
  const auto alignment_log2 = static_cast<std::uint8_t>(std::countr_zero(alignment));
  void* p = take_spare(bytes, alignment_log2);  // its size was checked when it was first allocated
  if (p == nullptr) {
    std::size_t total = 0;
    if (!detail::checked_add(bytes, canary_bytes<P>(), total) || !forwarding_resource::forwardable(total, alignment))
      return nullptr;  // no object has that size
    drop_spare<P>();   // before the backing is asked: it may hand the same memory out
    p = native_backing_ != nullptr ? native_backing_->try_allocate(total, alignment)
                                   : pmrheap::try_allocate(*backing_, total, alignment);
    if (p == nullptr) return nullptr;
  }
  const auto at = static_cast<address>(p);
  const bool traced = P == path::general && trace != nullptr;
  const std::uint32_t traces = traced ? traces_.acquire() : debug::no_traces;
  record* const r = traced && traces == debug::no_traces ? nullptr : records_.insert(at);
  if (r == nullptr) {  // no room for the record: the allocation fails
    traces_.release(traces);
    backing_->deallocate(p, bytes + canary_bytes<P>(), alignment);
    return nullptr;
  }
  *r = record{at, bytes, stats_.total_allocations + 1, traces, alignment_log2};
  if (traced) traces_[traces].allocated = *trace;
  // retain_metadata is off on the plain paths, so nothing is ever retained there.
  if (P == path::general && !retained_.empty()) forget_retained(at, bytes + canary_bytes<P>());
  if (fills<P>()) debug::fill(at, bytes, debug_resource::allocated_fill);
  debug::fill(at + bytes, canary_bytes<P>(), debug_resource::canary_fill);
  ++stats_.total_allocations;
  if (records_.size() > stats_.peak_blocks_in_use) stats_.peak_blocks_in_use = records_.size();
  stats_.live_bytes += bytes;
  stats_.total_bytes += bytes;
  if (stats_.live_bytes > stats_.peak_bytes) stats_.peak_bytes = stats_.live_bytes;
  return p;
}

// The arguments come one by one, not as a `call`: the reports take a call by reference, and a call
// built up front was stored to the stack on every deallocate, six stores a pair for the error paths.
template <debug_state::path P>
PMRHEAP_ALWAYS_INLINE void debug_state::deallocate_block(void* p, std::size_t bytes, std::size_t alignment,
                                                         const stack_trace* trace, error_list& errors) {
  const auto this_call = [&] { return call{operation::deallocate, p, bytes, 0, alignment, trace}; };
  record* const r = records_.find(static_cast<address>(p));
  if (r == nullptr) [[unlikely]] {
    if (bytes != 0) report_unknown(this_call(), errors);  // else the empty block: nothing to free
    return;
  }
  // Reported, then freed with the recorded size anyway.
  if (bytes != r->bytes || alignment != r->alignment()) [[unlikely]]
    report_mismatch(this_call(), *r, errors);
  if (!canary_intact<P>(*r)) [[unlikely]]
    report_overrun(*r, this_call(), errors);
  stats_.live_bytes -= r->bytes;
  quarantine<P>(*r, trace, errors);  // copies the record into the ring; the table is not touched
  records_.erase(r);
}

void* debug_state::resize_block(const call& c, error_list& errors) {
  const auto at = static_cast<address>(c.p);
  record* r = records_.find(at);
  if (r == nullptr) {
    report_unknown(c, errors);
    return nullptr;
  }
  if (!report_mismatch(c, *r, errors)) return nullptr;  // the caller's idea of the block is wrong
  check_canary(*r, c, errors);
  const bool grows = c.new_bytes > c.bytes;
  std::size_t new_total = 0;
  void* q = nullptr;
  if ((!grows || c.new_bytes - c.bytes <= options_.memory_limit - stats_.live_bytes) &&
      detail::checked_add(c.new_bytes, options_.canary_bytes, new_total) &&
      forwarding_resource::forwardable(new_total, c.alignment)) {
    const std::size_t old_total = c.bytes + options_.canary_bytes;
    if (c.op == operation::remap) {
      q = native_backing_ != nullptr ? native_backing_->remap(c.p, old_total, new_total, c.alignment)
                                     : pmrheap::remap(*backing_, c.p, old_total, new_total, c.alignment);
    } else if (native_backing_ != nullptr ? native_backing_->resize(c.p, old_total, new_total, c.alignment)
                                          : pmrheap::resize(*backing_, c.p, old_total, new_total, c.alignment)) {
      q = c.p;
    }
  }
  if (q == nullptr) return nullptr;

  const auto moved_to = static_cast<address>(q);
  if (grows && options_.fill) debug::fill(moved_to + c.bytes, c.new_bytes - c.bytes, debug_resource::allocated_fill);
  debug::fill(moved_to + c.new_bytes, options_.canary_bytes, debug_resource::canary_fill);
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

// ---- records kept after the memory went back, leaks ---------------------------------------------

void debug_state::retain(const record& block) noexcept {
  try {
    retained_.insert_or_assign(block.at,
                               debug::retained_record{block.bytes, block.alignment(), block.serial, traces_of(block)});
  } catch (...) {
    // Losing a record only weakens a later report.
  }
}

void debug_state::forget_retained(address p, std::size_t bytes) noexcept {
  // Memory the backing handed out again: old records inside it describe nothing any more.
  retained_.erase(retained_.lower_bound(p), retained_.lower_bound(p + bytes));
}

std::vector<const debug_state::record*> debug_state::live_by_serial() const {
  std::vector<const record*> live;
  live.reserve(records_.size());
  for (const record& r : records_)
    if (r.at != nullptr) live.push_back(&r);
  std::sort(live.begin(), live.end(), [](const record* a, const record* b) { return a->serial < b->serial; });
  return live;
}

// ---- the locked entry points --------------------------------------------------------------------

namespace {
// The lock of every entry point: held for the caller's scope, or not taken at all with
// debug_options::thread_safe off.
class state_guard {
 public:
  state_guard(debug::biased_lock& lock, bool thread_safe) noexcept : lock_(thread_safe ? &lock : nullptr) {
    if (lock_ != nullptr) fast_ = lock_->enter();
  }
  state_guard(const state_guard&) = delete;
  state_guard& operator=(const state_guard&) = delete;
  ~state_guard() {
    if (lock_ != nullptr) lock_->leave(fast_);
  }

 private:
  debug::biased_lock* lock_;
  bool fast_ = false;
};
}  // namespace

template <debug_state::path P>
PMRHEAP_ALWAYS_INLINE void* debug_state::allocate(std::size_t bytes, std::size_t alignment, const stack_trace* trace) {
  const state_guard guard(lock_, locks<P>());
  return allocate_block<P>(bytes, alignment, trace);
}

template <debug_state::path P>
PMRHEAP_ALWAYS_INLINE void debug_state::deallocate(void* p, std::size_t bytes, std::size_t alignment,
                                                   const stack_trace* trace) {
  error_list errors;
  {
    const state_guard guard(lock_, locks<P>());
    deallocate_block<P>(p, bytes, alignment, trace, errors);
  }
  if (!errors.empty()) [[unlikely]]
    dispatch(errors);
}

void* debug_state::resize(const call& c) {
  error_list errors;
  void* q = nullptr;
  {
    const state_guard guard(lock_, options_.thread_safe);
    q = resize_block(c, errors);
  }
  dispatch(errors);
  return q;
}

std::size_t debug_state::blocks_in_use() const {
  const state_guard guard(lock_, options_.thread_safe);
  return records_.size();
}

// The counts that follow from the table and the ring are not kept per call: every successful
// deallocate removes one record, so deallocations are allocations less the live blocks.
debug_statistics debug_state::statistics() const {
  const state_guard guard(lock_, options_.thread_safe);
  debug_statistics s = stats_;
  s.blocks_in_use = records_.size();
  s.total_deallocations = s.total_allocations - s.blocks_in_use;
  s.quarantined_blocks = quarantine_.size();
  return s;
}

std::size_t debug_state::report_leaks() {
  error_list errors;
  {
    const state_guard guard(lock_, options_.thread_safe);
    add_leaks(errors);
  }
  dispatch(errors);
  return errors.size();
}

std::size_t debug_state::verify(const stack_trace& trace) {
  error_list errors;
  {
    const state_guard guard(lock_, options_.thread_safe);
    verify_all({operation::verify, nullptr, 0, 0, 0, &trace}, errors);
  }
  dispatch(errors);
  return errors.size();
}

void debug_state::release_quarantine() {
  error_list errors;
  {
    const state_guard guard(lock_, options_.thread_safe);
    release_all("by release_quarantine", errors);
  }
  dispatch(errors);
}

void debug_state::flush_retained() {
  const state_guard guard(lock_, options_.thread_safe);
  retained_.clear();
}

void debug_state::close() {
  error_list errors;
  {
    const state_guard guard(lock_, options_.thread_safe);
    add_leaks(errors);
    release_all("when the resource was destroyed", errors);
    retained_.clear();
  }
  dispatch(errors);
}

}  // namespace detail

// ---- debug_resource: capture the caller's trace first (skipping the hook's own frame), then lock --
// With stack_trace_frames 0 nothing is captured, built or copied.

debug_resource::debug_resource() : debug_resource(c_resource::instance()) {}

debug_resource::debug_resource(debug_options options) : debug_resource(c_resource::instance(), std::move(options)) {}

debug_resource::debug_resource(std::pmr::memory_resource* backing, debug_options options)
    : forwarding_resource(backing),
      state_(std::make_unique<detail::debug_state>(upstream_resource(), std::move(options))) {}

debug_resource::~debug_resource() { state_->close(); }

const debug_options& debug_resource::options() const noexcept { return state_->options(); }

// Each entry point switches on the path chosen at construction (debug_state.hpp): the plain paths
// capture nothing and test no option.
using path = detail::debug_state::path;

void* debug_resource::do_allocate(std::size_t bytes, std::size_t alignment) {
  if (bytes == 0 || !detail::is_pow2(alignment)) return forward_allocate(bytes, alignment);  // the contract's answers
  void* p = nullptr;
  switch (state_->which_path()) {
    case path::plain:
      p = state_->allocate<path::plain>(bytes, alignment, nullptr);
      break;
    case path::plain_locked:
      p = state_->allocate<path::plain_locked>(bytes, alignment, nullptr);
      break;
    case path::general:
      if (state_->options().stack_trace_frames == 0) {
        p = state_->allocate<path::general>(bytes, alignment, nullptr);
      } else {
        const stack_trace trace = stack_trace::capture(state_->options().stack_trace_frames, 1);
        p = state_->allocate<path::general>(bytes, alignment, &trace);
      }
      break;
  }
  if (p == nullptr) throw_allocation_failure(bytes, alignment);
  return p;
}

void* debug_resource::do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept {
  switch (state_->which_path()) {
    case path::plain:
      return state_->allocate<path::plain>(bytes, alignment, nullptr);
    case path::plain_locked:
      return state_->allocate<path::plain_locked>(bytes, alignment, nullptr);
    case path::general:
      break;
  }
  if (state_->options().stack_trace_frames == 0) return state_->allocate<path::general>(bytes, alignment, nullptr);
  const stack_trace trace = stack_trace::capture(state_->options().stack_trace_frames, 1);
  return state_->allocate<path::general>(bytes, alignment, &trace);
}

void debug_resource::do_deallocate(void* p, std::size_t bytes, std::size_t alignment) {
  switch (state_->which_path()) {
    case path::plain:
      return state_->deallocate<path::plain>(p, bytes, alignment, nullptr);
    case path::plain_locked:
      return state_->deallocate<path::plain_locked>(p, bytes, alignment, nullptr);
    case path::general:
      break;
  }
  if (state_->options().stack_trace_frames == 0) return state_->deallocate<path::general>(p, bytes, alignment, nullptr);
  const stack_trace trace = stack_trace::capture(state_->options().stack_trace_frames, 1);
  state_->deallocate<path::general>(p, bytes, alignment, &trace);
}

bool debug_resource::do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept {
  using op = detail::debug_state::operation;
  if (state_->options().stack_trace_frames == 0)
    return state_->resize({op::resize, p, old_bytes, new_bytes, alignment, nullptr}) != nullptr;
  const stack_trace trace = stack_trace::capture(state_->options().stack_trace_frames, 1);
  return state_->resize({op::resize, p, old_bytes, new_bytes, alignment, &trace}) != nullptr;
}

void* debug_resource::do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept {
  using op = detail::debug_state::operation;
  if (state_->options().stack_trace_frames == 0)
    return state_->resize({op::remap, p, old_bytes, new_bytes, alignment, nullptr});
  const stack_trace trace = stack_trace::capture(state_->options().stack_trace_frames, 1);
  return state_->resize({op::remap, p, old_bytes, new_bytes, alignment, &trace});
}

std::size_t debug_resource::blocks_in_use() const { return state_->blocks_in_use(); }

std::size_t debug_resource::report_leaks() { return state_->report_leaks(); }

std::size_t debug_resource::verify() {
  const stack_trace trace = stack_trace::capture(state_->options().stack_trace_frames, 1);
  return state_->verify(trace);
}

void debug_resource::release_quarantine() { state_->release_quarantine(); }

void debug_resource::flush_retained_metadata() { state_->flush_retained(); }

debug_statistics debug_resource::statistics() const { return state_->statistics(); }

}  // namespace pmrheap
