// SPDX-License-Identifier: MIT
// debug_resource: a checking decorator for tests and debug builds (the role of Zig's DebugAllocator):
// leaks, double and invalid frees, size and alignment mismatches, overruns and writes after free,
// each reported with stack traces.
#ifndef PMRHEAP_TESTING_DEBUG_RESOURCE_HPP
#define PMRHEAP_TESTING_DEBUG_RESOURCE_HPP

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <memory_resource>
#include <string>

#include "pmrheap/forwarding_resource.hpp"
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
/// How many kinds debug_error_kind has (debug_statistics::errors_by_kind is indexed by them).
inline constexpr std::size_t debug_error_kinds = 7;

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
  /// A lock around every operation. It is biased to the first thread that calls: while that thread
  /// is the only one, it enters and leaves with plain stores; the first call from another thread
  /// ends the bias for good (one system call), and from then on every call takes the lock. A call
  /// made from inside a call (a backing that calls back into this resource) aborts with a message.
  /// Off (Zig's `thread_safe = false`), the resource serves one thread at a time, takes no lock
  /// and allows such calls (docs/testing/debug_resource.md has the figures).
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
  /// Printed in every report after "pmrheap::debug_resource", so that two debug resources in one
  /// test are told apart: `pmrheap::debug_resource "parser": leak: ...`. Empty: no name printed.
  /// (A log of every call is a logging_resource above or below this one: docs/testing/debug_resource.md.)
  std::string name{};
};

/// A snapshot of a debug_resource's counters. Bytes are requested bytes (canaries not included).
/// pmrheap/testing/fmt.hpp has a fmt::formatter for it.
struct debug_statistics {
  std::size_t blocks_in_use = 0;       ///< Live blocks: what would be leaks now.
  std::size_t peak_blocks_in_use = 0;  ///< Highest blocks_in_use so far.
  std::size_t live_bytes = 0;          ///< Requested bytes of those blocks.
  std::size_t peak_bytes = 0;          ///< Highest live_bytes so far.
  /// Successful allocations so far.
  std::size_t total_allocations = 0;
  /// Deallocations so far.
  std::size_t total_deallocations = 0;
  std::size_t total_bytes = 0;  ///< Bytes of all successful allocations, plus resize growth.
  /// Freed blocks held back in the quarantine (the spare, which left it, is not counted).
  std::size_t quarantined_blocks = 0;
  /// Requested bytes of those blocks.
  std::size_t quarantined_bytes = 0;
  std::size_t errors = 0;  ///< Problems reported so far (leaks included).
  /// errors split by kind, indexed by debug_error_kind (errors_of() reads it).
  std::array<std::size_t, debug_error_kinds> errors_by_kind{};
  /// Errors of kind `kind` so far.
  [[nodiscard]] std::size_t errors_of(debug_error_kind kind) const noexcept {
    return errors_by_kind[static_cast<std::size_t>(kind)];
  }
};

namespace detail {
class debug_state;  // src/testing/debug_state.hpp
}  // namespace detail

/// Checks every call it forwards to its backing and reports what is wrong (what Zig's
/// DebugAllocator catches, `lib/std/heap/debug_allocator.zig`, 0.15.0; the design is pmrheap's):
/// - Every live block is in a table keyed by address, with its size, alignment, allocation number
///   and allocation stack trace. deallocate looks the pointer up there, never reads memory around
///   it: unknown pointers are invalid frees (with the live block they point into, if any), and
///   size or alignment other than the block's are mismatches (std::pmr passes both).
/// - `canary_bytes` of 0xFD follow each block (the backing is asked for size + canary) and are
///   checked on deallocate and resize: a change is an overrun.
/// - Freed blocks are filled with 0xDD and kept in a bounded quarantine with their record, so a
///   double free is reported with the allocation, first-free and second-free traces, a dangling
///   read sees 0xDD, and a write after free is found when the block leaves the quarantine.
/// - The block that last left the quarantine (checked, up to 1 KiB) is kept for the next
///   allocation of its size and alignment, which takes it without a call to the backing; any other
///   allocation, release_quarantine() and destruction give it back. verify() checks it too.
/// - Live blocks at destruction, or at report_leaks(), are leaks, reported with their allocation
///   trace; leaked blocks are not freed.
/// A reported mismatch or overrun does not stop a deallocate (the resource frees with the sizes it
/// recorded); a double or invalid free is ignored; a mismatched resize or remap is refused.
/// The backing is the upstream of a forwarding_resource: null means std::pmr::null_memory_resource()
/// (every allocation fails), and a request is screened by forwarding_resource::forwardable() before
/// the backing sees it. The state lives behind a pointer (src/testing/debug_state.hpp), so this
/// header pulls in neither `<map>` nor `<mutex>` (`<vector>` comes with `<memory_resource>` in
/// libstdc++).
/// **Fails**: allocate throws pmrheap::out_of_memory when the backing fails, the size cannot be an
/// object or `memory_limit` would be passed; try_allocate returns nullptr, resize false, remap
/// nullptr in those cases.
/// **Cost**: per allocate, a stack capture (stack_trace::capture; none with stack_trace_frames 0),
/// a table insert and the fills; per deallocate, a capture, a lookup, a canary check and a fill,
/// and once the quarantine is full, the check of its oldest block, which then serves the next
/// allocation of its size (or goes back to the backing). Figures in
/// docs/testing/debug_resource.md. Bookkeeping, on the global heap: 64 to 128 bytes per live block,
/// 32 to 64 per quarantined block, about 300 more with traces; plus the canary and the quarantined
/// memory. Stack traces are symbolised only in reports.
/// **Thread safety**: safe by default; one lock around every operation (biased to the first thread
/// that calls, which then takes it with plain stores until another thread calls), and the backing
/// is only ever called under it, so a backing that is not thread-safe is fine. With
/// debug_options::thread_safe off: none.
class PMRHEAP_TESTING_API debug_resource final : public forwarding_resource {
 public:
  static constexpr unsigned char allocated_fill = 0xAA;  ///< New blocks, and the grown part of a resized one.
  static constexpr unsigned char freed_fill = 0xDD;      ///< Quarantined blocks, canary included.
  static constexpr unsigned char canary_fill = 0xFD;     ///< The canary_bytes after every live block.

  /// Over c_resource::instance(), the default backing: the C heap, measured the cheaper of the
  /// two candidates and keeping every detection (docs/testing/debug_resource.md#default-backing).
  debug_resource();
  /// Over the default backing, with `options`.
  explicit debug_resource(debug_options options);
  /// Over `backing`; null means std::pmr::null_memory_resource(). `options.stack_trace_frames` is
  /// capped at stack_trace::max_frames.
  explicit debug_resource(std::pmr::memory_resource* backing, debug_options options = {});
  debug_resource(const debug_resource&) = delete;
  debug_resource& operator=(const debug_resource&) = delete;
  /// Reports leaks, checks and frees the quarantine. Leaked blocks stay allocated in the backing.
  ~debug_resource() override;

  /// The settings it was built with (stack_trace_frames capped).
  [[nodiscard]] const debug_options& options() const noexcept;

  /// Live blocks (would be leaks now). **Cost**: O(1).
  [[nodiscard]] std::size_t blocks_in_use() const;
  /// Reports every live block as a leak, in allocation order, with its allocation trace, and frees
  /// nothing.
  /// **Returns**: the number reported. Without on_error and with leaks, aborts after printing all.
  std::size_t report_leaks();
  /// Checks the canary of every live block and the fill of every quarantined block (and of the
  /// spare) now, reporting each overrun and write after free once (the bytes are restored after
  /// the report).
  /// **Returns**: the number of problems found.
  std::size_t verify();
  /// Checks the quarantined blocks and gives them back to the backing (also with never_unmap),
  /// and the spare too.
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

  std::unique_ptr<detail::debug_state> state_;  // the lock and everything it guards
};

}  // namespace pmrheap

#endif  // PMRHEAP_TESTING_DEBUG_RESOURCE_HPP
