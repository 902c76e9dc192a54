// The clang thread-safety attributes that Abseil 20220623 (Debian 12) does not wrap yet:
// a named capability other than a mutex, and an assertion that one is held. Newer Abseil
// spells them ABSL_CAPABILITY / ABSL_ASSERT_CAPABILITY. Used by SerialExecutor
// (util/executor.h) so that executor-confined state can be ABSL_GUARDED_BY(executor_).
// g++ ignores them, as it ignores every ABSL_ thread annotation.
//
// Thread-safety: macros only.
#pragma once

#if defined(__clang__)
#define ROSTER_CAPABILITY(name) __attribute__((capability(name)))
#define ROSTER_ASSERT_CAPABILITY(x) __attribute__((assert_capability(x)))
#else
#define ROSTER_CAPABILITY(name)
#define ROSTER_ASSERT_CAPABILITY(x)
#endif
