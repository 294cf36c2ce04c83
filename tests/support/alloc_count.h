// Counting heap allocations, so a test can prove that a layer's forward and backward allocate
// nothing. This header DEFINES replacements of the global operator new/delete (all forms) that
// count each allocation: include it in exactly one .cpp of a test binary, and not in a binary
// that replaces operator new itself. (It is a header, not part of the support library, because
// an archive member defining operator new would be pulled into every test binary that allocates.)
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace knotnet::test {

inline std::atomic<int64_t> g_heap_allocations{0};

// Calls to any global operator new in this process so far.
inline int64_t heap_allocations() { return g_heap_allocations.load(std::memory_order_relaxed); }

namespace alloc_detail {
inline void* counted(std::size_t n) {
  g_heap_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
inline void* counted_aligned(std::size_t n, std::align_val_t al) {
  g_heap_allocations.fetch_add(1, std::memory_order_relaxed);
  const std::size_t a = static_cast<std::size_t>(al);
  void* p = nullptr;
  if (posix_memalign(&p, a < sizeof(void*) ? sizeof(void*) : a, n ? n : 1) != 0) throw std::bad_alloc();
  return p;
}
}  // namespace alloc_detail

}  // namespace knotnet::test

void* operator new(std::size_t n) { return knotnet::test::alloc_detail::counted(n); }
void* operator new[](std::size_t n) { return knotnet::test::alloc_detail::counted(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return knotnet::test::alloc_detail::counted(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return knotnet::test::alloc_detail::counted(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(std::size_t n, std::align_val_t a) { return knotnet::test::alloc_detail::counted_aligned(n, a); }
void* operator new[](std::size_t n, std::align_val_t a) { return knotnet::test::alloc_detail::counted_aligned(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
