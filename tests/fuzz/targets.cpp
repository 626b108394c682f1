// SPDX-License-Identifier: MIT
// The fuzz targets and the shadow model of each resource (harness.hpp). A new target is one entry
// in targets(), a model if the resource promises more than the shared contract, and a seed corpus
// in tests/fuzz/corpus/<name>/ (the replay test insists on one): `make_seeds.py <name>`.
//
// Targets that stand on a buffer, a reservation or fail indices build their resource themselves
// from setup bytes at the start of each input (target::make), so the fuzzer varies those too.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "harness.hpp"
#include "pmrheap/arena_resource.hpp"
#include "pmrheap/buffer_first_resource.hpp"
#include "pmrheap/c_resource.hpp"
#include "pmrheap/concurrent_arena_resource.hpp"
#include "pmrheap/debug_resource.hpp"
#include "pmrheap/detail/align.hpp"
#include "pmrheap/failing_resource.hpp"
#include "pmrheap/fixed_buffer_resource.hpp"
#include "pmrheap/page_resource.hpp"
#include "pmrheap/platform.hpp"
#include "pmrheap/stack_fallback_resource.hpp"
#include "pmrheap/synchronized_resource.hpp"
#include "pmrheap/virtual_arena_resource.hpp"
#include "support/resources.hpp"

namespace pmrheap::fuzz {
namespace {

using pmrheap::detail::size_max;

std::uintptr_t address(const void* p) noexcept { return reinterpret_cast<std::uintptr_t>(p); }
std::uintptr_t end_of(const block& b) noexcept { return address(b.p) + b.bytes; }

// ---- c_resource and page_resource ------------------------------------------------------------

// c_resource (docs/resources.md#c_resource): the C heap never refuses a block of at most 2 MiB
// here; shrinking is always in place; growth of a malloc-strategy block always succeeds by
// realloc; an over-aligned block is never moved (realloc could lose the alignment).
struct c_rules {
  static bool malloc_strategy(const block& b) noexcept { return b.alignment <= alignof(std::max_align_t); }
  static expect resize(const block& b, std::size_t new_bytes) noexcept {
    return new_bytes < b.bytes ? expect::success : expect::either;
  }
  static expect remap(const block& b, std::size_t new_bytes) noexcept {
    if (new_bytes < b.bytes || malloc_strategy(b)) return expect::success;
    return expect::either;  // grows only within the usable size
  }
  static bool remap_may_move(const block& b, std::size_t new_bytes) noexcept {
    return new_bytes > b.bytes && malloc_strategy(b);
  }
};

class c_model final : public model {
 public:
  [[nodiscard]] expect allocate(std::size_t, std::size_t) const override { return expect::success; }
  [[nodiscard]] expect resize(const block& b, std::size_t new_bytes) const override {
    return c_rules::resize(b, new_bytes);
  }
  [[nodiscard]] expect remap(const block& b, std::size_t new_bytes) const override {
    return c_rules::remap(b, new_bytes);
  }
  [[nodiscard]] bool remap_may_move(const block& b, std::size_t new_bytes) const override {
    return c_rules::remap_may_move(b, new_bytes);
  }
};

// page_resource (docs/resources.md#page_resource): whole zeroed pages; the same page count always
// resizes; blocks aligned above a page never change their page count; shrinking across pages
// works; growth across pages only by remap, and only where mremap exists (Linux).
class page_model final : public model {
 public:
  [[nodiscard]] expect allocate(std::size_t, std::size_t) const override { return expect::success; }
  [[nodiscard]] std::size_t zero_from(const block&) const override { return 0; }
  [[nodiscard]] expect resize(const block& b, std::size_t new_bytes) const override {
    if (page_rounded(new_bytes) == page_rounded(b.bytes)) return expect::success;
    if (b.alignment > page()) return expect::failure;
    return new_bytes < b.bytes ? expect::success : expect::failure;
  }
  [[nodiscard]] expect remap(const block& b, std::size_t new_bytes) const override {
    if (page_rounded(new_bytes) == page_rounded(b.bytes)) return expect::success;
    if (b.alignment > page()) return expect::failure;
    if (new_bytes < b.bytes) return expect::success;
#if defined(__linux__)
    return expect::success;
#else
    return expect::failure;
#endif
  }
  [[nodiscard]] bool remap_may_move(const block& b, std::size_t new_bytes) const override {
    return page_rounded(new_bytes) != page_rounded(b.bytes);
  }
  [[nodiscard]] std::size_t zero_after_growth(const block& before) const override { return page_rounded(before.bytes); }

 private:
  static std::size_t page() noexcept { return pmrheap::platform::page_size(); }
  static std::size_t page_rounded(std::size_t bytes) noexcept { return pmrheap::detail::align_up(bytes, page()); }
};

// ---- fixed buffers ------------------------------------------------------------------------------

// The bump rules of fixed_buffer_resource (docs/resources.md#fixed_buffer_resource), exactly: a
// block goes at the first address aligned as asked after the used bytes, and fails exactly when it
// does not fit; only the last block (ending at used()) is reclaimed by deallocate and shrinking,
// and only it grows, within the buffer. Shared by the two fixed buffers and buffer_first.
class bump_rules {
 public:
  bump_rules(const void* base, std::size_t capacity) noexcept
      : base_(base == nullptr ? 0 : address(base)), capacity_(base == nullptr ? 0 : capacity) {}

  [[nodiscard]] std::size_t used() const noexcept { return used_; }
  [[nodiscard]] bool owns(const void* p) const noexcept { return address(p) - base_ < capacity_; }
  // Where allocate(bytes, alignment) puts its block; false when it must fail.
  [[nodiscard]] bool fits(std::size_t bytes, std::size_t alignment, std::size_t& start) const noexcept {
    start = used_ + pmrheap::detail::align_offset(reinterpret_cast<const void*>(base_ + used_), alignment);
    return start <= capacity_ && bytes <= capacity_ - start;
  }
  [[nodiscard]] bool is_last(const block& b) const noexcept { return offset(b) + b.bytes == used_; }
  [[nodiscard]] expect resize(const block& b, std::size_t new_bytes) const noexcept {
    if (new_bytes < b.bytes) return expect::success;
    return is_last(b) && new_bytes - b.bytes <= capacity_ - used_ ? expect::success : expect::failure;
  }
  // "" when `b` is where the rules put it.
  [[nodiscard]] std::string allocated(const block& b) {
    std::size_t start = 0;
    if (!fits(b.bytes, b.alignment, start)) return "a block the buffer has no room for was handed out";
    if (address(b.p) != base_ + start)
      return "the block is at offset " + std::to_string(address(b.p) - base_) + ", not " + std::to_string(start);
    used_ = start + b.bytes;
    return {};
  }
  void resized(const block& before, const block& after) noexcept {
    if (is_last(before)) used_ = offset(before) + after.bytes;
  }
  void freed(const block& b) noexcept {
    if (is_last(b)) used_ = offset(b);
  }
  void reset() noexcept { used_ = 0; }

  // owns() must say yes to every byte of the buffer and no just outside it.
  template <class R>
  [[nodiscard]] std::string check_owns(const R& r) const {
    if (capacity_ == 0) return {};
    if (!r.owns(reinterpret_cast<const void*>(base_)) || !r.owns(reinterpret_cast<const void*>(base_ + capacity_ - 1)))
      return "owns() denies a byte of the buffer";
    if (r.owns(reinterpret_cast<const void*>(base_ - 1)) || r.owns(reinterpret_cast<const void*>(base_ + capacity_)))
      return "owns() claims a byte next to the buffer";
    return {};
  }

 private:
  [[nodiscard]] std::size_t offset(const block& b) const noexcept { return address(b.p) - base_; }

  std::uintptr_t base_;
  std::size_t capacity_;
  std::size_t used_ = 0;
};

// The buffer of a fixed-buffer target: `setup[0]` picks the size (0 to 32 MiB, powers of two and
// odd sizes; 255 is a null buffer), `setup[1]` how far past an aligned address it starts.
class buffer_storage {
 public:
  explicit buffer_storage(const std::uint8_t* setup) {
    if (setup[0] == 255) return;
    const unsigned shift = setup[0] % 26u;
    size_ = (std::size_t{1} << shift) + (setup[0] >= 128 ? setup[0] * 37u % 4099u : 0u);
    const std::size_t skew = setup[1] % 64u;
    // Uninitialised (no zeroing of up to 32 MiB per input); aligned to 64 before the skew.
    memory_.reset(new std::byte[size_ + 64 + skew]);
    data_ = memory_.get() + pmrheap::detail::align_offset(memory_.get(), 64) + skew;
  }
  [[nodiscard]] std::byte* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

 private:
  std::unique_ptr<std::byte[]> memory_;
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

// fixed_buffer_resource and concurrent_fixed_buffer_resource (used from one thread here): the bump
// rules exactly, used() and is_last_allocation() as the model says, owns() for every live block.
template <class R>
class fixed_model final : public model {
 public:
  fixed_model(const R& r, const void* base, std::size_t capacity) : r_(r), rules_(base, capacity) {}

  [[nodiscard]] expect allocate(std::size_t bytes, std::size_t alignment) const override {
    std::size_t start = 0;
    return rules_.fits(bytes, alignment, start) ? expect::success : expect::failure;
  }
  [[nodiscard]] expect resize(const block& b, std::size_t new_bytes) const override {
    return rules_.resize(b, new_bytes);
  }
  [[nodiscard]] expect remap(const block& b, std::size_t new_bytes) const override {
    return rules_.resize(b, new_bytes);
  }
  [[nodiscard]] bool remap_may_move(const block&, std::size_t) const override { return false; }
  void allocated(const block& b) override {
    if (std::string problem = rules_.allocated(b); !problem.empty()) complain(problem);
  }
  void resized(const block& before, const block& after) override { rules_.resized(before, after); }
  void freed(const block& b) override { rules_.freed(b); }
  void released() override { rules_.reset(); }
  [[nodiscard]] std::string check(pmrheap::resource&, const std::vector<block>& live) override {
    if (r_.used() != rules_.used())
      return "used() is " + std::to_string(r_.used()) + ", the model says " + std::to_string(rules_.used());
    for (const block& b : live) {
      if (!r_.owns(b.p) || !r_.owns(b.p + b.bytes - 1)) return "owns() denies a live block";
      if (r_.is_last_allocation(b.p, b.bytes) != rules_.is_last(b))
        return "is_last_allocation() disagrees with the model on a live block";
    }
    return rules_.check_owns(r_);
  }

 private:
  const R& r_;
  bump_rules rules_;
};

template <class R>
subject make_fixed(const std::uint8_t* setup) {
  struct holder {
    explicit holder(const std::uint8_t* s) : buffer(s), top(buffer.data(), buffer.size()) {}
    buffer_storage buffer;
    R top;
  };
  auto h = std::make_shared<holder>(setup);
  return {{h, &h->top},
          std::make_unique<fixed_model<R>>(h->top, h->buffer.data(), h->buffer.size()),
          pmrheap::test::catalog_detail::reset<R>};
}

// ---- buffer_first_resource and stack_fallback_resource ----------------------------------------

// Buffer first, c_resource behind it (docs/resources.md#buffer_first_resource): a block goes to the
// buffer exactly when the bump rules fit it, else to the fallback, which never refuses here; owns()
// routes every later call, so buffer blocks follow the bump rules and fallback blocks c_resource's;
// no resize or remap moves a block from one to the other.
template <class R>
class buffer_first_model final : public model {
 public:
  buffer_first_model(const R& r, const void* base, std::size_t capacity) : r_(r), rules_(base, capacity) {}

  [[nodiscard]] expect allocate(std::size_t, std::size_t) const override { return expect::success; }
  [[nodiscard]] expect resize(const block& b, std::size_t new_bytes) const override {
    return rules_.owns(b.p) ? rules_.resize(b, new_bytes) : c_rules::resize(b, new_bytes);
  }
  [[nodiscard]] expect remap(const block& b, std::size_t new_bytes) const override {
    return rules_.owns(b.p) ? rules_.resize(b, new_bytes) : c_rules::remap(b, new_bytes);
  }
  [[nodiscard]] bool remap_may_move(const block& b, std::size_t new_bytes) const override {
    return !rules_.owns(b.p) && c_rules::remap_may_move(b, new_bytes);
  }
  void allocated(const block& b) override {
    std::size_t start = 0;
    const bool fits = rules_.fits(b.bytes, b.alignment, start);
    if (!rules_.owns(b.p)) {
      if (fits) complain("went to the fallback, but the buffer had room for it");
      return;
    }
    if (std::string problem = rules_.allocated(b); !problem.empty()) complain(problem);
  }
  void resized(const block& before, const block& after) override {
    if (rules_.owns(before.p) != rules_.owns(after.p))
      complain("resize or remap moved a block between buffer and fallback");
    if (rules_.owns(before.p)) rules_.resized(before, after);
  }
  void freed(const block& b) override {
    if (rules_.owns(b.p)) rules_.freed(b);
  }
  // A fallback block that moved and stayed in the fallback was remapped there (realloc), or
  // allocated there anew because the buffer had no room: the buffer saw neither. Any other move
  // is allocate + copy + free, and allocated() checks where the new block went.
  void reallocated(const block& before, const block& after) override {
    if (after.p == before.p) return resized(before, after);
    if (!rules_.owns(before.p) && !rules_.owns(after.p)) return;
    allocated(after);
    freed(before);
  }
  [[nodiscard]] std::string check(pmrheap::resource&, const std::vector<block>& live) override {
    if (r_.used() != rules_.used())
      return "used() is " + std::to_string(r_.used()) + ", the model says " + std::to_string(rules_.used());
    for (const block& b : live)
      if (r_.owns(b.p) != rules_.owns(b.p)) return "owns() disagrees with the buffer's bounds on a live block";
    return rules_.check_owns(r_);
  }

 private:
  const R& r_;
  bump_rules rules_;
};

subject make_buffer_first(const std::uint8_t* setup) {
  struct holder {
    explicit holder(const std::uint8_t* s)
        : buffer(s), top(std::span<std::byte>(buffer.data(), buffer.size()), pmrheap::c_resource::instance()) {}
    buffer_storage buffer;
    pmrheap::buffer_first_resource top;
  };
  auto h = std::make_shared<holder>(setup);
  return {
      {h, &h->top},
      std::make_unique<buffer_first_model<pmrheap::buffer_first_resource>>(h->top, h->buffer.data(), h->buffer.size())};
}

subject make_stack_fallback(const std::uint8_t*) {
  using R = pmrheap::stack_fallback_resource<4096>;
  auto r = std::make_shared<R>(pmrheap::c_resource::instance());
  // The inline buffer is somewhere inside the object: its first byte is the first one owns() claims.
  const auto* object = reinterpret_cast<const std::byte*>(r.get());
  const std::byte* base = nullptr;
  for (std::size_t i = 0; i < sizeof(R) && base == nullptr; ++i)
    if (r->owns(object + i)) base = object + i;
  if (base == nullptr) {
    std::fprintf(stderr, "pmrheap fuzz: owns() claims no byte of a stack_fallback_resource\n");
    std::abort();
  }
  return {r, std::make_unique<buffer_first_model<R>>(*r, base, R::capacity())};
}

// ---- arenas -------------------------------------------------------------------------------------

// arena_resource (docs/resources.md#arena_resource). Its node sizes and in-place node growth depend
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
  explicit arena_model(const pmrheap::arena_resource& arena) : arena_(arena), capacity_(arena.capacity()) {}

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
        if (!grew) {  // bumped at the cursor
          if (!s) next.push_back(state{end_of(b), end_of(b)});
          if (s && address(b.p) == at) next.push_back(state{end_of(b), std::max(s->room_end, end_of(b))});
        } else if (!fits) {  // the last block of a grown or new bump node, or an oversized node behind it
          next.push_back(state{end_of(b), end_of(b)});
          next.push_back(s);
        }
      }
    }
    capacity_ = capacity;
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
  void reset(pmrheap::resource& r, pmrheap::reset_mode mode, std::size_t limit) override {
    static_cast<void>(r);
    const std::size_t before = arena_.capacity();
    // reset is not const; the arena is ours to drive (the model holds it const for its queries).
    const bool ok = const_cast<pmrheap::arena_resource&>(arena_).reset(mode, limit);
    std::size_t expected = before;
    if (mode == pmrheap::reset_mode::free_all) expected = 0;
    if (mode == pmrheap::reset_mode::retain_with_limit) expected = std::min(limit, before);
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
  }

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
};

template <class Upstream>
subject make_arena(const std::uint8_t* setup) {
  struct holder {
    explicit holder(std::size_t initial) : top(initial, Upstream::instance()) {}
    pmrheap::arena_resource top;
  };
  // setup[0] odd: an initial capacity of 2^(setup[0] / 2 % 22) + setup[0] bytes.
  const std::size_t initial = setup[0] % 2 == 0 ? 0 : (std::size_t{1} << (setup[0] / 2 % 22)) + setup[0];
  auto h = std::make_shared<holder>(initial);
  return {{h, &h->top},
          std::make_unique<arena_model>(h->top),
          pmrheap::test::catalog_detail::release<pmrheap::arena_resource>};
}

subject make_synchronized_arena(const std::uint8_t* setup) {
  struct holder {
    explicit holder(std::size_t initial) : arena(initial, pmrheap::c_resource::instance()), top(&arena) {}
    pmrheap::arena_resource arena;
    pmrheap::synchronized_resource<> top;
  };
  const std::size_t initial = setup[0] % 2 == 0 ? 0 : (std::size_t{1} << (setup[0] / 2 % 22)) + setup[0];
  auto h = std::make_shared<holder>(initial);
  return {
      {h, &h->top}, std::make_unique<arena_model>(h->arena), pmrheap::test::catalog_detail::release_synchronized_arena};
}

// virtual_arena_resource (docs/resources.md#virtual_arena_resource), exactly: one cursor in one
// reservation; a block goes at the next aligned address and fails exactly when it passes the
// reservation; the last block grows and shrinks in place, others only shrink; commits run ahead in
// whole steps from the start; memory never handed out since the last decommit reads as zero;
// reset keeps what its mode says.
class virtual_arena_model final : public model {
 public:
  virtual_arena_model(const pmrheap::virtual_arena_resource& arena, const void* begin)
      : arena_(arena), begin_(address(begin)) {}

  [[nodiscard]] expect allocate(std::size_t bytes, std::size_t alignment) const override {
    std::size_t start = 0;
    return fits(bytes, alignment, start) ? expect::success : expect::failure;
  }
  [[nodiscard]] std::size_t zero_from(const block& b) const override {
    const std::size_t at = offset(b);
    return dirty_ > at ? dirty_ - at : 0;
  }
  [[nodiscard]] expect resize(const block& b, std::size_t new_bytes) const override {
    if (new_bytes < b.bytes) return expect::success;
    if (offset(b) + b.bytes != cursor_) return expect::failure;
    return new_bytes <= arena_.reserved() - offset(b) ? expect::success : expect::failure;
  }
  [[nodiscard]] expect remap(const block& b, std::size_t new_bytes) const override { return resize(b, new_bytes); }
  [[nodiscard]] bool remap_may_move(const block&, std::size_t) const override { return false; }
  [[nodiscard]] std::size_t zero_after_growth(const block& before) const override {
    return std::max(before.bytes, zero_from(before));
  }
  void allocated(const block& b) override {
    std::size_t start = 0;
    if (!fits(b.bytes, b.alignment, start)) return complain("a block past the reservation was handed out");
    if (offset(b) != start)
      return complain("the block is at offset " + std::to_string(offset(b)) + ", not " + std::to_string(start));
    advance(start + b.bytes);
  }
  void resized(const block& before, const block& after) override {
    if (offset(before) + before.bytes == cursor_) {
      if (after.bytes > before.bytes) {
        advance(offset(after) + after.bytes);
      } else {
        cursor_ = offset(after) + after.bytes;
      }
    }
  }
  void freed(const block& b) override {
    if (offset(b) + b.bytes == cursor_) cursor_ = offset(b);
  }
  void released() override { decommit_from(0); }

  [[nodiscard]] bool has_reset() const override { return true; }
  void reset(pmrheap::resource&, pmrheap::reset_mode mode, std::size_t limit) override {
    auto& arena = const_cast<pmrheap::virtual_arena_resource&>(arena_);
    if (!arena.reset(mode, limit)) complain("reset returned false");
    cursor_ = 0;
    if (mode == pmrheap::reset_mode::free_all) decommit_from(0);
    if (mode == pmrheap::reset_mode::retain_with_limit)
      decommit_from(std::min(pmrheap::detail::align_down(limit, pmrheap::platform::page_size()), committed_));
  }

  [[nodiscard]] std::string check(pmrheap::resource&, const std::vector<block>&) override {
    if (arena_.used() != cursor_)
      return "used() is " + std::to_string(arena_.used()) + ", the model says " + std::to_string(cursor_);
    if (arena_.committed() != committed_)
      return "committed() is " + std::to_string(arena_.committed()) + ", the model says " + std::to_string(committed_);
    if (arena_.capacity() != committed_) return "capacity() is not committed()";
    return {};
  }

 private:
  [[nodiscard]] std::size_t offset(const block& b) const noexcept { return address(b.p) - begin_; }
  [[nodiscard]] bool fits(std::size_t bytes, std::size_t alignment, std::size_t& start) const noexcept {
    start = cursor_ + pmrheap::detail::align_offset(reinterpret_cast<const void*>(begin_ + cursor_), alignment);
    return start <= arena_.reserved() && bytes <= arena_.reserved() - start;
  }
  // The cursor moves to `to`: whole commit steps from the start, the last one cut at the reservation.
  void advance(std::size_t to) {
    cursor_ = to;
    dirty_ = std::max(dirty_, to);
    if (to > committed_) {
      const std::size_t step = arena_.commit_step();
      std::size_t target = 0;
      if (!pmrheap::detail::align_up_checked(to, step, target) || target > arena_.reserved())
        target = arena_.reserved();
      committed_ = target;
    }
  }
  void decommit_from(std::size_t keep) {
    cursor_ = 0;
    committed_ = std::min(committed_, keep);
    dirty_ = std::min(dirty_, keep);
  }

  const pmrheap::virtual_arena_resource& arena_;
  std::uintptr_t begin_;
  std::size_t cursor_ = 0;
  std::size_t committed_ = 0;
  std::size_t dirty_ = 0;  // bytes from the start handed out since they were last decommitted
};

// setup[0]: the reservation, 64 KiB pages' worth up to 64 MiB in odd sizes, or (multiples of 8)
// the default constructor (64 GiB, or less where that is refused, e.g. under valgrind);
// setup[1] odd: huge_pages::advise, for the explicit sizes.
subject make_virtual_arena(const std::uint8_t* setup) {
  const std::size_t reserve = (std::size_t{1} << (setup[0] % 27)) + setup[0] * std::size_t{4093} % 65536;
  const pmrheap::huge_pages mode = setup[1] % 2 == 1 ? pmrheap::huge_pages::advise : pmrheap::huge_pages::off;
  auto arena = setup[0] % 8 == 0 ? std::make_shared<pmrheap::virtual_arena_resource>()
                                 : std::make_shared<pmrheap::virtual_arena_resource>(reserve, mode);
  // The first byte of the reservation, as the first allocation sees it; release() then decommits
  // what that committed, so the arena is as new.
  void* const begin = arena->allocate(1, 1);
  arena->release();
  return {arena, std::make_unique<virtual_arena_model>(*arena, begin),
          pmrheap::test::catalog_detail::release<pmrheap::virtual_arena_resource>};
}

// ---- test resources -----------------------------------------------------------------------------

// debug_resource over c_resource: a correct call sequence must never be reported (the handler
// aborts with the report); blocks take `canary_bytes` more of the C heap, so c_resource's rules
// hold; `memory_limit` (setup[0] odd: 2^(setup[0] / 2 % 24) bytes) fails exactly the requests and
// growths that would pass it; the statistics follow every call; verify() finds nothing.
class debug_model final : public model {
 public:
  debug_model(pmrheap::debug_resource& d, std::size_t limit) : d_(d), limit_(limit) {}

  [[nodiscard]] expect allocate(std::size_t bytes, std::size_t) const override {
    return bytes > limit_ - live_bytes_ ? expect::failure : expect::success;
  }
  [[nodiscard]] expect resize(const block& b, std::size_t new_bytes) const override {
    if (new_bytes > b.bytes && new_bytes - b.bytes > limit_ - live_bytes_) return expect::failure;
    return c_rules::resize(b, new_bytes);
  }
  [[nodiscard]] expect remap(const block& b, std::size_t new_bytes) const override {
    if (new_bytes > b.bytes && new_bytes - b.bytes > limit_ - live_bytes_) return expect::failure;
    return c_rules::remap(b, new_bytes);
  }
  [[nodiscard]] bool remap_may_move(const block& b, std::size_t new_bytes) const override {
    return c_rules::remap_may_move(b, new_bytes);
  }
  void allocated(const block& b) override {
    live_bytes_ += b.bytes;
    ++allocations_;
  }
  void resized(const block& before, const block& after) override {
    live_bytes_ = live_bytes_ - before.bytes + after.bytes;
  }
  void freed(const block& b) override {
    live_bytes_ -= b.bytes;
    ++deallocations_;
  }
  // A moved block came from the backing's remap or from allocate + copy + free: the resource's
  // allocation count tells which.
  void reallocated(const block& before, const block& after) override {
    if (after.p != before.p && d_.statistics().total_allocations != allocations_) {
      allocated(after);
      freed(before);
    } else {
      resized(before, after);
    }
  }
  [[nodiscard]] std::string check(pmrheap::resource&, const std::vector<block>& live) override {
    const pmrheap::debug_statistics s = d_.statistics();
    if (s.live_allocations != live.size()) return "statistics().live_allocations disagrees with the live blocks";
    if (s.live_bytes != live_bytes_) return "statistics().live_bytes disagrees with the live blocks";
    if (s.total_allocations != allocations_ || s.total_deallocations != deallocations_)
      return "statistics() miscounts allocations or deallocations";
    if (s.peak_bytes < s.live_bytes || s.errors != 0) return "statistics() are inconsistent";
    if (++checks_ % 16 == 0 && d_.verify() != 0) return "verify() found a problem";
    return {};
  }

 private:
  pmrheap::debug_resource& d_;
  std::size_t limit_;
  std::size_t live_bytes_ = 0;
  std::size_t allocations_ = 0;
  std::size_t deallocations_ = 0;
  std::size_t checks_ = 0;
};

subject make_debug(const std::uint8_t* setup) {
  pmrheap::debug_options options;
  options.memory_limit = setup[0] % 2 == 0 ? pmrheap::debug_options::no_limit : std::size_t{1} << (setup[0] / 2 % 24);
  options.stack_trace_frames = 2;  // traces are only printed with a report, and a report aborts
  options.on_error = [](const pmrheap::debug_error& e) {
    std::fprintf(stderr, "pmrheap fuzz: debug_resource reported an error on a correct call sequence:\n%s\n",
                 e.message.c_str());
    std::abort();
  };
  auto d = std::make_shared<pmrheap::debug_resource>(pmrheap::c_resource::instance(), options);
  return {d, std::make_unique<debug_model>(*d, options.memory_limit)};
}

// failing_resource over c_resource with fail indices from setup[0] and setup[1] (below 200: index
// byte / 4, so 0 to 49; else never): allocation number fail_index fails and so does every later
// one, likewise resizes and remaps with resize_fail_index; otherwise c_resource's rules; the
// counters follow every successful call and no failed one.
class failing_model final : public model {
 public:
  explicit failing_model(const pmrheap::failing_resource& f) : f_(f) {}

  [[nodiscard]] expect allocate(std::size_t, std::size_t) const override {
    if (allocations_ != f_.fail_index()) return expect::success;
    induced_ = true;
    return expect::failure;
  }
  [[nodiscard]] expect resize(const block& b, std::size_t new_bytes) const override {
    if (resizes_ == f_.resize_fail_index()) return induced_resize_ = true, expect::failure;
    return c_rules::resize(b, new_bytes);
  }
  [[nodiscard]] expect remap(const block& b, std::size_t new_bytes) const override {
    if (resizes_ == f_.resize_fail_index()) return induced_resize_ = true, expect::failure;
    return c_rules::remap(b, new_bytes);
  }
  [[nodiscard]] bool remap_may_move(const block& b, std::size_t new_bytes) const override {
    return c_rules::remap_may_move(b, new_bytes);
  }
  void allocated(const block& b) override {
    ++allocations_;
    allocated_bytes_ += b.bytes;
  }
  void resized(const block& before, const block& after) override {
    ++resizes_;
    if (after.bytes > before.bytes) {
      allocated_bytes_ += after.bytes - before.bytes;
    } else {
      freed_bytes_ += before.bytes - after.bytes;
    }
  }
  void freed(const block& b) override {
    ++deallocations_;
    freed_bytes_ += b.bytes;
  }
  // A moved block came from a remap (counted as a resize) or from allocate + copy + free: the
  // resource's allocation count tells which, and everything else is checked against it.
  void reallocated(const block& before, const block& after) override {
    if (after.p != before.p && f_.allocations() != allocations_) {
      allocated(after);
      freed(before);
    } else {
      resized(before, after);
    }
  }
  [[nodiscard]] std::string check(pmrheap::resource&, const std::vector<block>&) override {
    if (f_.allocations() != allocations_ || f_.alloc_index() != allocations_)
      return "allocations() or alloc_index() is " + std::to_string(f_.allocations()) + ", the model says " +
             std::to_string(allocations_);
    if (f_.deallocations() != deallocations_) return "deallocations() miscounts";
    if (f_.resize_index() != resizes_) return "resize_index() miscounts";
    if (f_.allocated_bytes() != allocated_bytes_ || f_.freed_bytes() != freed_bytes_)
      return "allocated_bytes() or freed_bytes() miscounts";
    if (f_.has_induced_failure() != induced_) return "has_induced_failure() disagrees with the model";
    if (induced_resize_ && !f_.has_induced_resize_failure()) return "an induced resize failure was not recorded";
    if (f_.has_induced_resize_failure() && f_.resize_index() != f_.resize_fail_index())
      return "an induced resize failure before resize_fail_index";
    return {};
  }

 private:
  const pmrheap::failing_resource& f_;
  std::size_t allocations_ = 0;
  std::size_t deallocations_ = 0;
  std::size_t resizes_ = 0;
  std::size_t allocated_bytes_ = 0;
  std::size_t freed_bytes_ = 0;
  mutable bool induced_ = false;
  mutable bool induced_resize_ = false;
};

subject make_failing(const std::uint8_t* setup) {
  const auto index = [](std::uint8_t b) { return b < 200 ? std::size_t{b} / 4 : pmrheap::failing_resource::never; };
  auto f =
      std::make_shared<pmrheap::failing_resource>(pmrheap::c_resource::instance(), index(setup[0]), index(setup[1]));
  return {f, std::make_unique<failing_model>(*f)};
}

template <class Model>
std::unique_ptr<model> make() {
  return std::make_unique<Model>();
}

subject make_concurrent_arena(const std::uint8_t* setup);  // in its block at the end of the file

}  // namespace

const std::vector<target>& targets() {
  static const std::vector<target> list = {
      {"c_resource", "c_resource", make<c_model>},
      {"page_resource", "page_resource", make<page_model>},
      {"validating_c_resource", "validating_resource(c_resource)", make<c_model>},
      {"arena_c_resource", "arena_resource(c_resource), initial capacity from setup", nullptr,
       make_arena<pmrheap::c_resource>, 1},
      {"arena_page_resource", "arena_resource(page_resource), initial capacity from setup", nullptr,
       make_arena<pmrheap::page_resource>, 1},
      {"fixed_buffer", "fixed_buffer_resource, buffer size and offset from setup", nullptr,
       make_fixed<pmrheap::fixed_buffer_resource>, 2},
      {"concurrent_fixed_buffer", "concurrent_fixed_buffer_resource, buffer size and offset from setup", nullptr,
       make_fixed<pmrheap::concurrent_fixed_buffer_resource>, 2},
      {"buffer_first", "buffer_first_resource(c_resource), buffer size and offset from setup", nullptr,
       make_buffer_first, 2},
      {"stack_fallback", "stack_fallback_resource<4096>(c_resource)", nullptr, make_stack_fallback, 0},
      {"virtual_arena", "virtual_arena_resource, reservation and huge pages from setup", nullptr, make_virtual_arena,
       2},
      {"debug_resource", "debug_resource(c_resource), memory_limit from setup", nullptr, make_debug, 1},
      {"failing_resource", "failing_resource(c_resource), fail indices from setup", nullptr, make_failing, 2},
      {"synchronized_arena", "synchronized_resource(arena_resource(c_resource))", nullptr, make_synchronized_arena, 1},
      {"concurrent_arena", "concurrent_arena_resource(c_resource), initial capacity from setup", nullptr,
       make_concurrent_arena, 1},
  };
  return list;
}

}  // namespace pmrheap::fuzz

namespace pmrheap::fuzz {
// ---- concurrent_arena_resource (one thread) -----------------------------------------------------
// docs/resources/concurrent_arena_resource.md. A block comes from the thread's span when its size
// and alignment are both at most span_block_limit, else straight from the node; each level
// reclaims and grows only its newest block. The model keeps one stack of live blocks per level:
// - only the top block of its level's stack may grow (anything else must fail; shrinking always
//   works), and remap never moves a block;
// - bytes freed or cut off a block that is not the top of its stack are never handed out again
//   before a reset;
// - reset (the upstream never refuses) returns true and leaves exactly the capacity its mode keeps.
namespace {

class concurrent_arena_model final : public model {
 public:
  explicit concurrent_arena_model(const pmrheap::concurrent_arena_resource& arena) : arena_(arena) {}

  [[nodiscard]] expect allocate(std::size_t, std::size_t) const override { return expect::success; }
  [[nodiscard]] expect resize(const block& b, std::size_t new_bytes) const override {
    if (new_bytes < b.bytes) return expect::success;
    return is_top(b) ? expect::either : expect::failure;
  }
  [[nodiscard]] expect remap(const block& b, std::size_t new_bytes) const override { return resize(b, new_bytes); }
  [[nodiscard]] bool remap_may_move(const block&, std::size_t) const override { return false; }

  void allocated(const block& b) override {
    for (const auto& d : dead_)
      if (d.first < end_of(b) && address(b.p) < d.second)
        complain("a block overlaps bytes that were given back but are not reclaimable");
    stack_of(b).push_back(b);
  }
  void resized(const block& before, const block& after) override {
    const bool top = is_top(before);
    if (after.bytes < before.bytes && !top) dead_.emplace_back(end_of(after), end_of(before));
    if (after.bytes > before.bytes && !top) complain("a block that is not the newest of its level grew");
    for (block& held : stack_of(before))
      if (held.p == before.p) held.bytes = after.bytes;
  }
  void freed(const block& b) override {
    auto& stack = stack_of(b);
    if (!is_top(b)) dead_.emplace_back(address(b.p), end_of(b));
    stack.erase(std::remove_if(stack.begin(), stack.end(), [&](const block& h) { return h.p == b.p; }), stack.end());
  }
  void released() override { start_over(); }

  [[nodiscard]] bool has_reset() const override { return true; }
  void reset(pmrheap::resource&, pmrheap::reset_mode mode, std::size_t limit) override {
    auto& arena = const_cast<pmrheap::concurrent_arena_resource&>(arena_);  // ours to drive
    const std::size_t before = arena.capacity();
    std::size_t expected = before;
    bool ok = false;
    if (mode == pmrheap::reset_mode::free_all) {
      ok = arena.reset(pmrheap::reset_mode::free_all);
      expected = 0;
    } else if (mode == pmrheap::reset_mode::retain_capacity) {
      ok = arena.reset(pmrheap::reset_mode::retain_capacity);
    } else {
      ok = arena.reset(pmrheap::retain_with_limit{limit});
      expected = std::min(limit, before);
    }
    if (!ok) complain("reset returned false, though the upstream never refuses here");
    if (arena.capacity() != expected)
      complain("capacity() after the reset is " + std::to_string(arena.capacity()) + ", not " +
               std::to_string(expected));
    start_over();
  }

 private:
  using range = std::pair<std::uintptr_t, std::uintptr_t>;

  // The level a block of this size and alignment comes from (at allocation; it keeps it).
  static bool from_span(const block& b) noexcept {
    return std::max(b.bytes, b.alignment) <= pmrheap::concurrent_arena_resource::span_block_limit;
  }
  std::vector<block>& stack_of(const block& b) {
    for (auto* stack : {&span_blocks_, &node_blocks_})
      for (const block& held : *stack)
        if (held.p == b.p) return *stack;
    return from_span(b) ? span_blocks_ : node_blocks_;
  }
  [[nodiscard]] bool is_top(const block& b) const {
    for (const auto* stack : {&span_blocks_, &node_blocks_})
      if (!stack->empty() && stack->back().p == b.p) return true;
    return false;
  }
  void start_over() {
    span_blocks_.clear();
    node_blocks_.clear();
    dead_.clear();
  }

  const pmrheap::concurrent_arena_resource& arena_;
  std::vector<block> span_blocks_;  // in allocation order
  std::vector<block> node_blocks_;
  std::vector<range> dead_;
};

subject make_concurrent_arena(const std::uint8_t* setup) {
  struct holder {
    explicit holder(std::size_t initial) : top(initial, pmrheap::c_resource::instance()) {}
    pmrheap::concurrent_arena_resource top;
  };
  // setup[0] odd: an initial capacity of 2^(setup[0] / 2 % 22) + setup[0] bytes.
  const std::size_t initial = setup[0] % 2 == 0 ? 0 : (std::size_t{1} << (setup[0] / 2 % 22)) + setup[0];
  auto h = std::make_shared<holder>(initial);
  return {{h, &h->top},
          std::make_unique<concurrent_arena_model>(h->top),
          pmrheap::test::catalog_detail::release<pmrheap::concurrent_arena_resource>};
}

}  // namespace
}  // namespace pmrheap::fuzz
