// Benchmarks of ZooKeeperRegistry against a real ZooKeeper server (Google Benchmark; not a
// ctest test).
//
//   build/tests/bench/registry_bench [--benchmark_filter=...]
//   ROSTER_BENCH_NODES=20000 build/tests/bench/registry_bench
//   ROSTER_BENCH_FAST_JVM=1 ...   server JVM with -XX:TieredStopAtLevel=1, as the tests run it
//
// Starts a ZooKeeperServer fixture, creates N znodes (default 10,000) of ~300-byte
// DolphinScheduler worker heartbeat JSON under one parent with pipelined async creates, warms
// the server's read path, then lists and reads them all:
//   BM_Baseline_SyncGetChildrenAndGets   the raw C client, synchronously: zoo_get_children
//                                        and N sequential zoo_get, one round trip each
//   BM_Reference_RawAsyncGets/watch:0|1  the raw C client's async API, all N in flight at
//                                        once: what server + C client can do (no baseline)
//   BM_Registry_SubscribeUntilSynced     Registry::Subscribe on the parent until kSynced
//                                        (pipelined reads with watches)
//   BM_Registry_GetChildrenAndGetAsync   Registry::GetChildren and N pipelined GetAsync
// Each registry benchmark reports `speedup` = baseline time / its time (both measured in this
// run, on this machine), and a summary line follows the table. The raw handles get the same
// tuning as the registry's (zoo_set_servers_resolution_delay), so the baseline is fair.
#include <zookeeper/zookeeper.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "glog/logging.h"
#include "registry/registry.h"
#include "registry/registry_factory.h"
#include "tests/testing/zookeeper_server.h"

namespace roster::registry {
namespace {

constexpr char kParent[] = "/dolphinscheduler/nodes/worker";

// Shared by every benchmark; set up in main().
struct World {
  std::unique_ptr<testing::ZooKeeperServer> server;
  std::unique_ptr<Registry> registry;
  int nodes = 10000;
  // Seconds per iteration, as measured by each benchmark (0: not run).
  double baseline_seconds = 0;
  double subscribe_seconds = 0;
  double get_async_seconds = 0;
};
World* world = nullptr;

std::string Heartbeat(int i) {
  // A DolphinScheduler 3.x worker heartbeat, ~300 bytes.
  return absl::StrCat(
      R"({"startupTime":1729238400123,"reportTime":1729238650456,"cpuUsage":0.2319,)",
      R"("memoryUsage":0.6248,"jvmMemoryUsage":0.2885,"jvmCpuUsage":0.031,"diskUsage":0.41,)",
      R"("loadAverage":1.73,"processId":)", 20000 + i % 40000,
      R"(,"workerHostWeight":100,"threadPoolUsage":0.0,"workerGroup":"default",)",
      R"("serverStatus":"NORMAL","host":"10.0.)", i / 250, ".", i % 250, R"(","port":1234})");
}

std::string WorkerName(int i) { return absl::StrCat("10.0.", i / 250, ".", i % 250, ":1234"); }

// Creates the parent and N heartbeat znodes with pipelined async creates.
absl::Status Populate(Registry& registry, int nodes) {
  CreateOptions parents;
  parents.create_parents = true;
  if (absl::Status status = registry.Create(kParent, "", parents).status(); !status.ok()) {
    return status;
  }
  absl::Mutex mu;
  int pending = nodes;
  absl::Status first_error;
  for (int i = 0; i < nodes; ++i) {
    registry.CreateAsync(JoinPath(kParent, WorkerName(i)), Heartbeat(i), {},
                         [&](absl::StatusOr<std::string> created) {
                           absl::MutexLock lock(&mu);
                           if (!created.ok() && first_error.ok()) first_error = created.status();
                           --pending;
                         });
  }
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(
      +[](int* pending) { return *pending == 0; }, &pending));
  return first_error;
}

// Lists the parent and reads every node with pipelined GetAsync.
absl::Status ReadAll(Registry& registry) {
  absl::StatusOr<Children> children = registry.GetChildren(kParent);
  if (!children.ok()) return children.status();
  absl::Mutex mu;
  size_t pending = children->names.size();
  absl::Status first_error;
  for (const std::string& name : children->names) {
    registry.GetAsync(JoinPath(kParent, name), [&](absl::StatusOr<Node> node) {
      absl::MutexLock lock(&mu);
      if (!node.ok() && first_error.ok()) first_error = node.status();
      --pending;
    });
  }
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(
      +[](size_t* pending) { return *pending == 0; }, &pending));
  return first_error;
}

// ---------------------------------------------------------------------------------------
// Baseline: the C client's synchronous API, one round trip after the other.

void WatcherIgnore(zhandle_t*, int, int, const char*, void*) {}

// A raw C-client handle, connected, tuned like the registry's: the C client otherwise
// re-resolves host names on every poll of its socket.
zhandle_t* ConnectRaw() {
  zhandle_t* zh = zookeeper_init(world->server->ConnectString().c_str(), &WatcherIgnore, 30000,
                                 nullptr, nullptr, 0);
  CHECK(zh != nullptr);
  zoo_set_servers_resolution_delay(zh, 30000);
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (zoo_state(zh) != ZOO_CONNECTED_STATE && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  CHECK_EQ(zoo_state(zh), ZOO_CONNECTED_STATE);
  return zh;
}

void BM_Baseline_SyncGetChildrenAndGets(benchmark::State& state) {
  zhandle_t* zh = ConnectRaw();
  std::vector<char> buffer(64 * 1024);
  double total_seconds = 0;
  int64_t bytes = 0;
  for (auto _ : state) {
    const absl::Time start = absl::Now();
    String_vector children{0, nullptr};
    CHECK_EQ(zoo_get_children(zh, kParent, 0, &children), ZOK);
    CHECK_EQ(children.count, world->nodes);
    for (int i = 0; i < children.count; ++i) {
      const std::string path = JoinPath(kParent, children.data[i]);
      int length = static_cast<int>(buffer.size());
      ::Stat stat;
      CHECK_EQ(zoo_get(zh, path.c_str(), 0, buffer.data(), &length, &stat), ZOK);
      bytes += length;
    }
    deallocate_String_vector(&children);
    total_seconds += absl::ToDoubleSeconds(absl::Now() - start);
  }
  zookeeper_close(zh);
  world->baseline_seconds = total_seconds / state.iterations();
  state.SetItemsProcessed(state.iterations() * world->nodes);
  state.SetBytesProcessed(bytes);
  state.counters["nodes"] = world->nodes;
}
BENCHMARK(BM_Baseline_SyncGetChildrenAndGets)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(2);

// Reference: the C client's asynchronous API with everything in flight at once (no bound, no
// executor hop), i.e. what the server and the C client can do; with watch:1 every read also
// leaves a data watch, as a subscription's do. Not a baseline.

struct RawBatch {
  absl::Mutex mu;
  int pending ABSL_GUARDED_BY(mu) = 0;
  int failures ABSL_GUARDED_BY(mu) = 0;
};

void RawDataCompletion(int rc, const char*, int, const ::Stat*, const void* data) {
  auto* batch = static_cast<RawBatch*>(const_cast<void*>(data));
  absl::MutexLock lock(&batch->mu);
  if (rc != ZOK) ++batch->failures;
  --batch->pending;
}

void BM_Reference_RawAsyncGets(benchmark::State& state) {
  const bool watch = state.range(0) != 0;
  zhandle_t* zh = ConnectRaw();
  String_vector children{0, nullptr};
  CHECK_EQ(zoo_get_children(zh, kParent, 0, &children), ZOK);
  std::vector<std::string> paths;
  for (int i = 0; i < children.count; ++i) paths.push_back(JoinPath(kParent, children.data[i]));
  deallocate_String_vector(&children);
  for (auto _ : state) {
    RawBatch batch;
    {
      absl::MutexLock lock(&batch.mu);
      batch.pending = static_cast<int>(paths.size());
    }
    for (const std::string& path : paths) {
      CHECK_EQ(zoo_awget(zh, path.c_str(), watch ? &WatcherIgnore : nullptr, nullptr,
                         &RawDataCompletion, &batch),
               ZOK);
    }
    absl::MutexLock lock(&batch.mu);
    batch.mu.Await(absl::Condition(
        +[](RawBatch* b) ABSL_NO_THREAD_SAFETY_ANALYSIS { return b->pending == 0; }, &batch));
    CHECK_EQ(batch.failures, 0);
  }
  zookeeper_close(zh);
  state.SetItemsProcessed(state.iterations() * world->nodes);
  state.counters["nodes"] = world->nodes;
}
BENCHMARK(BM_Reference_RawAsyncGets)
    ->ArgName("watch")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(5);

void ReportSpeedup(benchmark::State& state, double seconds) {
  state.SetItemsProcessed(state.iterations() * world->nodes);
  state.counters["nodes"] = world->nodes;
  if (world->baseline_seconds > 0) {
    state.counters["speedup"] = world->baseline_seconds / seconds;
  }
}

// ---------------------------------------------------------------------------------------
// ZooKeeperRegistry: a subscription's full read (list + pipelined data reads with watches).

void BM_Registry_SubscribeUntilSynced(benchmark::State& state) {
  double total_seconds = 0;
  for (auto _ : state) {
    const absl::Time start = absl::Now();
    absl::Notification synced;
    std::atomic<size_t> size{0};
    auto subscription = world->registry->Subscribe(kParent, {}, [&](const RegistryEvent& e) {
      if (e.type == EventType::kSynced && !synced.HasBeenNotified()) {
        size = e.snapshot->size();
        synced.Notify();
      }
    });
    CHECK(subscription.ok()) << subscription.status();
    synced.WaitForNotification();
    total_seconds += absl::ToDoubleSeconds(absl::Now() - start);
    CHECK_EQ(size.load(), static_cast<size_t>(world->nodes));
    subscription->reset();
  }
  world->subscribe_seconds = total_seconds / state.iterations();
  ReportSpeedup(state, world->subscribe_seconds);
}
BENCHMARK(BM_Registry_SubscribeUntilSynced)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(5);

// ZooKeeperRegistry: GetChildren, then every node with GetAsync (pipelined, bounded in flight).

void BM_Registry_GetChildrenAndGetAsync(benchmark::State& state) {
  double total_seconds = 0;
  for (auto _ : state) {
    const absl::Time start = absl::Now();
    absl::Status read = ReadAll(*world->registry);
    total_seconds += absl::ToDoubleSeconds(absl::Now() - start);
    CHECK(read.ok()) << read;
  }
  world->get_async_seconds = total_seconds / state.iterations();
  ReportSpeedup(state, world->get_async_seconds);
}
BENCHMARK(BM_Registry_GetChildrenAndGetAsync)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(5);

void PrintSummary() {
  auto ms = [](double seconds) { return absl::StrFormat("%.0f ms", seconds * 1000); };
  auto ratio = [](double baseline, double seconds) {
    return baseline > 0 && seconds > 0 ? absl::StrFormat("%.1fx", baseline / seconds)
                                       : std::string("n/a");
  };
  std::printf(
      "\nregistry_bench summary (%d znodes of ~%zu bytes, list + read all):\n"
      "  baseline, sync C client (sequential):   %s\n"
      "  Registry::Subscribe until kSynced:       %s  (%s faster than baseline)\n"
      "  Registry::GetChildren + N x GetAsync:    %s  (%s faster than baseline)\n",
      world->nodes, Heartbeat(0).size(), ms(world->baseline_seconds).c_str(),
      ms(world->subscribe_seconds).c_str(),
      ratio(world->baseline_seconds, world->subscribe_seconds).c_str(),
      ms(world->get_async_seconds).c_str(),
      ratio(world->baseline_seconds, world->get_async_seconds).c_str());
}

}  // namespace
}  // namespace roster::registry

int main(int argc, char** argv) {
  using namespace roster;  // NOLINT: main only
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = google::GLOG_WARNING;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  registry::World world;
  registry::world = &world;
  if (const char* nodes = std::getenv("ROSTER_BENCH_NODES"); nodes != nullptr) {
    CHECK(absl::SimpleAtoi(nodes, &world.nodes) && world.nodes > 0) << "ROSTER_BENCH_NODES";
  }
  // A server as in production: fully JIT-compiled once warm (the creates below warm it up).
  testing::ZooKeeperServerOptions server_options;
  server_options.fast_jvm_startup = std::getenv("ROSTER_BENCH_FAST_JVM") != nullptr;
  world.server = std::make_unique<testing::ZooKeeperServer>(server_options);
  absl::Status started = world.server->Start();
  CHECK(started.ok()) << started;
  registry::RegistryOptions options;
  options.name = "bench";
  absl::StatusOr<std::unique_ptr<registry::Registry>> created =
      registry::NewRegistry(absl::StrCat("zk://", world.server->ConnectString()), options);
  CHECK(created.ok()) << created.status();
  world.registry = *std::move(created);
  CHECK(world.registry->Start().ok());
  absl::Status connected = world.registry->WaitConnected(absl::Seconds(30));
  CHECK(connected.ok()) << connected;

  const absl::Time start = absl::Now();
  absl::Status populated = registry::Populate(*world.registry, world.nodes);
  CHECK(populated.ok()) << populated;
  std::printf("created %d znodes under %s with pipelined async creates in %s\n", world.nodes,
              registry::kParent, absl::FormatDuration(absl::Now() - start).c_str());

  // Warm the server's read path (the JIT compiles it), so that whichever benchmark runs first
  // is not measured against a cold server.
  const absl::Time warm_start = absl::Now();
  for (int round = 0; round < 3; ++round) {
    absl::Status warmed = registry::ReadAll(*world.registry);
    CHECK(warmed.ok()) << warmed;
  }
  std::printf("warmed up the server's read path in %s\n",
              absl::FormatDuration(absl::Now() - warm_start).c_str());

  benchmark::RunSpecifiedBenchmarks();
  registry::PrintSummary();
  benchmark::Shutdown();

  world.registry->Shutdown();
  world.registry.reset();
  world.server.reset();
  registry::world = nullptr;
  return 0;
}
