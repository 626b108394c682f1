// SPDX-License-Identifier: MIT
// debug_resource: a checking decorator for tests and debug builds (the role of Zig's DebugAllocator):
// leaks, double and invalid frees, size and alignment mismatches, overruns and writes after free,
// each reported with stack traces.
#ifndef PMRHEAP_TESTING_DEBUG_RESOURCE_HPP
#define PMRHEAP_TESTING_DEBUG_RESOURCE_HPP

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <string>
#include <vector>

#include "pmrheap/page_resource.hpp"
#include "pmrheap/resource.hpp"
#include "pmrheap/testing/stack_trace.hpp"

namespace pmrheap {

/// What a debug_resource found.
enum class debug_error_kind {
  leak,                ///< A block still live when the resource is destroyed or report_leaks() runs.
  double_free,         ///< deallocate of a block that was already deallocated.
  invalid_free,        ///< deallocate (or resize/remap) of a pointer this resource never handed out.
  size_mismatch,       ///< deallocate/resize/remap with a size other than the block's.
  alignment_mismatch,  ///< deallocate/resize/remap with an alignment other than the block's.
  overrun,             ///< Bytes written past the end of a block (its canary changed).
  use_after_free,      ///< A freed block written to while in quarantine, or resized after its free.
};

/// "leak", "double free", "invalid free", "size mismatch", "alignment mismatch", "overrun",
/// "use after free".
[[nodiscard]] PMRHEAP_TESTING_API const char* to_string(debug_error_kind kind) noexcept;

/// One problem found by a debug_resource, as given to debug_options::on_error.
struct debug_error {
  /// What was found.
  debug_error_kind kind;
  /// The full report, as printed to stderr when there is no handler: a first line naming the kind,
  /// the block and the sizes, then the stack traces, each under a line ending in "at:"
  /// ("allocated at:", "first freed at:", "freed again at:", "deallocated at:", ...).
  std::string message;
  /// The pointer the report is about.
  const void* address = nullptr;
};

/// Settings of a debug_resource. The first five follow Zig's DebugAllocator options; on_error and
/// the rest are ours.
struct debug_options {
  /// memory_limit's value for no limit.
  static constexpr std::size_t no_limit = SIZE_MAX;

  /// Frames kept per stack trace (allocation, free), at most stack_trace::max_frames; 0 turns
  /// trace capture off (reports then say no frames were captured).
  std::size_t stack_trace_frames = 6;
  /// Most requested bytes live at once; an allocation or growth beyond it fails like an exhausted
  /// backing (allocate throws pmrheap::out_of_memory, try_allocate returns nullptr, resize false).
  std::size_t memory_limit = no_limit;
  /// Never give freed blocks back to the backing before the resource is destroyed (or
  /// release_quarantine() is called): the quarantine has no bound, so no freed address is ever
  /// reused and every write after free is found.
  bool never_unmap = false;
  /// Keep the record of a freed block (its traces) after its memory left the quarantine, so a
  /// double free long after the first is still reported as one, with all three traces. Without it
  /// such a free is reported as an invalid free. Records are dropped when the address is handed out
  /// again, by flush_retained_metadata() and at destruction.
  bool retain_metadata = false;
  /// One line per allocate, deallocate, resize and remap, written to `log`.
  bool verbose_log = false;
  /// A mutex around every operation. Off (Zig's `thread_safe = false`), the resource serves one
  /// thread at a time and each allocate + deallocate pair skips a lock and an unlock (about a third
  /// of the cost with traces off: docs/testing.md#debug_resource).
  bool thread_safe = true;
  /// Called for every problem found. Without it, the report goes to stderr and the process aborts.
  /// It runs after the resource has made itself consistent and without its lock held (it may call
  /// the resource); it should record and return: a throw from deallocate propagates to the caller,
  /// from resize, remap or the destructor it terminates.
  // The {} lets designated initializers leave it out without g++ 12's -Wmissing-field-initializers.
  std::function<void(const debug_error&)> on_error{};

  /// Freed memory held back, filled with 0xDD, before it goes back to the backing: at most this
  /// many bytes (the most recent free is always held) ...
  std::size_t quarantine_bytes = std::size_t{1} << 20;
  /// ... and at most this many blocks. 0 turns the quarantine off.
  std::size_t quarantine_blocks = 1024;
  /// Bytes of canary (0xFD) after every block, checked when the block is deallocated, resized or
  /// verified. 0 turns overrun detection off.
  std::size_t canary_bytes = 16;
  /// Fill new blocks with 0xAA and freed ones with 0xDD. Off, a write after free goes unnoticed.
  bool fill = true;
  /// Where verbose_log writes; nullptr means stderr.
  std::FILE* log = nullptr;
};

/// A snapshot of a debug_resource's counters. Bytes are requested bytes (canaries not included).
/// pmrheap/testing/fmt.hpp has a fmt::formatter for it.
struct debug_statistics {
  /// Blocks allocated and not yet deallocated.
  std::size_t live_allocations = 0;
  /// Requested bytes of those blocks.
  std::size_t live_bytes = 0;
  std::size_t peak_bytes = 0;  ///< Highest live_bytes so far.
  /// Successful allocations so far.
  std::size_t total_allocations = 0;
  /// Deallocations so far.
  std::size_t total_deallocations = 0;
  std::size_t total_bytes = 0;  ///< Bytes of all successful allocations, plus resize growth.
  /// Freed blocks held back in the quarantine.
  std::size_t quarantined_blocks = 0;
  /// Requested bytes of those blocks.
  std::size_t quarantined_bytes = 0;
  std::size_t errors = 0;  ///< Problems reported so far (leaks included).
};

namespace detail {

// debug_resource's lock, records and checks (src/debug_resource.cpp; the reports and log lines in
// src/debug_report.cpp). A class of its own because it is not exported: the library is built with
// -fPIC, where calls between members of an exported class cannot be inlined (they could be
// interposed), and every allocate and deallocate is a chain of small steps. The public members
// take the lock; problems found are handed to on_error (or printed) after it is released.
class debug_state {
 public:
  using address = const std::byte*;
  using error_list = std::vector<debug_error>;

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

  debug_state(std::pmr::memory_resource* backing, debug_options options);
  debug_state(const debug_state&) = delete;
  debug_state& operator=(const debug_state&) = delete;

  [[nodiscard]] std::pmr::memory_resource* backing() const noexcept { return backing_; }
  [[nodiscard]] const debug_options& options() const noexcept { return options_; }

  void* allocate(std::size_t bytes, std::size_t alignment, const stack_trace* trace);  // nullptr: refused
  void deallocate(const call& c);
  void* resize(const call& c);  // resize and remap; nullptr: refused
  [[nodiscard]] std::size_t live_blocks() const;
  [[nodiscard]] debug_statistics statistics() const;
  std::size_t report_leaks();
  std::size_t verify(const stack_trace& trace);
  void release_quarantine();
  void flush_retained();
  // At destruction: reports leaks, checks and frees the quarantine.
  void close();

 private:
  static constexpr std::uint32_t no_traces = UINT32_MAX;

  // A block's record: live, or freed and held in the quarantine (at most one record per address,
  // since held memory cannot be handed out again). 32 bytes.
  struct record {
    address at;  // nullptr: an empty slot of the table
    std::size_t bytes;
    std::uint64_t serial;  // 1 for the first allocation
    std::uint32_t traces;  // index into traces_; no_traces when stack_trace_frames is 0
    std::uint8_t alignment_log2;
    bool freed;  // in the quarantine
    [[nodiscard]] std::size_t alignment() const noexcept { return std::size_t{1} << alignment_log2; }
  };
  static_assert(sizeof(record) <= 32, "a record stays within 32 bytes, as the bookkeeping figures in the docs say");
  struct trace_pair {
    stack_trace allocated;
    stack_trace freed;
  };
  // A freed block's record kept after its memory went back (retain_metadata).
  struct retained_record {
    std::size_t bytes;
    std::size_t alignment;
    std::uint64_t serial;
    trace_pair traces;
  };

  // Records by address: open addressing, linear probing, at most half full. erase moves the rest
  // of a probe run back instead of leaving tombstones, so probes stay short while blocks come and
  // go. insert and erase move records: a record* is valid until the next insert or erase.
  class record_table {
   public:
    [[nodiscard]] record* find(address p) const noexcept;
    // The empty slot for `p` (absent), after growing if needed; nullptr when growth fails.
    [[nodiscard]] record* insert(address p) noexcept;
    void erase(record* r) noexcept;
    void prefetch(address p) const noexcept;  // where find(p) will look first
    [[nodiscard]] record* begin() const noexcept { return slots_.get(); }
    [[nodiscard]] record* end() const noexcept { return slots_.get() + (slots_ ? mask_ + 1 : 0); }

   private:
    [[nodiscard]] std::size_t home(address p) const noexcept;
    [[nodiscard]] bool grow() noexcept;
    std::unique_ptr<record[]> slots_;
    std::size_t mask_ = 0;  // capacity - 1
    std::size_t size_ = 0;
    unsigned shift_ = 0;  // 64 - log2(capacity), for the multiplicative hash
  };

  // The quarantine's addresses, oldest first: a growable ring.
  class address_ring {
   public:
    [[nodiscard]] bool push_back(address p) noexcept;  // false when growth fails
    address pop_front() noexcept;
    [[nodiscard]] address operator[](std::size_t i) const noexcept { return slots_[(head_ + i) & mask_]; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

   private:
    [[nodiscard]] bool grow() noexcept;
    std::unique_ptr<address[]> slots_;
    std::size_t mask_ = 0;
    std::size_t head_ = 0;
    std::size_t size_ = 0;
  };

  // Callers hold mutex_.
  void* allocate_block(std::size_t bytes, std::size_t alignment, const stack_trace* trace);
  void deallocate_block(const call& c, error_list& errors);
  void* resize_block(const call& c, error_list& errors);
  void release_all(const char* when, error_list& errors);
  void add_leaks(error_list& errors);
  // The checks: a cheap test here, the report (out of line, in debug_report.cpp) when it fails.
  void check_canary(const record& block, const call& c, error_list& errors);
  void check_fill(const record& block, const char* when, error_list& errors);
  void quarantine(record* block, const stack_trace* trace, error_list& errors);
  void evict(error_list& errors);
  void release_oldest(const char* when, error_list& errors);
  void retain(const record& block) noexcept;
  void forget_retained(address p, std::size_t bytes) noexcept;
  [[nodiscard]] std::uint32_t acquire_traces() noexcept;
  void release_traces(std::uint32_t index) noexcept;
  [[nodiscard]] const trace_pair& traces_of(const record& block) const noexcept;
  [[nodiscard]] std::vector<const record*> live_by_serial() const;
  void give_back(const record& block) noexcept;
  static void fill(address p, std::size_t bytes, unsigned char value) noexcept;

  // debug_report.cpp
  void report_unknown(const call& c, error_list& errors);
  void report_freed(const call& c, std::size_t bytes, std::size_t alignment, std::uint64_t serial,
                    const trace_pair& traces, error_list& errors);
  bool report_mismatch(const call& c, const record& block, error_list& errors);
  void report_overrun(const record& block, const call& c, error_list& errors);
  void report_written_after_free(const record& block, const char* when, error_list& errors);
  void add_error(error_list& errors, debug_error_kind kind, const void* p, std::string message);
  void log_allocate(std::size_t bytes, std::size_t alignment, const void* p, const char* refused) const noexcept;
  void log_deallocate(const record& block) const noexcept;
  void log_resize(const call& c, const void* q) const noexcept;
  void log(const std::string& line) const noexcept;
  static const char* name(operation op) noexcept;
  static const char* done(operation op) noexcept;
  static std::string describe_call(const call& c);
  // Without the lock: hands each error to on_error, or prints them all and aborts.
  void dispatch(const error_list& errors) const;

  mutable std::mutex mutex_;
  std::pmr::memory_resource* backing_;
  resource* native_backing_;  // backing_ as a pmrheap::resource, or null: found once, not per call
  debug_options options_;
  record_table records_;                         // live and quarantined blocks
  address_ring quarantine_;                      // oldest first
  std::vector<trace_pair> traces_;               // the records' traces (stack_trace_frames > 0)
  std::vector<std::uint32_t> free_traces_;       // unused entries of traces_; capacity kept >= traces_.size()
  std::map<address, retained_record> retained_;  // ordered: a block handed out drops those inside it
  debug_statistics stats_;
};

}  // namespace detail

/// Checks every call it forwards to `backing` and reports what is wrong (spec §9 for what Zig's
/// DebugAllocator catches; the design is pmrheap's):
/// - Every live block is in a table keyed by address, with its size, alignment, allocation number
///   and allocation stack trace. deallocate looks the pointer up there, never reads memory around
///   it: unknown pointers are invalid frees (with the live block they point into, if any), and
///   size or alignment other than the block's are mismatches (std::pmr passes both).
/// - `canary_bytes` of 0xFD follow each block (the backing is asked for size + canary) and are
///   checked on deallocate and resize: a change is an overrun.
/// - Freed blocks are filled with 0xDD and kept in a bounded quarantine with their record, so a
///   double free is reported with the allocation, first-free and second-free traces, a dangling
///   read sees 0xDD, and a write after free is found when the block leaves the quarantine.
/// - Live blocks at destruction, or at report_leaks(), are leaks, reported with their allocation
///   trace; leaked blocks are not freed.
/// A reported mismatch or overrun does not stop a deallocate (the resource frees with the sizes it
/// recorded); a double or invalid free is ignored; a mismatched resize or remap is refused.
/// **Fails**: allocate throws pmrheap::out_of_memory when the backing fails or `memory_limit` would
/// be passed; try_allocate returns nullptr, resize false, remap nullptr in those cases.
/// **Cost**: per allocate, a stack walk (about a microsecond at 6 frames; none with
/// stack_trace_frames 0), a table insert and the fills; per deallocate, a stack walk, a lookup, a
/// canary check and a fill, and once the quarantine is full, the check and release of its oldest
/// block. Without traces a small allocate + deallocate pair costs a few times the backing's (figures
/// in docs/testing.md). Bookkeeping, on the global heap: 64 to 128 bytes per live or quarantined
/// block, about 300 more with traces; plus the canary and the quarantined memory. Stack traces are
/// symbolised only in reports.
/// **Thread safety**: safe by default; one mutex around every operation, and the backing is only
/// ever called under it, so a backing that is not thread-safe is fine. With
/// debug_options::thread_safe off: none.
class PMRHEAP_TESTING_API debug_resource final : public resource {
 public:
  static constexpr unsigned char allocated_fill = 0xAA;  ///< New blocks, and the grown part of a resized one.
  static constexpr unsigned char freed_fill = 0xDD;      ///< Quarantined blocks, canary included.
  static constexpr unsigned char canary_fill = 0xFD;     ///< The canary_bytes after every live block.

  /// A null `backing` means page_resource::instance(). `options.stack_trace_frames` is capped at
  /// stack_trace::max_frames.
  explicit debug_resource(std::pmr::memory_resource* backing = page_resource::instance(), debug_options options = {});
  debug_resource(const debug_resource&) = delete;
  debug_resource& operator=(const debug_resource&) = delete;
  /// Reports leaks, checks and frees the quarantine. Leaked blocks stay allocated in the backing.
  ~debug_resource() override;

  /// The backing resource the blocks come from.
  [[nodiscard]] std::pmr::memory_resource* upstream_resource() const noexcept { return state_.backing(); }
  /// The settings it was built with (stack_trace_frames capped).
  [[nodiscard]] const debug_options& options() const noexcept { return state_.options(); }

  /// Live blocks (would be leaks now). **Cost**: O(1).
  [[nodiscard]] std::size_t leak_count() const;
  /// Reports every live block as a leak, in allocation order, with its allocation trace, and frees
  /// nothing.
  /// **Returns**: the number reported. Without on_error and with leaks, aborts after printing all.
  std::size_t report_leaks();
  /// Checks the canary of every live block and the fill of every quarantined block now, reporting
  /// each overrun and write after free once (the bytes are restored after the report).
  /// **Returns**: the number of problems found.
  std::size_t verify();
  /// Checks the quarantined blocks and gives them back to the backing (also with never_unmap).
  void release_quarantine();
  /// Forgets the records of freed blocks whose memory was already given back (retain_metadata).
  void flush_retained_metadata();
  /// The counters now. **Cost**: O(1), under the lock when thread_safe.
  [[nodiscard]] debug_statistics statistics() const;

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void* do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override;
  bool do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override;
  void* do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override;

  detail::debug_state state_;  // the lock and everything it guards
};

}  // namespace pmrheap

#endif  // PMRHEAP_TESTING_DEBUG_RESOURCE_HPP
