// SPDX-License-Identifier: MIT
// debug_resource's state (private to pmrheap_testing): the lock, the records, the quarantine and
// the statistics. The public class holds it by pointer, so its header pulls in no container.
// Split by seam: the allocate/deallocate/resize paths and the locked entry points in
// debug_resource.cpp, the quarantine in debug_quarantine.cpp, the records in debug_records.*,
// the lock in debug_lock.*, the wording of every report in debug_report.cpp.
//
// A class of its own rather than members of debug_resource because it is not exported: the library
// is built with -fPIC, where calls between members of an exported class cannot be inlined (they
// could be interposed), and every allocate and deallocate is a chain of small steps. The public
// members take the lock; problems found are handed to on_error (or printed) after it is released.
#ifndef PMRHEAP_SRC_TESTING_DEBUG_STATE_HPP
#define PMRHEAP_SRC_TESTING_DEBUG_STATE_HPP

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <memory_resource>
#include <string>
#include <utility>
#include <vector>

#include "debug_lock.hpp"
#include "debug_records.hpp"
#include "pmrheap/testing/debug_resource.hpp"

namespace pmrheap::detail {

namespace debug {

// The quarantine: the records of freed blocks, oldest first, in a growable ring. A block's record
// moves here from the table when it is freed, so the table holds live blocks only and the oldest
// record is read in order, never looked up; finding a freed block by address is a linear search,
// done only to word a report.
class record_ring {
 public:
  [[nodiscard]] bool push_back(const record& r) noexcept {  // false when growth fails
    if (size_ == capacity() && !grow()) [[unlikely]]
      return false;
    slots_[(head_ + size_) & mask_] = r;
    ++size_;
    return true;
  }
  record pop_front() noexcept {
    const record r = slots_[head_];
    head_ = (head_ + 1) & mask_;
    --size_;
    return r;
  }
  [[nodiscard]] const record& operator[](std::size_t i) const noexcept { return slots_[(head_ + i) & mask_]; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  // The record of the block at `p`, or nullptr. Addresses are unique here: held memory is not
  // handed out again.
  [[nodiscard]] const record* find(address p) const noexcept {
    for (std::size_t i = 0; i < size_; ++i)
      if ((*this)[i].at == p) return &(*this)[i];
    return nullptr;
  }

 private:
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] bool grow() noexcept;
  std::unique_ptr<record[]> slots_;
  std::size_t capacity_ = 0;  // a power of two, or 0 before the first push
  std::size_t mask_ = 0;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

// Problems found under the lock, handed to on_error after it is released. Nearly always empty, so
// the list is made on the first problem: a call without one pays a store and a test (a std::vector
// here was nine instructions of every deallocate).
class error_list {
 public:
  void push_back(debug_error e) {
    if (!list_) list_ = std::make_unique<std::vector<debug_error>>();
    list_->push_back(std::move(e));
  }
  [[nodiscard]] bool empty() const noexcept { return list_ == nullptr; }
  [[nodiscard]] std::size_t size() const noexcept { return list_ ? list_->size() : 0; }
  [[nodiscard]] const debug_error* begin() const noexcept { return list_ ? list_->data() : nullptr; }
  [[nodiscard]] const debug_error* end() const noexcept { return list_ ? list_->data() + list_->size() : nullptr; }

 private:
  std::unique_ptr<std::vector<debug_error>> list_;
};

}  // namespace debug

class debug_state {
 public:
  using address = debug::address;
  using record = debug::record;
  using trace_pair = debug::trace_pair;
  using error_list = debug::error_list;

  // What a report says about the call that found a problem.
  enum class operation { deallocate, resize, remap, verify };
  struct call {
    operation op;
    void* p;
    std::size_t bytes;
    std::size_t new_bytes;  // resize and remap only
    std::size_t alignment;
    const stack_trace* trace;  // nullptr when stack_trace_frames is 0
  };

  // The per-call code is compiled once per path, chosen at construction from the options (which
  // never change). The plain paths serve traces off with the checks at their defaults (fill,
  // 16-byte canary, a quarantine, no never_unmap or retain_metadata; any quarantine bounds,
  // memory_limit, name, on_error), the usual choice for a fast checked build: there every test of
  // an option is a constant and folds away, and the lock's test with it. A pair went from 355 to
  // 296 instructions without the lock and from 395 to 341 with it. general takes any options.
  // The price is code: each entry point holds a copy per path (do_deallocate is ~10 KB with g++ 12
  // -O2); only the chosen path's copy runs, so the instruction cache holds one.
  enum class path : std::uint8_t { general, plain, plain_locked };
  static constexpr std::size_t plain_canary_bytes = 16;  // debug_options' default

  debug_state(std::pmr::memory_resource* backing, debug_options options);
  debug_state(const debug_state&) = delete;
  debug_state& operator=(const debug_state&) = delete;

  [[nodiscard]] const debug_options& options() const noexcept { return options_; }
  [[nodiscard]] path which_path() const noexcept { return path_; }

  // trace: nullptr when stack_trace_frames is 0 (always, on the plain paths).
  template <path P>
  void* allocate(std::size_t bytes, std::size_t alignment, const stack_trace* trace);  // nullptr: refused
  template <path P>
  void deallocate(void* p, std::size_t bytes, std::size_t alignment, const stack_trace* trace);
  void* resize(const call& c);  // resize and remap; nullptr: refused
  [[nodiscard]] std::size_t blocks_in_use() const;
  [[nodiscard]] debug_statistics statistics() const;
  std::size_t report_leaks();
  std::size_t verify(const stack_trace& trace);
  void release_quarantine();
  void flush_retained();
  // At destruction: reports leaks, checks and frees the quarantine.
  void close();

 private:
  // The options as path P sees them: constants on the plain paths.
  template <path P>
  [[nodiscard]] bool locks() const noexcept {
    return P == path::plain_locked || (P == path::general && options_.thread_safe);
  }
  template <path P>
  [[nodiscard]] bool fills() const noexcept {
    return P != path::general || options_.fill;
  }
  template <path P>
  [[nodiscard]] std::size_t canary_bytes() const noexcept {
    return P != path::general ? plain_canary_bytes : options_.canary_bytes;
  }
  template <path P>
  [[nodiscard]] bool never_unmaps() const noexcept {
    return P == path::general && options_.never_unmap;
  }
  template <path P>
  [[nodiscard]] bool retains_metadata() const noexcept {
    return P == path::general && options_.retain_metadata;
  }

  // Callers hold lock_.
  template <path P>
  void* allocate_block(std::size_t bytes, std::size_t alignment, const stack_trace* trace);
  template <path P>
  void deallocate_block(void* p, std::size_t bytes, std::size_t alignment, const stack_trace* trace,
                        error_list& errors);
  void* resize_block(const call& c, error_list& errors);
  void add_leaks(error_list& errors);
  void retain(const record& block) noexcept;
  void forget_retained(address p, std::size_t bytes) noexcept;
  [[nodiscard]] const trace_pair& traces_of(const record& block) const noexcept { return traces_.of(block.traces); }
  [[nodiscard]] std::vector<const record*> live_by_serial() const;
  template <path P = path::general>
  void give_back(const record& block) noexcept;

  // The quarantine's per-call steps, inline below: every deallocate runs them.
  template <path P = path::general>
  [[nodiscard]] bool canary_intact(const record& block) const noexcept;
  void check_canary(const record& block, const call& c, error_list& errors);
  template <path P = path::general>
  void check_fill(const record& block, const char* when, error_list& errors);
  template <path P>
  void quarantine(const record& block, const stack_trace* trace, error_list& errors);
  template <path P>
  void evict(error_list& errors);
  void release_oldest(const char* when, error_list& errors);
  template <path P = path::general>
  [[nodiscard]] record leave_quarantine(const char* when, error_list& errors);
  template <path P>
  void keep_spare(const record& block) noexcept;
  [[nodiscard]] void* take_spare(std::size_t bytes, std::uint8_t alignment_log2) noexcept;
  template <path P = path::general>
  void drop_spare() noexcept;
  // debug_quarantine.cpp
  void release_all(const char* when, error_list& errors);
  void verify_all(const call& c, error_list& errors);

  // debug_report.cpp
  void report_unknown(const call& c, error_list& errors);
  void report_freed(const call& c, std::size_t bytes, std::size_t alignment, std::uint64_t serial,
                    const trace_pair& traces, error_list& errors);
  bool report_mismatch(const call& c, const record& block, error_list& errors);
  void report_overrun(const record& block, const call& c, error_list& errors);
  void report_written_after_free(const record& block, const char* when, error_list& errors);
  void add_error(error_list& errors, debug_error_kind kind, const void* p, std::string message);
  static const char* name(operation op) noexcept;
  static const char* done(operation op) noexcept;
  static std::string describe_call(const call& c);
  // Without the lock: hands each error to on_error, or prints them all and aborts.
  void dispatch(const error_list& errors) const;

  mutable debug::biased_lock lock_;
  std::pmr::memory_resource* backing_;
  resource* native_backing_;  // backing_ as a pmrheap::resource, or null: found once, not per call
  debug_options options_;
  path path_;
  std::string prefix_;                                  // "pmrheap::debug_resource: ", with the name if any
  debug::record_table records_;                         // live blocks
  debug::record_ring quarantine_;                       // freed blocks held back, oldest first
  debug::trace_pool traces_;                            // the records' traces (stack_trace_frames > 0)
  std::map<address, debug::retained_record> retained_;  // ordered: a block handed out drops those inside it
  // blocks_in_use, total_deallocations and quarantined_blocks are not kept here: statistics()
  // takes them from the table and the ring.
  debug_statistics stats_;
  // The block that last left the quarantine, checked, its memory not yet given back (at is null
  // when there is none): the next allocation of its size and alignment takes it, any other
  // allocation gives it back first. A steady allocate/free loop then calls the backing not at all
  // (it would hand back the block just freed: malloc's caches are last in, first out): 560 -> 398
  // instructions a pair. Only small blocks are kept, so no large block outstays the quarantine.
  record spare_{};
  static constexpr std::size_t spare_max_bytes = 1024;
};

// ---- the quarantine's per-call steps -----------------------------------------------------------
// Freed blocks filled with 0xDD and held back, oldest first, bounded by bytes and count, every held
// byte checked when a block leaves (debug_quarantine.cpp says why a FIFO). Always inline: with
// traces off a pair is a few hundred instructions, and each of these as a call of its own cost
// its register saves and reloads of the options, a tenth of the pair.

template <debug_state::path P>
PMRHEAP_ALWAYS_INLINE bool debug_state::canary_intact(const record& block) const noexcept {
  return debug::filled_with(block.at + block.bytes, canary_bytes<P>(), debug_resource::canary_fill);
}

PMRHEAP_ALWAYS_INLINE void debug_state::check_canary(const record& block, const call& c, error_list& errors) {
  if (!canary_intact(block)) [[unlikely]]
    report_overrun(block, c, errors);
}

template <debug_state::path P>
PMRHEAP_ALWAYS_INLINE void debug_state::check_fill(const record& block, const char* when, error_list& errors) {
  if (fills<P>() && !debug::filled_with(block.at, block.bytes + canary_bytes<P>(), debug_resource::freed_fill))
      [[unlikely]]
    report_written_after_free(block, when, errors);
}

template <debug_state::path P>
PMRHEAP_ALWAYS_INLINE void debug_state::give_back(const record& block) noexcept {
  backing_->deallocate(const_cast<std::byte*>(block.at), block.bytes + canary_bytes<P>(), block.alignment());
}

// The oldest block, out of the quarantine and checked; its memory is still to be given back.
template <debug_state::path P>
PMRHEAP_ALWAYS_INLINE debug::record debug_state::leave_quarantine(const char* when, error_list& errors) {
  record gone = quarantine_.pop_front();
  check_fill<P>(gone, when, errors);
  stats_.quarantined_bytes -= gone.bytes;
  if (P == path::general) {
    if (options_.retain_metadata) [[unlikely]]
      retain(gone);
    traces_.release(gone.traces);
    gone.traces = debug::no_traces;
  }
  return gone;
}

PMRHEAP_ALWAYS_INLINE void debug_state::release_oldest(const char* when, error_list& errors) {
  give_back(leave_quarantine(when, errors));
}

template <debug_state::path P>
PMRHEAP_ALWAYS_INLINE void debug_state::drop_spare() noexcept {
  if (spare_.at == nullptr) return;
  give_back<P>(spare_);
  spare_.at = nullptr;
}

// The spare's memory when it suits an allocation of `bytes` at 2^alignment_log2, else nullptr.
PMRHEAP_ALWAYS_INLINE void* debug_state::take_spare(std::size_t bytes, std::uint8_t alignment_log2) noexcept {
  if (spare_.at == nullptr || spare_.bytes != bytes || spare_.alignment_log2 != alignment_log2) return nullptr;
  void* const p = const_cast<std::byte*>(spare_.at);
  spare_.at = nullptr;
  return p;
}

template <debug_state::path P>
PMRHEAP_ALWAYS_INLINE void debug_state::keep_spare(const record& block) noexcept {
  drop_spare<P>();
  if (block.bytes <= spare_max_bytes) [[likely]]
    spare_ = block;
  else
    give_back<P>(block);
}

template <debug_state::path P>
PMRHEAP_ALWAYS_INLINE void debug_state::evict(error_list& errors) {
  if (never_unmaps<P>()) return;
  // The newest free stays even when it alone passes quarantine_bytes.
  while (quarantine_.size() > options_.quarantine_blocks ||
         (stats_.quarantined_bytes > options_.quarantine_bytes && quarantine_.size() > 1))
    keep_spare<P>(leave_quarantine<P>("when it left the quarantine", errors));
  // A block leaving was freed long ago: its bytes are likely out of the cache by now. Ask for them
  // a few frees ahead, its first and its last line (the canary's), which is all of a small block.
  constexpr std::size_t ahead = 4;
  if (fills<P>() && quarantine_.size() > ahead) {
    const record& next = quarantine_[ahead];
    debug::prefetch(next.at);
    debug::prefetch(next.at + next.bytes + canary_bytes<P>() - 1);
  }
}

template <debug_state::path P>
PMRHEAP_ALWAYS_INLINE void debug_state::quarantine(const record& block, const stack_trace* trace, error_list& errors) {
  if (P == path::general && block.traces != debug::no_traces)
    traces_[block.traces].freed = trace != nullptr ? *trace : stack_trace{};
  // The plain paths have a quarantine (quarantine_blocks > 0).
  const bool hold =
      (P != path::general || options_.never_unmap || options_.quarantine_blocks > 0) && quarantine_.push_back(block);
  if (!hold) {  // no quarantine, or no room in it: the memory goes back at once
    give_back<P>(block);
    if (retains_metadata<P>()) retain(block);
    traces_.release(block.traces);
    return;
  }
  if (fills<P>()) debug::fill(block.at, block.bytes + canary_bytes<P>(), debug_resource::freed_fill);
  stats_.quarantined_bytes += block.bytes;
  evict<P>(errors);
}

}  // namespace pmrheap::detail

#endif  // PMRHEAP_SRC_TESTING_DEBUG_STATE_HPP
