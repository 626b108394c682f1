// SPDX-License-Identifier: MIT
// debug_resource.
//
// Design notes:
// - Records live in std::maps on the global heap, keyed by address, not in headers in front of the
//   blocks: a pointer the resource never handed out is found by lookup and never dereferenced, and
//   the block keeps exactly the alignment the backing gave it. Zig keeps its records inside its own
//   bucket pages instead; we cannot, because any backing may be below us.
// - The canary follows the block (the backing is asked for bytes + canary_bytes): overruns, the
//   common direction, are caught; underruns are not, since a leading guard would need alignment
//   padding in front of every over-aligned block.
// - Zig never reuses a freed small slot. We cannot stop the backing from reusing memory, so freed
//   blocks are held in a FIFO quarantine bounded by bytes and count, filled with 0xDD; their
//   records make double frees reportable with three traces and the fill shows writes after free.
// - Problems are collected under the lock and handed to on_error after it is released, with the
//   state already consistent, so a handler may call back into the resource.
// - Rejected: poisoning the canary and the quarantine for AddressSanitizer. ASan would then stop
//   at the first stray write, before this resource could report it, and the resource's own
//   detection (what users without sanitizers rely on) could not be tested in ASan builds.
#include "pmrheap/debug_resource.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <iterator>

namespace pmrheap {
namespace {

constexpr const char* prefix = "pmrheap::debug_resource: ";

// "the 24-byte block at 0x... (alignment 8, allocation #3)"
std::string describe(const void* p, std::size_t bytes, std::size_t alignment, std::uint64_t serial) {
  return fmt::format("the {}-byte block at {} (alignment {}, allocation #{})", bytes, p, alignment, serial);
}

// "deallocate(0x..., 24 bytes, alignment 8)" or "resize(0x..., 24 -> 48 bytes, alignment 8)"
template <class Call>
std::string describe_call(const Call& c) {
  if (std::strcmp(c.name, "resize") == 0 || std::strcmp(c.name, "remap") == 0)
    return fmt::format("{}({}, {} -> {} bytes, alignment {})", c.name, c.p, c.bytes, c.new_bytes, c.alignment);
  return fmt::format("{}({}, {} bytes, alignment {})", c.name, c.p, c.bytes, c.alignment);
}

void append_trace(std::string& out, const char* label, const stack_trace& trace) {
  fmt::format_to(std::back_inserter(out), "  {} at:\n{}", label, trace.to_string("    "));
}

// First byte in [p, p + n) that is not `value`, and how many are not; n when none.
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

void fill(const std::byte* p, std::size_t n, unsigned char value) noexcept {
  // The resource owns the memory of its blocks; the const is only the table's key type.
  std::memset(const_cast<std::byte*>(p), value, n);
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

debug_resource::debug_resource(std::pmr::memory_resource* backing, debug_options options)
    : backing_(backing != nullptr ? backing : page_resource::instance()), options_(std::move(options)) {
  if (options_.stack_trace_frames > stack_trace::max_frames) options_.stack_trace_frames = stack_trace::max_frames;
}

debug_resource::~debug_resource() {
  error_list errors;
  {
    std::lock_guard lock(mutex_);
    add_leaks(errors);
    while (!quarantine_.empty()) release_oldest("when the resource was destroyed", errors);
    freed_.clear();
  }
  dispatch(errors);
}

// ---- the hooks: capture the caller's trace first (skipping the hook's own frame), then lock --------

void* debug_resource::do_allocate(std::size_t bytes, std::size_t alignment) {
  if (bytes == 0 || !detail::is_pow2(alignment)) return resource::do_allocate(bytes, alignment);
  const stack_trace trace = stack_trace::capture(options_.stack_trace_frames, 1);
  void* p = nullptr;
  {
    std::lock_guard lock(mutex_);
    p = allocate_block(bytes, alignment, trace);
  }
  if (p == nullptr) throw_allocation_failure(bytes, alignment);
  return p;
}

void* debug_resource::do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept {
  const stack_trace trace = stack_trace::capture(options_.stack_trace_frames, 1);
  std::lock_guard lock(mutex_);
  return allocate_block(bytes, alignment, trace);
}

void debug_resource::do_deallocate(void* p, std::size_t bytes, std::size_t alignment) {
  const stack_trace trace = stack_trace::capture(options_.stack_trace_frames, 1);
  error_list errors;
  {
    std::lock_guard lock(mutex_);
    deallocate_block(call{"deallocate", "deallocated", p, bytes, 0, alignment, &trace}, errors);
  }
  dispatch(errors);
}

bool debug_resource::do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept {
  const stack_trace trace = stack_trace::capture(options_.stack_trace_frames, 1);
  error_list errors;
  void* q = nullptr;
  {
    std::lock_guard lock(mutex_);
    q = resize_block(call{"resize", "resized", p, old_bytes, new_bytes, alignment, &trace}, errors);
  }
  dispatch(errors);
  return q != nullptr;
}

void* debug_resource::do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept {
  const stack_trace trace = stack_trace::capture(options_.stack_trace_frames, 1);
  error_list errors;
  void* q = nullptr;
  {
    std::lock_guard lock(mutex_);
    q = resize_block(call{"remap", "remapped", p, old_bytes, new_bytes, alignment, &trace}, errors);
  }
  dispatch(errors);
  return q;
}

// ---- allocate, deallocate, resize ---------------------------------------------------------------

void* debug_resource::allocate_block(std::size_t bytes, std::size_t alignment, const stack_trace& trace) {
  std::size_t total = 0;
  const char* refused = nullptr;
  void* p = nullptr;
  // live_bytes never exceeds the limit, so the subtraction cannot wrap.
  if (bytes > options_.memory_limit - stats_.live_bytes) {
    refused = "memory limit";
  } else if (!detail::checked_add(bytes, options_.canary_bytes, total)) {
    refused = "size overflows";
  } else if ((p = pmrheap::try_allocate(*backing_, total, alignment)) == nullptr) {
    refused = "backing refused";
  }
  if (refused != nullptr) {
    if (options_.verbose_log)
      log(fmt::format("allocate {} bytes, alignment {} -> failed ({})", bytes, alignment, refused));
    return nullptr;
  }
  const auto at = static_cast<address>(p);
  try {
    live_.emplace(at, block_info{bytes, alignment, stats_.total_allocations + 1, trace});
  } catch (...) {
    backing_->deallocate(p, total, alignment);  // no room for the record: the allocation fails
    return nullptr;
  }
  forget_records(at, total);
  if (options_.fill) fill(at, bytes, allocated_fill);
  fill(at + bytes, options_.canary_bytes, canary_fill);
  ++stats_.total_allocations;
  ++stats_.live_allocations;
  stats_.live_bytes += bytes;
  stats_.total_bytes += bytes;
  if (stats_.live_bytes > stats_.peak_bytes) stats_.peak_bytes = stats_.live_bytes;
  if (options_.verbose_log)
    log(fmt::format("allocate {} bytes, alignment {} -> {} (allocation #{})", bytes, alignment, p,
                    stats_.total_allocations));
  return p;
}

void debug_resource::deallocate_block(const call& c, error_list& errors) {
  const auto at = static_cast<address>(c.p);
  const auto it = live_.find(at);
  if (it == live_.end()) {
    if (c.bytes != 0) report_unknown(c, errors);  // else the empty block: nothing to free
    return;
  }
  const block_info block = it->second;
  report_mismatch(c, at, block, errors);  // reported, then freed with the recorded size anyway
  check_canary(at, block, c, errors);
  live_.erase(it);
  --stats_.live_allocations;
  stats_.live_bytes -= block.bytes;
  ++stats_.total_deallocations;
  if (options_.verbose_log)
    log(fmt::format("deallocate {}, {} bytes, alignment {} (allocation #{})", c.p, block.bytes, block.alignment,
                    block.serial));
  quarantine(at, block, *c.trace, errors);
}

void* debug_resource::resize_block(const call& c, error_list& errors) {
  const auto at = static_cast<address>(c.p);
  const auto it = live_.find(at);
  if (it == live_.end()) {
    report_unknown(c, errors);
    return nullptr;
  }
  block_info& block = it->second;
  if (!report_mismatch(c, at, block, errors)) return nullptr;  // the caller's idea of the block is wrong
  check_canary(at, block, c, errors);
  const bool grows = c.new_bytes > c.bytes;
  std::size_t new_total = 0;
  void* q = nullptr;
  if ((!grows || c.new_bytes - c.bytes <= options_.memory_limit - stats_.live_bytes) &&
      detail::checked_add(c.new_bytes, options_.canary_bytes, new_total)) {
    const std::size_t old_total = c.bytes + options_.canary_bytes;
    if (std::strcmp(c.name, "remap") == 0) {
      q = pmrheap::remap(*backing_, c.p, old_total, new_total, c.alignment);
    } else if (pmrheap::resize(*backing_, c.p, old_total, new_total, c.alignment)) {
      q = c.p;
    }
  }
  if (options_.verbose_log)
    log(fmt::format("{} -> {}", describe_call(c), q == nullptr ? std::string("refused") : fmt::format("{}", q)));
  if (q == nullptr) return nullptr;

  const auto moved_to = static_cast<address>(q);
  if (grows && options_.fill) fill(moved_to + c.bytes, c.new_bytes - c.bytes, allocated_fill);
  fill(moved_to + c.new_bytes, options_.canary_bytes, canary_fill);
  if (grows) {
    stats_.live_bytes += c.new_bytes - c.bytes;
    stats_.total_bytes += c.new_bytes - c.bytes;
    if (stats_.live_bytes > stats_.peak_bytes) stats_.peak_bytes = stats_.live_bytes;
  } else {
    stats_.live_bytes -= c.bytes - c.new_bytes;
  }
  block.bytes = c.new_bytes;
  if (moved_to != at) {
    auto node = live_.extract(it);  // re-keyed without allocating
    node.key() = moved_to;
    live_.insert(std::move(node));
    forget_records(moved_to, new_total);
  }
  return q;
}

// ---- checks and reports -------------------------------------------------------------------------

void debug_resource::add_error(error_list& errors, debug_error_kind kind, const void* p, std::string message) {
  ++stats_.errors;
  errors.push_back(debug_error{kind, std::move(message), p});
}

void debug_resource::report_unknown(const call& c, error_list& errors) {
  const auto at = static_cast<address>(c.p);
  if (const auto freed = freed_.find(at); freed != freed_.end()) {
    const freed_info& info = freed->second;
    const block_info& b = info.block;
    const bool is_free = std::strcmp(c.name, "deallocate") == 0;
    std::string message =
        fmt::format("{}{}: {} of {}, which was already freed\n", prefix, is_free ? "double free" : "use after free",
                    describe_call(c), describe(c.p, b.bytes, b.alignment, b.serial));
    append_trace(message, "allocated", b.allocated);
    append_trace(message, is_free ? "first freed" : "freed", info.freed);
    append_trace(message, is_free ? "freed again" : c.done, *c.trace);
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
  append_trace(message, c.done, *c.trace);
  if (inside != nullptr) append_trace(message, "that block was allocated", inside->allocated);
  add_error(errors, debug_error_kind::invalid_free, c.p, std::move(message));
}

bool debug_resource::report_mismatch(const call& c, address p, const block_info& block, error_list& errors) {
  bool matches = true;
  const auto report = [&](debug_error_kind kind, std::string what) {
    std::string message = fmt::format("{}{}: {} of {}: {}\n", prefix, to_string(kind), describe_call(c),
                                      describe(p, block.bytes, block.alignment, block.serial), what);
    append_trace(message, "allocated", block.allocated);
    append_trace(message, c.done, *c.trace);
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
      block.bytes + r.first, c.name);
  append_trace(message, "allocated", block.allocated);
  append_trace(message, c.done, *c.trace);
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

// ---- quarantine and records ---------------------------------------------------------------------

void debug_resource::quarantine(address p, const block_info& block, const stack_trace& trace, error_list& errors) {
  bool hold = options_.never_unmap || options_.quarantine_blocks > 0;
  if (hold) {
    try {
      freed_.insert_or_assign(p, freed_info{block, trace, true});
      try {
        quarantine_.push_back(p);
      } catch (...) {
        freed_.erase(p);
        throw;
      }
    } catch (...) {
      hold = false;  // no room for the record: give the memory back at once
    }
  }
  if (!hold) {
    give_back(p, block);
    if (options_.retain_metadata) try {
        freed_.insert_or_assign(p, freed_info{block, trace, false});
      } catch (...) {
        // Losing a record only weakens a later report.
      }
    return;
  }
  if (options_.fill) fill(p, block.bytes + options_.canary_bytes, freed_fill);
  ++stats_.quarantined_blocks;
  stats_.quarantined_bytes += block.bytes;
  evict(errors);
}

void debug_resource::evict(error_list& errors) {
  if (options_.never_unmap) return;
  // The newest free stays even when it alone passes quarantine_bytes.
  while (!quarantine_.empty() && (quarantine_.size() > options_.quarantine_blocks ||
                                  (stats_.quarantined_bytes > options_.quarantine_bytes && quarantine_.size() > 1)))
    release_oldest("when it left the quarantine", errors);
}

void debug_resource::release_oldest(const char* when, error_list& errors) {
  const address p = quarantine_.front();
  quarantine_.pop_front();
  const auto it = freed_.find(p);
  PMRHEAP_ASSERT(it != freed_.end() && it->second.held, "every quarantined block has a held record");
  check_fill(p, it->second, when, errors);
  give_back(p, it->second.block);
  --stats_.quarantined_blocks;
  stats_.quarantined_bytes -= it->second.block.bytes;
  if (options_.retain_metadata) {
    it->second.held = false;
  } else {
    freed_.erase(it);
  }
}

void debug_resource::forget_records(address p, std::size_t bytes) noexcept {
  // Memory the backing handed out again: old records inside it describe nothing any more.
  for (auto it = freed_.lower_bound(p); it != freed_.end() && it->first < p + bytes;)
    it = it->second.held ? std::next(it) : freed_.erase(it);
}

void debug_resource::give_back(address p, const block_info& block) noexcept {
  backing_->deallocate(const_cast<std::byte*>(p), block.bytes + options_.canary_bytes, block.alignment);
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

// ---- on demand ----------------------------------------------------------------------------------

std::size_t debug_resource::leak_count() const {
  std::lock_guard lock(mutex_);
  return live_.size();
}

std::size_t debug_resource::report_leaks() {
  error_list errors;
  {
    std::lock_guard lock(mutex_);
    add_leaks(errors);
  }
  dispatch(errors);
  return errors.size();
}

std::size_t debug_resource::verify() {
  const stack_trace trace = stack_trace::capture(options_.stack_trace_frames, 1);
  error_list errors;
  {
    std::lock_guard lock(mutex_);
    const call c{"verify", "verified", nullptr, 0, 0, 0, &trace};
    for (const auto& [p, block] : live_) check_canary(p, block, c, errors);
    for (const address p : quarantine_) check_fill(p, freed_.at(p), "by verify", errors);
  }
  dispatch(errors);
  return errors.size();
}

void debug_resource::release_quarantine() {
  error_list errors;
  {
    std::lock_guard lock(mutex_);
    while (!quarantine_.empty()) release_oldest("by release_quarantine", errors);
  }
  dispatch(errors);
}

void debug_resource::flush_retained_metadata() {
  std::lock_guard lock(mutex_);
  std::erase_if(freed_, [](const auto& entry) { return !entry.second.held; });
}

debug_statistics debug_resource::statistics() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace pmrheap
