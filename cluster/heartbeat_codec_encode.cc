// EncodeHeartbeat: the payload each DolphinScheduler version writes (see heartbeat_codec.h).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/types/span.h"
#include "cluster/heartbeat_codec.h"

namespace roster::cluster {
namespace {

using roster::v1::Heartbeat;

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

// `v` as Java's Double.toString spells it (what StringBuilder.append and Jackson write):
// the shortest digits that read back as `v`; plain notation in [1e-3, 1e7) with at least one
// digit after the point ("0.0", "16.0", "0.2319"), else "d.dddE-n" ("1.0E-4", "1.2345E7").
std::string JavaDouble(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  if (v == 0) return std::signbit(v) ? "-0.0" : "0.0";
  char buf[40];
  for (int precision = 0; precision <= 16; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*e", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  // buf is "[-]d[.ddd]e[+-]XX".
  absl::string_view text(buf);
  std::string out;
  if (absl::ConsumePrefix(&text, "-")) out = "-";
  const size_t e = text.find('e');
  std::string digits = absl::StrReplaceAll(text.substr(0, e), {{".", ""}});
  int exponent = 0;
  (void)absl::SimpleAtoi(text.substr(e + 1), &exponent);
  const double magnitude = std::fabs(v);
  if (magnitude >= 1e-3 && magnitude < 1e7) {
    const int point = exponent + 1;  // digits before the point
    if (point <= 0) {
      return absl::StrCat(out, "0.", std::string(-point, '0'), digits);
    }
    if (static_cast<size_t>(point) >= digits.size()) {
      return absl::StrCat(out, digits, std::string(point - digits.size(), '0'), ".0");
    }
    return absl::StrCat(out, digits.substr(0, point), ".", digits.substr(point));
  }
  const std::string fraction = digits.size() > 1 ? digits.substr(1) : "0";
  return absl::StrCat(out, digits.substr(0, 1), ".", fraction, "E", exponent);
}

// A double as Jackson writes it: NaN and the infinities quoted (QUOTE_NON_NUMERIC_NUMBERS).
std::string JsonDouble(double v) {
  return std::isfinite(v) ? JavaDouble(v) : absl::StrCat("\"", JavaDouble(v), "\"");
}

int IntegerStatus(Heartbeat::ServerStatus status) {
  switch (status) {
    case Heartbeat::ABNORMAL:
      return 1;
    case Heartbeat::BUSY:
      return 2;
    default:
      return 0;
  }
}

std::string StringStatus(Heartbeat::ServerStatus status) {
  switch (status) {
    case Heartbeat::NORMAL:
      return "\"NORMAL\"";
    case Heartbeat::BUSY:
      return "\"BUSY\"";
    case Heartbeat::ABNORMAL:
      return "\"ABNORMAL\"";
    default:  // unspecified: Jackson writes the Java null
      return "null";
  }
}

// The value of each field a DolphinScheduler heartbeat may hold, spelled as Java writes it.
std::string FieldText(absl::string_view name, const Heartbeat& h, bool json) {
  const auto dbl = [json](double v) { return json ? JsonDouble(v) : JavaDouble(v); };
  if (name == "processId") return absl::StrCat(h.process_id());
  if (name == "startupTime") return absl::StrCat(h.startup_time_ms());
  if (name == "reportTime") return absl::StrCat(h.report_time_ms());
  if (name == "cpuUsage") return dbl(h.cpu_usage());
  if (name == "memoryUsage") return dbl(h.memory_usage());
  if (name == "diskUsage") return dbl(h.disk_usage());
  if (name == "jvmCpuUsage") return dbl(h.jvm_cpu_usage());
  if (name == "jvmMemoryUsage") return dbl(h.jvm_memory_usage());
  if (name == "loadAverage") return dbl(h.load_average());
  if (name == "availablePhysicalMemorySize") return dbl(h.available_memory_gb());
  if (name == "reservedMemory") return dbl(h.reserved_memory());
  if (name == "maxCpuloadAvg") return dbl(h.max_cpu_load_avg());
  if (name == "diskAvailable") return dbl(h.disk_available_gb());
  if (name == "serverStatus") {
    return json ? StringStatus(h.server_status()) : absl::StrCat(IntegerStatus(h.server_status()));
  }
  if (name == "host") return h.host().empty() ? "null" : JsonString(h.host());
  if (name == "port") return absl::StrCat(h.port());
  if (name == "workerHostWeight") return absl::StrCat(h.host_weight());
  if (name == "workerExecThreadCount") return absl::StrCat(h.exec_threads());
  if (name == "workerWaitingTaskCount") return absl::StrCat(h.waiting_tasks());
  return "null";
}

// The fields `role` writes in `dialect`'s JSON, in Jackson's order (declaration order, a base
// class's fields first). threadPoolUsage and the status of 3.1 are handled by the caller.
std::vector<absl::string_view> JsonFields(NodeRole role, HeartbeatDialect dialect) {
  const bool worker = role == NodeRole::kWorker;
  const bool alert = role == NodeRole::kAlertServer;
  switch (dialect) {
    case HeartbeatDialect::kJson31:  // {Master,Worker}HeartBeat.java @ 3.1.9-release
      if (!worker) {
        return {"startupTime",   "reportTime",     "cpuUsage",
                "memoryUsage",   "loadAverage",    "availablePhysicalMemorySize",
                "maxCpuloadAvg", "reservedMemory", "diskAvailable",
                "processId"};
      }
      return {"startupTime",
              "reportTime",
              "cpuUsage",
              "memoryUsage",
              "loadAverage",
              "availablePhysicalMemorySize",
              "maxCpuloadAvg",
              "reservedMemory",
              "diskAvailable",
              "serverStatus",
              "processId",
              "workerHostWeight",
              "workerWaitingTaskCount",
              "workerExecThreadCount"};
    case HeartbeatDialect::kJson320:  // {Master,Worker,AlertServer}HeartBeat @ 3.2.0-release
      if (alert) {
        return {"processId", "startupTime", "reportTime",
                "cpuUsage",  "memoryUsage", "availablePhysicalMemorySize",
                "host",      "port"};
      }
      if (!worker) {
        return {"startupTime",
                "reportTime",
                "cpuUsage",
                "memoryUsage",
                "availablePhysicalMemorySize",
                "reservedMemory",
                "diskAvailable",
                "processId",
                "serverStatus",
                "host",
                "port"};
      }
      return {"startupTime",
              "reportTime",
              "cpuUsage",
              "memoryUsage",
              "loadAverage",
              "availablePhysicalMemorySize",
              "reservedMemory",
              "diskAvailable",
              "serverStatus",
              "processId",
              "host",
              "port",
              "workerHostWeight",
              "workerWaitingTaskCount",
              "workerExecThreadCount"};
    case HeartbeatDialect::kJson321:  // {Master,Worker,AlertServer}HeartBeat @ 3.2.1-release
      if (alert) {
        return {"processId",      "startupTime",  "reportTime", "cpuUsage", "memoryUsage",
                "jvmMemoryUsage", "serverStatus", "host",       "port"};
      }
      if (!worker) {
        return {"startupTime", "reportTime",   "cpuUsage",  "jvmMemoryUsage", "memoryUsage",
                "diskUsage",   "serverStatus", "processId", "host",           "port"};
      }
      return {"startupTime", "reportTime", "cpuUsage",         "jvmMemoryUsage",
              "memoryUsage", "diskUsage",  "serverStatus",     "processId",
              "host",        "port",       "workerHostWeight", "threadPoolUsage"};
    default: {  // BaseHeartBeat (+ WorkerHeartBeat) @ 3.2.2-release and dev
      std::vector<absl::string_view> fields = {
          "processId",   "startupTime", "reportTime",   "jvmCpuUsage", "cpuUsage", "jvmMemoryUsage",
          "memoryUsage", "diskUsage",   "serverStatus", "host",        "port"};
      if (worker) fields.insert(fields.end(), {"workerHostWeight", "threadPoolUsage"});
      return fields;
    }
  }
}

std::string EncodeText(const Heartbeat& h, HeartbeatDialect dialect) {
  const absl::Span<const absl::string_view> names = TextHeartbeatFields(dialect);
  std::vector<std::string> values;
  values.reserve(names.size());
  for (absl::string_view name : names) values.push_back(FieldText(name, h, /*json=*/false));
  return absl::StrJoin(values, ",");
}

std::string EncodeJson(NodeRole role, const Heartbeat& h, HeartbeatDialect dialect) {
  std::string out = "{";
  auto field = [&out](absl::string_view name, absl::string_view value) {
    if (out.size() > 1) out += ',';
    absl::StrAppend(&out, "\"", name, "\":", value);
  };
  for (absl::string_view name : JsonFields(role, dialect)) {
    if (name == "port" && h.port() == 0) continue;  // not a port: a roster heartbeat without one
    if (name == "serverStatus" && dialect == HeartbeatDialect::kJson31) {
      field(name, absl::StrCat(IntegerStatus(h.server_status())));
    } else if (name == "threadPoolUsage") {
      // An int (the task count) in 3.2.1/3.2.2, a double in dev.
      const bool count =
          dialect == HeartbeatDialect::kJson321 || dialect == HeartbeatDialect::kJson322;
      field(name, count ? absl::StrCat(h.running_tasks()) : JsonDouble(h.thread_pool_usage()));
    } else {
      field(name, FieldText(name, h, /*json=*/true));
    }
  }
  if (role == NodeRole::kWorker && !h.worker_group().empty()) {
    field("workerGroup", JsonString(h.worker_group()));  // roster's extension
  }
  out += '}';
  return out;
}

}  // namespace

std::string EncodeHeartbeat(NodeRole role, const Heartbeat& heartbeat, HeartbeatDialect dialect) {
  switch (dialect) {
    case HeartbeatDialect::kText20:
    case HeartbeatDialect::kText30:
      return EncodeText(heartbeat, dialect);
    case HeartbeatDialect::kAuto:
      return EncodeJson(role, heartbeat, HeartbeatDialect::kJson33);
    default:
      return EncodeJson(role, heartbeat, dialect);
  }
}

}  // namespace roster::cluster
