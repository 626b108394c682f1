// SPDX-License-Identifier: MIT
// A consumer of library pmrheap_testing: debug_resource finds a leak and reports it with the
// allocation's stack trace (stack_trace.cpp, which links libbacktrace where gcc ships it), and
// fmt formats its statistics (<pmrheap/testing/fmt.hpp>, so fmt must be on the link line).
#include <fmt/format.h>

#include <cstdio>
#include <pmrheap/page_resource.hpp>
#include <pmrheap/testing.hpp>
#include <pmrheap/testing/fmt.hpp>
#include <string>

int main() {
  std::size_t leaks = 0;
  std::string report;
  {
    pmrheap::debug_options options;
    options.on_error = [&](const pmrheap::debug_error& e) {
      if (e.kind == pmrheap::debug_error_kind::leak) ++leaks;
      report = e.message;
    };
    pmrheap::debug_resource debug(pmrheap::page_resource::instance(), options);
    void* kept = debug.allocate(48);
    debug.deallocate(debug.allocate(16), 16);
    const std::string stats = fmt::format("{}", debug.statistics());
    if (stats.empty()) return 1;
    std::printf("%s\n", stats.c_str());
    if (debug.report_leaks() != 1) return 1;
    debug.deallocate(kept, 48);
  }
  if (leaks != 1 || report.find("allocated at:") == std::string::npos) {
    std::fprintf(stderr, "expected one leak report with its trace, got %zu:\n%s\n", leaks, report.c_str());
    return 1;
  }
  std::printf("%s\ndebug consumer ok\n", report.c_str());
  return 0;
}
