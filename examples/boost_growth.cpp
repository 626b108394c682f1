// SPDX-License-Identifier: MIT
// Shows a vector of a million ints grown three ways, and how many buffers and bytes each takes;
// explained in docs/growth.md. Needs Boost.Container (built only when meson finds it).
#include <boost/container/vector.hpp>
#include <fmt/format.h>

#include <cstddef>
#include <memory_resource>
#include <vector>

#include "pmrheap/arena_resource.hpp"
#include "pmrheap/boost/resizable_allocator.hpp"
#include "pmrheap/page_resource.hpp"
#include "pmrheap/virtual_arena_resource.hpp"

namespace {

constexpr int count = 1000000;

// Counts what passes to the resource behind it. A pmrheap::resource that forwards resize and
// remap too, so wrapping a resource does not take its in-place growth away.
class counting_upstream final : public pmrheap::resource {
 public:
  explicit counting_upstream(std::pmr::memory_resource& upstream) noexcept : upstream_(&upstream) {}
  std::size_t peak_bytes = 0;  // most bytes held from the upstream at any one time

 private:
  void* do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept override {
    void* p = pmrheap::try_allocate(*upstream_, bytes, alignment);
    if (p != nullptr) hold(live_ + bytes);
    return p;
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    if (bytes == 0) return;
    live_ -= bytes;
    upstream_->deallocate(p, bytes, alignment);
  }
  bool do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override {
    const bool ok = pmrheap::resize(*upstream_, p, old_bytes, new_bytes, alignment);
    if (ok) hold(live_ - old_bytes + new_bytes);
    return ok;
  }
  void hold(std::size_t live) noexcept {
    live_ = live;
    if (live_ > peak_bytes) peak_bytes = live_;
  }

  std::pmr::memory_resource* upstream_;
  std::size_t live_ = 0;
};

// Pushes `count` ints one at a time and returns how many buffers the vector lived in.
template <class Vector>
int grow(Vector& v) {
  int buffers = 0;
  const int* data = nullptr;
  for (int i = 0; i < count; ++i) {
    v.push_back(i);
    if (v.data() != data) {
      ++buffers;
      data = v.data();
    }
  }
  return buffers;
}

double mib(std::size_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

void report(const char* how, int buffers, const char* taken_from, std::size_t bytes) {
  fmt::print("{:<58} {:>3} buffer{} {:>6.1f} MiB from {}\n", how, buffers, buffers == 1 ? " " : "s", mib(bytes),
             taken_from);
}

// (a) What std::pmr can do: every growth allocates a new buffer; the arena cannot reuse the old one.
void std_vector_on_monotonic() {
  counting_upstream upstream(*std::pmr::new_delete_resource());
  std::pmr::monotonic_buffer_resource arena(&upstream);
  std::pmr::vector<int> v(&arena);
  const int buffers = grow(v);
  report("(a) std::pmr::vector on monotonic_buffer_resource", buffers, "upstream (peak)", upstream.peak_bytes);
}

// (b) A Boost vector with resizable_allocator on an arena over page_resource: it grows in place
// while its buffer is the newest block of the arena's node (the node grows in place within its
// page); past that every growth moves it into a node of its own, and the arena keeps the outgrown
// buffers until reset().
void boost_vector_on_arena() {
  counting_upstream upstream(*pmrheap::page_resource::instance());
  pmrheap::arena_resource arena(&upstream);
  boost::container::vector<int, pmrheap::resizable_allocator<int>> v{pmrheap::resizable_allocator<int>(&arena)};
  const int buffers = grow(v);
  report("(b) Boost vector + resizable_allocator on arena_resource", buffers, "upstream (peak)", upstream.peak_bytes);
}

// (c) The same vector on a virtual arena: one buffer, grown in place through committed pages.
void boost_vector_on_virtual_arena() {
  pmrheap::virtual_arena_resource arena;
  boost::container::vector<int, pmrheap::resizable_allocator<int>> v{pmrheap::resizable_allocator<int>(&arena)};
  const int buffers = grow(v);
  report("(c) Boost vector + resizable_allocator on virtual_arena", buffers, "the OS (committed)", arena.committed());
}

}  // namespace

int main() {
  fmt::print("A vector of {} ints ({:.1f} MiB of payload), pushed back one at a time:\n", count,
             mib(count * sizeof(int)));
  std_vector_on_monotonic();
  boost_vector_on_arena();
  boost_vector_on_virtual_arena();
}
