// SPDX-License-Identifier: MIT
// pool_resource: refills, chunks, upstream blocks, resize and release.
//
// Design notes.
// - Classes step by 8 bytes to 128 and by a quarter of a power of two above (detail::pool_class_of):
//   the spacing bounds the rounding loss to 1/5 of a block, where power-of-two classes (Boost,
//   libc++) lose up to half. A class guarantees the largest power of two dividing its size; that
//   is what carving from an address so aligned gives for free, and it covers every natural
//   alignment of a type of that size.
// - All classes carve from one chunk at a time (not one chunk series per class, as libstdc++ and
//   Boost do): a class takes a batch of blocks, doubling from about 1 KiB up to max_batch_bytes,
//   so a class used once holds about 1 KiB and the unused tail per class stays small. Chunks
//   double from 4 KiB to 256 KiB: few upstream calls, and the newest chunk's unused space stays a
//   small share of what the pool holds.
// - Upstream blocks carry a footer {prev, next, total, alignment} behind the caller's bytes, on a
//   doubly linked list: deallocate and resize find it from the size pmr passes, release() walks
//   the list. A footer rather than a header keeps over-aligned blocks free of padding.
// - Every state change comes after the upstream said yes, so a refused chunk or block leaves the
//   pool as it was (libstdc++ 12's pools crash on the call after such a refusal).
#include "pmrheap/pool_resource.hpp"

#include <limits>

namespace pmrheap {

struct pool_resource::chunk {
  chunk* next;
  std::size_t size;  ///< Bytes from upstream, header included.
};

struct pool_resource::big_block {
  big_block* prev;
  big_block* next;
  std::size_t total;      ///< Bytes from upstream, footer included.
  std::size_t alignment;  ///< The alignment the upstream was asked for.
};

namespace {

constexpr std::size_t npos = std::numeric_limits<std::size_t>::max();
constexpr std::size_t chunk_alignment = alignof(std::max_align_t);
constexpr std::size_t first_chunk_size = 4096;
constexpr std::size_t max_chunk_size = std::size_t{256} << 10;
constexpr std::size_t first_batch_bytes = 1024;
constexpr auto max_block = static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max());

constexpr std::size_t lowest_bit(std::size_t x) noexcept { return x & (~x + 1); }

}  // namespace

pool_resource::pool_resource(const std::pmr::pool_options& options, std::pmr::memory_resource* upstream) noexcept
    : next_chunk_size_(first_chunk_size),
      upstream_(upstream != nullptr ? upstream : std::pmr::null_memory_resource()),
      native_upstream_(dynamic_cast<resource*>(upstream_)) {
  std::size_t largest = options.largest_required_pool_block;
  if (largest == 0) largest = default_largest_block;
  if (largest > max_largest_block) largest = max_largest_block;
  class_count_ = detail::pool_class_of(largest) + 1;
  largest_ = detail::pool_class_size(class_count_ - 1);
  table_limit_ = largest_ < detail::pool_table_limit ? largest_ : detail::pool_table_limit;
  blocks_per_chunk_ = options.max_blocks_per_chunk;
  if (blocks_per_chunk_ == 0) blocks_per_chunk_ = default_blocks_per_chunk;
  if (blocks_per_chunk_ > max_blocks_per_chunk) blocks_per_chunk_ = max_blocks_per_chunk;
  reset_classes();
}

pool_resource::~pool_resource() { release(); }

std::pmr::pool_options pool_resource::options() const noexcept {
  std::pmr::pool_options o;
  o.max_blocks_per_chunk = blocks_per_chunk_;
  o.largest_required_pool_block = largest_;
  return o;
}

void pool_resource::reset_classes() noexcept {
  for (std::size_t i = 0; i < class_count_; ++i) {
    size_class& c = classes_[i];
    c = size_class{};
    c.size = detail::pool_class_size(i);
    c.alignment = lowest_bit(c.size);
    const std::size_t first = first_batch_bytes / c.size;
    c.next_batch = first == 0 ? 1 : first < blocks_per_chunk_ ? first : blocks_per_chunk_;
  }
}

void pool_resource::release() noexcept {
  for (big_block* b = bigs_; b != nullptr;) {
    big_block* const next = b->next;
    std::byte* const start = reinterpret_cast<std::byte*>(b) + sizeof(big_block) - b->total;
    upstream_->deallocate(start, b->total, b->alignment);
    b = next;
  }
  bigs_ = nullptr;
  for (chunk* c = chunks_; c != nullptr;) {
    chunk* const next = c->next;
    const std::size_t size = c->size;
    detail::unpoison(c, size);  // An upstream that knows nothing of ASan may hand it out again.
    upstream_->deallocate(c, size, chunk_alignment);
    c = next;
  }
  chunks_ = nullptr;
  chunk_cursor_ = nullptr;
  chunk_end_ = nullptr;
  next_chunk_size_ = first_chunk_size;
  bytes_from_upstream_ = 0;
  reset_classes();
}

pool_statistics pool_resource::statistics() const noexcept {
  pool_statistics s;
  s.class_count = class_count_;
  for (std::size_t i = 0; i < class_count_; ++i) {
    const size_class& c = classes_[i];
    s.classes[i] = {c.size, c.alignment, c.in_use, c.held - c.in_use};
    s.blocks_in_use += c.in_use;
  }
  for (const big_block* b = bigs_; b != nullptr; b = b->next) ++s.upstream_blocks;
  for (const chunk* c = chunks_; c != nullptr; c = c->next) ++s.chunks;
  s.blocks_in_use += s.upstream_blocks;
  s.bytes_from_upstream = bytes_from_upstream_;
  return s;
}

std::size_t pool_resource::class_for(std::size_t bytes, std::size_t alignment) const noexcept {
  if (bytes == 0 || bytes > largest_) return npos;
  std::size_t i =
      bytes <= detail::pool_table_limit ? detail::pool_class_table[(bytes - 1) >> 3] : detail::pool_class_of(bytes);
  while (i < class_count_ && classes_[i].alignment < alignment) ++i;
  return i < class_count_ ? i : npos;
}

void* pool_resource::allocate_slow(std::size_t bytes, std::size_t alignment) {
  if (!detail::is_pow2(alignment)) throw_allocation_failure(bytes, alignment);
  if (bytes == 0) return detail::empty_block(alignment);
  void* const p = try_allocate_slow(bytes, alignment);
  if (p == nullptr) throw_allocation_failure(bytes, alignment);
  return p;
}

void* pool_resource::try_allocate_slow(std::size_t bytes, std::size_t alignment) noexcept {
  const std::size_t i = class_for(bytes, alignment);
  if (i == npos) return allocate_big(bytes, alignment);
  size_class& c = classes_[i];
  void* p = c.free;
  if (p != nullptr) {
    c.free = c.free->next;
  } else {
    if (c.cursor == c.end && !refill(c)) return nullptr;
    p = c.cursor;
    c.cursor += c.size;
  }
  ++c.in_use;
  detail::unpoison(p, bytes);
  return p;
}

void pool_resource::deallocate_slow(void* p, std::size_t bytes, std::size_t alignment) noexcept {
  if (bytes == 0) return;
  const std::size_t i = class_for(bytes, alignment);
  if (i != npos) {
    give_back(classes_[i], p);
  } else {
    deallocate_big(p, bytes);
  }
}

bool pool_resource::refill(size_class& c) noexcept {
  const auto fits = [&c, this](std::size_t& pad) {
    if (chunk_cursor_ == nullptr) return false;
    const auto room = static_cast<std::size_t>(chunk_end_ - chunk_cursor_);
    pad = detail::align_offset(chunk_cursor_, c.alignment);
    return pad <= room && room - pad >= c.size;
  };
  std::size_t pad = 0;
  if (!fits(pad)) {
    // A fresh payload is aligned to chunk_alignment: this is the most padding the batch needs.
    const std::size_t most_pad = c.alignment > chunk_alignment ? c.alignment - chunk_alignment : 0;
    if (!new_chunk(detail::align_up(sizeof(chunk), chunk_alignment) + most_pad + c.next_batch * c.size)) return false;
    const bool fresh_fits = fits(pad);
    PMRHEAP_ASSERT(fresh_fits, "a new chunk must hold the batch it was taken for");
    static_cast<void>(fresh_fits);
  }
  std::byte* const start = chunk_cursor_ + pad;
  const std::size_t room = static_cast<std::size_t>(chunk_end_ - start) / c.size;
  const std::size_t n = c.next_batch < room ? c.next_batch : room;
  c.cursor = start;
  c.end = start + n * c.size;
  c.held += n;
  chunk_cursor_ = c.end;
  std::size_t limit = max_batch_bytes / c.size;
  if (limit > blocks_per_chunk_) limit = blocks_per_chunk_;
  if (limit == 0) limit = 1;
  c.next_batch = c.next_batch * 2 < limit ? c.next_batch * 2 : limit;
  return true;
}

bool pool_resource::new_chunk(std::size_t needed) noexcept {
  const bool regular = needed <= next_chunk_size_;
  const std::size_t size = regular ? next_chunk_size_ : detail::align_up(needed, chunk_alignment);
  void* const p = upstream_allocate(size, chunk_alignment);
  if (p == nullptr) return false;
  chunk* const c = ::new (p) chunk{chunks_, size};
  chunks_ = c;
  chunk_cursor_ = reinterpret_cast<std::byte*>(c) + detail::align_up(sizeof(chunk), chunk_alignment);
  chunk_end_ = reinterpret_cast<std::byte*>(c) + size;
  detail::poison(chunk_cursor_, static_cast<std::size_t>(chunk_end_ - chunk_cursor_));
  bytes_from_upstream_ += size;
  if (regular && next_chunk_size_ < max_chunk_size) next_chunk_size_ *= 2;
  return true;
}

namespace {

// Where the footer of an upstream block of `bytes` goes, and the upstream size with it; false when
// that size cannot be a block.
bool big_layout(std::size_t bytes, std::size_t footer_size, std::size_t footer_alignment, std::size_t& offset,
                std::size_t& total) noexcept {
  return detail::align_up_checked(bytes, footer_alignment, offset) && detail::checked_add(offset, footer_size, total) &&
         total <= max_block;
}

}  // namespace

void* pool_resource::allocate_big(std::size_t bytes, std::size_t alignment) noexcept {
  std::size_t offset = 0;
  std::size_t total = 0;
  if (!big_layout(bytes, sizeof(big_block), alignof(big_block), offset, total)) return nullptr;
  const std::size_t a = alignment > alignof(big_block) ? alignment : alignof(big_block);
  void* const p = upstream_allocate(total, a);
  if (p == nullptr) return nullptr;
  auto* const b = ::new (static_cast<std::byte*>(p) + offset) big_block{nullptr, bigs_, total, a};
  if (bigs_ != nullptr) bigs_->prev = b;
  bigs_ = b;
  bytes_from_upstream_ += total;
  return p;
}

void pool_resource::deallocate_big(void* p, std::size_t bytes) noexcept {
  auto* const b =
      reinterpret_cast<big_block*>(static_cast<std::byte*>(p) + detail::align_up(bytes, alignof(big_block)));
  if (b->prev != nullptr) {
    b->prev->next = b->next;
  } else {
    bigs_ = b->next;
  }
  if (b->next != nullptr) b->next->prev = b->prev;
  bytes_from_upstream_ -= b->total;
  upstream_->deallocate(p, b->total, b->alignment);
}

void* pool_resource::resize_big(void* p, std::size_t old_bytes, std::size_t new_bytes, bool may_move) noexcept {
  std::size_t offset = 0;
  std::size_t total = 0;
  if (!big_layout(new_bytes, sizeof(big_block), alignof(big_block), offset, total)) return nullptr;
  auto* const old =
      reinterpret_cast<big_block*>(static_cast<std::byte*>(p) + detail::align_up(old_bytes, alignof(big_block)));
  const big_block saved = *old;  // A shrink gives the old footer's bytes back; a move leaves them.
  void* q = p;
  if (total != saved.total) {
    q = may_move ? pmrheap::remap(*upstream_, p, saved.total, total, saved.alignment)
        : pmrheap::resize(*upstream_, p, saved.total, total, saved.alignment) ? p
                                                                              : nullptr;
    if (q == nullptr) return nullptr;
  }
  auto* const b = ::new (static_cast<std::byte*>(q) + offset) big_block{saved.prev, saved.next, total, saved.alignment};
  if (b->prev != nullptr) {
    b->prev->next = b;
  } else {
    bigs_ = b;
  }
  if (b->next != nullptr) b->next->prev = b;
  bytes_from_upstream_ = bytes_from_upstream_ - saved.total + total;
  return q;
}

bool pool_resource::do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept {
  const std::size_t from = class_for(old_bytes, alignment);
  const std::size_t to = class_for(new_bytes, alignment);
  if (from != npos || to != npos) {
    if (from != to) return false;
    auto* const block = static_cast<std::byte*>(p);
    if (new_bytes > old_bytes) {
      detail::unpoison(block + old_bytes, new_bytes - old_bytes);
    } else {
      detail::poison(block + new_bytes, old_bytes - new_bytes);
    }
    return true;
  }
  return resize_big(p, old_bytes, new_bytes, false) != nullptr;
}

void* pool_resource::do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept {
  if (class_for(old_bytes, alignment) != npos || class_for(new_bytes, alignment) != npos)
    return do_resize(p, old_bytes, new_bytes, alignment) ? p : nullptr;
  return resize_big(p, old_bytes, new_bytes, true);
}

void* pool_resource::upstream_allocate(std::size_t bytes, std::size_t alignment) noexcept {
  return native_upstream_ != nullptr ? native_upstream_->try_allocate(bytes, alignment)
                                     : pmrheap::try_allocate(*upstream_, bytes, alignment);
}

}  // namespace pmrheap
