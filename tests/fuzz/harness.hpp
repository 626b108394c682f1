// SPDX-License-Identifier: MIT
// The fuzz harness: drives any pmrheap resource with a byte stream of operations and checks every
// step against the contract and a per-resource shadow model of what the resource promises.
// Used by the libFuzzer binary (libfuzzer.cpp, meson option `fuzz`) and by the corpus replay
// that runs in every build (replay.cpp). docs/reliability.md describes the byte format.
//
// Adding a fuzz model (one file per resource, no list to edit):
// 1. tests/fuzz/models/NAME.cpp, NAME the resource's basename (include/pmrheap/NAME.hpp). In it,
//    inside `namespace pmrheap::fuzz::models { namespace { ... } }`: the model (a class derived
//    from pmrheap::fuzz::model; shared helpers, c_rules, bump_rules, buffer_storage, are in
//    models/common.hpp), a `subject make_NAME(const std::uint8_t* setup)` if the target builds its
//    resource from setup bytes, and one registration per target:
//      const target_registration NAME_target{{"target", "what it drives", nullptr, make_NAME, 1}};
//    or, for a configuration of tests/support/resources.hpp, {"target", "catalog name", make<M>}.
//    A block appended at the end of the old tests/fuzz/targets.cpp moves there as it is: its model
//    and make function into the file, its targets() entries each into a target_registration.
// 2. tests/fuzz/meson.build compiles models/NAME.cpp for every resource of the catalog
//    (`pmrheap_resources` in the top-level meson.build; `'fuzz' : false` for one without a model),
//    plus the testing kit's models listed there.
// 3. Seeds: `python3 tests/fuzz/make_seeds.py <target>` writes tests/fuzz/corpus/<target>/ (the
//    replay test fails for a target without them); then run fuzz_replay (`meson test fuzz_replay`).
// The registrations run at static initialisation into a function-local registry, so their order
// across files does not matter; targets() lists them by name. The models are linked whole
// (link_whole in tests/fuzz/meson.build): nothing references a registration by name.
#ifndef PMRHEAP_TESTS_FUZZ_HARNESS_HPP
#define PMRHEAP_TESTS_FUZZ_HARNESS_HPP

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pmrheap/reset_mode.hpp"
#include "pmrheap/resource.hpp"

namespace pmrheap::fuzz {

/// A live block as the harness sees it. `id` seeds its fill pattern.
struct block {
  std::byte* p;
  std::size_t bytes;
  std::size_t alignment;
  std::uint32_t id;
};

/// What the model says an operation must do.
enum class expect {
  either,   ///< success and failure both keep the promise
  success,  ///< failure is a bug
  failure,  ///< success is a bug
};

/// What op 6 asks of a resource with reset(): reset(mode), or, with a limit,
/// reset(pmrheap::retain_with_limit{*limit}) (mode is then retain_capacity and unused).
struct reset_request {
  pmrheap::reset_mode mode;
  std::optional<std::size_t> limit;

  /// The call on `arena` (arena_resource, virtual_arena_resource, ...). **Returns**: what it returned.
  template <class Arena>
  bool apply(Arena& arena) const {
    return limit ? arena.reset(pmrheap::retain_with_limit{*limit}) : arena.reset(mode);
  }
};

/// The shadow model of one resource: what it promises beyond the shared contract, which the
/// harness checks anyway (alignment, no overlap, contents kept, refusals leave blocks untouched).
/// Hooks see every successful operation, so a stateful model (an arena's last block, a fixed
/// buffer's used bytes) can follow the resource; a hook that sees a broken promise says so with
/// complain(). The defaults promise nothing.
class model {
 public:
  virtual ~model() = default;
  /// allocate / try_allocate of `bytes` > 0 (at most 2 MiB, alignment at most 2 MiB).
  [[nodiscard]] virtual expect allocate(std::size_t bytes, std::size_t alignment) const;
  /// The offset from which a newly allocated block `b` must read as zero (0: all of it, as fresh
  /// page mappings; SIZE_MAX: no promise). Asked before allocated(b).
  [[nodiscard]] virtual std::size_t zero_from(const block& b) const;
  /// resize of `b` to `new_bytes` (> 0, != b.bytes).
  [[nodiscard]] virtual expect resize(const block& b, std::size_t new_bytes) const;
  /// remap of `b` to `new_bytes` (> 0, != b.bytes).
  [[nodiscard]] virtual expect remap(const block& b, std::size_t new_bytes) const;
  /// Whether a successful remap of `b` to `new_bytes` may return another address.
  [[nodiscard]] virtual bool remap_may_move(const block& b, std::size_t new_bytes) const;
  /// After a block grows from `before`, the offset from which its new bytes must read as zero
  /// (SIZE_MAX: no promise).
  [[nodiscard]] virtual std::size_t zero_after_growth(const block& before) const;
  virtual void allocated(const block& b);
  /// A successful resize or remap (`after` may be elsewhere after a remap).
  virtual void resized(const block& before, const block& after);
  virtual void freed(const block& b);
  /// pmrheap::reallocate of `before` succeeded with `after` (same id). By default: resized() when
  /// the block stayed, else allocated(after) then freed(before), as allocate + copy + free does;
  /// a remap that moved the block looks the same, so a model that must tell them apart overrides it.
  virtual void reallocated(const block& before, const block& after);
  /// release_all() forgot every block.
  virtual void released();
  /// True when the resource has reset(reset_mode) and reset(retain_with_limit): op 6 then resets
  /// (the harness forgets every block and calls reset() below) instead of releasing.
  [[nodiscard]] virtual bool has_reset() const { return false; }
  /// Resets `r` with `request` and checks what it promises about it.
  virtual void reset(pmrheap::resource& r, const reset_request& request);
  /// Checked after every operation with the live blocks (owns(), statistics). Returns "" or what
  /// is wrong.
  [[nodiscard]] virtual std::string check(pmrheap::resource& r, const std::vector<block>& live);
  /// What a hook complained about since the last call ("" if nothing), and forgets it.
  [[nodiscard]] std::string take_complaint();

 protected:
  /// Records a broken promise (the first one counts); the harness fails after the operation.
  void complain(std::string what);

 private:
  std::string complaint_;
};

/// A resource and its model, made together so that the model can see what the resource stands
/// on (the buffer, the arena below a lock).
struct subject {
  std::shared_ptr<pmrheap::resource> resource;
  std::unique_ptr<model> shadow;
  /// Frees every block at once (op 6 without reset, and the end of each input); nullptr: the
  /// harness deallocates every block instead.
  void (*release_all)(pmrheap::resource&) = nullptr;
};

/// One fuzz target: a resource configuration and its model, either a configuration of
/// tests/support/resources.hpp (`resource`, `make_model`) or made by `make` from the first
/// `setup_bytes` bytes of each input (a buffer size, fail indices), which are then not operations.
struct target {
  std::string_view name;      ///< directory names under tests/fuzz/corpus/ and regressions/
  std::string_view resource;  ///< the resource_entry::name it drives, or what `make` builds
  std::unique_ptr<model> (*make_model)() = nullptr;
  subject (*make)(const std::uint8_t* setup) = nullptr;
  std::size_t setup_bytes = 0;
};

/// Registers `t` as a fuzz target: one namespace-scope object per target in its model file
/// (tests/fuzz/models/NAME.cpp). Two targets with the same name abort at start-up.
class target_registration {
 public:
  explicit target_registration(const target& t);
};

/// Every registered fuzz target, by name.
const std::vector<target>& targets();
/// The target called `name`, or nullptr.
const target* find_target(std::string_view name);

/// Statistics of run() calls, for the reports.
struct totals {
  std::uint64_t inputs = 0;
  std::uint64_t operations = 0;
};
totals& counters();

/// The name of the input being run, printed with a failure ("" under libFuzzer, which saves the
/// input itself).
std::string& input_name();

/// Runs one input against a fresh instance of `t`'s resource. A broken promise prints what
/// happened and aborts (libFuzzer records the input as a crash; the replay test fails).
void run(const target& t, const std::uint8_t* data, std::size_t size);

}  // namespace pmrheap::fuzz

#endif  // PMRHEAP_TESTS_FUZZ_HARNESS_HPP
