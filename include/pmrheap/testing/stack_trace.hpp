// SPDX-License-Identifier: MIT
// stack_trace: a few return addresses captured cheaply, turned into names (and file:line where the
// build has libbacktrace) only when a report is printed.
#ifndef PMRHEAP_TESTING_STACK_TRACE_HPP
#define PMRHEAP_TESTING_STACK_TRACE_HPP

#include <array>
#include <cstddef>
#include <cstdio>
#include <string>
#include <string_view>

#include "pmrheap/detail/config.hpp"

namespace pmrheap {

/// The ways stack_trace::capture() can walk the stack, cheapest first
/// (docs/testing/debug_resource.md#stack-capture).
enum class stack_unwinder {
  /// Follows the chain of saved frame pointers: a few loads per frame. Needs code compiled with
  /// frame pointers (pmrheap_testing is); every pointer is checked against the thread's stack
  /// bounds, so code without them ends the walk early instead of crashing. x86, x86-64 and AArch64
  /// Linux.
  frame_pointers,
  /// Steps each frame by the rules of the .eh_frame unwind tables every x86-64 object carries,
  /// kept per thread after the first look-up of each address: works without frame pointers, at a
  /// few loads per frame. Ends early (the next unwinder takes over) at a frame whose rules use
  /// DWARF expressions (signal frames, PLT stubs, stack realignment) or that has no tables. x86-64
  /// Linux.
  unwind_tables,
  /// libunwind's unw_backtrace (Debian's libunwind8), loaded at run time when present, never
  /// linked: linking it would rebind backtrace() and the C++ exception unwinder for the process.
  libunwind,
  /// libgcc's _Unwind_Backtrace: every gcc and clang target, the slowest of the three.
  libgcc,
};

/// Up to `max_frames` return addresses of the calling thread, innermost first. Capturing walks the
/// stack with the cheapest unwinder that works (stack_unwinder) and stores addresses only; names,
/// files and lines are looked up when the trace is printed. Used by debug_resource and
/// failing_resource for their reports.
///
/// Symbolisation, chosen when pmrheap is built (see symbolizer()):
/// - "libbacktrace": function names (demangled), file and line, inlined frames included. Needs
///   debug information (-g) for file:line; without it, names from the symbol table.
/// - "execinfo": names of exported functions (link with -rdynamic to see more), no lines.
/// - "addresses": addresses only (no unwinder or symboliser on this platform or compiler).
/// A value type: copyable, no allocation, trivially destructible.
class PMRHEAP_TESTING_API stack_trace {
 public:
  /// Most frames a trace holds.
  static constexpr std::size_t max_frames = 16;

  /// An empty trace (no frames).
  constexpr stack_trace() noexcept = default;

  /// Captures up to `frames` (at most max_frames) return addresses, starting with the function that
  /// calls capture(), after skipping `skip` more frames (a helper's own frames, say).
  /// **Returns**: the trace; empty where the platform cannot unwind or `frames` is 0.
  /// A frame-pointer walk is kept when it reaches `frames` frames; a walk cut short (a frame
  /// pointer outside the stack, a null one, the outermost frame) is redone with the unwind
  /// tables, then libunwind, then libgcc (stack_unwinder). Frames of functions built without frame pointers can be missing from a walk that
  /// completes; the first (the caller) never is.
  /// **Cost**: one walk of `skip + frames` frames (figures in docs/testing/debug_resource.md); no
  /// allocation, no symbol lookup. **Thread safety**: safe.
  [[nodiscard]] PMRHEAP_NOINLINE static stack_trace capture(std::size_t frames = max_frames,
                                                            std::size_t skip = 0) noexcept;
  /// capture() with one unwinder only: empty when `how` is not available(); a frame-pointer walk
  /// keeps the frames it could follow, possibly fewer than asked. For tests and measurements.
  [[nodiscard]] PMRHEAP_NOINLINE static stack_trace capture_with(stack_unwinder how, std::size_t frames = max_frames,
                                                                 std::size_t skip = 0) noexcept;
  /// Whether `how` can run in this build and process.
  [[nodiscard]] static bool available(stack_unwinder how) noexcept;

  /// Frames captured.
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  /// True when no frame was captured.
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  /// Return address `i`, innermost first; `i` must be below size().
  [[nodiscard]] void* operator[](std::size_t i) const noexcept { return frames_[i]; }
  /// The first return address.
  [[nodiscard]] void* const* begin() const noexcept { return frames_.data(); }
  /// Past the last return address.
  [[nodiscard]] void* const* end() const noexcept { return frames_.data() + size_; }

  /// The trace symbolised, one line per frame, each starting with `indent` and ending in '\n':
  /// `#1 0x55d4c3a2b1c4 in parse(config&) at src/parse.cpp:42`. A call that was inlined adds a
  /// line with the same number, marked `(inlined)`, before its caller's. An empty trace gives one
  /// line saying no frames were captured.
  /// **Cost**: a symbol lookup per frame; the first call in a process also loads the debug
  /// information (milliseconds). **Fails**: throws std::bad_alloc if the string cannot grow.
  /// **Thread safety**: safe; lookups from several threads take turns (one process-wide lock).
  [[nodiscard]] std::string to_string(std::string_view indent = "    ") const;

  /// Writes to_string(indent) to `out`.
  void print(std::FILE* out = stderr, std::string_view indent = "    ") const;

  /// How traces are symbolised in this build: "libbacktrace", "execinfo" or "addresses".
  [[nodiscard]] static const char* symbolizer() noexcept;

 private:
  std::array<void*, max_frames> frames_{};
  std::size_t size_ = 0;
};

}  // namespace pmrheap

#endif  // PMRHEAP_TESTING_STACK_TRACE_HPP
