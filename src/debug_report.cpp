// SPDX-License-Identifier: MIT
// debug_resource, second half: the checks that read a block's canary or fill, and the text of every
// report. Split from debug_resource.cpp by layer: that file keeps the records, this one words them.
#include <fmt/format.h>

#include <cstdlib>
#include <iterator>
#include <string>
#include <utility>

#include "pmrheap/debug_resource.hpp"

namespace pmrheap {
namespace {

constexpr const char* prefix = "pmrheap::debug_resource: ";

// "the 24-byte block at 0x... (alignment 8, allocation #3)"
std::string describe(const void* p, std::size_t bytes, std::size_t alignment, std::uint64_t serial) {
  return fmt::format("the {}-byte block at {} (alignment {}, allocation #{})", bytes, p, alignment, serial);
}

void append_trace(std::string& out, const char* label, const stack_trace& trace) {
  fmt::format_to(std::back_inserter(out), "  {} at:\n{}", label, trace.to_string("    "));
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

// The operation's name, and the past tense that labels its caller's trace.
const char* debug_resource::name(operation op) noexcept {
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

const char* debug_resource::done(operation op) noexcept {
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
std::string debug_resource::describe_call(const call& c) {
  if (c.op == operation::resize || c.op == operation::remap)
    return fmt::format("{}({}, {} -> {} bytes, alignment {})", name(c.op), c.p, c.bytes, c.new_bytes, c.alignment);
  return fmt::format("{}({}, {} bytes, alignment {})", name(c.op), c.p, c.bytes, c.alignment);
}

void debug_resource::add_error(error_list& errors, debug_error_kind kind, const void* p, std::string message) {
  ++stats_.errors;
  errors.push_back(debug_error{kind, std::move(message), p});
}

void debug_resource::report_unknown(const call& c, error_list& errors) {
  const auto at = static_cast<address>(c.p);
  if (const auto freed = freed_.find(at); freed != freed_.end()) {
    const freed_info& info = freed->second;
    const block_info& b = info.block;
    const bool is_free = c.op == operation::deallocate;
    std::string message =
        fmt::format("{}{}: {} of {}, which was already freed\n", prefix, is_free ? "double free" : "use after free",
                    describe_call(c), describe(c.p, b.bytes, b.alignment, b.serial));
    append_trace(message, "allocated", b.allocated);
    append_trace(message, is_free ? "first freed" : "freed", info.freed);
    append_trace(message, is_free ? "freed again" : done(c.op), *c.trace);
    add_error(errors, is_free ? debug_error_kind::double_free : debug_error_kind::use_after_free, c.p,
              std::move(message));
    return;
  }
  std::string message =
      fmt::format("{}invalid free: {} names no block this resource handed out", prefix, describe_call(c));
  // Only the table is consulted: is the pointer inside a live block?
  const block_info* inside = nullptr;
  if (auto next = live_.upper_bound(at); next != live_.begin()) {
    const auto& [start, block] = *std::prev(next);
    if (at < start + block.bytes + options_.canary_bytes) {
      fmt::format_to(std::back_inserter(message), "; it points {} bytes into {}", at - start,
                     describe(start, block.bytes, block.alignment, block.serial));
      inside = &block;
    }
  }
  message += '\n';
  append_trace(message, done(c.op), *c.trace);
  if (inside != nullptr) append_trace(message, "that block was allocated", inside->allocated);
  add_error(errors, debug_error_kind::invalid_free, c.p, std::move(message));
}

bool debug_resource::report_mismatch(const call& c, address p, const block_info& block, error_list& errors) {
  bool matches = true;
  const auto report = [&](debug_error_kind kind, std::string what) {
    std::string message = fmt::format("{}{}: {} of {}: {}\n", prefix, to_string(kind), describe_call(c),
                                      describe(p, block.bytes, block.alignment, block.serial), what);
    append_trace(message, "allocated", block.allocated);
    append_trace(message, done(c.op), *c.trace);
    add_error(errors, kind, p, std::move(message));
    matches = false;
  };
  if (c.bytes != block.bytes)
    report(debug_error_kind::size_mismatch, fmt::format("{} bytes given, the block has {}", c.bytes, block.bytes));
  if (c.alignment != block.alignment)
    report(debug_error_kind::alignment_mismatch,
           fmt::format("alignment {} given, the block was allocated with {}", c.alignment, block.alignment));
  return matches;
}

void debug_resource::check_canary(address p, const block_info& block, const call& c, error_list& errors) {
  const scan_result r = scan(p + block.bytes, options_.canary_bytes, canary_fill);
  if (r.changed == 0) return;
  std::string message = fmt::format(
      "{}overrun: {} was written past its end: {} of the {} canary bytes after it changed, the first at offset {} "
      "(found by {})\n",
      prefix, describe(p, block.bytes, block.alignment, block.serial), r.changed, options_.canary_bytes,
      block.bytes + r.first, name(c.op));
  append_trace(message, "allocated", block.allocated);
  append_trace(message, done(c.op), *c.trace);
  add_error(errors, debug_error_kind::overrun, p, std::move(message));
  fill(p + block.bytes, options_.canary_bytes, canary_fill);  // report each overrun once
}

void debug_resource::check_fill(address p, const freed_info& info, const char* when, error_list& errors) {
  if (!options_.fill) return;
  const block_info& b = info.block;
  const std::size_t held = b.bytes + options_.canary_bytes;
  const scan_result r = scan(p, held, freed_fill);
  if (r.changed == 0) return;
  std::string message = fmt::format(
      "{}use after free: {} was written after it was freed: {} bytes changed, the first at offset {} (0x{:02x} "
      "instead of 0x{:02x}; found {})\n",
      prefix, describe(p, b.bytes, b.alignment, b.serial), r.changed, r.first, static_cast<unsigned>(p[r.first]),
      freed_fill, when);
  append_trace(message, "allocated", b.allocated);
  append_trace(message, "freed", info.freed);
  add_error(errors, debug_error_kind::use_after_free, p, std::move(message));
  fill(p, held, freed_fill);
}

void debug_resource::add_leaks(error_list& errors) {
  for (const auto& [p, block] : live_) {
    std::string message = fmt::format("{}leak: {} was never deallocated\n", prefix,
                                      describe(p, block.bytes, block.alignment, block.serial));
    append_trace(message, "allocated", block.allocated);
    add_error(errors, debug_error_kind::leak, p, std::move(message));
  }
}

void debug_resource::log(const std::string& line) const noexcept {
  std::FILE* out = options_.log != nullptr ? options_.log : stderr;
  std::fputs(prefix, out);
  std::fputs(line.c_str(), out);
  std::fputc('\n', out);
}

void debug_resource::dispatch(const error_list& errors) const {
  if (errors.empty()) return;
  if (options_.on_error) {
    for (const debug_error& e : errors) options_.on_error(e);
    return;
  }
  for (const debug_error& e : errors) std::fwrite(e.message.data(), 1, e.message.size(), stderr);
  std::fflush(stderr);
  std::abort();
}

}  // namespace pmrheap
