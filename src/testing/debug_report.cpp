// SPDX-License-Identifier: MIT
// debug_resource's reports: what a changed canary or fill, a mismatch, an unknown pointer or a leak
// looks like. Split from the paths by layer: debug_resource.cpp and debug_quarantine.cpp keep the
// records and run the cheap checks, this file words what they find; nothing here runs unless
// something was found.
#include <fmt/format.h>

#include <cstdlib>
#include <iterator>
#include <string>
#include <utility>

#include "debug_state.hpp"

namespace pmrheap {
namespace {

// "the 24-byte block at 0x... (alignment 8, allocation #3)"
std::string describe(const void* p, std::size_t bytes, std::size_t alignment, std::uint64_t serial) {
  return fmt::format("the {}-byte block at {} (alignment {}, allocation #{})", bytes, p, alignment, serial);
}

void append_trace(std::string& out, const char* label, const stack_trace& trace) {
  fmt::format_to(std::back_inserter(out), "  {} at:\n{}", label, trace.to_string("    "));
}

// A call's trace: none when stack_trace_frames is 0.
void append_trace(std::string& out, const char* label, const stack_trace* trace) {
  append_trace(out, label, trace != nullptr ? *trace : stack_trace{});
}

// First byte in [p, p + n) that is not `value`, and how many are not.
struct scan_result {
  std::size_t first;
  std::size_t changed;
};
scan_result scan(const std::byte* p, std::size_t n, unsigned char value) noexcept {
  scan_result r{n, 0};
  for (std::size_t i = 0; i < n; ++i) {
    if (static_cast<unsigned char>(p[i]) == value) continue;
    if (r.changed++ == 0) r.first = i;
  }
  return r;
}

}  // namespace

const char* to_string(debug_error_kind kind) noexcept {
  switch (kind) {
    case debug_error_kind::leak:
      return "leak";
    case debug_error_kind::double_free:
      return "double free";
    case debug_error_kind::invalid_free:
      return "invalid free";
    case debug_error_kind::size_mismatch:
      return "size mismatch";
    case debug_error_kind::alignment_mismatch:
      return "alignment mismatch";
    case debug_error_kind::overrun:
      return "overrun";
    case debug_error_kind::use_after_free:
      return "use after free";
  }
  return "unknown";
}

namespace detail {

// The operation's name, and the past tense that labels its caller's trace.
const char* debug_state::name(operation op) noexcept {
  switch (op) {
    case operation::deallocate:
      return "deallocate";
    case operation::resize:
      return "resize";
    case operation::remap:
      return "remap";
    case operation::verify:
      break;
  }
  return "verify";
}

const char* debug_state::done(operation op) noexcept {
  switch (op) {
    case operation::deallocate:
      return "deallocated";
    case operation::resize:
      return "resized";
    case operation::remap:
      return "remapped";
    case operation::verify:
      break;
  }
  return "verified";
}

// "deallocate(0x..., 24 bytes, alignment 8)" or "resize(0x..., 24 -> 48 bytes, alignment 8)"
std::string debug_state::describe_call(const call& c) {
  if (c.op == operation::resize || c.op == operation::remap)
    return fmt::format("{}({}, {} -> {} bytes, alignment {})", name(c.op), c.p, c.bytes, c.new_bytes, c.alignment);
  return fmt::format("{}({}, {} bytes, alignment {})", name(c.op), c.p, c.bytes, c.alignment);
}

void debug_state::add_error(error_list& errors, debug_error_kind kind, const void* p, std::string message) {
  ++stats_.errors;
  ++stats_.errors_by_kind[static_cast<std::size_t>(kind)];
  errors.push_back(debug_error{kind, std::move(message), p});
}

void debug_state::report_unknown(const call& c, error_list& errors) {
  const auto at = static_cast<address>(c.p);
  if (const record* freed = quarantine_.find(at); freed != nullptr) {
    report_freed(c, freed->bytes, freed->alignment(), freed->serial, traces_of(*freed), errors);
    return;
  }
  if (const auto retained = retained_.find(at); retained != retained_.end()) {
    const debug::retained_record& r = retained->second;
    report_freed(c, r.bytes, r.alignment, r.serial, r.traces, errors);
    return;
  }
  // Left the quarantine, not yet given back: its traces went with it (retain_metadata, above,
  // keeps them), but it is still a block freed once.
  if (spare_.at == at) {
    report_freed(c, spare_.bytes, spare_.alignment(), spare_.serial, traces_of(spare_), errors);
    return;
  }
  std::string message =
      fmt::format("{}invalid free: {} names no block this resource handed out", prefix_, describe_call(c));
  // Only the table is consulted: is the pointer inside a live block? Blocks do not overlap, so at
  // most one is; a linear search is fine on this error path.
  const record* inside = nullptr;
  for (const record& r : records_) {
    if (r.at == nullptr || at < r.at || at >= r.at + r.bytes + options_.canary_bytes) continue;
    fmt::format_to(std::back_inserter(message), "; it points {} bytes into {}", at - r.at,
                   describe(r.at, r.bytes, r.alignment(), r.serial));
    inside = &r;
    break;
  }
  message += '\n';
  append_trace(message, done(c.op), c.trace);
  if (inside != nullptr) append_trace(message, "that block was allocated", traces_of(*inside).allocated);
  add_error(errors, debug_error_kind::invalid_free, c.p, std::move(message));
}

// A deallocate (double free), resize or remap (use after free) of a block already freed.
void debug_state::report_freed(const call& c, std::size_t bytes, std::size_t alignment, std::uint64_t serial,
                               const trace_pair& traces, error_list& errors) {
  const bool is_free = c.op == operation::deallocate;
  std::string message =
      fmt::format("{}{}: {} of {}, which was already freed\n", prefix_, is_free ? "double free" : "use after free",
                  describe_call(c), describe(c.p, bytes, alignment, serial));
  append_trace(message, "allocated", traces.allocated);
  append_trace(message, is_free ? "first freed" : "freed", traces.freed);
  append_trace(message, is_free ? "freed again" : done(c.op), c.trace);
  add_error(errors, is_free ? debug_error_kind::double_free : debug_error_kind::use_after_free, c.p,
            std::move(message));
}

bool debug_state::report_mismatch(const call& c, const record& block, error_list& errors) {
  bool matches = true;
  const auto report = [&](debug_error_kind kind, std::string what) {
    std::string message = fmt::format("{}{}: {} of {}: {}\n", prefix_, to_string(kind), describe_call(c),
                                      describe(block.at, block.bytes, block.alignment(), block.serial), what);
    append_trace(message, "allocated", traces_of(block).allocated);
    append_trace(message, done(c.op), c.trace);
    add_error(errors, kind, block.at, std::move(message));
    matches = false;
  };
  if (c.bytes != block.bytes)
    report(debug_error_kind::size_mismatch, fmt::format("{} bytes given, the block has {}", c.bytes, block.bytes));
  if (c.alignment != block.alignment())
    report(debug_error_kind::alignment_mismatch,
           fmt::format("alignment {} given, the block was allocated with {}", c.alignment, block.alignment()));
  return matches;
}

void debug_state::report_overrun(const record& block, const call& c, error_list& errors) {
  const address p = block.at;
  const scan_result r = scan(p + block.bytes, options_.canary_bytes, debug_resource::canary_fill);
  std::string message = fmt::format(
      "{}overrun: {} was written past its end: {} of the {} canary bytes after it changed, the first at offset {} "
      "(found by {})\n",
      prefix_, describe(p, block.bytes, block.alignment(), block.serial), r.changed, options_.canary_bytes,
      block.bytes + r.first, name(c.op));
  append_trace(message, "allocated", traces_of(block).allocated);
  append_trace(message, done(c.op), c.trace);
  add_error(errors, debug_error_kind::overrun, p, std::move(message));
  debug::fill(p + block.bytes, options_.canary_bytes, debug_resource::canary_fill);  // report each overrun once
}

void debug_state::report_written_after_free(const record& block, const char* when, error_list& errors) {
  const address p = block.at;
  const std::size_t held = block.bytes + options_.canary_bytes;
  const scan_result r = scan(p, held, debug_resource::freed_fill);
  std::string message = fmt::format(
      "{}use after free: {} was written after it was freed: {} bytes changed, the first at offset {} (0x{:02x} "
      "instead of 0x{:02x}; found {})\n",
      prefix_, describe(p, block.bytes, block.alignment(), block.serial), r.changed, r.first,
      static_cast<unsigned>(p[r.first]), debug_resource::freed_fill, when);
  append_trace(message, "allocated", traces_of(block).allocated);
  append_trace(message, "freed", traces_of(block).freed);
  add_error(errors, debug_error_kind::use_after_free, p, std::move(message));
  debug::fill(p, held, debug_resource::freed_fill);  // report each write once
}

void debug_state::add_leaks(error_list& errors) {
  // In allocation order, so the reports of a deterministic program are too.
  for (const record* block : live_by_serial()) {
    std::string message = fmt::format("{}leak: {} was never deallocated\n", prefix_,
                                      describe(block->at, block->bytes, block->alignment(), block->serial));
    append_trace(message, "allocated", traces_of(*block).allocated);
    add_error(errors, debug_error_kind::leak, block->at, std::move(message));
  }
}

void debug_state::dispatch(const error_list& errors) const {
  if (errors.empty()) return;
  if (options_.on_error) {
    for (const debug_error& e : errors) options_.on_error(e);
    return;
  }
  for (const debug_error& e : errors) std::fwrite(e.message.data(), 1, e.message.size(), stderr);
  std::fflush(stderr);
  std::abort();
}

}  // namespace detail
}  // namespace pmrheap
