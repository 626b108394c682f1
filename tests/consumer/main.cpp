// SPDX-License-Identifier: MIT
// A consumer of pmrheap: returns non-zero if anything it relies on does not work.
#include <pmrheap/pmrheap.hpp>

#include <memory_resource>
#include <vector>

int main() {
  std::pmr::vector<int> v(pmrheap::page_resource::instance());
  for (int i = 0; i < 1000; ++i) v.push_back(i);
  auto& c = *pmrheap::c_resource::instance();
  void* p = pmrheap::reallocate(c, nullptr, 0, 64);
  p = pmrheap::reallocate(c, p, 64, 4096);
  c.deallocate(p, 4096);
  return v[999] == 999 ? 0 : 1;
}
