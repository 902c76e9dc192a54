#include "cluster/heartbeat_codec.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/types/span.h"
#include "cluster/heartbeat_json.h"
#include "cluster/node_address.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "util/status_macros.h"

namespace roster::cluster {
namespace {

using roster::v1::DolphinHeartbeatJson;
using roster::v1::Heartbeat;
using roster::v1::HeartbeatWarning;

// At most this many bytes of any input are quoted in a message: payloads may be huge or
// binary, and messages end up in logs, RPC answers and metrics labels.
constexpr size_t kQuoteBytes = 80;
// DolphinScheduler's heartbeats are flat objects. Deeper payloads are rejected before
// protobuf sees them: protobuf has no depth limit for arrays in unknown fields, and turns
// nested arrays in `serverStatus` (a google.protobuf.Value) into nested messages in
// quadratic time (10,000 levels take ~2 s, a 64 KiB payload far longer).
constexpr int kMaxJsonDepth = 32;
constexpr size_t kMaxHostBytes = 255;
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

// ---------------------------------------------------------------------------------------------
// Reading the payload: text or JSON into DolphinHeartbeatJson.

// Sets the DolphinHeartbeatJson field named `name` from its text `value` (Java's
// Double.parseDouble / Long.parseLong / Integer.parseInt accept what these accept for what
// Java writes). False when `value` is not a number of the field's type.
bool SetTextField(absl::string_view name, absl::string_view value, DolphinHeartbeatJson* json) {
  const google::protobuf::FieldDescriptor* field =
      DolphinHeartbeatJson::descriptor()->FindFieldByName(std::string(name));
  const google::protobuf::Reflection* reflection = DolphinHeartbeatJson::GetReflection();
  if (field == nullptr) return false;
  if (name == "serverStatus") {
    int32_t status = 0;
    if (!absl::SimpleAtoi(value, &status)) return false;
    json->mutable_serverstatus()->set_number_value(status);
    return true;
  }
  switch (field->cpp_type()) {
    case google::protobuf::FieldDescriptor::CPPTYPE_DOUBLE: {
      double d = 0;
      if (!absl::SimpleAtod(value, &d)) return false;
      reflection->SetDouble(json, field, d);
      return true;
    }
    case google::protobuf::FieldDescriptor::CPPTYPE_INT64: {
      int64_t i = 0;
      if (!absl::SimpleAtoi(value, &i)) return false;
      reflection->SetInt64(json, field, i);
      return true;
    }
    case google::protobuf::FieldDescriptor::CPPTYPE_INT32: {
      int32_t i = 0;
      if (!absl::SimpleAtoi(value, &i)) return false;
      reflection->SetInt32(json, field, i);
      return true;
    }
    default:
      return false;
  }
}

// `payload` (not JSON) as a 2.0 or 3.0 text heartbeat. nullopt when its field count is neither
// (`*field_count` says what it was); InvalidArgument when a field is not a number.
absl::StatusOr<std::optional<Heartbeat::Format>> ReadText(absl::string_view payload,
                                                          DolphinHeartbeatJson* json,
                                                          size_t* field_count) {
  const std::vector<absl::string_view> parts = absl::StrSplit(payload, ',');
  *field_count = parts.size();
  absl::Span<const absl::string_view> names;
  Heartbeat::Format format;
  absl::string_view version;
  if (parts.size() == TextHeartbeatFields(HeartbeatDialect::kText20).size()) {
    names = TextHeartbeatFields(HeartbeatDialect::kText20);
    format = Heartbeat::TEXT_2_0;
    version = "2.0";
  } else if (parts.size() == TextHeartbeatFields(HeartbeatDialect::kText30).size()) {
    names = TextHeartbeatFields(HeartbeatDialect::kText30);
    format = Heartbeat::TEXT_3_0;
    version = "3.0";
  } else {
    return std::nullopt;
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    if (!SetTextField(names[i], parts[i], json)) {
      return Invalid(absl::StrCat("heartbeat is DolphinScheduler ", version, " text but field ",
                                  i + 1, " (", names[i], ") ", Quote(parts[i]),
                                  " is not a number"));
    }
  }
  return format;
}

// The raw text of the value of the top-level member `key` of a JSON object (the last one if
// repeated), or "" when there is none or the scanner cannot follow the text. Only for telling
// how a number was spelled (protobuf keeps the value, not its spelling): `payload` has already
// been parsed by protobuf, which also accepts single quotes and bare keys.
absl::string_view RawMemberValue(absl::string_view payload, absl::string_view key) {
  size_t i = payload.find('{');
  if (i == absl::string_view::npos) return "";
  absl::string_view found;
  auto skip_space = [&] {
    while (i < payload.size() && IsJsonWhitespace(payload[i])) ++i;
  };
  // Skips a quoted string starting at i; returns its contents.
  auto skip_string = [&]() -> absl::string_view {
    const char quote = payload[i];
    const size_t begin = ++i;
    while (i < payload.size() && payload[i] != quote) i += payload[i] == '\\' ? 2 : 1;
    if (i >= payload.size()) return "";
    return payload.substr(begin, i++ - begin);
  };
  ++i;
  while (true) {
    skip_space();
    if (i >= payload.size() || payload[i] == '}') return found;
    absl::string_view name;
    if (payload[i] == '"' || payload[i] == '\'') {
      name = skip_string();
    } else {
      const size_t begin = i;
      while (i < payload.size() && payload[i] != ':' && !IsJsonWhitespace(payload[i])) ++i;
      name = payload.substr(begin, i - begin);
    }
    skip_space();
    if (i >= payload.size() || payload[i] != ':') return "";
    ++i;
    skip_space();
    const size_t begin = i;
    int depth = 0;
    while (i < payload.size()) {
      const char c = payload[i];
      if (c == '"' || c == '\'') {
        skip_string();
        continue;
      }
      if (c == '[' || c == '{') ++depth;
      if (depth == 0 && (c == ',' || c == '}')) break;
      if (c == ']' || c == '}') --depth;
      ++i;
    }
    if (name == key) found = absl::StripTrailingAsciiWhitespace(payload.substr(begin, i - begin));
    if (i < payload.size() && payload[i] == ',') ++i;
  }
}

using Spelling = NumberSpelling;

Spelling SpellingOf(absl::string_view raw) {
  if (raw.empty()) return Spelling::kAbsent;
  if (raw.size() >= 2 && (raw.front() == '"' || raw.front() == '\'') && raw.back() == raw.front()) {
    raw = raw.substr(1, raw.size() - 2);
  }
  absl::ConsumePrefix(&raw, "-");
  if (raw.empty()) return Spelling::kOther;
  bool decimal = false;
  for (char c : raw) {
    if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
      decimal = true;
    } else if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      return Spelling::kOther;
    }
  }
  return decimal ? Spelling::kDecimal : Spelling::kInteger;
}

// `payload` (a JSON object, after the size and depth checks) into `json`.
absl::Status ReadJson(absl::string_view payload, size_t start, DolphinHeartbeatJson* json,
                      absl::string_view not_text) {
  const google::protobuf::util::Status parsed = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(payload.data(), payload.size()), json, ParseOptions());
  if (payload[start] != '{') {
    // protobuf refuses any root but an object ("Root element must be a message").
    std::string why = "it starts with " + Quote(payload.substr(start, 16));
    if (!parsed.ok()) {
      const ProtobufError error = DescribeProtobufError(
          absl::string_view(parsed.message().data(), parsed.message().size()));
      why = error.kind == ProtobufError::kSyntax ? error.reason
                                                 : absl::StrCat(error.reason, "; ", why);
    }
    return Invalid(absl::StrCat("heartbeat is not a JSON object: ", why, not_text));
  }
  if (parsed.ok()) return absl::OkStatus();
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

// Which versions write a JSON payload like `json` (the proto's Format comments say why).
Heartbeat::Format DetectJsonFormat(const DolphinHeartbeatJson& json, Spelling thread_pool) {
  using google::protobuf::Value;
  const Value::KindCase status = json.serverstatus().kind_case();
  if (status == Value::kNumberValue) return Heartbeat::JSON_3_1;
  if (status == Value::kStringValue &&
      absl::EqualsIgnoreCase(json.serverstatus().string_value(), "ABNORMAL")) {
    return Heartbeat::JSON_3_2_0;
  }
  if (json.has_jvmcpuusage()) {
    switch (thread_pool) {
      case Spelling::kAbsent:
        return Heartbeat::JSON_3_2_2_OR_3_3;
      case Spelling::kInteger:
        return Heartbeat::JSON_3_2_2;
      default:
        return Heartbeat::JSON_3_3;
    }
  }
  if (json.has_jvmmemoryusage() || json.has_diskusage() || thread_pool == Spelling::kInteger) {
    return Heartbeat::JSON_3_2_1;
  }
  if (json.has_maxcpuloadavg()) return Heartbeat::JSON_3_1;
  const bool resources = json.has_loadaverage() || json.has_availablephysicalmemorysize() ||
                         json.has_reservedmemory() || json.has_diskavailable() ||
                         json.has_workerexecthreadcount() || json.has_workerwaitingtaskcount();
  if (!resources) return Heartbeat::JSON_UNKNOWN;
  const bool v320 = json.has_host() || json.has_port() || status == Value::kStringValue;
  return v320 ? Heartbeat::JSON_3_2_0 : Heartbeat::JSON_3_1;
}

// The version whose meaning applies: the caller's dialect, else what the payload shows.
HeartbeatDialect EffectiveDialect(HeartbeatDialect dialect, Heartbeat::Format format) {
  if (dialect != HeartbeatDialect::kAuto) return dialect;
  switch (format) {
    case Heartbeat::TEXT_2_0:
      return HeartbeatDialect::kText20;
    case Heartbeat::TEXT_3_0:
      return HeartbeatDialect::kText30;
    case Heartbeat::JSON_3_1:
      return HeartbeatDialect::kJson31;
    case Heartbeat::JSON_3_2_0:
      return HeartbeatDialect::kJson320;
    case Heartbeat::JSON_3_2_1:
      return HeartbeatDialect::kJson321;
    case Heartbeat::JSON_3_2_2:
      return HeartbeatDialect::kJson322;
    case Heartbeat::JSON_3_3:
      return HeartbeatDialect::kJson33;
    default:
      return HeartbeatDialect::kAuto;
  }
}

// ---------------------------------------------------------------------------------------------
// Checking and normalising DolphinHeartbeatJson into Heartbeat.

absl::Status MapServerStatus(const DolphinHeartbeatJson& json, Heartbeat* out) {
  using google::protobuf::Value;
  constexpr absl::string_view kExpected =
      " (expected \"NORMAL\", \"BUSY\", \"ABNORMAL\", or 0, 1, 2)";
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
        out->set_server_status(Heartbeat::ABNORMAL);  // common/enums/ServerStatus.java @ 3.2.0
      } else {
        return Invalid(absl::StrCat("unknown serverStatus ", Quote(s), kExpected));
      }
      return absl::OkStatus();
    }
    case Value::kNumberValue: {
      // 2.0-3.1 integer statuses, Constants.java: NORMAL_NODE_STATUS 0, ABNORMAL_NODE_STATUS 1
      // (load or memory over the node's limits), BUSY_NODE_STATUE 2 (more waiting tasks than
      // threads).
      const double d = value.number_value();
      if (d == 0) {
        out->set_server_status(Heartbeat::NORMAL);
      } else if (d == 1) {
        out->set_server_status(Heartbeat::ABNORMAL);
      } else if (d == 2) {
        out->set_server_status(Heartbeat::BUSY);
      } else {
        return Invalid(absl::StrCat("unknown serverStatus ", Quote(NumberText(d)),
                                    " (integer statuses are 0, 1, 2)"));
      }
      return absl::OkStatus();
    }
    case Value::kBoolValue:
      return Invalid(absl::StrCat("unknown serverStatus '", value.bool_value() ? "true" : "false",
                                  "'", kExpected));
    case Value::kStructValue:
      return Invalid(absl::StrCat("unknown serverStatus '{...}': a JSON object", kExpected));
    case Value::kListValue:
      return Invalid(absl::StrCat("unknown serverStatus '[...]': a JSON array", kExpected));
  }
  return Invalid("unknown serverStatus");
}

// The reference is the registry server's clock when the payload was written, never this
// daemon's: a jump of our own clock would otherwise make every node bad at once, while a writer
// whose clock is off shows up alone against the server's.
absl::Status CheckTime(absl::string_view name, int64_t ms, const HeartbeatLimits& limits,
                       absl::Time written_at) {
  if (ms < 0) return Invalid(absl::StrCat(name, " ", ms, " is negative"));
  if (written_at == absl::InfinitePast()) return absl::OkStatus();
  const absl::Time at = absl::FromUnixMillis(ms);
  const absl::Duration ahead = at - written_at;
  if (ahead > limits.max_clock_skew) {
    constexpr absl::string_view kFormat = "%Y-%m-%dT%H:%M:%SZ";
    return Invalid(absl::StrCat(
        name, " ", ms, " (", absl::FormatTime(kFormat, at, absl::UTCTimeZone()), ") is ",
        ReadableDuration(ahead), " ahead of the registry's clock when it was written (znode mtime ",
        absl::FormatTime(kFormat, written_at, absl::UTCTimeZone()), "), more than the ",
        ReadableDuration(limits.max_clock_skew), " allowed (--max_clock_skew_ms)"));
  }
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

// What identifies the node and its clocks: wrong values here make it unusable.
absl::Status ReadIdentity(const DolphinHeartbeatJson& json, const HeartbeatLimits& limits,
                          absl::Time written_at, Heartbeat* out) {
  if (json.has_startuptime()) {
    RETURN_IF_ERROR(CheckTime("startupTime", json.startuptime(), limits, written_at));
    out->set_startup_time_ms(json.startuptime());
  }
  if (json.has_reporttime()) {
    RETURN_IF_ERROR(CheckTime("reportTime", json.reporttime(), limits, written_at));
    out->set_report_time_ms(json.reporttime());
  }
  if (json.has_host()) {
    RETURN_IF_ERROR(CheckReportedHost(json.host()));
    out->set_host(json.host());
  }
  if (json.has_port()) {
    if (json.port() < 1 || json.port() > kMaxPort) {
      return Invalid(absl::StrCat("port ", json.port(), " is not in [1, ", kMaxPort, "]"));
    }
    out->set_port(json.port());
  }
  return absl::OkStatus();
}

void Warn(Heartbeat* out, absl::string_view field, absl::string_view value,
          absl::string_view reason) {
  HeartbeatWarning* warning = out->add_warnings();
  warning->set_field(std::string(field));
  warning->set_value(std::string(value));
  warning->set_reason(std::string(reason));
}

// Why DolphinScheduler writes `name` out of [0, 1] (`above`: over 1, else negative), as far as
// its source for `version` shows; "" when it does not.
absl::string_view UsageCause(absl::string_view name, bool above, HeartbeatDialect version) {
  if (name == "cpuUsage" && above) {
    // DefaultMetricsProvider.java @ 3.2.1-release: totalCpuUsedPercentage = system + process.
    if (version == HeartbeatDialect::kJson321) return " (DS 3.2.1 adds system and process CPU)";
    // OSUtils.cpuUsagePercentage @ 3.2.0-release: getSystemLoadAverage() on Kubernetes.
    if (version == HeartbeatDialect::kJson320) {
      return " (DS 3.2.0 on Kubernetes writes the load average)";
    }
  }
  if (name == "jvmMemoryUsage") {
    // DefaultMetricsProvider.java @ 3.2.1-release..dev: jvm.memory.used / jvm.memory.max, one
    // meter of each, and micrometer's max is -1 for a memory pool without a limit.
    return above ? " (DS divides one jvm.memory.used meter by one jvm.memory.max meter)"
                 : " (DS divides by jvm.memory.max, which is -1 for a pool without a limit)";
  }
  if (name == "threadPoolUsage" && above) {
    // WorkerTaskExecutorThreadPool.getThreadPoolUsage @ dev: executors / exec threads.
    return " (DS 3.3 counts queued task executors against the exec threads)";
  }
  return "";
}

// A usage meant as a fraction in [0, 1]: kept as written, with a warning when it is not one.
double ReadUsage(absl::string_view name, double value, HeartbeatDialect version, Heartbeat* out) {
  if (value >= 0 && value <= 1) return value == 0 ? 0.0 : value;  // no -0; the common case
  // Spelled only for a warning: it is most of a heartbeat's decoding time otherwise.
  const std::string text = NumberText(value);
  if (!std::isfinite(value)) {
    Warn(out, name, text, absl::StrCat(name, " ", text, " is not a number: read as 0"));
    return 0;
  }
  if (value == 0) return 0.0;  // no -0
  if (value == -1) {
    Warn(out, name, text, absl::StrCat(name, " -1: unknown (DS writes -1 when it cannot measure)"));
  } else if (value < 0) {
    Warn(out, name, text,
         absl::StrCat(name, " ", text, " is negative", UsageCause(name, false, version)));
  } else if (value > 1) {
    Warn(out, name, text,
         absl::StrCat(name, " ", text, " is above 1", UsageCause(name, true, version)));
  }
  return value;
}

// A figure with no range (load average, GB, configured limits): NaN and infinities become 0.
double ReadFigure(absl::string_view name, double value, Heartbeat* out) {
  if (std::isfinite(value)) return value == 0 ? 0.0 : value;
  const std::string text = NumberText(value);
  Warn(out, name, text, absl::StrCat(name, " ", text, " is not a number: read as 0"));
  return 0;
}

// A count that cannot be negative in DolphinScheduler (an int it fills from a size): kept.
int32_t ReadCount(absl::string_view name, int32_t value, Heartbeat* out) {
  if (value < 0) {
    Warn(out, name, absl::StrCat(value), absl::StrCat(name, " ", value, " is negative"));
  }
  return value;
}

void ReadUsages(const DolphinHeartbeatJson& json, HeartbeatDialect version, Heartbeat* out) {
  if (json.has_cpuusage()) out->set_cpu_usage(ReadUsage("cpuUsage", json.cpuusage(), version, out));
  if (json.has_memoryusage()) {
    out->set_memory_usage(ReadUsage("memoryUsage", json.memoryusage(), version, out));
  }
  if (json.has_diskusage()) {
    out->set_disk_usage(ReadUsage("diskUsage", json.diskusage(), version, out));
  }
  if (json.has_jvmcpuusage()) {
    out->set_jvm_cpu_usage(ReadUsage("jvmCpuUsage", json.jvmcpuusage(), version, out));
  }
  if (json.has_jvmmemoryusage()) {
    out->set_jvm_memory_usage(ReadUsage("jvmMemoryUsage", json.jvmmemoryusage(), version, out));
  }
}

// 2.0-3.2.0's resource figures and limits.
void ReadResources(const DolphinHeartbeatJson& json, Heartbeat* out) {
  if (json.has_loadaverage()) {
    const double load = ReadFigure("loadAverage", json.loadaverage(), out);
    if (load < 0) {
      Warn(out, "loadAverage", NumberText(load),
           absl::StrCat("loadAverage ", NumberText(load),
                        ": unknown (DS writes -1 when it cannot measure)"));
    }
    out->set_load_average(load);
  }
  if (json.has_availablephysicalmemorysize()) {
    out->set_available_memory_gb(
        ReadFigure("availablePhysicalMemorySize", json.availablephysicalmemorysize(), out));
  }
  if (json.has_reservedmemory()) {
    out->set_reserved_memory(ReadFigure("reservedMemory", json.reservedmemory(), out));
  }
  if (json.has_maxcpuloadavg()) {
    out->set_max_cpu_load_avg(ReadFigure("maxCpuloadAvg", json.maxcpuloadavg(), out));
  }
  if (json.has_diskavailable()) {
    out->set_disk_available_gb(ReadFigure("diskAvailable", json.diskavailable(), out));
  }
}

// threadPoolUsage: 3.2.1/3.2.2's int task count, or dev's fraction (see HeartbeatDialect).
void ReadThreadPool(const DolphinHeartbeatJson& json, Spelling spelling, HeartbeatDialect dialect,
                    HeartbeatDialect version, Heartbeat* out) {
  if (!json.has_threadpoolusage()) return;
  const double value = json.threadpoolusage();
  bool count = false;
  switch (dialect) {
    case HeartbeatDialect::kJson321:
    case HeartbeatDialect::kJson322:
      count = true;
      break;
    case HeartbeatDialect::kJson33:
      break;
    default:
      // Jackson spells a Java int without a '.' and a double always with one (or an exponent).
      count = spelling == Spelling::kInteger ||
              (spelling == Spelling::kOther && value > 1 && std::floor(value) == value);
  }
  const bool whole = std::isfinite(value) && std::floor(value) == value &&
                     std::fabs(value) <= std::numeric_limits<int32_t>::max();
  if (count && whole) {
    out->set_running_tasks(ReadCount("threadPoolUsage", static_cast<int32_t>(value), out));
    return;
  }
  if (count) {
    Warn(out, "threadPoolUsage", NumberText(value),
         absl::StrCat("threadPoolUsage ", NumberText(value),
                      " is not a task count, which DS 3.2.1/3.2.2 write: read as a fraction"));
  }
  out->set_thread_pool_usage(ReadUsage("threadPoolUsage", value, version, out));
}

absl::Status ReadWorkerFields(NodeRole role, const DolphinHeartbeatJson& json, Heartbeat* out) {
  out->set_host_weight(kDefaultHostWeight);
  if (json.has_workerhostweight()) {
    const int32_t weight = json.workerhostweight();
    const int32_t clamped = std::clamp(weight, 0, kMaxHostWeight);
    if (clamped != weight) {
      Warn(out, "workerHostWeight", absl::StrCat(weight),
           absl::StrCat("workerHostWeight ", weight, " is not in [0, ", kMaxHostWeight,
                        "]: read as ", clamped));
    }
    out->set_host_weight(clamped);
  }
  if (json.has_workerexecthreadcount()) {
    out->set_exec_threads(ReadCount("workerExecThreadCount", json.workerexecthreadcount(), out));
  }
  if (json.has_workerwaitingtaskcount()) {
    out->set_waiting_tasks(ReadCount("workerWaitingTaskCount", json.workerwaitingtaskcount(), out));
  }
  if (role == NodeRole::kWorker && json.has_workergroup()) {
    RETURN_IF_ERROR(ValidateGroupName(json.workergroup(), "workerGroup"));
    out->set_worker_group(json.workergroup());
  }
  return absl::OkStatus();
}

absl::StatusOr<Heartbeat> Normalise(NodeRole role, const DolphinHeartbeatJson& json,
                                    Spelling thread_pool, Heartbeat::Format format,
                                    HeartbeatDialect dialect, const HeartbeatLimits& limits,
                                    absl::Time written_at) {
  Heartbeat out;
  out.set_format(format);
  out.set_legacy_format(format == Heartbeat::TEXT_2_0 || format == Heartbeat::TEXT_3_0 ||
                        format == Heartbeat::JSON_3_1);
  RETURN_IF_ERROR(MapServerStatus(json, &out));
  RETURN_IF_ERROR(ReadIdentity(json, limits, written_at, &out));
  if (json.has_processid()) out.set_process_id(ReadCount("processId", json.processid(), &out));
  const HeartbeatDialect version = EffectiveDialect(dialect, format);
  ReadUsages(json, version, &out);
  ReadResources(json, &out);
  ReadThreadPool(json, thread_pool, dialect, version, &out);
  RETURN_IF_ERROR(ReadWorkerFields(role, json, &out));
  return out;
}

}  // namespace

namespace {

// The field names of HeartBeat.encodeHeartBeat, in order: 14 @ 2.0.9-release, 13 (no
// diskAvailable) @ 3.0.6-release. Masters and workers both write them (masters with 0 for the
// three worker fields).
constexpr absl::string_view kText20Fields[] = {"cpuUsage",
                                               "memoryUsage",
                                               "diskAvailable",
                                               "loadAverage",
                                               "availablePhysicalMemorySize",
                                               "maxCpuloadAvg",
                                               "reservedMemory",
                                               "startupTime",
                                               "reportTime",
                                               "serverStatus",
                                               "processId",
                                               "workerHostWeight",
                                               "workerExecThreadCount",
                                               "workerWaitingTaskCount"};
constexpr absl::string_view kText30Fields[] = {"cpuUsage",
                                               "memoryUsage",
                                               "loadAverage",
                                               "availablePhysicalMemorySize",
                                               "maxCpuloadAvg",
                                               "reservedMemory",
                                               "startupTime",
                                               "reportTime",
                                               "serverStatus",
                                               "processId",
                                               "workerHostWeight",
                                               "workerExecThreadCount",
                                               "workerWaitingTaskCount"};

}  // namespace

absl::Span<const absl::string_view> TextHeartbeatFields(HeartbeatDialect dialect) {
  switch (dialect) {
    case HeartbeatDialect::kText20:
      return kText20Fields;
    case HeartbeatDialect::kText30:
      return kText30Fields;
    default:
      return {};
  }
}

absl::string_view HeartbeatDialectName(HeartbeatDialect dialect) {
  switch (dialect) {
    case HeartbeatDialect::kAuto:
      return "auto";
    case HeartbeatDialect::kText20:
      return "2.0-text";
    case HeartbeatDialect::kText30:
      return "3.0-text";
    case HeartbeatDialect::kJson31:
      return "3.1-json";
    case HeartbeatDialect::kJson320:
      return "3.2.0-json";
    case HeartbeatDialect::kJson321:
      return "3.2.1-json";
    case HeartbeatDialect::kJson322:
      return "3.2.2-json";
    case HeartbeatDialect::kJson33:
      return "3.3-json";
  }
  return "unknown";
}

namespace {

// ParseHeartbeat, with simdjson first (`fast`) or protobuf's parser alone.
absl::StatusOr<Heartbeat> Parse(NodeRole role, absl::string_view payload,
                                const HeartbeatLimits& limits, absl::Time written_at,
                                HeartbeatDialect dialect, bool fast) {
  // Cheap checks first: a huge or hostile payload never reaches the JSON parser.
  if (payload.size() > limits.max_payload_bytes) {
    return Invalid(absl::StrCat("heartbeat is ", payload.size(), " bytes, over the ",
                                limits.max_payload_bytes, "-byte limit (--max_heartbeat_bytes)"));
  }
  size_t start = 0;
  while (start < payload.size() && IsJsonWhitespace(payload[start])) ++start;
  if (start == payload.size()) return absl::NotFoundError("no heartbeat yet");

  // The intermediate message lives on an arena in this frame: its fields cost no malloc and
  // no free (a heartbeat is parsed per event).
  alignas(std::max_align_t) char block[1024];
  google::protobuf::ArenaOptions arena_options;
  arena_options.initial_block = block;
  arena_options.initial_block_size = sizeof(block);
  google::protobuf::Arena arena(arena_options);
  DolphinHeartbeatJson& json =
      *google::protobuf::Arena::CreateMessage<DolphinHeartbeatJson>(&arena);
  std::string not_text;
  if (payload[start] != '{' && absl::StrContains(payload, ',')) {
    // 2.0 and 3.0 write comma-separated text; nothing else DolphinScheduler writes has a
    // comma outside an object.
    const absl::string_view text = absl::StripAsciiWhitespace(payload);
    size_t fields = 0;
    ASSIGN_OR_RETURN(std::optional<Heartbeat::Format> format, ReadText(text, &json, &fields));
    if (format.has_value()) {
      return Normalise(role, json, Spelling::kAbsent, *format, dialect, limits, written_at);
    }
    json.Clear();
    not_text = absl::StrCat("; as DolphinScheduler 2.0/3.0 text it has ", fields,
                            " comma-separated fields, not 14 or 13");
  }
  if (fast && payload[start] == '{') {
    // The same DolphinHeartbeatJson and spelling protobuf's reading below gives, or a refusal
    // to read the payload, which protobuf then reads (docs/dolphinscheduler.md, "Heartbeat
    // decoding").
    Spelling thread_pool = Spelling::kAbsent;
    if (ReadHeartbeatJsonFast(payload, &json, &thread_pool)) {
      return Normalise(role, json, thread_pool, DetectJsonFormat(json, thread_pool), dialect,
                       limits, written_at);
    }
    json.Clear();
  }
  if (const size_t deep = FindTooDeep(payload, kMaxJsonDepth); deep != absl::string_view::npos) {
    return Invalid(absl::StrCat("heartbeat nests JSON more than ", kMaxJsonDepth,
                                " levels deep (at byte ", deep, ")"));
  }
  RETURN_IF_ERROR(ReadJson(payload, start, &json, not_text));
  Spelling thread_pool = SpellingOf(RawMemberValue(payload, "threadPoolUsage"));
  if (json.has_threadpoolusage() && thread_pool == Spelling::kAbsent) {
    thread_pool = Spelling::kOther;  // a key the scanner did not follow (escaped characters)
  }
  return Normalise(role, json, thread_pool, DetectJsonFormat(json, thread_pool), dialect, limits,
                   written_at);
}

}  // namespace

absl::StatusOr<Heartbeat> ParseHeartbeat(NodeRole role, absl::string_view payload,
                                         const HeartbeatLimits& limits, absl::Time written_at,
                                         HeartbeatDialect dialect) {
  return Parse(role, payload, limits, written_at, dialect, /*fast=*/true);
}

absl::StatusOr<Heartbeat> ParseHeartbeatReference(NodeRole role, absl::string_view payload,
                                                  const HeartbeatLimits& limits,
                                                  absl::Time written_at, HeartbeatDialect dialect) {
  return Parse(role, payload, limits, written_at, dialect, /*fast=*/false);
}

}  // namespace roster::cluster
