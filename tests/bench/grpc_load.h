// Shared pieces of the gRPC load benchmarks (grpc_bench, scale_bench): process CPU and load
// figures, and a closed-loop load generator that keeps a fixed number of calls in flight on
// rosterd's lookups (Ping, GetWorkerGroup and SelectWorker, FULL and BASIC) with the callback API,
// measuring calls/s, latency quantiles and CPU per call, with Ping as the baseline.
//
//   LoadOptions options;  // group "g1", 1 round of 3 s after 1 s of warm-up
//   std::vector<Result> results = RunSection(stubs, /*concurrency=*/32, rosterd_pid, options);
//   PrintSection("Throughput", results, /*in_process=*/false);
//
// Thread-safety: RunSection() from one thread; a Phase's callbacks touch only their own slot.
#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "google/protobuf/arena.h"
#include "roster/v1/roster.grpc.pb.h"

namespace roster::bench {

using Stub = v1::Roster::Stub;

inline int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// CPU time (user + system) of this process, in microseconds.
inline int64_t SelfCpuMicros() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000000LL + usage.ru_utime.tv_usec +
         usage.ru_stime.tv_usec;
}

// CPU time (user + system, all threads) of process `pid`, in microseconds; -1 if unknown.
inline int64_t ProcessCpuMicros(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // "pid (comm) state ..."; comm may hold spaces, so count fields after the last ')'.
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream fields(text.substr(paren + 2));
  std::string field;
  int64_t utime = -1, stime = -1;
  for (int i = 3; fields >> field; ++i) {  // field 3 is the state
    if (i == 14) utime = std::stoll(field);
    if (i == 15) {
      stime = std::stoll(field);
      break;
    }
  }
  if (utime < 0 || stime < 0) return -1;
  return (utime + stime) * 1000000LL / sysconf(_SC_CLK_TCK);
}

// "0.52 0.58 0.59": the 1, 5 and 15 minute load averages (the cores may be shared).
inline std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return absl::StrCat(one, " ", five, " ", fifteen);
}

// VmRSS of process `pid`, in bytes; -1 if unknown.
inline int64_t ProcessRssBytes(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream fields(line.substr(6));
      int64_t kib = -1;
      fields >> kib;
      return kib < 0 ? -1 : kib * 1024;
    }
  }
  return -1;
}

inline std::unique_ptr<grpc::ClientContext> CallContext(
    absl::Duration timeout = absl::Seconds(10)) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

// kPingAsSelect and kPingAsSelectBasic are Pings whose answer is as large as SelectWorker's in
// the FULL and BASIC views (PingRequest.response_bytes): what carrying those bytes costs, and
// nothing else (LoadOptions::select_bytes).
enum class Method {
  kPing,
  kPingAsSelect,
  kPingAsSelectBasic,
  kGetWorkerGroup,
  kGetWorkerGroupBasic,
  kSelectWorker,
  kSelectWorkerBasic
};
constexpr Method kMethods[] = {Method::kPing,
                               Method::kPingAsSelect,
                               Method::kPingAsSelectBasic,
                               Method::kGetWorkerGroup,
                               Method::kGetWorkerGroupBasic,
                               Method::kSelectWorker,
                               Method::kSelectWorkerBasic};

inline const char* Name(Method method) {
  switch (method) {
    case Method::kPing:
      return "Ping";
    case Method::kPingAsSelect:
      return "Ping/Select";
    case Method::kPingAsSelectBasic:
      return "Ping/Select/B";
    case Method::kGetWorkerGroup:
      return "GetWorkerGroup";
    case Method::kGetWorkerGroupBasic:
      return "GetWorkerGroup/B";
    case Method::kSelectWorker:
      return "SelectWorker";
    case Method::kSelectWorkerBasic:
      return "SelectWorker/B";
  }
  return "?";
}

// What one method measured, summed over its phases.
struct Result {
  int64_t calls_in_window = 0;  // finished OK within the measured window
  int64_t errors = 0;
  std::string first_error;
  int64_t window_ns = 0;
  std::vector<int64_t> latencies_ns;  // every call finished OK
  std::vector<double> qps_per_round;
  int64_t client_cpu_us = 0;
  int64_t server_cpu_us = -1;  // -1: not measured
  size_t response_bytes = 0;

  double qps() const { return window_ns == 0 ? 0 : calls_in_window * 1e9 / window_ns; }
  // Latency quantile q (0..1), in microseconds.
  double Quantile(double q) const {
    if (latencies_ns.empty()) return 0;
    const size_t index = std::min(
        latencies_ns.size() - 1, static_cast<size_t>(q * static_cast<double>(latencies_ns.size())));
    return latencies_ns[index] / 1e3;
  }
  double CpuPerCall(int64_t cpu_us) const {
    return calls_in_window == 0 || cpu_us < 0 ? -1 : static_cast<double>(cpu_us) / calls_in_window;
  }
};

// What the lookups ask for, and how long each method runs.
struct LoadOptions {
  std::string group = "g1";  // GetWorkerGroup's name and SelectWorker's group
  v1::SelectionStrategy strategy = v1::ROUND_ROBIN;
  int page_size = 0;          // GetWorkerGroup's (0: the server's default, 1000)
  double seconds = 3;         // measured, per method, per round
  double warmup_seconds = 1;  // unmeasured, per method, before the first round
  int rounds = 1;             // each measures every method once, in turn
  // The sizes of SelectWorker's answers, FULL and BASIC, which the sized Pings answer
  // (RunSection measures them).
  size_t select_bytes = 0;
  size_t select_basic_bytes = 0;
};

// PingRequest.response_bytes for a PingResponse of `bytes` in all (its payload's tag and length
// take 1 + 1 to 3 bytes).
inline int PingPayloadFor(size_t bytes) {
  for (int header = 2; header <= 4; ++header) {
    const int payload = static_cast<int>(bytes) - header;
    if (payload < 0) return 0;
    v1::PingResponse response;
    response.mutable_payload()->assign(static_cast<size_t>(payload), '\0');
    if (response.ByteSizeLong() == bytes) return payload;
  }
  return static_cast<int>(bytes);
}

// One method for a fixed duration with `concurrency` calls in flight over `stubs`.
class Phase {
 public:
  Phase(Method method, const std::vector<Stub*>& stubs, int concurrency, absl::Duration duration,
        const LoadOptions& options)
      : method_(method), duration_ns_(absl::ToInt64Nanoseconds(duration)) {
    for (int i = 0; i < concurrency; ++i) {
      auto slot = std::make_unique<Slot>();
      slot->stub = stubs[i % stubs.size()];
      slot->group_request.set_name(options.group);
      slot->group_request.set_page_size(options.page_size);
      if (method == Method::kGetWorkerGroupBasic) slot->group_request.set_view(v1::NODE_VIEW_BASIC);
      slot->select_request.set_group(options.group);
      slot->select_request.set_strategy(options.strategy);
      if (method == Method::kSelectWorkerBasic) slot->select_request.set_view(v1::NODE_VIEW_BASIC);
      if (method == Method::kPingAsSelect) {
        slot->ping_request.set_response_bytes(PingPayloadFor(options.select_bytes));
      }
      if (method == Method::kPingAsSelectBasic) {
        slot->ping_request.set_response_bytes(PingPayloadFor(options.select_basic_bytes));
      }
      slot->latencies_ns.reserve(200000);
      slots_.push_back(std::move(slot));
    }
  }

  // Runs the phase and adds what it measured to `result`.
  void Run(Result* result) {
    remaining_.store(static_cast<int>(slots_.size()));
    start_ns_ = NowNs();
    end_ns_ = start_ns_ + duration_ns_;
    for (const auto& slot : slots_) Issue(slot.get());
    done_.WaitForNotification();
    for (const auto& slot : slots_) {
      result->calls_in_window += slot->in_window;
      result->errors += slot->errors;
      if (result->first_error.empty()) result->first_error = slot->first_error;
      result->latencies_ns.insert(result->latencies_ns.end(), slot->latencies_ns.begin(),
                                  slot->latencies_ns.end());
    }
    result->window_ns += duration_ns_;
    const Slot& first = *slots_.front();
    switch (method_) {
      case Method::kPing:
      case Method::kPingAsSelect:
      case Method::kPingAsSelectBasic:
        result->response_bytes = first.ping_response->ByteSizeLong();
        break;
      case Method::kGetWorkerGroup:
      case Method::kGetWorkerGroupBasic:
        result->response_bytes = first.group_response->ByteSizeLong();
        break;
      case Method::kSelectWorker:
      case Method::kSelectWorkerBasic:
        result->response_bytes = first.select_response->ByteSizeLong();
        break;
    }
  }

 private:
  // One call in flight at a time; touched only by its own (sequential) callbacks.
  //
  // Each answer is parsed on the slot's arena, reset before the next call, as a client that
  // minds its allocations does: a heap message kept across calls does not keep its parts, since
  // proto3's Clear() frees every submessage (a SelectWorker answer's Node, heartbeat, timestamps,
  // ...), and the client would pay a dozen mallocs and frees a call for SelectWorker and none for
  // Ping, on the cores it shares with rosterd (docs/scale.md, "SelectWorker").
  struct Slot {
    Slot() : arena(ArenaOptionsFor(initial_block, sizeof(initial_block))) {}

    Stub* stub = nullptr;
    std::unique_ptr<grpc::ClientContext> context;
    int64_t start_ns = 0;
    alignas(16) char initial_block[8192];
    google::protobuf::Arena arena;
    v1::PingRequest ping_request;
    v1::PingResponse* ping_response = nullptr;  // on `arena`, like the other answers
    v1::GetWorkerGroupRequest group_request;
    v1::GetWorkerGroupResponse* group_response = nullptr;
    v1::SelectWorkerRequest select_request;
    v1::SelectWorkerResponse* select_response = nullptr;
    std::vector<int64_t> latencies_ns;
    int64_t in_window = 0;
    int64_t errors = 0;
    std::string first_error;
  };

  static google::protobuf::ArenaOptions ArenaOptionsFor(char* block, size_t size) {
    google::protobuf::ArenaOptions options;
    options.initial_block = block;
    options.initial_block_size = size;
    return options;
  }

  void Issue(Slot* slot) {
    slot->context = CallContext();  // a ClientContext serves one call
    auto done = [this, slot](const grpc::Status& status) { Done(slot, status); };
    slot->arena.Reset();  // the answer before is done with
    google::protobuf::Arena* arena = &slot->arena;
    slot->start_ns = NowNs();
    switch (method_) {
      case Method::kPing:
      case Method::kPingAsSelect:
      case Method::kPingAsSelectBasic:
        slot->ping_response = google::protobuf::Arena::CreateMessage<v1::PingResponse>(arena);
        slot->stub->async()->Ping(slot->context.get(), &slot->ping_request, slot->ping_response,
                                  std::move(done));
        break;
      case Method::kGetWorkerGroup:
      case Method::kGetWorkerGroupBasic:
        slot->group_response =
            google::protobuf::Arena::CreateMessage<v1::GetWorkerGroupResponse>(arena);
        slot->stub->async()->GetWorkerGroup(slot->context.get(), &slot->group_request,
                                            slot->group_response, std::move(done));
        break;
      case Method::kSelectWorker:
      case Method::kSelectWorkerBasic:
        slot->select_response =
            google::protobuf::Arena::CreateMessage<v1::SelectWorkerResponse>(arena);
        slot->stub->async()->SelectWorker(slot->context.get(), &slot->select_request,
                                          slot->select_response, std::move(done));
        break;
    }
  }

  void Done(Slot* slot, const grpc::Status& status) {
    const int64_t now = NowNs();
    if (status.ok()) {
      slot->latencies_ns.push_back(now - slot->start_ns);
      if (now <= end_ns_) ++slot->in_window;
    } else {
      // A failing slot stops: the error is reported, and never retried in a tight loop.
      ++slot->errors;
      slot->first_error = absl::StrCat(status.error_code(), " ", status.error_message());
    }
    if (status.ok() && now < end_ns_) {
      Issue(slot);  // non-blocking: the callback API allows starting a call here
      return;
    }
    if (remaining_.fetch_sub(1) == 1) done_.Notify();
  }

  const Method method_;
  const int64_t duration_ns_;
  std::vector<std::unique_ptr<Slot>> slots_;
  int64_t start_ns_ = 0;
  int64_t end_ns_ = 0;
  std::atomic<int> remaining_{0};
  absl::Notification done_;
};

// Every method, --rounds times in turn, with `concurrency` in flight over `stubs`.
// The size of one SelectWorker answer in `view`, or 0 if the call fails.
inline size_t SelectWorkerBytes(Stub* stub, const LoadOptions& options, v1::NodeView view) {
  v1::SelectWorkerRequest request;
  request.set_group(options.group);
  request.set_strategy(options.strategy);
  request.set_view(view);
  v1::SelectWorkerResponse response;
  auto context = CallContext();
  return stub->SelectWorker(context.get(), request, &response).ok() ? response.ByteSizeLong() : 0;
}

inline std::vector<Result> RunSection(const std::vector<Stub*>& stubs, int concurrency,
                                      pid_t server_pid, LoadOptions options) {
  options.select_bytes = SelectWorkerBytes(stubs.front(), options, v1::NODE_VIEW_FULL);
  options.select_basic_bytes = SelectWorkerBytes(stubs.front(), options, v1::NODE_VIEW_BASIC);
  std::vector<Result> results(std::size(kMethods));
  for (Method method : kMethods) {
    Result ignored;
    Phase(method, stubs, concurrency, absl::Seconds(options.warmup_seconds), options).Run(&ignored);
  }
  for (int round = 0; round < options.rounds; ++round) {
    for (size_t m = 0; m < std::size(kMethods); ++m) {
      Result& result = results[m];
      Phase phase(kMethods[m], stubs, concurrency, absl::Seconds(options.seconds), options);
      const int64_t calls_before = result.calls_in_window;
      const int64_t client_before = SelfCpuMicros();
      const int64_t server_before = server_pid > 0 ? ProcessCpuMicros(server_pid) : -1;
      phase.Run(&result);
      result.client_cpu_us += SelfCpuMicros() - client_before;
      if (server_before >= 0) {
        result.server_cpu_us = std::max<int64_t>(result.server_cpu_us, 0) +
                               ProcessCpuMicros(server_pid) - server_before;
      }
      result.qps_per_round.push_back((result.calls_in_window - calls_before) / options.seconds);
    }
  }
  for (Result& result : results) std::sort(result.latencies_ns.begin(), result.latencies_ns.end());
  return results;
}

inline std::string CpuCell(double us) { return us < 0 ? "-" : absl::StrFormat("%.1f", us); }
inline std::string RatioCell(double lookup, double ping) {
  return lookup <= 0 || ping <= 0 ? "-" : absl::StrFormat("%.2fx", lookup / ping);
}

// In process, "client" CPU is the whole process's (client and server together).
inline void PrintSection(const std::string& title, const std::vector<Result>& results,
                         bool in_process) {
  std::printf("\n%s\n", title.c_str());
  std::printf("  %-15s %9s %15s %8s %8s %9s %7s %10s %10s %6s\n", "method", "calls/s",
              "round min..max", "p50 us", "p99 us", "p99.9 us", "resp B",
              in_process ? "proc us" : "client us", "rosterd us", "errors");
  for (size_t m = 0; m < results.size(); ++m) {
    const Result& r = results[m];
    const auto [low, high] = std::minmax_element(r.qps_per_round.begin(), r.qps_per_round.end());
    std::printf("  %-15s %9.0f %15s %8.1f %8.1f %9.1f %7zu %10s %10s %6" PRId64 "\n",
                Name(kMethods[m]), r.qps(), absl::StrFormat("%.0f..%.0f", *low, *high).c_str(),
                r.Quantile(0.50), r.Quantile(0.99), r.Quantile(0.999), r.response_bytes,
                CpuCell(r.CpuPerCall(r.client_cpu_us)).c_str(),
                CpuCell(r.CpuPerCall(r.server_cpu_us)).c_str(), r.errors);
    if (r.errors > 0) std::printf("    first error: %s\n", r.first_error.c_str());
  }
  const Result& ping = results[0];
  std::printf("  %-15s %9s %15s %8s %8s %9s %7s %10s %10s\n", "vs Ping", "Ping/this", "", "p50",
              "p99", "", "", in_process ? "proc cpu" : "client cpu", "rosterd cpu");
  for (size_t m = 1; m < results.size(); ++m) {
    const Result& r = results[m];
    std::printf(
        "  %-15s %9s %15s %8s %8s %9s %7s %10s %10s\n", Name(kMethods[m]),
        RatioCell(ping.qps(), r.qps()).c_str(), "",
        RatioCell(r.Quantile(0.5), ping.Quantile(0.5)).c_str(),
        RatioCell(r.Quantile(0.99), ping.Quantile(0.99)).c_str(), "", "",
        RatioCell(r.CpuPerCall(r.client_cpu_us), ping.CpuPerCall(ping.client_cpu_us)).c_str(),
        RatioCell(r.CpuPerCall(r.server_cpu_us), ping.CpuPerCall(ping.server_cpu_us)).c_str());
  }
}

// A channel on its own TCP connection: channels with equal arguments would share one.
inline std::shared_ptr<grpc::Channel> NewChannel(const std::string& address, int id) {
  grpc::ChannelArguments arguments;
  arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  arguments.SetMaxReceiveMessageSize(-1);  // a whole large group or view in one answer
  arguments.SetInt("roster.bench.channel", id);
  auto channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), arguments);
  CHECK(channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(10))))
      << "cannot connect to " << address;
  return channel;
}

}  // namespace roster::bench
