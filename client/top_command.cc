#include "client/top_command.h"

#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "client/top_view.h"
#include "client/watch_follower.h"

namespace roster::client {
namespace {

namespace v1 = ::roster::v1;

constexpr absl::Duration kMinRedraw = absl::Milliseconds(200);
constexpr absl::Duration kTick = absl::Seconds(1);
constexpr int kKeyPollMs = 100;
constexpr char kCtrlC = 3;

// The terminal in raw keyboard mode (no line buffering, no echo, Ctrl-C as a key) while it
// lives; output processing is left alone. Does nothing if `fd` is not a terminal.
class RawKeyboard {
 public:
  explicit RawKeyboard(int fd) : fd_(fd) {
    if (tcgetattr(fd_, &saved_) != 0) return;
    termios raw = saved_;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO | ISIG);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    active_ = tcsetattr(fd_, TCSANOW, &raw) == 0;
  }
  ~RawKeyboard() {
    if (active_) tcsetattr(fd_, TCSANOW, &saved_);
  }
  RawKeyboard(const RawKeyboard&) = delete;
  RawKeyboard& operator=(const RawKeyboard&) = delete;

 private:
  const int fd_;
  termios saved_{};
  bool active_ = false;
};

// The window's rows and columns; 24x80 when it cannot say.
std::pair<size_t, size_t> WindowSize(int fd) {
  winsize size{};
  if (ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_row > 0 && size.ws_col > 0) {
    return {size.ws_row, size.ws_col};
  }
  return {24, 80};
}

// The frame's lines cut to `cols` characters, each clearing the rest of its screen line.
std::string FitToWidth(const std::string& frame, size_t cols) {
  std::vector<std::string> lines = absl::StrSplit(frame, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  for (std::string& line : lines) {
    if (line.size() > cols) line.resize(cols);  // the frame is ASCII
    line += "\x1b[K";
  }
  return absl::StrJoin(lines, "\n");
}

// Fails the follower on its first resume if nothing was delivered yet: the target is
// probably wrong, and waiting forever would hide it.
struct FirstContact {
  int64_t delivered = 0;
  absl::Status failure;
  WatchFollower* follower = nullptr;

  WatchFollowerOptions Options() {
    WatchFollowerOptions options;
    options.on_resume = [this](uint64_t, const absl::Status& why) {
      if (delivered > 0) return;
      failure = why;
      follower->Cancel();
    };
    return options;
  }
  absl::Status Explain(const absl::Status& status) const { return failure.ok() ? status : failure; }
};

absl::Status RunPlain(RosterClient* client, const TopOptions& options, std::ostream& out) {
  FirstContact contact;
  WatchFollower follower(client, /*from_version=*/0, options.filter, contact.Options());
  contact.follower = &follower;
  const int64_t iterations = options.iterations > 0 ? options.iterations : 1;
  TopView view;
  v1::WatchClusterResponse message;
  for (int64_t frames = 0; frames < iterations;) {
    const absl::Status status = follower.Next(&message);
    if (!status.ok()) return contact.Explain(status);
    ++contact.delivered;
    const absl::Time now = absl::Now();
    if (!view.Apply(message, now) || !view.has_snapshot()) continue;
    if (frames > 0) out << "\n";
    out << view.Render(now, /*max_lines=*/0, options.title);
    out.flush();
    ++frames;
  }
  return absl::OkStatus();
}

// The terminal screen: the view, drawn by the follower's thread on changes and by the
// keyboard thread on the clock. Thread-safe.
class LiveScreen {
 public:
  LiveScreen(const TopOptions& options, std::ostream& out) : options_(options), out_(out) {}

  // A message from the follower; draws now, or marks the screen for the next tick.
  void Apply(const v1::WatchClusterResponse& message) {
    absl::MutexLock lock(&mu_);
    const absl::Time now = absl::Now();
    if (!view_.Apply(message, now)) return;
    if (now - last_draw_ >= kMinRedraw) {
      DrawLocked(now);
    } else {
      dirty_ = true;
    }
  }

  // The clock: draws what is pending, and once a second anyway (heartbeat ages).
  void Tick() {
    absl::MutexLock lock(&mu_);
    const absl::Time now = absl::Now();
    if (dirty_ || now - last_draw_ >= kTick) DrawLocked(now);
  }

  int64_t frames() const {
    absl::MutexLock lock(&mu_);
    return frames_;
  }

 private:
  void DrawLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const auto [rows, cols] = WindowSize(options_.output_fd);
    // The last line stays free for the key hint.
    std::string frame = view_.Render(now, rows > 1 ? rows - 1 : 1, options_.title);
    out_ << "\x1b[H" << FitToWidth(frame, cols) << "\n"
         << FitToWidth("q or Ctrl-C: quit", cols) << "\x1b[J";
    out_.flush();
    last_draw_ = now;
    dirty_ = false;
    if (view_.has_snapshot()) ++frames_;
  }

  const TopOptions& options_;
  mutable absl::Mutex mu_;
  std::ostream& out_ ABSL_GUARDED_BY(mu_);
  TopView view_ ABSL_GUARDED_BY(mu_);
  bool dirty_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_draw_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int64_t frames_ ABSL_GUARDED_BY(mu_) = 0;
};

// Reads keys and drives the clock until a quit key, the end of input or Stop().
class Keyboard {
 public:
  Keyboard(int fd, LiveScreen* screen, WatchFollower* follower)
      : fd_(fd), screen_(screen), follower_(follower), thread_([this] { Loop(); }) {}
  ~Keyboard() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    thread_.join();
  }

  bool quit() const {
    absl::MutexLock lock(&mu_);
    return quit_;
  }

 private:
  void Loop() {
    while (true) {
      pollfd poll_fd{fd_, POLLIN, 0};
      const int ready = poll(&poll_fd, 1, kKeyPollMs);
      {
        absl::MutexLock lock(&mu_);
        if (stop_) return;
      }
      if (ready > 0) {
        char key = 0;
        const ssize_t n = read(fd_, &key, 1);
        if (n <= 0 || key == 'q' || key == 'Q' || key == kCtrlC) {
          {
            absl::MutexLock lock(&mu_);
            quit_ = true;
          }
          follower_->Cancel();
          return;
        }
      }
      screen_->Tick();
    }
  }

  const int fd_;
  LiveScreen* const screen_;
  WatchFollower* const follower_;
  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool quit_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: it starts once the rest is built
};

absl::Status RunLive(RosterClient* client, const TopOptions& options, std::ostream& out) {
  FirstContact contact;
  WatchFollower follower(client, /*from_version=*/0, options.filter, contact.Options());
  contact.follower = &follower;
  RawKeyboard raw(options.input_fd);
  out << "\x1b[?1049h\x1b[?25l\x1b[H\x1b[J" << options.title << ": waiting for rosterd...";
  out.flush();
  LiveScreen screen(options, out);
  absl::Status status;
  bool quit = false;
  {
    Keyboard keyboard(options.input_fd, &screen, &follower);
    v1::WatchClusterResponse message;
    while (options.iterations == 0 || screen.frames() < options.iterations) {
      status = follower.Next(&message);
      if (!status.ok()) break;
      ++contact.delivered;
      screen.Apply(message);
    }
    quit = keyboard.quit();
  }
  out << "\x1b[?25h\x1b[?1049l";
  out.flush();
  if (quit || status.ok()) return absl::OkStatus();
  return contact.Explain(status);
}

}  // namespace

absl::Status RunTop(RosterClient* client, const TopOptions& options, std::ostream& out) {
  return options.terminal ? RunLive(client, options, out) : RunPlain(client, options, out);
}

}  // namespace roster::client
