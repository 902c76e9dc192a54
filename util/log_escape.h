// LogSafe: user-supplied text (a drain reason, a peer's identity, an address from a request)
// made safe to put in a log line. A client must not be able to forge log lines (a newline and a
// fake "rosterd: drained ..." after it), move the cursor of a terminal reading the log (ANSI
// escapes), or hide text (bidirectional overrides). Every log statement that quotes text a
// client sent goes through it.
//
//   LOG(INFO) << "draining for reason '" << LogSafe(request->reason()) << "'";
//
// Escaped: ASCII control characters and DEL (\n, \r, \t, \xNN), the backslash (\\), C1 control
// characters and the Unicode line and paragraph separators and bidi controls (\u{NNNN}), and
// every byte that is not part of valid UTF-8 (\xNN). Other UTF-8 text (accents, CJK) is kept.
// Longer text is cut at `max_bytes` of input and marked "...(N more bytes)".
//
// Thread-safety: a pure function.
#pragma once

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace roster {

std::string LogSafe(absl::string_view text, size_t max_bytes = 1024);

}  // namespace roster
