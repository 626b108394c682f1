// SPDX-License-Identifier: MIT
// The fuzz harness (harness.hpp). Byte format, read front to back until the input runs out:
//   setup  target::setup_bytes bytes for targets that build their resource from them
//   op     1 byte: % 8 = 0 allocate, 1 try_allocate, 2 deallocate, 3 resize, 4 remap,
//                  5 reallocate, 6 release (release_all, or deallocate everything) or, where the
//                  model has_reset(), reset; 7 verify all
//   size   3 bytes: first % 23 = magnitude m, next two = mantissa; m == 22 means 0 bytes,
//                  else 2^m + mantissa % 2^m, at most 2 MiB
//   align  1 byte:  2^(byte % 22), 1 byte to 2 MiB
//   slot   1 byte:  which live block (% the number of live blocks)
//   mode   1 byte:  % 4 = 0 free_all, 1 retain_capacity, 2 retain_with_limit{size}, 3 retain_with_limit
//                  with SIZE_MAX - size as the limit
// allocate: op size align; deallocate: op slot; resize/remap/reallocate: op slot size;
// reset: op mode size (the size is the limit, passed with every mode).
#include "harness.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <utility>

#include "pmrheap/detail/align.hpp"
#include "pmrheap/testing.hpp"
#include "support/resources.hpp"

namespace pmrheap::fuzz {

expect model::allocate(std::size_t, std::size_t) const { return expect::either; }
std::size_t model::zero_from(const block&) const { return pmrheap::detail::size_max; }
expect model::resize(const block&, std::size_t) const { return expect::either; }
expect model::remap(const block&, std::size_t) const { return expect::either; }
bool model::remap_may_move(const block&, std::size_t) const { return true; }
std::size_t model::zero_after_growth(const block&) const { return pmrheap::detail::size_max; }
void model::allocated(const block&) {}
void model::resized(const block&, const block&) {}
void model::freed(const block&) {}
void model::reallocated(const block& before, const block& after) {
  if (after.p == before.p) {
    resized(before, after);
  } else {
    allocated(after);
    freed(before);
  }
}
void model::released() {}
void model::reset(pmrheap::resource&, const reset_request&) {}
std::string model::check(pmrheap::resource&, const std::vector<block>&) { return {}; }
std::string model::take_complaint() { return std::exchange(complaint_, std::string()); }
void model::complain(std::string what) {
  if (complaint_.empty()) complaint_ = std::move(what);
}

totals& counters() {
  static totals t;
  return t;
}

std::string& input_name() {
  static std::string name;
  return name;
}

namespace {
// Function-local, so a registration in any file's static initialisation finds it constructed.
std::vector<target>& registry() {
  static std::vector<target> list;
  return list;
}
}  // namespace

target_registration::target_registration(const target& t) {
  for (const target& other : registry()) {
    if (other.name == t.name) {
      std::fprintf(stderr, "pmrheap fuzz: two targets are called %.*s\n", static_cast<int>(t.name.size()),
                   t.name.data());
      std::abort();
    }
  }
  registry().push_back(t);
}

const std::vector<target>& targets() {
  static const std::vector<target> sorted = [] {
    std::vector<target> list = registry();
    std::sort(list.begin(), list.end(), [](const target& a, const target& b) { return a.name < b.name; });
    return list;
  }();
  return sorted;
}

const target* find_target(std::string_view name) {
  for (const target& t : targets())
    if (t.name == name) return &t;
  return nullptr;
}

namespace {

constexpr std::size_t max_bytes = std::size_t{2} << 20;
constexpr unsigned max_alignment_shift = 21;
// Bounds on what one input may hold at once, so a run stays fast and small.
constexpr std::size_t max_live = 64;
constexpr std::size_t max_live_bytes = std::size_t{64} << 20;
// And on the bytes it may take between two releases: an arena or a fixed buffer keeps what is
// freed (all but the last block) until then, and every byte handed out is written.
constexpr std::size_t max_taken_bytes = std::size_t{256} << 20;

class reader {
 public:
  reader(const std::uint8_t* data, std::size_t size) noexcept : data_(data), size_(size) {}
  [[nodiscard]] bool empty() const noexcept { return at_ == size_; }
  std::uint8_t byte() noexcept { return at_ < size_ ? data_[at_++] : 0; }
  std::size_t bytes() noexcept {
    const unsigned magnitude = byte() % 23u;
    const std::size_t mantissa = std::size_t{byte()} << 8 | byte();
    if (magnitude == 22) return 0;
    const std::size_t base = std::size_t{1} << magnitude;
    const std::size_t n = base + mantissa % base;
    return n < max_bytes ? n : max_bytes;
  }
  std::size_t alignment() noexcept { return std::size_t{1} << (byte() % (max_alignment_shift + 1)); }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t at_ = 0;
};

// Block contents: block `id` holds bytes [offset(id), offset(id) + n) of one fixed random table,
// so fill and verify are a memcpy and a memcmp (fast under ASan) and no two blocks look alike.
constexpr std::size_t pattern_offsets = 65536;
const std::byte* pattern_table() {
  static const std::vector<std::byte> table = [] {
    std::vector<std::byte> t(max_bytes + pattern_offsets);
    std::uint32_t x = 0x9E3779B9u;
    for (std::byte& b : t) {  // xorshift32
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      b = static_cast<std::byte>(x >> 24);
    }
    return t;
  }();
  return table.data();
}
const std::byte* pattern(std::uint32_t id) noexcept { return pattern_table() + id * 4099u % pattern_offsets; }

// A zero page to compare fresh memory with.
const std::byte* zeros() {
  static const std::vector<std::byte> z(max_bytes);
  return z.data();
}

class session {
 public:
  session(const target& t, subject s)
      : target_(t), resource_(std::move(s.resource)), model_(std::move(s.shadow)), release_all_(s.release_all) {}
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  void run(reader& in) {
    while (!in.empty()) {
      ++step_;
      ++counters().operations;
      switch (in.byte() % 8) {
        case 0:
          allocate(in, true);
          break;
        case 1:
          allocate(in, false);
          break;
        case 2:
          deallocate(in);
          break;
        case 3:
          resize(in);
          break;
        case 4:
          remap(in);
          break;
        case 5:
          reallocate(in);
          break;
        case 6:
          if (model_->has_reset()) {
            reset(in);
          } else {
            op_ = "release";
            release(true);
          }
          break;
        default:
          verify_all();
          break;
      }
      if (trace_) std::fprintf(stderr, "step %" PRIu64 ": %s\n", step_, op_.c_str());
      spot_check();
      if (std::string problem = model_->take_complaint(); !problem.empty()) fail(problem);
      if (std::string problem = model_->check(*resource_, live_); !problem.empty()) fail(problem);
    }
    op_ = "end of input";
    verify_all();
    release(false);  // every block was just verified in full
    if (std::string problem = model_->take_complaint(); !problem.empty()) fail(problem);
    if (auto* v = dynamic_cast<pmrheap::testing::validating_resource*>(resource_.get())) {
      try {
        v->check();
      } catch (const std::exception& e) {
        fail(e.what());
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    std::fprintf(stderr, "pmrheap fuzz: target %.*s%s%s, step %" PRIu64 " (%s): %s\n",
                 static_cast<int>(target_.name.size()), target_.name.data(), input_name().empty() ? "" : ", input ",
                 input_name().c_str(), step_, op_.c_str(), what.c_str());
    std::abort();
  }

  static std::string address_text(const void* p) {
    char text[32];
    std::snprintf(text, sizeof text, "%p", p);
    return text;
  }

  static std::string describe(const block& b) {
    char text[96];
    std::snprintf(text, sizeof text, "block %" PRIu32 " of %zu bytes, alignment %zu", b.id, b.bytes, b.alignment);
    return text;
  }

  void fill(const block& b, std::size_t from) const {
    if (from < b.bytes) std::memcpy(b.p + from, pattern(b.id) + from, b.bytes - from);
  }
  // The first byte from `from` on where [p, p + n) and `expected` differ, or n.
  static std::size_t first_difference(const std::byte* p, const std::byte* expected, std::size_t from, std::size_t n) {
    if (from >= n || std::memcmp(p + from, expected + from, n - from) == 0) return n;
    while (p[from] == expected[from]) ++from;
    return from;
  }
  void expect_intact(const block& b, std::size_t bytes, const char* after) const {
    if (const std::size_t i = first_difference(b.p, pattern(b.id), 0, bytes); i != bytes)
      fail("byte " + std::to_string(i) + " of " + describe(b) + " changed " + after);
  }
  void expect_zero(const block& b, std::size_t from) const {
    if (const std::size_t i = first_difference(b.p, zeros(), from, b.bytes); i != b.bytes)
      fail("byte " + std::to_string(i) + " of fresh memory in " + describe(b) + " is not 0");
  }

  // Records [p, p + bytes) as live; fails when it overlaps a live block.
  void claim(const block& b) {
    const auto begin = reinterpret_cast<std::uintptr_t>(b.p);
    if (begin > ~std::uintptr_t{0} - b.bytes) fail(describe(b) + " wraps the address space");
    const std::uintptr_t end = begin + b.bytes;
    auto next = spans_.lower_bound(begin);
    if (next != spans_.end() && next->first < end) fail(describe(b) + " overlaps another live block");
    if (next != spans_.begin() && std::prev(next)->second > begin) fail(describe(b) + " overlaps another live block");
    spans_.emplace(begin, end);
  }
  void unclaim(const block& b) { spans_.erase(reinterpret_cast<std::uintptr_t>(b.p)); }

  void expect_aligned(const void* p, std::size_t alignment) const {
    if (!pmrheap::detail::is_aligned(p, alignment)) fail("the result is not aligned to " + std::to_string(alignment));
  }

  void forget(std::size_t index) {
    live_bytes_ -= live_[index].bytes;
    live_[index] = live_.back();
    live_.pop_back();
  }

  void allocate(reader& in, bool throwing) {
    const std::size_t bytes = in.bytes();
    const std::size_t alignment = in.alignment();
    op_ = std::string(throwing ? "allocate(" : "try_allocate(") + std::to_string(bytes) + ", " +
          std::to_string(alignment) + ")";
    if (live_.size() == max_live || live_bytes_ + bytes > max_live_bytes || taken_bytes_ + bytes > max_taken_bytes)
      return;
    void* p = nullptr;
    if (throwing) {
      try {
        p = resource_->allocate(bytes, alignment);
      } catch (const pmrheap::out_of_memory&) {
      } catch (const std::exception& e) {
        fail(std::string("threw ") + e.what());
      }
    } else {
      p = resource_->try_allocate(bytes, alignment);
    }
    if (trace_) op_ += " = " + address_text(p);
    if (bytes == 0) {  // the contract's zero-size block: the highest aligned address, owning nothing
      if (p != pmrheap::detail::empty_block(alignment)) fail("a zero-byte block is not the empty block");
      resource_->deallocate(p, 0, alignment);
      return;
    }
    const expect e = model_->allocate(bytes, alignment);
    if (p == nullptr) {
      if (e == expect::success) fail("failed, but the model promises success");
      return;
    }
    if (e == expect::failure) fail("succeeded, but the model promises failure");
    expect_aligned(p, alignment);
    const block b{static_cast<std::byte*>(p), bytes, alignment, next_id_++};
    claim(b);
    if (const std::size_t zero_from = model_->zero_from(b); zero_from < b.bytes) expect_zero(b, zero_from);
    fill(b, 0);
    live_.push_back(b);
    live_bytes_ += bytes;
    taken_bytes_ += bytes;
    model_->allocated(b);
  }

  void deallocate(reader& in) {
    if (live_.empty()) return;
    const std::size_t index = in.byte() % live_.size();
    const block b = live_[index];
    op_ = "deallocate " + describe(b);
    expect_intact(b, b.bytes, "while live");
    unclaim(b);
    resource_->deallocate(b.p, b.bytes, b.alignment);
    forget(index);
    model_->freed(b);
  }

  // After `before` became `after` (same block, maybe moved): checks and bookkeeping.
  void changed(std::size_t index, const block& before, const block& after, bool in_place_only) {
    if (in_place_only && after.p != before.p) fail("the block moved");
    expect_aligned(after.p, after.alignment);
    unclaim(before);
    claim(after);
    const std::size_t kept = before.bytes < after.bytes ? before.bytes : after.bytes;
    expect_intact(after, kept, "by the change");
    if (after.bytes > before.bytes) {
      const std::size_t zero_from = model_->zero_after_growth(before);
      if (zero_from < after.bytes) expect_zero(after, zero_from);
    }
    fill(after, kept);
    live_bytes_ = live_bytes_ - before.bytes + after.bytes;
    if (after.bytes > before.bytes) taken_bytes_ += after.p == before.p ? after.bytes - before.bytes : after.bytes;
    live_[index] = after;
  }

  // Common part of resize and remap: slot and new size, with the contract's answers for the
  // inputs every resource refuses or accepts alike. Returns false when the operation is done.
  bool pick(reader& in, const char* name, std::size_t& index, std::size_t& new_bytes) {
    if (live_.empty()) return false;
    index = in.byte() % live_.size();
    new_bytes = in.bytes();
    op_ = std::string(name) + " " + describe(live_[index]) + " to " + std::to_string(new_bytes);
    return live_bytes_ - live_[index].bytes + new_bytes <= max_live_bytes &&
           taken_bytes_ + new_bytes <= max_taken_bytes;
  }

  void resize(reader& in) {
    std::size_t index = 0;
    std::size_t new_bytes = 0;
    if (!pick(in, "resize", index, new_bytes)) return;
    const block before = live_[index];
    const bool ok = resource_->resize(before.p, before.bytes, new_bytes, before.alignment);
    const expect e = new_bytes == 0              ? expect::failure
                     : new_bytes == before.bytes ? expect::success
                                                 : model_->resize(before, new_bytes);
    if (ok && e == expect::failure) fail("succeeded, but must fail");
    if (!ok && e == expect::success) fail("failed, but must succeed");
    if (!ok) return expect_intact(before, before.bytes, "by a refused resize");
    block after = before;
    after.bytes = new_bytes;
    changed(index, before, after, true);
    if (new_bytes != before.bytes) model_->resized(before, after);  // the same size is the contract's no-op
  }

  void remap(reader& in) {
    std::size_t index = 0;
    std::size_t new_bytes = 0;
    if (!pick(in, "remap", index, new_bytes)) return;
    const block before = live_[index];
    void* const q = resource_->remap(before.p, before.bytes, new_bytes, before.alignment);
    if (trace_) op_ += " = " + address_text(q);
    const bool same = new_bytes == before.bytes;
    const expect e = new_bytes == 0 ? expect::failure : same ? expect::success : model_->remap(before, new_bytes);
    if (q != nullptr && e == expect::failure) fail("succeeded, but must fail");
    if (q == nullptr && e == expect::success) fail("failed, but must succeed");
    if (q == nullptr) return expect_intact(before, before.bytes, "by a refused remap");
    block after = before;
    after.p = static_cast<std::byte*>(q);
    after.bytes = new_bytes;
    changed(index, before, after, same || !model_->remap_may_move(before, new_bytes));
    if (new_bytes != before.bytes) model_->resized(before, after);  // the same size is the contract's no-op
  }

  void reallocate(reader& in) {
    std::size_t index = 0;
    std::size_t new_bytes = 0;
    if (!pick(in, "reallocate", index, new_bytes)) return;
    const block before = live_[index];
    void* q = nullptr;
    try {
      q = pmrheap::reallocate(*resource_, before.p, before.bytes, new_bytes, before.alignment);
    } catch (const pmrheap::out_of_memory&) {
      if (model_->allocate(new_bytes, before.alignment) == expect::success) fail("failed, but must succeed");
      return expect_intact(before, before.bytes, "by a failed reallocate");
    } catch (const std::exception& e) {
      fail(std::string("threw ") + e.what());
    }
    if (new_bytes == 0) {  // reallocate to 0 frees
      if (q != nullptr) fail("reallocate to 0 bytes returned a block");
      unclaim(before);
      forget(index);
      model_->freed(before);
      return;
    }
    block after = before;
    after.p = static_cast<std::byte*>(q);
    after.bytes = new_bytes;
    changed(index, before, after, new_bytes == before.bytes);  // the same size: the same block
    if (new_bytes != before.bytes) model_->reallocated(before, after);
  }

  // Forgets every block: by release_all, or by deallocating each one (verified first when `verify`).
  void release(bool verify) {
    if (release_all_ != nullptr) {
      release_all_(*resource_);
      model_->released();
    } else {
      for (const block& b : live_) {
        if (verify) expect_intact(b, b.bytes, "while live");
        resource_->deallocate(b.p, b.bytes, b.alignment);
        model_->freed(b);
      }
    }
    forget_all();
  }

  void forget_all() {
    live_.clear();
    spans_.clear();
    live_bytes_ = 0;
    taken_bytes_ = 0;
  }

  void reset(reader& in) {
    const std::uint8_t mode_byte = in.byte();
    const std::size_t size = in.bytes();
    const unsigned which = mode_byte % 4;
    reset_request request{which == 0 ? pmrheap::reset_mode::free_all : pmrheap::reset_mode::retain_capacity, {}};
    if (which >= 2) request.limit = which == 3 ? pmrheap::detail::size_max - size : size;
    op_ = which == 0   ? std::string("reset(free_all)")
          : which == 1 ? std::string("reset(retain_capacity)")
                       : "reset(retain_with_limit{" + std::to_string(*request.limit) + "})";
    verify_all();
    forget_all();
    model_->reset(*resource_, request);
  }

  void verify_all() const {
    for (const block& b : live_) expect_intact(b, b.bytes, "while live");
  }

  // After every operation: the first and last byte of every live block (cheap; verify_all and the
  // blocks an operation touches get the full check).
  void spot_check() const {
    for (const block& b : live_)
      if (b.p[0] != pattern(b.id)[0] || b.p[b.bytes - 1] != pattern(b.id)[b.bytes - 1])
        fail(describe(b) + " changed while another block was operated on");
  }

  const target& target_;
  std::shared_ptr<pmrheap::resource> resource_;
  std::unique_ptr<model> model_;
  void (*release_all_)(pmrheap::resource&);
  std::vector<block> live_;
  std::map<std::uintptr_t, std::uintptr_t> spans_;  // start -> end of every live block
  std::size_t live_bytes_ = 0;
  std::size_t taken_bytes_ = 0;  // since the last release or reset
  std::uint32_t next_id_ = 1;
  std::uint64_t step_ = 0;
  std::string op_;
  // PMRHEAP_FUZZ_TRACE=1: every step and each allocation's address on stderr, to read a crash's input.
  bool trace_ = std::getenv("PMRHEAP_FUZZ_TRACE") != nullptr;
};

}  // namespace

void run(const target& t, const std::uint8_t* data, std::size_t size) {
  subject made;
  if (t.make != nullptr) {
    // Setup bytes the input does not have are 0.
    std::vector<std::uint8_t> setup(t.setup_bytes, 0);
    const std::size_t given = size < t.setup_bytes ? size : t.setup_bytes;
    if (given != 0) std::memcpy(setup.data(), data, given);
    made = t.make(setup.data());
    data += given;
    size -= given;
  } else {
    const pmrheap::test::resource_entry* entry = nullptr;
    for (const auto& e : pmrheap::test::all_resources())
      if (e.name == t.resource) entry = &e;
    if (entry == nullptr) {
      std::fprintf(stderr, "pmrheap fuzz: target %.*s names no resource of tests/support/resources.hpp\n",
                   static_cast<int>(t.name.size()), t.name.data());
      std::abort();
    }
    made = subject{entry->make(), t.make_model(), entry->release_all};
  }
  ++counters().inputs;
  reader in(data, size);
  session s(t, std::move(made));
  s.run(in);
}

}  // namespace pmrheap::fuzz
