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

ReleaseFunction TcmallocRelease() {
  static const ReleaseFunction release =
      reinterpret_cast<ReleaseFunction>(dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory"));
  return release;
}

}  // namespace

const char* HeapAllocatorName() { return TcmallocRelease() != nullptr ? "tcmalloc" : "malloc"; }

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
