// SPDX-License-Identifier: MIT
// debug_resource's records (private to pmrheap_testing): the table of blocks by address, the pool
// of their stack traces and the byte helpers every check uses. The table's find, insert and erase
// are inline here because every allocate and deallocate runs them.
#ifndef PMRHEAP_SRC_TESTING_DEBUG_RECORDS_HPP
#define PMRHEAP_SRC_TESTING_DEBUG_RECORDS_HPP

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "pmrheap/detail/config.hpp"
#include "pmrheap/testing/stack_trace.hpp"

namespace pmrheap::detail::debug {

using address = const std::byte*;

inline constexpr std::uint32_t no_traces = UINT32_MAX;

// A block's record: in the table while the block is live, in the quarantine after its free. 32
// bytes.
struct record {
  address at;  // nullptr: an empty slot of the table
  std::size_t bytes;
  std::uint64_t serial;  // 1 for the first allocation
  std::uint32_t traces;  // index into the trace pool; no_traces when stack_trace_frames is 0
  std::uint8_t alignment_log2;
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

// A hint that `p` is read soon; nothing where the compiler has no way to say it.
inline void prefetch(const void* p) noexcept {
#if defined(__GNUC__)
  __builtin_prefetch(p);
#else
  static_cast<void>(p);
#endif
}

// Records by address: open addressing, linear probing, at most half full. erase moves the rest of
// a probe run back instead of leaving tombstones, so probes stay short while blocks come and go.
// insert and erase move records: a record* is valid until the next insert or erase.
class record_table {
 public:
  [[nodiscard]] record* find(address p) const noexcept {
    // Null marks an empty slot. std::pmr declares deallocate's pointer non-null, so a null here is
    // already outside the contract; it must still never match an empty slot.
    if (size_ == 0 || p == nullptr) return nullptr;
    for (std::size_t i = home(p);; i = (i + 1) & mask_) {
      record& r = slots_[i];
      if (r.at == p) return &r;
      if (r.at == nullptr) return nullptr;
    }
  }
  // The empty slot for `p` (absent), after growing if needed; nullptr when growth fails.
  [[nodiscard]] record* insert(address p) noexcept {
    if (size_ == max_size_ && !grow()) [[unlikely]]
      return nullptr;
    std::size_t i = home(p);
    while (slots_[i].at != nullptr) {
      PMRHEAP_ASSERT(slots_[i].at != p, "a block the backing hands out is not one this resource still holds");
      i = (i + 1) & mask_;
    }
    ++size_;
    slots_[i].at = p;
    return &slots_[i];
  }
  void erase(record* r) noexcept {
    // Backward shift: a later record of the run moves into the hole when the hole lies on its probe
    // path (from its home to its slot). Distances are taken modulo the capacity, so a run that
    // wraps past the end of the table needs no case of its own.
    auto hole = static_cast<std::size_t>(r - slots_.get());
    for (std::size_t i = (hole + 1) & mask_; slots_[i].at != nullptr; i = (i + 1) & mask_) {
      if (((i - home(slots_[i].at)) & mask_) < ((i - hole) & mask_)) continue;
      slots_[hole] = slots_[i];
      hole = i;
    }
    slots_[hole].at = nullptr;
    --size_;
  }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] record* begin() const noexcept { return slots_.get(); }
  [[nodiscard]] record* end() const noexcept { return slots_.get() + capacity(); }

 private:
  [[nodiscard]] std::size_t capacity() const noexcept { return slots_ ? mask_ + 1 : 0; }
  [[nodiscard]] std::size_t home(address p) const noexcept {
    // Fibonacci hashing: blocks are aligned, so the low bits of an address say little; the top
    // bits of the product mix all of them.
    return static_cast<std::size_t>((reinterpret_cast<std::uintptr_t>(p) * std::uint64_t{0x9e3779b97f4a7c15}) >>
                                    shift_);
  }
  [[nodiscard]] bool grow() noexcept;
  std::unique_ptr<record[]> slots_;
  std::size_t mask_ = 0;  // capacity - 1
  std::size_t size_ = 0;
  std::size_t max_size_ = 0;  // capacity / 2: grown before it is passed
  unsigned shift_ = 0;        // 64 - log2(capacity), for the multiplicative hash
};

// The records' traces, reused through a free list (stack_trace_frames > 0 only).
class trace_pool {
 public:
  // An unused entry, or no_traces when none can be made.
  [[nodiscard]] std::uint32_t acquire() noexcept {
    if (!free_.empty()) {
      const std::uint32_t index = free_.back();
      free_.pop_back();
      return index;
    }
    return acquire_new();
  }
  void release(std::uint32_t index) noexcept {
    if (index != no_traces) free_.push_back(index);  // within the reserved capacity
  }
  [[nodiscard]] trace_pair& operator[](std::uint32_t index) noexcept { return traces_[index]; }
  // The entry's traces, or empty ones for no_traces.
  [[nodiscard]] const trace_pair& of(std::uint32_t index) const noexcept;

 private:
  [[nodiscard]] std::uint32_t acquire_new() noexcept;
  std::vector<trace_pair> traces_;
  std::vector<std::uint32_t> free_;  // unused entries of traces_; capacity kept >= traces_.size()
};

// The unit of the fill checks and writes below: 16 bytes where the compiler has vector types
// (SSE2, NEON; plain code where the target has neither), 8 bytes elsewhere. Every pair writes a
// block's fill and canary, and checks a canary and a quarantined block's whole fill: a pair's
// cheapest checking is these steps, so they take 16 bytes at a time and no call.
//
// With vector types the pattern is a value and each step one unaligned load or store through a
// may_alias type: copying through memcpy took the pattern's address, and g++ then kept it on the
// stack and reloaded it after every store into the block (a char store may alias anything), 20
// instructions a pair. The helpers return nothing: a function returning a vector draws an ABI
// warning from g++ -m32 without SSE.
#if defined(__GNUC__)
using chunk = unsigned char __attribute__((vector_size(16)));
typedef unsigned char unaligned_chunk __attribute__((vector_size(16), aligned(1), may_alias));
PMRHEAP_ALWAYS_INLINE void make_pattern(chunk& pattern, unsigned char value) noexcept { pattern = chunk{} + value; }
PMRHEAP_ALWAYS_INLINE void load_chunk(chunk& v, address p) noexcept {
  v = *reinterpret_cast<const unaligned_chunk*>(p);
}
PMRHEAP_ALWAYS_INLINE void store_chunk(std::byte* p, const chunk& v) noexcept {
  *reinterpret_cast<unaligned_chunk*>(p) = v;
}
#else
using chunk = std::uint64_t;
inline void make_pattern(chunk& pattern, unsigned char value) noexcept { pattern = value * 0x0101010101010101u; }
inline void load_chunk(chunk& v, address p) noexcept { std::memcpy(&v, p, sizeof v); }
inline void store_chunk(std::byte* p, const chunk& v) noexcept { std::memcpy(p, &v, sizeof v); }
#endif

// Calls `step(offset)` for chunks that together cover [0, n), sizeof(chunk) <= n <= 8 chunks: 1,
// 2, 4, 6 or 8 of them from both ends, overlapping in the middle (an 80-byte block and its canary:
// 6). No loop: a loop's count and branch cost as much as the steps at these sizes, and a compiler
// may turn a loop of stores back into a memset call.
template <class Step>
PMRHEAP_ALWAYS_INLINE void for_chunks_of(std::size_t n, Step step) noexcept {
  constexpr std::size_t c = sizeof(chunk);
  step(0);
  if (n > c) step(n - c);
  if (n > 2 * c) {
    step(c);
    step(n - 2 * c);
  }
  if (n > 4 * c) {
    step(2 * c);
    step(n - 3 * c);
    if (n > 6 * c) {
      step(3 * c);
      step(n - 4 * c);
    }
  }
}

// Whether [p, p + n) holds only `value`.
[[nodiscard]] inline bool filled_with(address p, std::size_t n, unsigned char value) noexcept {
  constexpr std::size_t c = sizeof(chunk);
  if (n < c) {
    bool same = true;
    for (std::size_t i = 0; i < n; ++i) same &= static_cast<unsigned char>(p[i]) == value;
    return same;
  }
  chunk pattern;
  make_pattern(pattern, value);
  chunk differ = pattern ^ pattern;
  const auto check = [&](std::size_t at) {
    chunk v;
    load_chunk(v, p + at);
    differ |= v ^ pattern;
  };
  if (n <= 8 * sizeof(chunk)) {
    for_chunks_of(n, check);
  } else {
    // The last chunk overlaps the one before it when n is not a multiple of its size.
    check(n - c);
    for (std::size_t i = 0; i + c < n; i += c) check(i);
  }
  std::uint64_t words[c / 8];
  std::memcpy(words, &differ, sizeof words);
  std::uint64_t any = 0;
  for (const std::uint64_t w : words) any |= w;
  return any == 0;
}

// Writes `value` over [p, p + bytes). The resource owns the memory of its blocks; the const is only
// the table's key type.
inline void fill(address p, std::size_t bytes, unsigned char value) noexcept {
  auto* const out = const_cast<std::byte*>(p);
  constexpr std::size_t c = sizeof(chunk);
  if (bytes < c || bytes > 8 * c) {
    std::memset(out, value, bytes);
    return;
  }
  // Canaries and small blocks: fixed stores, no call.
  chunk pattern;
  make_pattern(pattern, value);
  for_chunks_of(bytes, [&](std::size_t at) { store_chunk(out + at, pattern); });
}

}  // namespace pmrheap::detail::debug

#endif  // PMRHEAP_SRC_TESTING_DEBUG_RECORDS_HPP
