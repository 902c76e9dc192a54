#include "tests/testing/chromium.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/json_util.h"

namespace roster::testing {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

std::string ToJson(const google::protobuf::Message& message) {
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(message, &out);
  return out;
}

// The field `key` of `message`, or a null Value when it has none.
const Value& Field(const Struct& message, const std::string& key) {
  static const Value* const kNone = new Value();
  const auto found = message.fields().find(key);
  return found == message.fields().end() ? *kNone : found->second;
}

}  // namespace

std::string Chromium::Quote(const std::string& text) {
  std::string out = "\"";
  for (const unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      out += absl::StrFormat("\\u%04x", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

absl::StatusOr<std::unique_ptr<Chromium>> Chromium::Start(Options options) {
  if (access(options.binary.c_str(), X_OK) != 0) {
    return absl::NotFoundError(
        absl::StrCat("no browser at ", options.binary, " (Debian package `chromium`)"));
  }
  std::unique_ptr<Chromium> browser(new Chromium(std::move(options)));
  if (absl::Status launched = browser->Launch(); !launched.ok()) return launched;
  // The tab the browser opened at start-up.
  absl::StatusOr<Struct> targets = browser->Call("Target.getTargets", "{}");
  if (!targets.ok()) return targets.status();
  std::string target;
  for (const Value& info : Field(*targets, "targetInfos").list_value().values()) {
    if (Field(info.struct_value(), "type").string_value() == "page") {
      target = Field(info.struct_value(), "targetId").string_value();
    }
  }
  if (target.empty()) return absl::InternalError("the browser has no tab: " + ToJson(*targets));
  absl::StatusOr<Struct> attached = browser->Call(
      "Target.attachToTarget", absl::StrCat("{\"targetId\":", Quote(target), ",\"flatten\":true}"));
  if (!attached.ok()) return attached.status();
  browser->session_ = Field(*attached, "sessionId").string_value();
  for (const char* domain : {"Page.enable", "Runtime.enable"}) {
    if (absl::StatusOr<Struct> on = browser->Call(domain, "{}", browser->session_); !on.ok()) {
      return on.status();
    }
  }
  absl::StatusOr<Struct> size = browser->Call(
      "Emulation.setDeviceMetricsOverride",
      absl::StrCat("{\"width\":", browser->options_.width, ",\"height\":", browser->options_.height,
                   ",\"deviceScaleFactor\":1,\"mobile\":false}"),
      browser->session_);
  if (!size.ok()) return size.status();
  return browser;
}

absl::Status Chromium::Launch() {
  int to[2], from[2];
  if (pipe2(to, O_CLOEXEC) != 0 || pipe2(from, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  const std::string profile = options_.dir + "/chromium-profile";
  mkdir(profile.c_str(), 0700);
  const std::string log = options_.dir + "/chromium.log";
  std::vector<std::string> args = {
      options_.binary,
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--remote-debugging-pipe",
      "--user-data-dir=" + profile,
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-extensions",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--hide-scrollbars",
      "--mute-audio",
      absl::StrCat("--window-size=", options_.width, ",", options_.height),
      "about:blank"};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
    // The child: only async-signal-safe calls until exec.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    // Move the pipe ends above 4 first, so the dup2s below cannot clobber one another.
    const int in = fcntl(to[0], F_DUPFD, 10);
    const int out = fcntl(from[1], F_DUPFD, 10);
    const int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    const int null_fd = open("/dev/null", O_RDONLY);
    if (in < 0 || out < 0 || log_fd < 0 || null_fd < 0) _exit(127);
    dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    dup2(in, 3);
    dup2(out, 4);
    execv(argv[0], argv.data());
    _exit(127);
  }
  setpgid(pid, pid);  // also here, so the group exists whichever runs first
  pid_ = pid;
  close(to[0]);
  close(from[1]);
  to_browser_ = to[1];
  from_browser_ = from[0];
  signal(SIGPIPE, SIG_IGN);  // a dead browser is an error on write, not a crash
  return absl::OkStatus();
}

Chromium::~Chromium() {
  if (pid_ > 0) {
    kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (to_browser_ >= 0) close(to_browser_);
  if (from_browser_ >= 0) close(from_browser_);
}

absl::StatusOr<std::string> Chromium::ReadMessage(absl::Time deadline) {
  while (true) {
    const size_t end = buffer_.find('\0');
    if (end != std::string::npos) {
      std::string message = buffer_.substr(0, end);
      buffer_.erase(0, end + 1);
      return message;
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError("the browser did not answer in time; log: " + LogTail());
    }
    pollfd p{from_browser_, POLLIN, 0};
    const int n = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (n < 0 && errno != EINTR) return absl::InternalError(strerror(errno));
    if (n <= 0) continue;
    char chunk[65536];
    const ssize_t got = read(from_browser_, chunk, sizeof(chunk));
    if (got == 0) return absl::UnavailableError("the browser exited; log: " + LogTail());
    if (got < 0 && errno != EINTR && errno != EAGAIN) return absl::InternalError(strerror(errno));
    if (got > 0) buffer_.append(chunk, static_cast<size_t>(got));
  }
}

absl::StatusOr<Struct> Chromium::Call(const std::string& method, const std::string& params_json,
                                      const std::string& session) {
  const int64_t id = next_id_++;
  std::string command =
      absl::StrCat("{\"id\":", id, ",\"method\":", Quote(method), ",\"params\":", params_json);
  if (!session.empty()) absl::StrAppend(&command, ",\"sessionId\":", Quote(session));
  command += "}";
  command.push_back('\0');
  for (size_t sent = 0; sent < command.size();) {
    const ssize_t n = write(to_browser_, command.data() + sent, command.size() - sent);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::UnavailableError("the browser is gone; log: " + LogTail());
    sent += static_cast<size_t>(n);
  }
  const absl::Time deadline = absl::Now() + options_.call_timeout;
  while (true) {
    absl::StatusOr<std::string> message = ReadMessage(deadline);
    if (!message.ok()) {
      return absl::Status(message.status().code(),
                          absl::StrCat(method, ": ", message.status().message()));
    }
    Struct answer;
    google::protobuf::util::JsonParseOptions parse;
    parse.ignore_unknown_fields = true;
    if (!google::protobuf::util::JsonStringToMessage(*message, &answer, parse).ok()) continue;
    const auto& fields = answer.fields();
    const auto found = fields.find("id");
    if (found == fields.end() || found->second.number_value() != static_cast<double>(id)) {
      continue;  // an event, or the answer to an earlier call that timed out
    }
    if (fields.count("error") > 0) {
      return absl::InternalError(
          absl::StrCat(method, " failed: ", ToJson(fields.at("error").struct_value())));
    }
    return fields.count("result") > 0 ? fields.at("result").struct_value() : Struct();
  }
}

absl::Status Chromium::Navigate(const std::string& url) {
  absl::StatusOr<Struct> navigated =
      Call("Page.navigate", absl::StrCat("{\"url\":", Quote(url), "}"), session_);
  if (!navigated.ok()) return navigated.status();
  if (const std::string& error = Field(*navigated, "errorText").string_value(); !error.empty()) {
    return absl::UnavailableError(absl::StrCat("cannot load ", url, ": ", error));
  }
  // Resolves once the document has loaded (at once if it has already).
  absl::StatusOr<Value> loaded = Evaluate(
      "document.readyState === 'complete' ? true : new Promise((done) => "
      "window.addEventListener('load', () => done(true)))");
  return loaded.status();
}

absl::StatusOr<Value> Chromium::Evaluate(const std::string& expression) {
  absl::StatusOr<Struct> answer =
      Call("Runtime.evaluate",
           absl::StrCat("{\"expression\":", Quote(expression),
                        ",\"returnByValue\":true,\"awaitPromise\":true}"),
           session_);
  if (!answer.ok()) return answer.status();
  const auto& fields = answer->fields();
  if (fields.count("exceptionDetails") > 0) {
    return absl::InternalError(absl::StrCat(
        "`", expression, "` threw: ", ToJson(fields.at("exceptionDetails").struct_value())));
  }
  return Field(Field(*answer, "result").struct_value(), "value");  // null when undefined
}

absl::StatusOr<std::string> Chromium::EvaluateString(const std::string& expression) {
  absl::StatusOr<Value> value = Evaluate(expression);
  if (!value.ok()) return value.status();
  return value->string_value();
}

absl::StatusOr<bool> Chromium::EvaluateBool(const std::string& expression) {
  absl::StatusOr<Value> value = Evaluate(expression);
  if (!value.ok()) return value.status();
  return value->bool_value();
}

absl::StatusOr<double> Chromium::EvaluateNumber(const std::string& expression) {
  absl::StatusOr<Value> value = Evaluate(expression);
  if (!value.ok()) return value.status();
  return value->number_value();
}

absl::Status Chromium::Screenshot(const std::string& path) {
  absl::StatusOr<Struct> shot = Call("Page.captureScreenshot", "{\"format\":\"png\"}", session_);
  if (!shot.ok()) return shot.status();
  std::string png;
  if (!absl::Base64Unescape(Field(*shot, "data").string_value(), &png)) {
    return absl::InternalError("the screenshot is not base64");
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << png;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

std::string Chromium::LogTail() const {
  std::ifstream in(options_.dir + "/chromium.log");
  std::stringstream all;
  all << in.rdbuf();
  const std::string text = all.str();
  return text.size() > 3000 ? text.substr(text.size() - 3000) : text;
}

}  // namespace roster::testing
