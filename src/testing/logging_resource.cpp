// SPDX-License-Identifier: MIT
// logging_resource. Lines are built with fmt; a sink that throws, or a line that cannot be built,
// is swallowed: logging must never change what the resource does.
#include "pmrheap/testing/logging_resource.hpp"

#include <fmt/format.h>

#include <exception>
#include <new>
#include <string>
#include <utility>

#include "pmrheap/detail/align.hpp"

namespace pmrheap {
namespace {

// The line, or nothing when there is no memory to build it.
template <class... Args>
std::string line(fmt::format_string<Args...> format, Args&&... args) noexcept {
  try {
    return fmt::format(format, std::forward<Args>(args)...);
  } catch (...) {
    return {};
  }
}

}  // namespace

logging_resource::logging_resource(std::pmr::memory_resource* upstream, std::FILE* out, log_filter filter) noexcept
    : forwarding_resource(upstream), out_(out != nullptr ? out : stderr), filter_(filter) {}

logging_resource::logging_resource(std::pmr::memory_resource* upstream, sink callback, log_filter filter)
    : forwarding_resource(upstream), sink_(std::move(callback)), filter_(filter) {}

logging_resource::~logging_resource() = default;

void logging_resource::emit(bool failed, std::string_view text) noexcept {
  if (text.empty() || (!failed && filter_ == log_filter::failures)) return;
  try {
    if (sink_) {
      sink_(text);
    } else {
      std::string with_newline(text);
      with_newline += '\n';
      std::fwrite(with_newline.data(), 1, with_newline.size(), out_);
    }
  } catch (...) {
    // A sink that throws loses its line, not the caller's memory.
  }
}

void* logging_resource::do_allocate(std::size_t bytes, std::size_t alignment) {
  if (bytes == 0 && detail::is_pow2(alignment)) return detail::empty_block(alignment);
  void* p = nullptr;
  try {
    p = forward_allocate(bytes, alignment);
  } catch (const std::bad_alloc&) {
    emit(true, line("allocate {} bytes, alignment {} -> failed", bytes, alignment));
    throw;
  } catch (const std::exception& e) {
    emit(true, line("allocate {} bytes, alignment {} -> failed: {}", bytes, alignment, e.what()));
    throw;
  }
  if (filter_ == log_filter::all) emit(false, line("allocate {} bytes, alignment {} -> {}", bytes, alignment, p));
  return p;
}

void* logging_resource::do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept {
  void* const p = forward_try_allocate(bytes, alignment);
  if (p == nullptr) {
    emit(true, line("try_allocate {} bytes, alignment {} -> failed", bytes, alignment));
  } else if (filter_ == log_filter::all) {
    emit(false, line("try_allocate {} bytes, alignment {} -> {}", bytes, alignment, p));
  }
  return p;
}

void logging_resource::do_deallocate(void* p, std::size_t bytes, std::size_t alignment) {
  if (bytes == 0) return;  // the empty block never came from the upstream
  forward_deallocate(p, bytes, alignment);
  if (filter_ == log_filter::all) emit(false, line("deallocate {} {} bytes, alignment {}", p, bytes, alignment));
}

bool logging_resource::do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes,
                                 std::size_t alignment) noexcept {
  const bool ok = forward_resize(p, old_bytes, new_bytes, alignment);
  if (!ok || filter_ == log_filter::all)
    emit(!ok, line("resize {} {} -> {} bytes, alignment {} -> {}", p, old_bytes, new_bytes, alignment,
                   ok ? "ok" : "failed"));
  return ok;
}

void* logging_resource::do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes,
                                 std::size_t alignment) noexcept {
  void* const q = forward_remap(p, old_bytes, new_bytes, alignment);
  if (q == nullptr) {
    emit(true, line("remap {} {} -> {} bytes, alignment {} -> failed", p, old_bytes, new_bytes, alignment));
  } else if (filter_ == log_filter::all) {
    emit(false, line("remap {} {} -> {} bytes, alignment {} -> {}", p, old_bytes, new_bytes, alignment, q));
  }
  return q;
}

}  // namespace pmrheap
