// SPDX-License-Identifier: MIT
// debug_resource: the records, the hooks, the quarantine. The checks that read canaries and fills,
// and the wording of every report, are in debug_report.cpp.
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

#include <cstring>
#include <utility>

namespace pmrheap {

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
    deallocate_block(call{operation::deallocate, p, bytes, 0, alignment, &trace}, errors);
  }
  dispatch(errors);
}

bool debug_resource::do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept {
  const stack_trace trace = stack_trace::capture(options_.stack_trace_frames, 1);
  error_list errors;
  void* q = nullptr;
  {
    std::lock_guard lock(mutex_);
    q = resize_block(call{operation::resize, p, old_bytes, new_bytes, alignment, &trace}, errors);
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
    q = resize_block(call{operation::remap, p, old_bytes, new_bytes, alignment, &trace}, errors);
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
    if (c.op == operation::remap) {
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

void debug_resource::fill(address p, std::size_t bytes, unsigned char value) noexcept {
  // The resource owns the memory of its blocks; the const is only the table's key type.
  std::memset(const_cast<std::byte*>(p), value, bytes);
}

void debug_resource::give_back(address p, const block_info& block) noexcept {
  backing_->deallocate(const_cast<std::byte*>(p), block.bytes + options_.canary_bytes, block.alignment);
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
    const call c{operation::verify, nullptr, 0, 0, 0, &trace};
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
