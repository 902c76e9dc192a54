// `rosterctl top`: a live view of the cluster in the terminal, like top(1), fed by a
// WatchFollower (one snapshot, then changes; it resumes by itself across resyncs and rosterd
// restarts). The frame is TopView's.
//
// On a terminal (stdin and stdout both ttys) it takes the alternate screen, redraws on every
// change (at most every 200 ms; the heartbeat ages tick once a second) cut to the window's
// height and width, and quits on `q` or Ctrl-C, restoring the screen. Elsewhere (a pipe, a
// file, a test) it prints one frame once the snapshot arrived, or with `iterations` > 1 that
// many frames, one per change, separated by a blank line, and exits.
//
// Thread-safety: RunTop blocks its caller; in terminal mode it runs one more thread (the
// keyboard and the clock), joined before it returns.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "client/roster_client.h"
#include "roster/v1/roster.pb.h"

namespace roster::client {

struct TopOptions {
  // On the first line of every frame (rosterd's address).
  std::string title;
  roster::v1::WatchFilter filter;
  // Frames to print before returning; 0: until `q` (terminal) or 1 (not a terminal).
  int64_t iterations = 0;
  // Draw for a terminal: `input_fd` is read for keys (and put in raw mode meanwhile), the
  // window size comes from `output_fd`.
  bool terminal = false;
  int input_fd = 0;
  int output_fd = 1;
};

// OK after the last frame or a quit key. The follower's error otherwise; if rosterd could not
// be reached before the first message, that error (a wrong --target should not hang).
absl::Status RunTop(RosterClient* client, const TopOptions& options, std::ostream& out);

}  // namespace roster::client
