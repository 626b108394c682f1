// SPDX-License-Identifier: MIT
// fmt formatters for pmrheap types. Optional: include it where you print with fmt; nothing else in
// pmrheap includes it, so code that never formats these types never sees fmt's headers.
#ifndef PMRHEAP_TESTING_FMT_HPP
#define PMRHEAP_TESTING_FMT_HPP

#include <fmt/format.h>

#include "pmrheap/pool_resource.hpp"
#include "pmrheap/testing/debug_resource.hpp"
#include "pmrheap/testing/stack_trace.hpp"

namespace pmrheap::detail {

/// Base of the formatters below: they take no format spec ("{}" only).
struct no_spec_formatter {
  constexpr auto parse(fmt::format_parse_context& ctx) -> fmt::format_parse_context::iterator {
    auto it = ctx.begin();
    if (it != ctx.end() && *it != '}') throw fmt::format_error("pmrheap types take no format spec");
    return it;
  }
};

}  // namespace pmrheap::detail

/// `live: 2 blocks, 48 bytes; peak: 3 blocks, 64 bytes; total: 5 allocations (96 bytes), 3 deallocations;
/// quarantined: 3 blocks, 48 bytes; errors: 0`
template <>
struct fmt::formatter<pmrheap::debug_statistics> : pmrheap::detail::no_spec_formatter {
  template <class FormatContext>
  auto format(const pmrheap::debug_statistics& s, FormatContext& ctx) const -> decltype(ctx.out()) {
    return fmt::format_to(ctx.out(),
                          "live: {} blocks, {} bytes; peak: {} blocks, {} bytes; total: {} allocations ({} bytes), {} "
                          "deallocations; quarantined: {} blocks, {} bytes; errors: {}",
                          s.blocks_in_use, s.live_bytes, s.peak_blocks_in_use, s.peak_bytes, s.total_allocations,
                          s.total_bytes, s.total_deallocations, s.quarantined_blocks, s.quarantined_bytes, s.errors);
  }
};

/// "double free", "overrun", ... (pmrheap::to_string).
template <>
struct fmt::formatter<pmrheap::debug_error_kind> : pmrheap::detail::no_spec_formatter {
  template <class FormatContext>
  auto format(pmrheap::debug_error_kind kind, FormatContext& ctx) const -> decltype(ctx.out()) {
    return fmt::format_to(ctx.out(), "{}", pmrheap::to_string(kind));
  }
};

/// The symbolised trace, one indented line per frame (stack_trace::to_string()).
template <>
struct fmt::formatter<pmrheap::stack_trace> : pmrheap::detail::no_spec_formatter {
  template <class FormatContext>
  auto format(const pmrheap::stack_trace& trace, FormatContext& ctx) const -> decltype(ctx.out()) {
    return fmt::format_to(ctx.out(), "{}", trace.to_string());
  }
};

/// `in use: 3 blocks (1 from upstream); held: 8192 bytes from upstream, 1 chunks; classes: 8 B: 1 in
/// use, 127 free; 192 B: 1 in use, 4 free` (classes that never took a block are left out).
template <>
struct fmt::formatter<pmrheap::pool_statistics> : pmrheap::detail::no_spec_formatter {
  template <class FormatContext>
  auto format(const pmrheap::pool_statistics& s, FormatContext& ctx) const -> decltype(ctx.out()) {
    auto out =
        fmt::format_to(ctx.out(), "in use: {} blocks ({} from upstream); held: {} bytes from upstream, {} chunks",
                       s.blocks_in_use, s.upstream_blocks, s.bytes_from_upstream, s.chunks);
    const char* separator = "; classes: ";
    for (std::size_t i = 0; i < s.class_count; ++i) {
      const pmrheap::pool_class_statistics& c = s.classes[i];
      if (c.in_use + c.free == 0) continue;
      out = fmt::format_to(out, "{}{} B: {} in use, {} free", separator, c.block_size, c.in_use, c.free);
      separator = "; ";
    }
    return out;
  }
};

#endif  // PMRHEAP_TESTING_FMT_HPP
