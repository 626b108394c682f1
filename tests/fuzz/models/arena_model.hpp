// SPDX-License-Identifier: MIT
// The model of arena_resource, shared with synchronized_resource's target (an arena behind a lock).
#ifndef PMRHEAP_TESTS_FUZZ_MODELS_ARENA_MODEL_HPP
#define PMRHEAP_TESTS_FUZZ_MODELS_ARENA_MODEL_HPP

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "models/common.hpp"
#include "pmrheap/arena_resource.hpp"

namespace pmrheap::fuzz::models {

// arena_resource (docs/resources/arena_resource.md). Its node sizes and in-place node growth depend
// on the upstream, so the model does not predict where a new node goes; it keeps every hypothesis
// about the bump cursor that the observations leave open, and capacity() tells it whether an
// allocation took new memory:
// - capacity() unchanged: the block was bumped at the cursor, so it is exactly where a hypothesis
//   puts it, and becomes the last block; a block that fits in bytes known to be free in the bump
//   node must not change capacity() (what deallocate and shrinking gave back is reused).
// - capacity() grew: the block is the last one (in a grown or new bump node), or an oversized node
//   went behind the bump node and the cursor did not move.
// Then: only a block that may be the last can grow (others must fail; shrinking always works);
// remap never moves; bytes freed or cut off a block that is certainly not the last are never
// handed out again before a reset; capacity() changes only when memory is taken, and after a
// reset it is exactly what the mode keeps.
class arena_model final : public model {
 public:
  /// [buffer, buffer + buffer_bytes): the caller's buffer the arena starts in (kept by every reset).
  explicit arena_model(const pmrheap::arena_resource& arena, const void* buffer = nullptr, std::size_t buffer_bytes = 0)
      : arena_(arena), capacity_(arena.capacity()), buffer_begin_(address(buffer)), buffer_(buffer_bytes) {}

  [[nodiscard]] expect allocate(std::size_t, std::size_t) const override { return expect::success; }
  [[nodiscard]] expect resize(const block& b, std::size_t new_bytes) const override {
    if (new_bytes < b.bytes) return expect::success;
    bool may_be_last = false;
    bool surely_fits = true;  // in every open hypothesis, b is last and the growth fits known free bytes
    for (const auto& s : states_) {
      if (!s) {
        may_be_last = true;
        surely_fits = false;
      } else if (s->cursor == end_of(b)) {
        may_be_last = true;
        if (new_bytes - b.bytes > s->room_end - s->cursor) surely_fits = false;
      } else {
        surely_fits = false;
      }
    }
    if (!may_be_last) return expect::failure;
    return surely_fits ? expect::success : expect::either;
  }
  [[nodiscard]] expect remap(const block& b, std::size_t new_bytes) const override { return resize(b, new_bytes); }
  [[nodiscard]] bool remap_may_move(const block&, std::size_t) const override { return false; }

  void allocated(const block& b) override {
    const std::size_t capacity = arena_.capacity();
    const bool grew = capacity != capacity_;
    if (capacity < capacity_) complain("capacity() fell at an allocation");
    std::vector<std::optional<state>> next;
    if (capacity_ == 0) {  // no node yet: the first one is the bump node
      if (grew) next.push_back(state{end_of(b), end_of(b)});
    } else {
      for (const auto& s : states_) {
        std::uintptr_t at = 0;
        bool fits = false;
        if (s) {
          at = s->cursor + pmrheap::detail::align_offset(reinterpret_cast<const void*>(s->cursor), b.alignment);
          fits = at >= s->cursor && at <= s->room_end && b.bytes <= s->room_end - at;
        }
        if (!grew) {  // bumped at the cursor, or the first block in the node a reset kept
          if (!s || (spare_pending_ && !in_buffer(b))) next.push_back(state{end_of(b), end_of(b)});
          if (s && address(b.p) == at) next.push_back(state{end_of(b), std::max(s->room_end, end_of(b))});
        } else if (!fits) {  // the last block of a grown or new bump node, or an oversized node behind it
          next.push_back(state{end_of(b), end_of(b)});
          next.push_back(s);
        }
      }
      // Leaving the buffer, the arena moves on to the node a reset kept; a block too large for it
      // gets an oversized node behind it, so the kept node is now the bump node, empty, at an
      // address the model never saw.
      if (grew && spare_pending_ && !in_buffer(b)) next.push_back(std::nullopt);
    }
    capacity_ = capacity;
    if (!in_buffer(b)) spare_pending_ = false;  // the arena left the buffer: the kept node is in use
    if (overlaps_dead(b)) complain("a block overlaps bytes that were given back but are not reclaimable");
    settle(std::move(next), "the block is not at the cursor of any state the arena can be in");
  }

  void resized(const block& before, const block& after) override {
    if (after.bytes < before.bytes) {
      bool may_be_last = false;
      for (auto& s : states_) {
        if (!s) {
          may_be_last = true;
        } else if (s->cursor == end_of(before)) {
          s->cursor = end_of(after);
          may_be_last = true;
        }
      }
      if (!may_be_last) dead_.push_back({end_of(after), end_of(before)});
      return;
    }
    std::vector<std::optional<state>> next;
    for (const auto& s : states_)
      if (!s || s->cursor == end_of(before))
        next.push_back(state{end_of(after), std::max(s ? s->room_end : 0, end_of(after))});
    capacity_ = arena_.capacity();
    for (const auto& d : dead_)
      if (d.first < end_of(after) && end_of(before) < d.second) complain("a block grew into bytes given back earlier");
    settle(std::move(next), "a block that is not the last grew");
  }

  void freed(const block& b) override {
    bool may_be_last = false;
    for (auto& s : states_) {
      if (!s) {
        may_be_last = true;
      } else if (s->cursor == end_of(b)) {
        s->cursor = address(b.p);
        may_be_last = true;
      }
    }
    if (!may_be_last) dead_.push_back({address(b.p), end_of(b)});
    settle(std::move(states_), "");
  }

  void released() override { start_over(); }

  [[nodiscard]] bool has_reset() const override { return true; }
  void reset(pmrheap::resource& r, const reset_request& request) override {
    static_cast<void>(r);
    const std::size_t before = arena_.capacity();
    // reset is not const; the arena is ours to drive (the model holds it const for its queries).
    const bool ok = request.apply(const_cast<pmrheap::arena_resource&>(arena_));
    // The caller's buffer always stays; the limit applies to what came from the upstream.
    std::size_t expected = before;
    if (request.limit)
      expected = buffer_ + std::min(*request.limit, before - buffer_);
    else if (request.mode == pmrheap::reset_mode::free_all)
      expected = buffer_;
    if (!ok) complain("reset returned false, though the upstream never refuses here");
    if (arena_.capacity() != expected)
      complain("capacity() after the reset is " + std::to_string(arena_.capacity()) + ", not " +
               std::to_string(expected));
    start_over();
  }

  [[nodiscard]] std::string check(pmrheap::resource&, const std::vector<block>&) override {
    if (arena_.capacity() != capacity_)
      return "capacity() changed from " + std::to_string(capacity_) + " to " + std::to_string(arena_.capacity()) +
             " without a successful allocation or growth";
    return {};
  }

 private:
  struct state {
    std::uintptr_t cursor;    // the bump node's first free byte
    std::uintptr_t room_end;  // bytes up to here are known to be in the bump node
    bool operator==(const state&) const = default;
  };
  using span = std::pair<std::uintptr_t, std::uintptr_t>;

  void start_over() {
    states_.assign(1, std::nullopt);
    dead_.clear();
    capacity_ = arena_.capacity();
    // Over a buffer, a reset that kept a node keeps it for when the buffer is full.
    spare_pending_ = buffer_ != 0 && capacity_ > buffer_;
  }
  [[nodiscard]] bool in_buffer(const block& b) const noexcept { return address(b.p) - buffer_begin_ < buffer_; }

  // Keeps the open hypotheses (merged: one per cursor, with the smallest known room; at most a
  // few, else "unknown"); none left is a broken promise.
  void settle(std::vector<std::optional<state>> next, const char* broken) {
    std::vector<std::optional<state>> merged;
    for (const auto& s : next) {
      if (!s) {
        if (std::find(merged.begin(), merged.end(), std::nullopt) == merged.end()) merged.push_back(std::nullopt);
        continue;
      }
      auto same =
          std::find_if(merged.begin(), merged.end(), [&](const auto& m) { return m && m->cursor == s->cursor; });
      if (same == merged.end()) {
        merged.push_back(s);
      } else if (s->room_end < (*same)->room_end) {
        (*same)->room_end = s->room_end;
      }
    }
    if (merged.empty() && *broken != '\0') {
      complain(broken);
      merged.push_back(std::nullopt);
    }
    if (merged.size() > 8) merged.assign(1, std::nullopt);
    states_ = std::move(merged);
  }

  [[nodiscard]] bool overlaps_dead(const block& b) const {
    for (const span& d : dead_)
      if (d.first < end_of(b) && address(b.p) < d.second) return true;
    return false;
  }

  const pmrheap::arena_resource& arena_;
  std::vector<std::optional<state>> states_{std::nullopt};
  std::vector<span> dead_;
  std::size_t capacity_;
  std::uintptr_t buffer_begin_;
  std::size_t buffer_;
  bool spare_pending_ = false;
};

/// setup[0] odd: an initial capacity of 2^(setup[0] / 2 % 22) + setup[0] bytes; even: none.
inline std::size_t arena_initial_capacity(const std::uint8_t* setup) noexcept {
  return setup[0] % 2 == 0 ? 0 : (std::size_t{1} << (setup[0] / 2 % 22)) + setup[0];
}

}  // namespace pmrheap::fuzz::models

#endif  // PMRHEAP_TESTS_FUZZ_MODELS_ARENA_MODEL_HPP
