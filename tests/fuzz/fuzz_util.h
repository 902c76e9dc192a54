// Helpers shared by the libFuzzer targets in tests/fuzz: property checks that abort with the
// violated property (libFuzzer then saves the input as a crash), and checks on the messages
// roster builds from hostile bytes.
//
// Thread-safety: the functions are thread-safe.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"

namespace roster::fuzz {

// Aborts with `what` (and the value that broke it) when `ok` is false.
inline void Check(bool ok, absl::string_view what, absl::string_view value = "") {
  if (ok) return;
  std::fprintf(stderr, "fuzz property violated: %.*s\n  value: '%s'\n",
               static_cast<int>(what.size()), what.data(), absl::CHexEscape(value).c_str());
  std::abort();
}

inline bool IsPrintableAscii(absl::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// Messages built from input quote it escaped and bounded: they end up in logs, RPC answers and
// metrics labels. `max_bytes` bounds the whole message (escaping may quadruple a quoted byte).
inline void CheckMessage(const absl::Status& status, size_t max_bytes) {
  Check(status.message().size() <= max_bytes, "an error message stays under its bound",
        status.message());
  Check(IsPrintableAscii(status.message()), "an error message is printable ASCII (input escaped)",
        status.message());
}

}  // namespace roster::fuzz
