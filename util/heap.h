// The process heap, whichever allocator rosterd runs on: tcmalloc (linked by default,
// cmake/RosterAllocator.cmake; docs/scale.md, "The allocator") or the C library's malloc.
//
// Thread-safety: thread-safe.
#pragma once

#include <cstddef>

namespace roster {

// The allocator this process runs on: "tcmalloc", or "malloc" (the C library's, or a sanitizer's).
const char* HeapAllocatorName();

// Bytes the application holds on the heap (allocated and not freed): tcmalloc's
// generic.current_allocated_bytes, or glibc's mallinfo2 (every arena, mapped chunks too); 0
// where neither exists.
size_t HeapAllocatedBytes();

// Hands the heap's free memory back to the operating system, after a peak that will not come
// again (the first full read of the registry): tcmalloc's ReleaseFreeMemory, or glibc's
// malloc_trim. Costs a walk of the free memory: not for a hot path.
void ReleaseFreeHeap();

}  // namespace roster
