// SPDX-License-Identifier: MIT
// stack_trace. Capture is in src/platform/stack_capture.cpp (frame pointers, libunwind, libgcc);
// symbolisation uses libbacktrace when the build found it, else execinfo's backtrace_symbols, else
// prints addresses. src/testing/meson.build decides (PMRHEAP_HAVE_LIBBACKTRACE,
// PMRHEAP_HAVE_EXECINFO): a header check here would see the build machine's headers in cross builds.
//
// Design notes: capture stores addresses only, so a debug_resource can afford it on every
// allocation; the names are looked up when a report is printed. libbacktrace's state is created
// once and never freed (it has no destroy function; its memory stays reachable), and used under
// one lock. Its callbacks run inside C code, so they only copy pointers into fixed arrays and
// never throw; the strings they hand out live in that state for the life of the process.
#include "pmrheap/testing/stack_trace.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <cstdlib>
#include <mutex>

#include "../platform/stack_capture.hpp"

#if defined(PMRHEAP_HAVE_LIBBACKTRACE)
#  include <backtrace.h>
#endif
#if defined(PMRHEAP_HAVE_EXECINFO)
#  include <execinfo.h>
#endif
#if __has_include(<cxxabi.h>)
#  include <cxxabi.h>
#endif

namespace pmrheap {
namespace {

// ---- symbols ----------------------------------------------------------------------------------

[[maybe_unused]] std::string demangle(const char* name) {  // unused where only addresses print
#if __has_include(<cxxabi.h>)
  int status = 0;
  char* readable = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (status == 0 && readable != nullptr) {
    std::string result(readable);
    std::free(readable);
    return result;
  }
#endif
  return name;
}

void append_frame(std::string& out, std::string_view indent, std::size_t index, const void* address,
                  const std::string& function, const char* file, int line, bool inlined = false) {
  fmt::format_to(std::back_inserter(out), "{}#{} {} in {}", indent, index, address, function);
  if (file != nullptr && *file != '\0') fmt::format_to(std::back_inserter(out), " at {}:{}", file, line);
  if (inlined) out += " (inlined)";
  out += '\n';
}

#if defined(PMRHEAP_HAVE_LIBBACKTRACE)
void ignore_error(void*, const char*, int) {}

// One lookup at a time. libbacktrace's own threaded mode synchronises with atomics that
// ThreadSanitizer cannot see (the library is not instrumented), and reports are rare enough that
// a lock costs nothing worth saving.
std::mutex symbol_mutex;

// Callers hold symbol_mutex.
backtrace_state* symbol_state() {
  // Created on first use and kept: libbacktrace has no way to free it.
  static backtrace_state* const state = backtrace_create_state(nullptr, /*threaded=*/0, ignore_error, nullptr);
  return state;
}

// One return address may stand for several frames when calls were inlined (innermost first).
struct location {
  const char* function;
  const char* file;
  int line;
};
struct locations {
  static constexpr int max = 8;
  location at[max];
  int count;
};

int add_location(void* data, std::uintptr_t, const char* file, int line, const char* function) {
  auto& found = *static_cast<locations*>(data);
  if (found.count < locations::max) found.at[found.count++] = location{function, file, line};
  return 0;
}

void add_symbol(void* data, std::uintptr_t, const char* symbol, std::uintptr_t, std::uintptr_t) {
  *static_cast<const char**>(data) = symbol;
}

void symbolise(std::string& out, std::string_view indent, void* const* frames, std::size_t count) {
  std::lock_guard lock(symbol_mutex);
  backtrace_state* const state = symbol_state();
  for (std::size_t i = 0; i < count; ++i) {
    // A return address points after the call; the call itself is one byte earlier.
    const auto pc = reinterpret_cast<std::uintptr_t>(frames[i]) - 1;
    locations found{};
    if (state != nullptr) backtrace_pcinfo(state, pc, add_location, ignore_error, &found);
    if (found.count == 1 && found.at[0].function == nullptr) {
      const char* symbol = nullptr;
      backtrace_syminfo(state, pc, add_symbol, ignore_error, &symbol);
      found.at[0].function = symbol;
    }
    if (found.count == 0) append_frame(out, indent, i, frames[i], "??", nullptr, 0);
    for (int k = 0; k < found.count; ++k) {
      const location& at = found.at[k];
      append_frame(out, indent, i, frames[i], at.function != nullptr ? demangle(at.function) : "??", at.file, at.line,
                   /*inlined=*/k + 1 < found.count);
    }
  }
}
#elif defined(PMRHEAP_HAVE_EXECINFO)
// backtrace_symbols gives "module(mangled+0x1c) [0x...]"; the name sits between '(' and '+'.
std::string symbol_name(const char* text) {
  const std::string_view s(text);
  const auto open = s.find('(');
  const auto plus = s.find_first_of("+)", open == std::string_view::npos ? 0 : open);
  if (open == std::string_view::npos || plus == std::string_view::npos || plus == open + 1) return "??";
  return demangle(std::string(s.substr(open + 1, plus - open - 1)).c_str());
}

void symbolise(std::string& out, std::string_view indent, void* const* frames, std::size_t count) {
  char** names = ::backtrace_symbols(frames, static_cast<int>(count));
  for (std::size_t i = 0; i < count; ++i)
    append_frame(out, indent, i, frames[i], names != nullptr ? symbol_name(names[i]) : "??", nullptr, 0);
  std::free(names);
}
#else
void symbolise(std::string& out, std::string_view indent, void* const* frames, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) append_frame(out, indent, i, frames[i], "??", nullptr, 0);
}
#endif

}  // namespace

stack_trace stack_trace::capture(std::size_t frames, std::size_t skip) noexcept {
  stack_trace trace;
  if (frames > max_frames) frames = max_frames;
  if (frames == 0) return trace;
  trace.size_ = platform::capture_stack(trace.frames_.data(), frames, skip);
  asm volatile("" ::: "memory");  // not a tail call: capture's frame is the one skipped
  return trace;
}

stack_trace stack_trace::capture_with(stack_unwinder how, std::size_t frames, std::size_t skip) noexcept {
  stack_trace trace;
  if (frames > max_frames) frames = max_frames;
  if (frames == 0) return trace;
  trace.size_ = platform::capture_stack_with(how, trace.frames_.data(), frames, skip);
  asm volatile("" ::: "memory");
  return trace;
}

bool stack_trace::available(stack_unwinder how) noexcept { return platform::unwinder_available(how); }

std::string stack_trace::to_string(std::string_view indent) const {
  std::string out;
  if (size_ == 0) {
    fmt::format_to(std::back_inserter(out), "{}(no stack frames captured)\n", indent);
    return out;
  }
  symbolise(out, indent, frames_.data(), size_);
  return out;
}

void stack_trace::print(std::FILE* out, std::string_view indent) const {
  const std::string text = to_string(indent);
  std::fwrite(text.data(), 1, text.size(), out);
}

const char* stack_trace::symbolizer() noexcept {
#if defined(PMRHEAP_HAVE_LIBBACKTRACE)
  return "libbacktrace";
#elif defined(PMRHEAP_HAVE_EXECINFO)
  return "execinfo";
#else
  return "addresses";
#endif
}

}  // namespace pmrheap
