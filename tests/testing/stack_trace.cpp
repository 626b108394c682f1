// SPDX-License-Identifier: MIT
// Tests include/pmrheap/testing/stack_trace.hpp: capture depth and skip, and symbolisation naming a known
// function (with file:line where the build has libbacktrace).
#include "pmrheap/testing/stack_trace.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

using pmrheap::stack_trace;

// Functions with distinctive names that must stay frames of their own.
constexpr int leaf_capture_line = __LINE__ + 2;
PMRHEAP_NOINLINE stack_trace pmrheap_trace_leaf(std::size_t frames, std::size_t skip) {
  stack_trace t = stack_trace::capture(frames, skip);
  asm volatile("");  // keep the call from becoming a tail call
  return t;
}

PMRHEAP_NOINLINE stack_trace pmrheap_trace_middle(std::size_t frames, std::size_t skip) {
  stack_trace t = pmrheap_trace_leaf(frames, skip);
  asm volatile("");
  return t;
}

// An inlined call: its frame exists only in the debug information.
[[gnu::always_inline]] inline stack_trace pmrheap_trace_inlined() { return stack_trace::capture(2, 0); }

PMRHEAP_NOINLINE stack_trace pmrheap_trace_outer() {
  stack_trace t = pmrheap_trace_inlined();
  asm volatile("");
  return t;
}

namespace {

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

}  // namespace

TEST_CASE("stack_trace: an empty trace prints one line saying so") {
  stack_trace t;
  CHECK(t.empty());
  CHECK(t.size() == 0);
  CHECK(t.begin() == t.end());
  CHECK(t.to_string("  ") == "  (no stack frames captured)\n");
}

TEST_CASE("stack_trace: capture respects the frame limit, max_frames and 0") {
  const stack_trace three = pmrheap_trace_middle(3, 0);
  CHECK(three.size() == 3);
  const stack_trace none = pmrheap_trace_middle(0, 0);
  CHECK(none.empty());
  const stack_trace capped = pmrheap_trace_middle(1000, 0);
  CHECK(capped.size() <= stack_trace::max_frames);
  CHECK(capped.size() >= 3);  // leaf, middle, this test case at least
}

// The first frame is the caller of capture(); skip drops that many more.
TEST_CASE("stack_trace: the first frame is the caller of capture; skip moves up the stack") {
  const stack_trace full = pmrheap_trace_middle(4, 0);
  const stack_trace skipped = pmrheap_trace_middle(3, 1);
  REQUIRE(full.size() == 4);
  REQUIRE(skipped.size() == 3);
  CHECK(full[0] != full[1]);
  CHECK(skipped[0] == full[1]);  // the return address inside pmrheap_trace_middle
  CHECK(skipped[1] != full[1]);  // already in this test case (a different call site from full's)
}

namespace {
PMRHEAP_NOINLINE stack_trace four_frames() {
  stack_trace t = pmrheap_trace_middle(4, 0);
  asm volatile("");
  return t;
}
}  // namespace

// A thread whose frame-pointer walks keep coming up short skips them for a while and goes straight
// to the next unwinder: the frames must not change when it does, or when it tries a walk again.
TEST_CASE("stack_trace: the same frames while a thread's frame-pointer walks are paused and after") {
  std::vector<stack_trace> traces;
  for (int i = 0; i < 600; ++i) {
    // As deep as allowed: no walk on this stack reaches max_frames, so it comes up short every time.
    const stack_trace deep = pmrheap_trace_middle(stack_trace::max_frames, 0);
    REQUIRE(deep.size() >= 3);
    traces.push_back(four_frames());
    REQUIRE(traces.back().size() == 4);
    CHECK(deep[0] == traces.back()[0]);  // the return address inside pmrheap_trace_leaf
  }
  for (const stack_trace& t : traces) CHECK(std::equal(t.begin(), t.end(), traces.front().begin()));
}

TEST_CASE("stack_trace: printing names the capturing function, and file:line with libbacktrace") {
  const stack_trace t = pmrheap_trace_middle(4, 0);
  const std::string text = t.to_string(">> ");
  MESSAGE((std::string("symbolizer: ") + stack_trace::symbolizer() + "\n" + text));
  REQUIRE(t.size() == 4);
  CHECK(text.rfind(">> #0 0x", 0) == 0);
  CHECK(contains(text, ">> #1 "));
  const std::string_view symbolizer = stack_trace::symbolizer();
  if (symbolizer == "libbacktrace") {
    CHECK(contains(text, "#0 "));
    // The parameters are std::size_t, demangled as "unsigned long" or "unsigned int" by target.
    const std::string size = std::is_same_v<std::size_t, unsigned long> ? "unsigned long" : "unsigned int";
    CHECK(contains(text, "in pmrheap_trace_leaf(" + size + ", " + size + ") at "));
    CHECK(contains(text, "in pmrheap_trace_middle(" + size + ", " + size + ") at "));
    CHECK(contains(text, "tests/testing/stack_trace.cpp:" + std::to_string(leaf_capture_line)));
    // Frame 0 is the leaf, frame 1 the middle function.
    CHECK(text.find("pmrheap_trace_leaf") < text.find("pmrheap_trace_middle"));
  } else {
    CHECK((symbolizer == "execinfo" || symbolizer == "addresses"));
  }
}

TEST_CASE("stack_trace: print writes what to_string returns") {
  const stack_trace t = pmrheap_trace_middle(2, 0);
  std::FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  t.print(f, "  ");
  std::rewind(f);
  std::string written;
  char buffer[512];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, f)) written.append(buffer, n);
  std::fclose(f);
  CHECK(written == t.to_string("  "));
}

TEST_CASE("stack_trace: traces are values and capture is safe from several threads") {
  std::vector<stack_trace> traces(4);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < traces.size(); ++i)
    threads.emplace_back([&traces, i] {
      for (int k = 0; k < 200; ++k) traces[i] = pmrheap_trace_middle(6, 0);
      static_cast<void>(traces[i].to_string());
    });
  for (auto& t : threads) t.join();
  for (const stack_trace& t : traces) {
    REQUIRE(t.size() >= 2);
    CHECK(t[1] == traces[0][1]);  // the same return address in pmrheap_trace_middle
  }
  const stack_trace copy = traces[0];
  CHECK(copy.size() == traces[0].size());
  CHECK(copy.to_string() == traces[0].to_string());
}

TEST_CASE("stack_trace: an inlined call is printed before its caller, marked (inlined)") {
  const std::string text = pmrheap_trace_outer().to_string();
  MESSAGE(text);
  if (std::string_view(stack_trace::symbolizer()) == "libbacktrace") {
    CHECK(contains(text, "#0 "));
    CHECK(contains(text, "in pmrheap_trace_inlined() at "));
    CHECK(contains(text, "(inlined)\n"));
    CHECK(text.find("pmrheap_trace_inlined") < text.find("pmrheap_trace_outer"));
  } else {
    CHECK_FALSE(text.empty());
  }
}
