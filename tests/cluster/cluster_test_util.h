// Helpers shared by the cluster tests: DolphinScheduler heartbeat payloads as the real
// scheduler writes them, and registry events as a subscription delivers them.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "registry/registry.h"

namespace roster::testing {

// A current-format heartbeat (3.3's BaseHeartBeat shape, tests/data/dolphinscheduler/3.3/).
// `status` is "NORMAL" or "BUSY".
inline std::string HeartbeatJson(absl::string_view status, int64_t startup_time_ms = 1729238400123,
                                 int32_t process_id = 23817, int64_t report_time_ms = 1729238650456,
                                 double cpu = 0.2319, double memory = 0.6248,
                                 absl::string_view worker_group = "") {
  std::string group =
      worker_group.empty() ? "" : absl::StrFormat(R"(,"workerGroup":"%s")", worker_group);
  return absl::StrFormat(
      R"({"processId":%d,"startupTime":%d,"reportTime":%d,"jvmCpuUsage":0.031,)"
      R"("cpuUsage":%.4f,"jvmMemoryUsage":0.2885,"memoryUsage":%.4f,"diskUsage":0.0,)"
      R"("serverStatus":"%s","host":"10.0.0.11","port":5678,"workerHostWeight":100,)"
      R"("threadPoolUsage":0.0%s})",
      process_id, startup_time_ms, report_time_ms, cpu, memory, status, group);
}

// An event as a subscription delivers it for an ephemeral znode.
inline registry::RegistryEvent NodeEvent(registry::EventType type, std::string path,
                                         std::string data, int64_t czxid, int64_t mzxid) {
  registry::RegistryEvent event;
  event.type = type;
  event.session = 1;
  event.path = std::move(path);
  event.data = std::move(data);
  event.stat.czxid = czxid;
  event.stat.mzxid = mzxid;
  event.stat.ephemeral_owner = 0x1234;
  event.stat.data_length = static_cast<int32_t>(event.data.size());
  return event;
}

}  // namespace roster::testing
