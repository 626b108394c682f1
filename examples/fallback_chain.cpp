// SPDX-License-Identifier: MIT
// Shows a chain stack_fallback_resource -> arena_resource -> page_resource and which layer served
// each request; explained in docs/resources/stack_fallback_resource.md.
#include <fmt/format.h>

#include <cstddef>
#include <memory_resource>
#include <utility>
#include <vector>

#include "pmrheap/arena_resource.hpp"
#include "pmrheap/page_resource.hpp"
#include "pmrheap/stack_fallback_resource.hpp"

namespace {

// Sits between two layers and prints every call that crosses it, indented by depth. A
// pmrheap::resource forwarding resize too, so the arena can still grow its nodes in place through it.
class logging_resource final : public pmrheap::resource {
 public:
  logging_resource(const char* name, int depth, std::pmr::memory_resource& next) noexcept
      : name_(name), indent_(static_cast<std::size_t>(2 * depth)), next_(&next) {}

 private:
  void* do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept override {
    log("allocate {} bytes", bytes);
    void* const p = pmrheap::try_allocate(*next_, bytes, alignment);
    if (p == nullptr) log("refused");
    return p;
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    log("deallocate {} bytes", bytes);
    next_->deallocate(p, bytes, alignment);
  }
  bool do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override {
    const bool ok = pmrheap::resize(*next_, p, old_bytes, new_bytes, alignment);
    log("resize {} -> {} bytes in place: {}", old_bytes, new_bytes, ok ? "done" : "refused");
    return ok;
  }
  template <class... Args>
  void log(fmt::format_string<Args...> format, Args&&... args) const {
    fmt::print("{:{}}{}: {}\n", "", indent_, name_, fmt::format(format, std::forward<Args>(args)...));
  }

  const char* name_;
  std::size_t indent_;
  std::pmr::memory_resource* next_;
};

}  // namespace

int main() {
  logging_resource pages("arena -> page_resource", 3, *pmrheap::page_resource::instance());
  pmrheap::arena_resource arena(&pages);
  logging_resource spill("stack -> arena", 2, arena);
  pmrheap::stack_fallback_resource<1024> stack(&spill);

  fmt::print("stack_fallback_resource<1024> -> arena_resource -> page_resource\n");
  // Each request goes to the stack buffer first; what does not fit there crosses "stack -> arena",
  // and what does not fit the arena's node crosses "arena -> page_resource".
  std::vector<std::pair<void*, std::size_t>> blocks;
  for (std::size_t bytes : {128, 320, 2000, 512, 600, 5000, 256}) {
    fmt::print("allocate {} bytes:\n", bytes);
    void* const p = stack.allocate(bytes);
    blocks.emplace_back(p, bytes);
    fmt::print("  served by the {}; stack buffer {} of {} bytes used, arena capacity {} bytes\n",
               stack.owns(p) ? "stack buffer" : "arena", stack.used(), stack.capacity(), arena.capacity());
  }

  // Blocks go back to the layer that owns them: the stack buffer takes its own (reclaiming only
  // the last), the arena's are passed down and kept until the arena lets go of its nodes.
  fmt::print("deallocate everything, newest first:\n");
  for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) stack.deallocate(it->first, it->second);
  fmt::print("arena.release():\n");
  arena.release();
  fmt::print("stack buffer {} bytes used, arena capacity {} bytes\n", stack.used(), arena.capacity());
}
