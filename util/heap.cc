#include "util/heap.h"

#include <dlfcn.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace roster {
namespace {

// tcmalloc's C entry points (gperftools/malloc_extension_c.h), found at run time so that no
// library of roster depends on tcmalloc: only the executables that link it have them.
using ReleaseFunction = void (*)();
using PropertyFunction = int (*)(const char*, size_t*);

ReleaseFunction TcmallocRelease() {
  static const ReleaseFunction release =
      reinterpret_cast<ReleaseFunction>(dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory"));
  return release;
}

PropertyFunction TcmallocProperty() {
  static const PropertyFunction property =
      reinterpret_cast<PropertyFunction>(dlsym(RTLD_DEFAULT, "MallocExtension_GetNumericProperty"));
  return property;
}

}  // namespace

const char* HeapAllocatorName() { return TcmallocRelease() != nullptr ? "tcmalloc" : "malloc"; }

size_t HeapAllocatedBytes() {
  if (PropertyFunction property = TcmallocProperty(); property != nullptr) {
    size_t bytes = 0;
    return property("generic.current_allocated_bytes", &bytes) != 0 ? bytes : 0;
  }
#ifdef __GLIBC__
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
#else
  return 0;
#endif
}

void ReleaseFreeHeap() {
  if (ReleaseFunction release = TcmallocRelease(); release != nullptr) {
    release();
    return;
  }
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

}  // namespace roster
