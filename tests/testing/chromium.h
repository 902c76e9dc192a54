// Chromium: a headless Chromium (Debian's `chromium`) for browser tests, driven through its
// DevTools protocol over a pipe (--remote-debugging-pipe: commands on the child's fd 3, answers
// on its fd 4, each a JSON message ending in a NUL byte). No WebSocket, no npm package: the
// protocol is a handful of JSON calls, and the pipe dies with the browser.
//
//   ASSERT_OK_AND_ASSIGN(auto browser, Chromium::Start({.dir = dir}));
//   ASSERT_OK(browser->Navigate("http://127.0.0.1:9091/"));
//   ASSERT_OK_AND_ASSIGN(std::string title, browser->EvaluateString("document.title"));
//   ASSERT_OK(browser->Screenshot(dir + "/page.png"));
//
// The browser runs in its own process group with its own profile directory; the destructor
// kills the whole group (renderers, GPU and zygote processes included), and so does the death
// of the test process (PR_SET_PDEATHSIG). Every call is bounded by `call_timeout`.
//
// Thread-safety: thread-compatible; start it from the test's main thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"

namespace roster::testing {

class Chromium {
 public:
  struct Options {
    std::string binary = "/usr/bin/chromium";
    // The profile lives under it; the browser's log is dir/chromium.log.
    std::string dir;
    int width = 1400;
    int height = 1000;
    absl::Duration call_timeout = absl::Seconds(20);
  };

  // Starts the browser and attaches to its first tab. NotFound if the binary is missing;
  // DeadlineExceeded if it does not answer within the call timeout.
  static absl::StatusOr<std::unique_ptr<Chromium>> Start(Options options);
  ~Chromium();  // Kills the browser's process group.

  Chromium(const Chromium&) = delete;
  Chromium& operator=(const Chromium&) = delete;

  // Loads `url` in the tab and waits until the document has loaded.
  absl::Status Navigate(const std::string& url);
  // Evaluates a JavaScript expression in the page (promises awaited) and returns its value.
  // An exception thrown by the expression is an Internal error quoting it.
  absl::StatusOr<google::protobuf::Value> Evaluate(const std::string& expression);
  absl::StatusOr<std::string> EvaluateString(const std::string& expression);
  absl::StatusOr<bool> EvaluateBool(const std::string& expression);
  absl::StatusOr<double> EvaluateNumber(const std::string& expression);
  // Writes a PNG of the tab's viewport to `path`.
  absl::Status Screenshot(const std::string& path);

  // The last lines of the browser's log, for failure messages.
  std::string LogTail() const;

  // A JavaScript string literal holding `text`.
  static std::string Quote(const std::string& text);

 private:
  explicit Chromium(Options options) : options_(std::move(options)) {}

  absl::Status Launch();
  // Sends one command (`params_json` is a JSON object) and waits for its answer's `result`.
  // With `session`, the command goes to that attached tab.
  absl::StatusOr<google::protobuf::Struct> Call(const std::string& method,
                                                const std::string& params_json,
                                                const std::string& session = "");
  absl::StatusOr<std::string> ReadMessage(absl::Time deadline);

  const Options options_;
  pid_t pid_ = -1;
  int to_browser_ = -1;    // its fd 3
  int from_browser_ = -1;  // its fd 4
  std::string buffer_;     // bytes read past the last message
  int64_t next_id_ = 1;
  std::string session_;  // the attached tab
};

}  // namespace roster::testing
