#include "cluster/heartbeat_codec.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace roster::cluster {
namespace {

using roster::v1::DolphinHeartbeatJson;
using roster::v1::Heartbeat;

// At most this many bytes of any input are quoted in a message: payloads may be huge or
// binary, and messages end up in logs, RPC answers and metrics labels.
constexpr size_t kQuoteBytes = 80;
// DolphinScheduler's heartbeats are flat objects. Deeper payloads are rejected before
// protobuf sees them: protobuf has no depth limit for arrays in unknown fields, and turns
// nested arrays in `serverStatus` (a google.protobuf.Value) into nested messages in
// quadratic time (10,000 levels take ~2 s, a 64 KiB payload far longer).
constexpr int kMaxJsonDepth = 32;
constexpr size_t kMaxHostBytes = 255;
constexpr size_t kMaxAddressHostBytes = 253;
constexpr size_t kMaxDnsLabelBytes = 63;
constexpr size_t kMaxGroupBytes = 128;
constexpr int32_t kDefaultHostWeight = 100;
constexpr int32_t kMaxHostWeight = 10000;
constexpr int kMaxPort = 65535;

// `s` quoted for a message: escaped (C hex escapes for anything not printable ASCII) and cut
// to kQuoteBytes of input.
std::string Quote(absl::string_view s) {
  if (s.size() <= kQuoteBytes) return absl::StrCat("'", absl::CHexEscape(s), "'");
  return absl::StrCat("'", absl::CHexEscape(s.substr(0, kQuoteBytes)), "'... (", s.size(),
                      " bytes)");
}

// `s` escaped like Quote() but unquoted, cut to `limit` bytes of input: for messages that
// embed input (protobuf's).
std::string Escape(absl::string_view s, size_t limit) {
  if (s.size() <= limit) return absl::CHexEscape(s);
  return absl::StrCat(absl::CHexEscape(s.substr(0, limit)), "... (", s.size(), " bytes)");
}

// The shortest "%.Ng" spelling of `v` that reads back as `v` (what Java and protobuf print).
std::string ShortestDouble(double v) {
  char buf[32];
  for (int precision = 15; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, v);
    double back = 0;
    if (precision == 17 || (absl::SimpleAtod(buf, &back) && back == v)) break;
  }
  return buf;
}

// `v` as JSON would spell it in a message ("NaN" and "Infinity" are protobuf's spellings).
std::string NumberText(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  return ShortestDouble(v);
}

// A duration for people: "73y", "12d", "2h30m", "1.5s".
std::string ReadableDuration(absl::Duration d) {
  const absl::Duration kDay = absl::Hours(24);
  if (d >= 365 * kDay) return absl::StrCat(absl::IDivDuration(d, 365 * kDay, &d), "y");
  if (d >= 2 * kDay) return absl::StrCat(absl::IDivDuration(d, kDay, &d), "d");
  return absl::FormatDuration(absl::Trunc(d, absl::Milliseconds(1)));
}

bool IsJsonWhitespace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// The offset of the first '[' or '{' nested deeper than `max_depth`, or npos. Brackets in
// strings (protobuf also accepts single-quoted ones) do not count.
size_t FindTooDeep(absl::string_view json, int max_depth) {
  int depth = 0;
  char quote = 0;
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (quote != 0) {
      if (c == '\\') {
        ++i;
      } else if (c == quote) {
        quote = 0;
      }
      continue;
    }
    switch (c) {
      case '"':
      case '\'':
        quote = c;
        break;
      case '[':
      case '{':
        if (++depth > max_depth) return i;
        break;
      case ']':
      case '}':
        --depth;
        break;
      default:
        break;
    }
  }
  return absl::string_view::npos;
}

// Protobuf's JSON errors, made fit for an operator: escaped and bounded (~120 bytes).
//  - Syntax errors from its parser read "<what>\n<up to 40 bytes around>\n<spaces>^": keep
//    <what> and quote the input from the caret on.
//  - Errors from its converter read "(field): invalid value <v> for type TYPE_X" and may
//    repeat an arbitrarily long value: bound them.
struct ProtobufError {
  enum Kind { kSyntax, kDuplicateKey, kValue };
  Kind kind;
  std::string reason;
};

ProtobufError DescribeProtobufError(absl::string_view message) {
  std::vector<absl::string_view> lines = absl::StrSplit(message, '\n');
  if (lines.size() >= 3) {
    absl::string_view caret_line = lines.back();
    const size_t caret = caret_line.size() - 1;
    if (!caret_line.empty() && caret_line.back() == '^' &&
        caret_line.find_first_not_of(' ') == caret) {
      absl::string_view what = absl::StripAsciiWhitespace(lines[0]);
      absl::ConsumeSuffix(&what, ".");
      // The excerpt is everything between the first and the last line (it may hold newlines).
      const size_t excerpt_begin = lines[0].size() + 1;
      const size_t excerpt_end = message.size() - caret_line.size() - 1;
      absl::string_view excerpt = message.substr(excerpt_begin, excerpt_end - excerpt_begin);
      absl::string_view at = caret < excerpt.size() ? excerpt.substr(caret) : "";
      return {ProtobufError::kSyntax, absl::StrCat(Escape(what, kQuoteBytes + 40), " at ",
                                                   at.empty() ? "the end" : Quote(at))};
    }
  }
  absl::string_view text = absl::StripAsciiWhitespace(message);
  absl::ConsumePrefix(&text, ": ");
  absl::ConsumeSuffix(&text, ".");
  // protobuf models a proto3 `optional` field as a oneof named "_<field>", so a repeated key
  // reads "oneof field '_port' is already set. Cannot set 'port' for type oneof".
  constexpr absl::string_view kOneofClash = "oneof field '_";
  if (const size_t at = text.find(kOneofClash); at != absl::string_view::npos) {
    absl::string_view field = text.substr(at + kOneofClash.size());
    field = field.substr(0, field.find('\''));
    return {ProtobufError::kDuplicateKey, absl::StrCat("duplicate key ", Quote(field))};
  }
  return {ProtobufError::kValue, Escape(text, kQuoteBytes + 40)};
}

const google::protobuf::util::JsonParseOptions& ParseOptions() {
  static const google::protobuf::util::JsonParseOptions* const options = [] {
    auto* o = new google::protobuf::util::JsonParseOptions;
    o->ignore_unknown_fields = true;
    return o;
  }();
  return *options;
}

absl::Status Invalid(absl::string_view message) { return absl::InvalidArgumentError(message); }

absl::Status MapServerStatus(const DolphinHeartbeatJson& json, Heartbeat* out) {
  using google::protobuf::Value;
  out->set_server_status(Heartbeat::SERVER_STATUS_UNSPECIFIED);
  if (!json.has_serverstatus()) return absl::OkStatus();
  const Value& value = json.serverstatus();
  switch (value.kind_case()) {
    case Value::KIND_NOT_SET:
    case Value::kNullValue:
      return absl::OkStatus();
    case Value::kStringValue: {
      const std::string& s = value.string_value();
      if (absl::EqualsIgnoreCase(s, "NORMAL")) {
        out->set_server_status(Heartbeat::NORMAL);
      } else if (absl::EqualsIgnoreCase(s, "BUSY")) {
        out->set_server_status(Heartbeat::BUSY);
      } else if (absl::EqualsIgnoreCase(s, "ABNORMAL")) {
        out->set_server_status(Heartbeat::ABNORMAL);
      } else {
        return Invalid(absl::StrCat("unknown serverStatus ", Quote(s),
                                    " (expected \"NORMAL\", \"BUSY\", or legacy 0, 1, 2)"));
      }
      return absl::OkStatus();
    }
    case Value::kNumberValue: {
      // Legacy (<= 3.1) integer statuses, DolphinScheduler's Constants: NORMAL_NODE_STATUS 0,
      // ABNORMAL_NODE_STATUS 1 (load or memory over the node's limits), BUSY_NODE_STATUE 2
      // (more waiting tasks than threads). DESIGN.md has 1 and 2 the other way round; the
      // registry a real scheduler writes wins.
      const double d = value.number_value();
      if (d == 0) {
        out->set_server_status(Heartbeat::NORMAL);
      } else if (d == 1) {
        out->set_server_status(Heartbeat::ABNORMAL);
      } else if (d == 2) {
        out->set_server_status(Heartbeat::BUSY);
      } else {
        return Invalid(absl::StrCat("unknown serverStatus ", Quote(NumberText(d)),
                                    " (legacy statuses are the integers 0, 1, 2)"));
      }
      out->set_legacy_format(true);
      return absl::OkStatus();
    }
    case Value::kBoolValue:
      return Invalid(absl::StrCat("unknown serverStatus '", value.bool_value() ? "true" : "false",
                                  "' (expected \"NORMAL\", \"BUSY\", or legacy 0, 1, 2)"));
    case Value::kStructValue:
      return Invalid(
          "unknown serverStatus '{...}': a JSON object (expected \"NORMAL\", \"BUSY\", or "
          "legacy 0, 1, 2)");
    case Value::kListValue:
      return Invalid(
          "unknown serverStatus '[...]': a JSON array (expected \"NORMAL\", \"BUSY\", or legacy "
          "0, 1, 2)");
  }
  return Invalid("unknown serverStatus");
}

absl::Status CheckTime(absl::string_view name, int64_t ms, const HeartbeatLimits& limits,
                       absl::Time wall_now) {
  if (ms < 0) return Invalid(absl::StrCat(name, " ", ms, " is negative"));
  const absl::Time at = absl::FromUnixMillis(ms);
  const absl::Duration ahead = at - wall_now;
  if (ahead > limits.max_clock_skew) {
    return Invalid(absl::StrCat(
        name, " ", ms, " (", absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", at, absl::UTCTimeZone()),
        ") is ", ReadableDuration(ahead), " ahead of this daemon's clock, more than the ",
        ReadableDuration(limits.max_clock_skew), " allowed (--max_clock_skew_ms)"));
  }
  return absl::OkStatus();
}

// A usage must be a fraction: protobuf also accepts "NaN" and "Infinity" for doubles.
absl::Status CheckUsage(absl::string_view name, bool present, double value, double* out) {
  *out = 0;
  if (!present) return absl::OkStatus();
  if (!std::isfinite(value) || value < 0 || value > 1) {
    return Invalid(absl::StrCat(name, " ", NumberText(value), " is not in [0, 1]"));
  }
  *out = value == 0 ? 0.0 : value;  // no -0
  return absl::OkStatus();
}

absl::Status CheckReportedHost(absl::string_view host) {
  if (host.empty()) return Invalid("host '' is empty");
  if (host.size() > kMaxHostBytes) {
    return Invalid(absl::StrCat("host ", Quote(host), " is ", host.size(), " bytes, over the ",
                                kMaxHostBytes, "-byte limit"));
  }
  for (unsigned char c : host) {
    if (c <= ' ' || c == 0x7f) {
      return Invalid(
          absl::StrCat("host ", Quote(host), " contains whitespace or a control character"));
    }
  }
  return absl::OkStatus();
}

// `what` names the value in messages: "workerGroup" or "group name".
absl::Status CheckGroupName(absl::string_view what, absl::string_view name) {
  if (name.empty()) return Invalid(absl::StrCat(what, " '' is empty"));
  if (name.size() > kMaxGroupBytes) {
    return Invalid(absl::StrCat(what, " ", Quote(name), " is ", name.size(), " bytes, over the ",
                                kMaxGroupBytes, "-byte limit"));
  }
  for (size_t i = 0; i < name.size(); ++i) {
    const unsigned char c = name[i];
    if (c < 0x20 || c > 0x7e) {
      return Invalid(absl::StrCat(what, " ", Quote(name),
                                  " contains a byte that is not printable ASCII at offset ", i));
    }
  }
  if (absl::StrContains(name, '/')) {
    return Invalid(absl::StrCat(what, " ", Quote(name), " contains '/'"));
  }
  if (name == "." || name == "..") {
    return Invalid(absl::StrCat(what, " ", Quote(name), " is not a valid group name"));
  }
  if (name.front() == ' ' || name.back() == ' ') {
    return Invalid(absl::StrCat(what, " ", Quote(name), " has whitespace at either end"));
  }
  return absl::OkStatus();
}

// DNS name or IPv4 address; the reason it is not, or "".
std::string HostNameProblem(absl::string_view host) {
  if (host.empty()) return "the host is empty";
  if (host.size() > kMaxAddressHostBytes) {
    return absl::StrCat("the host is ", host.size(), " bytes, over the ", kMaxAddressHostBytes,
                        "-byte limit");
  }
  for (char c : host) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') {
      return absl::StrCat("the host contains ", Quote(absl::string_view(&c, 1)),
                          " (allowed: letters, digits, '.', '-', '_')");
    }
  }
  for (absl::string_view label : absl::StrSplit(host, '.')) {
    if (label.empty()) return "the host has an empty label ('..' or a '.' at either end)";
    if (label.size() > kMaxDnsLabelBytes) {
      return absl::StrCat("the host has a label of ", label.size(), " bytes, over the ",
                          kMaxDnsLabelBytes, "-byte limit");
    }
  }
  return "";
}

// The reason `port` is not a canonical port number in [1, 65535], or "".
std::string PortProblem(absl::string_view port) {
  if (port.empty()) return "the port is empty";
  if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c));
      })) {
    return absl::StrCat("port ", Quote(port), " is not a number in [1, ", kMaxPort, "]");
  }
  if (port.size() > 1 && port[0] == '0') {
    return absl::StrCat("port ", Quote(port), " has a leading zero");
  }
  int value = 0;
  if (!absl::SimpleAtoi(port, &value) || value < 1 || value > kMaxPort) {
    return absl::StrCat("port ", port, " is not in [1, ", kMaxPort, "]");
  }
  return "";
}

// `s` as a JSON string literal.
std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

// A double as Java's Double.toString spells simple values ("0.0", "0.2319"); NaN and the
// infinities as protobuf's strings (they cannot be valid heartbeat values anyway).
std::string JavaDouble(double v) {
  if (!std::isfinite(v)) return JsonString(NumberText(v));
  std::string text = ShortestDouble(v);
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

}  // namespace

absl::StatusOr<Heartbeat> ParseHeartbeat(NodeRole role, absl::string_view payload,
                                         const HeartbeatLimits& limits, absl::Time wall_now) {
  // Cheap checks first: a huge or hostile payload never reaches the JSON parser.
  if (payload.size() > limits.max_payload_bytes) {
    return Invalid(absl::StrCat("heartbeat is ", payload.size(), " bytes, over the ",
                                limits.max_payload_bytes, "-byte limit (--max_heartbeat_bytes)"));
  }
  size_t start = 0;
  while (start < payload.size() && IsJsonWhitespace(payload[start])) ++start;
  if (start == payload.size()) return absl::NotFoundError("no heartbeat yet");
  if (const size_t deep = FindTooDeep(payload, kMaxJsonDepth); deep != absl::string_view::npos) {
    return Invalid(absl::StrCat("heartbeat nests JSON more than ", kMaxJsonDepth,
                                " levels deep (at byte ", deep, ")"));
  }

  DolphinHeartbeatJson json;
  const google::protobuf::util::Status parsed = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(payload.data(), payload.size()), &json, ParseOptions());
  if (payload[start] != '{') {
    // protobuf refuses any root but an object ("Root element must be a message").
    std::string why = "it starts with " + Quote(payload.substr(start, 16));
    if (!parsed.ok()) {
      const ProtobufError error = DescribeProtobufError(
          absl::string_view(parsed.message().data(), parsed.message().size()));
      why = error.kind == ProtobufError::kSyntax ? error.reason
                                                 : absl::StrCat(error.reason, "; ", why);
    }
    return Invalid(absl::StrCat("heartbeat is not a JSON object: ", why));
  }
  if (!parsed.ok()) {
    const ProtobufError error =
        DescribeProtobufError(absl::string_view(parsed.message().data(), parsed.message().size()));
    switch (error.kind) {
      case ProtobufError::kSyntax:
        return Invalid(absl::StrCat("heartbeat is not JSON: ", error.reason));
      case ProtobufError::kDuplicateKey:
        return Invalid(absl::StrCat("heartbeat has a ", error.reason));
      case ProtobufError::kValue:
        break;
    }
    return Invalid(absl::StrCat("heartbeat has a bad value: ", error.reason));
  }

  Heartbeat out;
  absl::Status status = MapServerStatus(json, &out);
  if (!status.ok()) return status;

  if (json.has_processid()) {
    if (json.processid() < 0) {
      return Invalid(absl::StrCat("processId ", json.processid(), " is negative"));
    }
    out.set_process_id(json.processid());
  }
  if (json.has_startuptime()) {
    status = CheckTime("startupTime", json.startuptime(), limits, wall_now);
    if (!status.ok()) return status;
    out.set_startup_time_ms(json.startuptime());
  }
  if (json.has_reporttime()) {
    status = CheckTime("reportTime", json.reporttime(), limits, wall_now);
    if (!status.ok()) return status;
    out.set_report_time_ms(json.reporttime());
  }

  struct Usage {
    absl::string_view name;
    bool present;
    double value;
    void (Heartbeat::*set)(double);
  };
  const Usage usages[] = {
      {"cpuUsage", json.has_cpuusage(), json.cpuusage(), &Heartbeat::set_cpu_usage},
      {"memoryUsage", json.has_memoryusage(), json.memoryusage(), &Heartbeat::set_memory_usage},
      {"diskUsage", json.has_diskusage(), json.diskusage(), &Heartbeat::set_disk_usage},
      {"jvmCpuUsage", json.has_jvmcpuusage(), json.jvmcpuusage(), &Heartbeat::set_jvm_cpu_usage},
      {"jvmMemoryUsage", json.has_jvmmemoryusage(), json.jvmmemoryusage(),
       &Heartbeat::set_jvm_memory_usage},
      {"threadPoolUsage", json.has_threadpoolusage(), json.threadpoolusage(),
       &Heartbeat::set_thread_pool_usage},
  };
  for (const Usage& usage : usages) {
    double value = 0;
    status = CheckUsage(usage.name, usage.present, usage.value, &value);
    if (!status.ok()) return status;
    (out.*usage.set)(value);
  }

  if (json.has_host()) {
    status = CheckReportedHost(json.host());
    if (!status.ok()) return status;
    out.set_host(json.host());
  }
  if (json.has_port()) {
    if (json.port() < 1 || json.port() > kMaxPort) {
      return Invalid(absl::StrCat("port ", json.port(), " is not in [1, ", kMaxPort, "]"));
    }
    out.set_port(json.port());
  }
  out.set_host_weight(kDefaultHostWeight);
  if (json.has_workerhostweight()) {
    if (json.workerhostweight() < 0 || json.workerhostweight() > kMaxHostWeight) {
      return Invalid(absl::StrCat("workerHostWeight ", json.workerhostweight(), " is not in [0, ",
                                  kMaxHostWeight, "]"));
    }
    out.set_host_weight(json.workerhostweight());
  }
  if (role == NodeRole::kWorker && json.has_workergroup()) {
    status = CheckGroupName("workerGroup", json.workergroup());
    if (!status.ok()) return status;
    out.set_worker_group(json.workergroup());
  }

  // Legacy (<= 3.1) fields.
  if (json.has_loadaverage()) {
    out.set_legacy_format(true);
    const double load = json.loadaverage();
    if (!std::isfinite(load)) {
      return Invalid(absl::StrCat("loadAverage ", NumberText(load), " is not a finite number"));
    }
    if (load >= 0) out.set_load_average(load);  // negative: unknown (Java reports -1)
  }
  if (json.has_workerexecthreadcount()) {
    out.set_legacy_format(true);
    if (json.workerexecthreadcount() < 0) {
      return Invalid(
          absl::StrCat("workerExecThreadCount ", json.workerexecthreadcount(), " is negative"));
    }
    out.set_exec_threads(json.workerexecthreadcount());
  }
  if (json.has_availablephysicalmemorysize() || json.has_reservedmemory()) {
    out.set_legacy_format(true);
  }
  return out;
}

std::string EncodeHeartbeat(NodeRole role, const Heartbeat& heartbeat) {
  // Written by hand rather than with protobuf's printer: proto3 JSON prints int64 values
  // (startupTime, reportTime) as strings, and DolphinScheduler (Jackson) writes numbers.
  // Field order and spelling follow DolphinScheduler's MasterHeartBeat / WorkerHeartBeat.
  std::string out = "{";
  auto field = [&out](absl::string_view name, absl::string_view value) {
    if (out.size() > 1) out += ',';
    absl::StrAppend(&out, "\"", name, "\":", value);
  };
  field("processId", absl::StrCat(heartbeat.process_id()));
  field("startupTime", absl::StrCat(heartbeat.startup_time_ms()));
  field("reportTime", absl::StrCat(heartbeat.report_time_ms()));
  field("jvmCpuUsage", JavaDouble(heartbeat.jvm_cpu_usage()));
  field("cpuUsage", JavaDouble(heartbeat.cpu_usage()));
  field("jvmMemoryUsage", JavaDouble(heartbeat.jvm_memory_usage()));
  field("memoryUsage", JavaDouble(heartbeat.memory_usage()));
  field("diskUsage", JavaDouble(heartbeat.disk_usage()));
  switch (heartbeat.server_status()) {
    case Heartbeat::NORMAL:
      field("serverStatus", "\"NORMAL\"");
      break;
    case Heartbeat::BUSY:
      field("serverStatus", "\"BUSY\"");
      break;
    case Heartbeat::ABNORMAL:
      // Current DolphinScheduler writes only NORMAL and BUSY; ABNORMAL comes from the legacy
      // integer status. Spelled as the parser reads it back, so the round trip holds.
      field("serverStatus", "\"ABNORMAL\"");
      break;
    default:  // unspecified (or not a known status): absent, which parses as unspecified
      break;
  }
  if (!heartbeat.host().empty()) field("host", JsonString(heartbeat.host()));
  if (heartbeat.port() != 0) field("port", absl::StrCat(heartbeat.port()));
  if (role == NodeRole::kWorker) {
    field("workerHostWeight", absl::StrCat(heartbeat.host_weight()));
    field("threadPoolUsage", JavaDouble(heartbeat.thread_pool_usage()));
    if (!heartbeat.worker_group().empty()) {
      field("workerGroup", JsonString(heartbeat.worker_group()));
    }
  }
  out += '}';
  return out;
}

absl::StatusOr<std::string> ParseNodeAddress(absl::string_view text) {
  auto bad = [text](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("node address ", Quote(text), " is not host:port: ", why));
  };
  if (text.empty()) return bad("it is empty");
  absl::string_view port;
  if (text.front() == '[') {
    const size_t close = text.find(']');
    if (close == absl::string_view::npos) return bad("'[' without ']'");
    const absl::string_view host = text.substr(1, close - 1);
    const absl::string_view rest = text.substr(close + 1);
    if (host.empty()) return bad("the host is empty");
    if (rest.empty() || rest.front() != ':') return bad("no ':port' after the IPv6 address");
    in6_addr address;
    if (host.size() > INET6_ADDRSTRLEN ||
        inet_pton(AF_INET6, std::string(host).c_str(), &address) != 1) {
      return bad(absl::StrCat(Quote(host), " is not an IPv6 address"));
    }
    port = rest.substr(1);
  } else {
    const size_t colon = text.find(':');
    if (colon == absl::string_view::npos) return bad("no ':port'");
    if (text.find(':', colon + 1) != absl::string_view::npos) {
      return bad("more than one ':' (write IPv6 addresses in brackets: [::1]:5678)");
    }
    const std::string problem = HostNameProblem(text.substr(0, colon));
    if (!problem.empty()) return bad(problem);
    port = text.substr(colon + 1);
  }
  const std::string problem = PortProblem(port);
  if (!problem.empty()) return bad(problem);
  return std::string(text);
}

absl::Status ValidateGroupName(absl::string_view name) {
  return CheckGroupName("group name", name);
}

}  // namespace roster::cluster
