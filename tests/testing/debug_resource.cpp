// SPDX-License-Identifier: MIT
// Tests include/pmrheap/testing/debug_resource.hpp (docs/testing/debug_resource.md): conformance,
// bad input and forwarding, the handler, threads, and the abort without a handler (in a child
// process). The error kinds are in debug_resource_records.cpp and debug_resource_quarantine.cpp,
// the options and statistics in debug_resource_options.cpp.
#include <atomic>
#include <chrono>
#include <string_view>

#include "pmrheap/testing/logging_resource.hpp"
#include "testing/debug_resource_support.hpp"

TEST_CASE("debug_resource: conformance, through validating_resource on both sides") {
  recorder rec;
  auto backing_owner = validating_backing();
  pmrheap::testing::validating_resource& backing = *backing_owner;
  {
    debug_resource d(&backing, rec.options());
    pmrheap::testing::validating_resource v(&d);
    pmrheap::testing::check_conformance(v);
    CHECK(v.blocks_in_use() == 0);
    CHECK(d.blocks_in_use() == 0);
    CHECK(backing.blocks_in_use() == d.statistics().quarantined_blocks);  // freed blocks wait in quarantine
    d.release_quarantine();
    CHECK(backing.blocks_in_use() == 0);
  }
  CHECK(rec.errors.empty());
  backing.check();
}

TEST_CASE("debug_resource: conformance on the default backing (c_resource)") {
  recorder rec;
  debug_resource d(rec.options());
  CHECK(d.upstream_resource() == pmrheap::c_resource::instance());
  CHECK(debug_resource().upstream_resource() == pmrheap::c_resource::instance());
  pmrheap::testing::validating_resource v(&d);
  pmrheap::testing::check_conformance(v);
  CHECK(d.blocks_in_use() == 0);
  CHECK(rec.errors.empty());
}

TEST_CASE("debug_resource: a null backing is null_memory_resource: allocations fail, nothing crashes") {
  recorder rec;
  debug_resource d(nullptr, rec.options());
  CHECK(d.upstream_resource() == std::pmr::null_memory_resource());
  CHECK_THROWS_AS(static_cast<void>(d.allocate(64, 8)), pmrheap::out_of_memory);
  CHECK(d.try_allocate(64, 8) == nullptr);
  CHECK(d.blocks_in_use() == 0);
  CHECK(rec.errors.empty());
}

// The one way to log every call: a logging_resource below (sees what the backing is asked: sizes
// with the canary) or above (sees the caller's requests). debug_resource has no log of its own.
TEST_CASE("debug_resource: composed with a logging_resource, every call is logged") {
  std::vector<std::string> below;
  std::vector<std::string> above;
  recorder rec;
  {
    pmrheap::logging_resource log_below(pmrheap::c_resource::instance(),
                                        [&](std::string_view line) { below.emplace_back(line); });
    debug_resource d(&log_below, rec.options([](debug_options& o) { o.quarantine_blocks = 0; }));
    pmrheap::logging_resource log_above(&d, [&](std::string_view line) { above.emplace_back(line); });
    void* p = log_above.allocate(24, 8);
    log_above.deallocate(p, 24, 8);
  }
  CHECK(rec.errors.empty());
  REQUIRE(above.size() == 2);
  REQUIRE(below.size() == 2);
  MESSAGE(above[0] << " / " << below[0]);
  CHECK(contains(above[0], "24"));
  CHECK(contains(below[0], "40"));  // 24 + the 16-byte canary
}

TEST_CASE("debug_resource: bad input") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options());
  pmrheap::test::check_contract(d);
  CHECK(d.blocks_in_use() == 0);
  CHECK(rec.errors.empty());
}

// ---- handler, threads -------------------------------------------------------------------------

TEST_CASE("debug_resource: stack_trace_frames 0 captures nothing; reports say so") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options([](debug_options& o) { o.stack_trace_frames = 0; }));
  void* p = d.allocate(8);
  CHECK(d.report_leaks() == 1);
  CHECK(contains(rec.only().message, "  allocated at:\n    (no stack frames captured)\n"));
  d.deallocate(p, 8);
}

TEST_CASE("debug_resource: the handler runs without the lock and may call the resource") {
  std::size_t live_seen = 99;
  debug_resource* self = nullptr;
  debug_options options;
  options.on_error = [&](const debug_error&) { live_seen = self->blocks_in_use(); };
  debug_resource d(pmrheap::c_resource::instance(), options);
  self = &d;
  int local = 0;
  d.deallocate(&local, sizeof local, alignof(int));
  CHECK(live_seen == 0);
}

// The per-call code is compiled once per path (src/testing/debug_state.hpp): the checking options
// at their defaults with traces off take a path where the options are constants, locked or not;
// any other options take the general one. Every check must run on each, with the option values
// the user set (a 32-byte canary is checked to its last byte).
TEST_CASE("debug_resource: every check runs whatever the options, traces and lock") {
  struct config {
    const char* name;
    void (*set)(debug_options&);
  };
  const config configs[] = {
      {"the defaults", [](debug_options&) {}},
      {"thread_safe off", [](debug_options& o) { o.thread_safe = false; }},
      {"traces off", [](debug_options& o) { o.stack_trace_frames = 0; }},
      {"traces and thread_safe off",
       [](debug_options& o) {
         o.stack_trace_frames = 0;
         o.thread_safe = false;
       }},
      {"traces and thread_safe off, a 32-byte canary",
       [](debug_options& o) {
         o.stack_trace_frames = 0;
         o.thread_safe = false;
         o.canary_bytes = 32;
       }},
      {"traces off, never_unmap",
       [](debug_options& o) {
         o.stack_trace_frames = 0;
         o.never_unmap = true;
       }},
      {"traces off, retain_metadata",
       [](debug_options& o) {
         o.stack_trace_frames = 0;
         o.retain_metadata = true;
       }},
  };
  for (const config& c : configs) {
    const std::string name = c.name;
    CAPTURE(name);
    recorder rec;
    // Takes the leaked block back for LeakSanitizer's sake, and holds what it is given back: the late
    // frees below must not find a newer block the heap placed at the same address.
    pmrheap::test::reclaiming_resource backing(pmrheap::test::reclaiming_resource::hold_frees);
    const debug_options options = rec.options([&](debug_options& o) {
      o.quarantine_blocks = 4;
      c.set(o);
    });
    const std::size_t canary = options.canary_bytes;
    {
      debug_resource d(&backing, options);
      static_cast<void>(d.allocate(40));  // leaked
      auto* overrun = bytes_of(d.allocate(24, 8));
      overrun[24 + canary - 1] = 0;  // the canary's last byte
      d.deallocate(overrun, 24, 8);
      auto* twice = bytes_of(d.allocate(16));
      d.deallocate(twice, 16);
      d.deallocate(twice, 16);
      int foreign = 0;
      d.deallocate(&foreign, sizeof foreign, alignof(int));
      auto* mismatched = bytes_of(d.allocate(40, 16));
      d.deallocate(mismatched, 48, 8);
      auto* freed = bytes_of(d.allocate(8, 8));
      d.deallocate(freed, 8, 8);
      freed[8 + canary - 1] = 1;  // a write after free over the canary's last byte
      d.release_quarantine();     // finds the write after free
      d.deallocate(freed, 8, 8);  // its memory went back: a double free only if its record was kept
      const auto s = d.statistics();
      CHECK(s.total_allocations == 5);
      CHECK(s.peak_blocks_in_use == 2);
      CHECK(s.blocks_in_use == 1);
      CHECK(s.live_bytes == 40);
      // Now one pushed out of the quarantine by later frees (never_unmap keeps it there).
      void* late = d.allocate(8, 8);
      d.deallocate(late, 8, 8);
      for (int i = 0; i < 6; ++i) d.deallocate(d.allocate(64, 8), 64, 8);
      d.deallocate(late, 8, 8);
    }
    CHECK(rec.count(debug_error_kind::overrun) == 1);
    const bool late_found = options.retain_metadata || options.never_unmap;
    CHECK(rec.count(debug_error_kind::double_free) == 1 + (options.retain_metadata ? 1 : 0) + (late_found ? 1 : 0));
    CHECK(rec.count(debug_error_kind::invalid_free) == 1 + (options.retain_metadata ? 0 : 1) + (late_found ? 0 : 1));
    CHECK(rec.count(debug_error_kind::size_mismatch) == 1);
    CHECK(rec.count(debug_error_kind::alignment_mismatch) == 1);
    CHECK(rec.count(debug_error_kind::use_after_free) == 1);
    CHECK(rec.count(debug_error_kind::leak) == 1);
    CHECK(rec.errors.size() == 9);
    const bool traced = options.stack_trace_frames > 0 && !pmrheap::stack_trace::capture(1).empty();
    for (const debug_error& e : rec.errors)
      if (e.kind == debug_error_kind::leak) CHECK(contains(e.message, "(no stack frames captured)") != traced);
    CHECK(backing.live() == 1);  // the leaked block: leaks stay allocated; all else went back
  }
}

// No lock is taken at all: a backing may call back into the resource while it serves it. With
// the lock (thread_safe on) this call aborts (the test below), so this one fails if the option
// were ignored.
TEST_CASE("debug_resource: thread_safe off takes no lock, so the backing may call back in") {
  struct calling_back final : std::pmr::memory_resource {
    const debug_resource* debug = nullptr;
    std::vector<std::size_t> live_seen;
    void* do_allocate(std::size_t bytes, std::size_t alignment) override {
      live_seen.push_back(debug->statistics().blocks_in_use);
      return pmrheap::c_resource::instance()->allocate(bytes, alignment);
    }
    void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
      pmrheap::c_resource::instance()->deallocate(p, bytes, alignment);
    }
    bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }
  } backing;
  debug_options options;
  options.thread_safe = false;
  options.quarantine_blocks = 0;
  debug_resource d(&backing, options);
  backing.debug = &d;
  void* a = d.allocate(8);
  void* b = d.allocate(8);
  CHECK(backing.live_seen == std::vector<std::size_t>{0, 1});  // seen before each record is added
  d.deallocate(b, 8);
  d.deallocate(a, 8);
  CHECK(d.statistics().blocks_in_use == 0);
}

TEST_CASE("debug_resource: safe from several threads") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options([](debug_options& o) { o.quarantine_blocks = 64; }));
  constexpr int per_thread = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&d, t] {
      std::vector<std::pair<unsigned char*, std::size_t>> mine;
      for (int i = 0; i < per_thread; ++i) {
        const std::size_t bytes = static_cast<std::size_t>(i % 64) + 1;
        auto* p = static_cast<unsigned char*>(d.allocate(bytes));
        std::memset(p, t, bytes);
        mine.emplace_back(p, bytes);
        if (i % 3 == 0) {
          auto [q, n] = mine.back();
          mine.pop_back();
          for (std::size_t k = 0; k < n; ++k) REQUIRE(q[k] == t);
          d.deallocate(q, n);
        }
      }
      for (auto [q, n] : mine) d.deallocate(q, n);
    });
  for (auto& thread : threads) thread.join();
  const auto s = d.statistics();
  CHECK(s.total_allocations == 4 * per_thread);
  CHECK(s.total_deallocations == 4 * per_thread);
  CHECK(s.blocks_in_use == 0);
  CHECK(rec.errors.empty());
}

// A backing that sleeps now and then while the resource's lock is held: the threads waiting for it
// run out of spins and sleep on the lock, so its slow path (sleep, wake) runs many times. Eight
// threads, more than the cores; every block filled and checked before its free.
TEST_CASE("debug_resource: threads that find the lock held sleep and are woken") {
  class sleepy_resource final : public std::pmr::memory_resource {
    std::atomic<unsigned> calls_{0};
    void* do_allocate(std::size_t bytes, std::size_t alignment) override {
      if (calls_.fetch_add(1, std::memory_order_relaxed) % 64 == 0)
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      return pmrheap::c_resource::instance()->allocate(bytes, alignment);
    }
    void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
      pmrheap::c_resource::instance()->deallocate(p, bytes, alignment);
    }
    bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }
  } backing;
  recorder rec;
  debug_resource d(&backing, rec.options([](debug_options& o) {
    o.stack_trace_frames = 0;
    o.quarantine_blocks = 16;
  }));
  constexpr int threads = 8;
  constexpr int per_thread = 1500;
  std::atomic<int> broken{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      std::vector<std::pair<unsigned char*, std::size_t>> mine;
      for (int i = 0; i < per_thread; ++i) {
        const std::size_t bytes = static_cast<std::size_t>((i * 7 + t) % 96) + 1;
        auto* p = static_cast<unsigned char*>(d.allocate(bytes));
        std::memset(p, t + 1, bytes);
        mine.emplace_back(p, bytes);
        if (i % 2 == 0) {
          const auto [q, n] = mine[mine.size() / 2];
          mine.erase(mine.begin() + static_cast<std::ptrdiff_t>(mine.size() / 2));
          for (std::size_t k = 0; k < n; ++k) broken += q[k] != t + 1;
          d.deallocate(q, n);
        }
      }
      for (const auto& [q, n] : mine) {
        for (std::size_t k = 0; k < n; ++k) broken += q[k] != t + 1;
        d.deallocate(q, n);
      }
    });
  for (auto& thread : pool) thread.join();
  CHECK(broken == 0);
  const auto s = d.statistics();
  CHECK(s.total_allocations == threads * per_thread);
  CHECK(s.total_deallocations == threads * per_thread);
  CHECK(s.blocks_in_use == 0);
  CHECK(rec.errors.empty());
}

// The lock is biased to the first thread that uses the resource, which then enters with plain
// stores; the first call from another thread revokes the bias for good. Each round one thread
// takes the bias and keeps allocating and freeing while seven more start, so the revocation meets
// the owner at every point of its calls. Every block is filled and checked before its free.
TEST_CASE("debug_resource: other threads take over from the thread the lock was biased to") {
  constexpr int owner_steps = 3000;
  constexpr int other_steps = 300;
  constexpr int others = 7;
  for (int round = 0; round < 30; ++round) {
    CAPTURE(round);
    recorder rec;
    debug_resource d(pmrheap::c_resource::instance(), rec.options([](debug_options& o) {
      o.stack_trace_frames = 0;
      o.quarantine_blocks = 8;
    }));
    std::atomic<bool> owner_started{false};
    std::atomic<int> broken{0};
    const auto work = [&](int t, int steps) {
      std::vector<std::pair<unsigned char*, std::size_t>> mine;
      const auto check_and_free = [&](std::size_t i) {
        const auto [q, n] = mine[i];
        mine.erase(mine.begin() + static_cast<std::ptrdiff_t>(i));
        for (std::size_t k = 0; k < n; ++k) broken += q[k] != t + 1;
        d.deallocate(q, n);
      };
      for (int i = 0; i < steps; ++i) {
        const std::size_t bytes = static_cast<std::size_t>((i * 13 + t) % 80) + 1;
        auto* p = static_cast<unsigned char*>(d.allocate(bytes));
        std::memset(p, t + 1, bytes);
        mine.emplace_back(p, bytes);
        if (i == 10) owner_started.store(true);
        if (i % 2 == 1) check_and_free(mine.size() / 2);
      }
      while (!mine.empty()) check_and_free(0);
    };
    std::thread owner(work, 0, owner_steps);
    while (!owner_started.load()) std::this_thread::yield();
    std::vector<std::thread> pool;
    for (int t = 1; t <= others; ++t) pool.emplace_back(work, t, other_steps);
    owner.join();
    for (auto& thread : pool) thread.join();
    CHECK(broken == 0);
    const auto s = d.statistics();
    CHECK(s.total_allocations == owner_steps + others * other_steps);
    CHECK(s.total_deallocations == owner_steps + others * other_steps);
    CHECK(s.blocks_in_use == 0);
    CHECK(rec.errors.empty());
  }
}

#if !defined(_WIN32) && __has_include(<sys/wait.h>)  // not __has_include alone: cross builds see host headers
namespace {
struct child_result {
  int status = 0;
  std::string stderr_text;
};

// Runs `body` in a child process: how the child ended and what it wrote to stderr. A child that
// hangs ends by SIGALRM after 20 s.
template <class Body>
child_result run_in_child(Body body) {
  int out[2];
  REQUIRE(::pipe(out) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    std::signal(SIGABRT, SIG_DFL);  // doctest's crash handler would report the abort as a failure
    ::dup2(out[1], 2);
    ::close(out[0]);
    ::alarm(20);
    body();
    ::_exit(0);
  }
  ::close(out[1]);
  child_result result;
  char buffer[4096];
  for (ssize_t n; (n = ::read(out[0], buffer, sizeof buffer)) > 0;)
    result.stderr_text.append(buffer, static_cast<std::size_t>(n));
  ::close(out[0]);
  REQUIRE(::waitpid(child, &result.status, 0) == child);
  return result;
}
}  // namespace

// Without on_error the report goes to stderr and the process aborts: run that in a child.
TEST_CASE("debug_resource: without on_error, a double free prints the report and aborts") {
  const child_result r = run_in_child([] {
    debug_resource d(pmrheap::c_resource::instance());
    void* p = d.allocate(40);
    d.deallocate(p, 40);
    d.deallocate(p, 40);
  });
  MESSAGE(r.stderr_text);
  CHECK(WIFSIGNALED(r.status));
  CHECK(WTERMSIG(r.status) == SIGABRT);
  CHECK(r.stderr_text.rfind("pmrheap::debug_resource: double free: deallocate(", 0) == 0);
  CHECK(contains(r.stderr_text, "  freed again at:\n"));
}

// A backing that calls back into a thread-safe debug_resource while serving it would deadlock on
// the lock (or, with the lock biased to that thread, corrupt the state): it aborts with a message
// instead, whether the call came in by the biased path or by the lock (after another thread used
// the resource).
TEST_CASE("debug_resource: a call from inside its own call aborts with a message when thread-safe") {
  for (const bool other_thread_first : {false, true}) {
    CAPTURE(other_thread_first);
    const child_result r = run_in_child([other_thread_first] {
      struct calling_back final : std::pmr::memory_resource {
        const debug_resource* debug = nullptr;
        void* do_allocate(std::size_t bytes, std::size_t alignment) override {
          if (debug != nullptr) static_cast<void>(debug->statistics());
          return pmrheap::c_resource::instance()->allocate(bytes, alignment);
        }
        void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
          pmrheap::c_resource::instance()->deallocate(p, bytes, alignment);
        }
        bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }
      } backing;
      debug_resource d(&backing);
      if (other_thread_first) std::thread([&d] { d.deallocate(d.allocate(8), 8); }).join();
      backing.debug = &d;
      static_cast<void>(d.allocate(8));
    });
    CHECK(WIFSIGNALED(r.status));
    CHECK(WTERMSIG(r.status) == SIGABRT);
    CHECK(r.stderr_text.rfind("pmrheap::debug_resource: called again from inside one of its own calls", 0) == 0);
  }
}
#endif
