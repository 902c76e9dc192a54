// A subscription with more watched paths than ZooKeeper's C client can re-register: 20,000
// DolphinScheduler-style worker znodes on a real ZooKeeper, a dropped connection, and a
// reconnect that must leave the registry connected, in the same session, and exactly as the
// server is (a node changed, one deleted and one created during the outage; nothing lost or
// ghosted; watches live again).
//
// The C client 3.8.0 re-registers every watch of its session in one SetWatches request on
// reconnect (send_set_watches in zookeeper.c); past jute.maxbuffer (1 MiB - 1 by default) the
// server drops the connection (NIOServerCnxn.readLength), and the client retries the same
// request for ever. The registry stays below that by dropping its watches locally on a
// disconnect (RegistryOptions::max_reconnect_watches, docs/architecture.md).
//
// The outage is a TcpProxy between the registry and the server that resets every connection
// and refuses new ones, so the writer (its own session, straight to the server) changes the
// tree while the registry is cut off; the second outage restarts the server in the middle.
// The registry's session survives both. Label `fault`.

#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "registry/registry.h"
#include "registry/registry_options.h"
#include "tests/registry/event_recorder.h"
#include "tests/registry/zookeeper_sessions_fixture.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/tcp_proxy.h"
#include "tests/testing/zookeeper_server.h"

namespace roster::testing {
namespace {

using registry::EventType;
using registry::Registry;
using registry::RegistryOptions;
using registry::SessionEventType;
using registry::SessionState;

// The registry's chroot and the subscribed parent: server paths as long as a deployment with a
// chroot has (~70 bytes a worker), so 20,000 watches are well past the limit.
constexpr char kChroot[] = "/roster-bigwatch-test";
constexpr char kParent[] = "/dolphinscheduler/nodes/worker";
constexpr int kNodes = 20000;
// jute.maxbuffer's default: the largest request body the server reads.
constexpr size_t kJuteMaxBuffer = 0xfffff;

std::string WorkerName(int i) {
  return absl::StrFormat("10.%03d.%03d.%03d:1234", i / 62500, (i / 250) % 250, i % 250);
}

std::string Heartbeat(int i) {
  return absl::StrCat(R"({"cpuUsage":0.1,"memoryUsage":0.2,"loadAverage":0.3,"serverStatus":0,)",
                      R"("processId":)", 1000 + i, R"(,"workerHostWeight":100})");
}

// What the server holds at one node, read directly.
struct Direct {
  std::string data;
  int64_t mzxid = 0;
  bool operator==(const Direct& other) const { return data == other.data && mzxid == other.mzxid; }
};

void IgnoreWatch(zhandle_t*, int, int, const char*, void*) {}

// The writer and the oracle: a raw C-client session straight to the server (not through the
// proxy), which owns the worker ephemerals as DolphinScheduler's workers do theirs.
class RawZooKeeper {
 public:
  ~RawZooKeeper() {
    if (zh_ != nullptr) zookeeper_close(zh_);
  }

  absl::Status Connect(const std::string& connect_string) {
    zh_ = zookeeper_init(connect_string.c_str(), &IgnoreWatch, 30000, nullptr, nullptr, 0);
    if (zh_ == nullptr) return absl::InternalError("zookeeper_init failed");
    zoo_set_servers_resolution_delay(zh_, 30000);
    return WaitConnected();
  }

  // Until the handle is connected (again, after a server restart).
  absl::Status WaitConnected() {
    if (!WaitFor([this] { return zoo_state(zh_) == ZOO_CONNECTED_STATE; },
                 kDefaultEventuallyTimeout)) {
      return absl::UnavailableError("the raw ZooKeeper handle never connected");
    }
    return absl::OkStatus();
  }

  absl::Status CreatePersistent(const std::string& path) {
    const int rc = zoo_create(zh_, path.c_str(), "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
    return Check(rc, "create", path);
  }

  // Ephemeral `paths[i]` with `data[i]`, in multi requests of `batch` creates each (one
  // transaction and one round trip per batch instead of one per node).
  absl::Status CreateEphemerals(const std::vector<std::string>& paths,
                                const std::vector<std::string>& data, size_t batch = 1000) {
    for (size_t first = 0; first < paths.size(); first += batch) {
      const size_t count = std::min(batch, paths.size() - first);
      std::vector<zoo_op_t> ops(count);
      std::vector<zoo_op_result_t> results(count);
      for (size_t i = 0; i < count; ++i) {
        zoo_create_op_init(&ops[i], paths[first + i].c_str(), data[first + i].data(),
                           static_cast<int>(data[first + i].size()), &ZOO_OPEN_ACL_UNSAFE,
                           ZOO_EPHEMERAL, nullptr, 0);
      }
      const int rc = zoo_multi(zh_, static_cast<int>(count), ops.data(), results.data());
      if (absl::Status status = Check(rc, "multi create", paths[first]); !status.ok()) {
        return status;
      }
    }
    return absl::OkStatus();
  }

  absl::Status CreateEphemeral(const std::string& path, const std::string& data) {
    return Check(zoo_create(zh_, path.c_str(), data.data(), static_cast<int>(data.size()),
                            &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, nullptr, 0),
                 "create", path);
  }

  absl::Status Set(const std::string& path, const std::string& data) {
    return Check(zoo_set(zh_, path.c_str(), data.data(), static_cast<int>(data.size()), -1), "set",
                 path);
  }

  absl::Status Delete(const std::string& path) {
    return Check(zoo_delete(zh_, path.c_str(), -1), "delete", path);
  }

  // Every child of `parent` with its data and mzxid, read now (all reads in flight at once).
  absl::StatusOr<std::map<std::string, Direct>> ReadAll(const std::string& parent) {
    String_vector children{0, nullptr};
    int rc = zoo_get_children(zh_, parent.c_str(), 0, &children);
    if (rc != ZOK) return Check(rc, "get children", parent);
    std::vector<std::string> names(children.data, children.data + children.count);
    deallocate_String_vector(&children);
    Reads reads;
    {
      absl::MutexLock lock(&reads.mu);
      reads.pending = static_cast<int>(names.size());
    }
    std::vector<std::unique_ptr<Read>> slots;
    for (const std::string& name : names) {
      slots.push_back(std::make_unique<Read>(Read{&reads, name}));
      rc = zoo_aget(zh_, absl::StrCat(parent, "/", name).c_str(), 0, &OnRead, slots.back().get());
      if (rc != ZOK) {  // no completion follows: count it here (the others still arrive)
        absl::MutexLock lock(&reads.mu);
        --reads.pending;
        ++reads.failed;
      }
    }
    absl::MutexLock lock(&reads.mu);
    reads.mu.Await(absl::Condition(
        +[](Reads* r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(r->mu) { return r->pending == 0; }, &reads));
    if (reads.failed != 0) return absl::InternalError(absl::StrCat(reads.failed, " reads failed"));
    return std::move(reads.nodes);
  }

 private:
  struct Reads {
    absl::Mutex mu;
    int pending ABSL_GUARDED_BY(mu) = 0;
    int failed ABSL_GUARDED_BY(mu) = 0;
    std::map<std::string, Direct> nodes ABSL_GUARDED_BY(mu);
  };
  struct Read {
    Reads* reads;
    std::string name;
  };

  static void OnRead(int rc, const char* value, int length, const ::Stat* stat, const void* data) {
    const auto* read = static_cast<const Read*>(data);
    absl::MutexLock lock(&read->reads->mu);
    --read->reads->pending;
    if (rc != ZOK) {
      ++read->reads->failed;
      return;
    }
    read->reads->nodes[read->name] =
        Direct{std::string(value, length > 0 ? length : 0), stat->mzxid};
  }

  static absl::Status Check(int rc, const char* what, const std::string& path) {
    if (rc == ZOK) return absl::OkStatus();
    return absl::InternalError(absl::StrCat(what, " '", path, "': ", zerror(rc)));
  }

  zhandle_t* zh_ = nullptr;
};

// What the C client would send on reconnect for these watches (SetWatches in zookeeper.jute:
// the request header, relativeZxid, three vectors of length-prefixed strings), computed here
// from the paths the registry watches: a data watch per worker, a child watch on the parent.
size_t SetWatchesBytes(const std::vector<std::string>& server_paths, const std::string& parent) {
  size_t bytes = 4 + 4 + 8 + 3 * 4;  // xid, type, relativeZxid, the vectors' counts
  for (const std::string& path : server_paths) bytes += 4 + path.size();
  return bytes + 4 + parent.size();
}

class ZooKeeperManyWatchesTest : public ZooKeeperSessionsTest {
 protected:
  void TearDown() override {
    ZooKeeperSessionsTest::TearDown();  // the registries first, while the proxy still runs
    if (proxy_ != nullptr) proxy_->Shutdown();
  }

  // The server, and the proxy every registry under test reaches it through.
  ZooKeeperServer& StartServerBehindProxy() {
    ZooKeeperServer& server = StartServer();
    TcpProxyOptions proxy_options;
    proxy_options.upstream_port = server.port();
    proxy_options.name = "zk-client";
    proxy_ = std::make_unique<TcpProxy>(proxy_options);
    EXPECT_OK(proxy_->Start());
    return server;
  }

  std::unique_ptr<TcpProxy> proxy_;
};

std::string Full(const std::string& name) { return absl::StrCat(kChroot, kParent, "/", name); }

// Compares the registry's view (from its events) with a direct read of the server.
void ExpectViewMatchesServer(const EventRecorder& events,
                             const std::map<std::string, Direct>& direct) {
  std::map<std::string, Direct> view;
  for (const auto& [path, event] : events.ViewEvents()) {
    view[path.substr(std::string(kParent).size() + 1)] = Direct{event.data, event.stat.mzxid};
  }
  EXPECT_EQ(view.size(), direct.size());
  int lost = 0, ghosts = 0, stale = 0;
  for (const auto& [name, node] : direct) {
    auto it = view.find(name);
    if (it == view.end()) {
      if (++lost <= 5) ADD_FAILURE() << "lost: " << name;
    } else if (!(it->second == node)) {
      if (++stale <= 5) ADD_FAILURE() << "stale: " << name << " has '" << it->second.data << "'";
    }
  }
  for (const auto& [name, node] : view) {
    if (direct.count(name) == 0 && ++ghosts <= 5) ADD_FAILURE() << "ghost: " << name;
  }
  EXPECT_EQ(lost, 0);
  EXPECT_EQ(stale, 0);
  EXPECT_EQ(ghosts, 0);
}

TEST_F(ZooKeeperManyWatchesTest, TwentyThousandWatchedNodesSurviveADroppedConnectionAndARestart) {
  const absl::Time t0 = absl::Now();
  ZooKeeperServer& server = StartServerBehindProxy();
  ASSERT_TRUE(server.running());

  RawZooKeeper writer;
  ASSERT_OK(writer.Connect(server.ConnectString()));
  std::string prefix;
  for (const std::string& part : {std::string(kChroot), std::string("/dolphinscheduler"),
                                  std::string("/nodes"), std::string("/worker")}) {
    prefix += part;
    ASSERT_OK(writer.CreatePersistent(prefix));
  }
  std::vector<std::string> paths, data;
  for (int i = 0; i < kNodes; ++i) {
    paths.push_back(Full(WorkerName(i)));
    data.push_back(Heartbeat(i));
  }
  ASSERT_OK(writer.CreateEphemerals(paths, data));
  const size_t set_watches = SetWatchesBytes(paths, absl::StrCat(kChroot, kParent));
  ASSERT_GT(set_watches, kJuteMaxBuffer) << "the test must cross ZooKeeper's request limit";
  const absl::Time t_loaded = absl::Now();

  RegistryOptions options = Options("bigwatch", absl::Seconds(20));
  Registry* r = Open(absl::StrCat("127.0.0.1:", proxy_->port(), kChroot), options);
  ASSERT_NE(r, nullptr);
  SessionRecorder sessions;
  auto session_handle = r->WatchSession(sessions.Listener());
  EventRecorder events;
  registry::SubscribeOptions subscribe;
  subscribe.max_depth = 1;
  ASSERT_OK_AND_ASSIGN(auto subscription, r->Subscribe(kParent, subscribe, events.Listener()));
  ASSERT_EVENTUALLY_WITHIN(absl::Seconds(60), events.Synced() >= 1);
  ASSERT_EQ(events.View().size(), static_cast<size_t>(kNodes));
  const absl::Time t_synced = absl::Now();
  const registry::SessionInfo before = r->session();
  const std::string parent = kParent;
  size_t expected_nodes = kNodes;  // what the writer leaves, counted here

  // Two outages: the registry's connection reset (new ones refused) while the server runs,
  // then the same with a server restart in the middle. In each, the writer changes one node,
  // deletes another and adds a third while the registry is cut off.
  for (const bool restart : {false, true}) {
    SCOPED_TRACE(restart ? "outage with a server restart" : "connection dropped");
    const int synced_before = events.Synced();
    const std::string round = restart ? "2" : "1";
    const std::string changed = WorkerName(restart ? 18 : 17);
    const std::string deleted = WorkerName(restart ? 4343 : 4242);
    const std::string added = absl::StrCat("10.255.0.", round, ":1234");
    proxy_->SetReset(true);
    ASSERT_EVENTUALLY(r->session().state == SessionState::kSuspended);
    if (restart) {
      ASSERT_OK(server.Restart());
      ASSERT_OK(writer.WaitConnected());
    }
    ASSERT_OK(writer.Set(Full(changed), "changed during outage " + round));
    ASSERT_OK(writer.Delete(Full(deleted)));
    ASSERT_OK(writer.CreateEphemeral(Full(added), "added during outage " + round));
    const absl::Time t_healed = absl::Now();
    proxy_->SetReset(false);

    // Reconnected within the session timeout, in the same session, and re-read.
    ASSERT_EVENTUALLY_WITHIN(absl::Seconds(30), events.Synced() > synced_before &&
                                                    r->session().state == SessionState::kConnected)
        << "the registry never re-synced after the reconnect; session events: "
        << sessions.Types().size() << ", proxy connections accepted: " << proxy_->accepted();
    const absl::Time t_resynced = absl::Now();
    EXPECT_EQ(r->session().session, before.session);
    EXPECT_EQ(r->session().session_id, before.session_id);
    EXPECT_FALSE(sessions.Saw(SessionEventType::kExpired));
    EXPECT_FALSE(sessions.Saw(SessionEventType::kLost));
    EXPECT_TRUE(sessions.Saw(SessionEventType::kReconnected));

    const std::map<std::string, std::string> view = events.View();
    EXPECT_EQ(view.count(parent + "/" + deleted), 0u) << "a node deleted in the outage is ghosted";
    ASSERT_EQ(view.count(parent + "/" + changed), 1u);
    EXPECT_EQ(view.at(parent + "/" + changed), "changed during outage " + round);
    ASSERT_EQ(view.count(parent + "/" + added), 1u);
    EXPECT_EQ(view.at(parent + "/" + added), "added during outage " + round);
    ASSERT_OK_AND_ASSIGN(auto direct, writer.ReadAll(absl::StrCat(kChroot, kParent)));
    EXPECT_EQ(direct.size(), expected_nodes);  // one deleted, one added
    ExpectViewMatchesServer(events, direct);

    // The watches are armed again: changes after the reconnect arrive as they happen.
    const std::string later = WorkerName(kNodes - (restart ? 2 : 1));
    const std::string gone = WorkerName(restart ? 1 : 0);
    ASSERT_OK(writer.Set(Full(later), "changed after reconnect " + round));
    ASSERT_OK(writer.Delete(Full(gone)));
    --expected_nodes;
    ASSERT_EVENTUALLY(events.View().count(parent + "/" + later) == 1 &&
                      events.View().at(parent + "/" + later) ==
                          "changed after reconnect " + round &&
                      events.View().count(parent + "/" + gone) == 0);
    EXPECT_TRUE(events.HasEvent(EventType::kRemoved, parent + "/" + gone));
    std::printf("20k watches, %s: healed to re-synced %.2f s\n",
                restart ? "server restarted" : "connection dropped",
                absl::ToDoubleSeconds(t_resynced - t_healed));
  }
  EXPECT_TRUE(events.Violations().empty()) << events.Violations().front();
  std::printf(
      "20k watches: SetWatches avoided ~%zu bytes (%.1f bytes a path, limit %zu); server up and "
      "loaded %.2f s, first sync %.2f s\n",
      set_watches, static_cast<double>(set_watches) / (kNodes + 1), kJuteMaxBuffer,
      absl::ToDoubleSeconds(t_loaded - t0), absl::ToDoubleSeconds(t_synced - t_loaded));
}

// The same recovery on a small tree with max_reconnect_watches = 0 (every disconnect drops
// every watch), for each kind of watch a subscription holds: data watches on nodes, child
// watches on listed parents (depth 2), and the exists watch on a root that does not exist yet.
// Changes in the outage are found by the re-read; changes after it, by the re-armed watches.
TEST_F(ZooKeeperManyWatchesTest, EveryKindOfWatchIsArmedAgainAfterADrop) {
  ZooKeeperServer& server = StartServerBehindProxy();
  RawZooKeeper writer;
  ASSERT_OK(writer.Connect(server.ConnectString()));
  for (const char* path : {"/tree", "/tree/a", "/tree/b", "/tree/c"}) {
    ASSERT_OK(writer.CreatePersistent(path));
  }

  RegistryOptions options = Options("dropall", absl::Seconds(10));
  options.max_reconnect_watches = 0;
  Registry* r = Open(absl::StrCat("127.0.0.1:", proxy_->port()), options);
  ASSERT_NE(r, nullptr);
  EventRecorder tree, later;
  registry::SubscribeOptions depth2;
  depth2.max_depth = 2;
  registry::SubscribeOptions root_only;
  root_only.max_depth = 0;
  root_only.include_root = true;
  ASSERT_OK_AND_ASSIGN(auto tree_subscription, r->Subscribe("/tree", depth2, tree.Listener()));
  ASSERT_OK_AND_ASSIGN(auto later_subscription,
                       r->Subscribe("/later", root_only, later.Listener()));
  ASSERT_EVENTUALLY(tree.Synced() >= 1 && later.Synced() >= 1);
  ASSERT_EQ(tree.View().size(), 3u);
  ASSERT_TRUE(later.View().empty());
  const registry::SessionInfo before = r->session();
  const int tree_synced = tree.Synced(), later_synced = later.Synced();

  proxy_->SetReset(true);
  ASSERT_EVENTUALLY(r->session().state == SessionState::kSuspended);
  ASSERT_OK(writer.CreateEphemeral("/tree/a/x", "x"));  // a child of a listed node
  ASSERT_OK(writer.Delete("/tree/b"));
  ASSERT_OK(writer.Set("/tree/c", "c1"));
  proxy_->SetReset(false);
  ASSERT_EVENTUALLY(tree.Synced() > tree_synced && later.Synced() > later_synced &&
                    r->session().state == SessionState::kConnected);
  EXPECT_EQ(r->session().session_id, before.session_id);
  EXPECT_EQ(tree.View(), (std::map<std::string, std::string>{
                             {"/tree/a", ""}, {"/tree/a/x", "x"}, {"/tree/c", "c1"}}));

  // Each kind of watch fires again: a child watch (/tree/a), a data watch (/tree/c), the child
  // watch on the root (/tree), and the exists watch on a missing root (/later).
  ASSERT_OK(writer.CreateEphemeral("/tree/a/y", "y"));
  ASSERT_OK(writer.Set("/tree/c", "c2"));
  ASSERT_OK(writer.CreatePersistent("/tree/d"));
  ASSERT_OK(writer.CreateEphemeral("/later", "here"));
  ASSERT_EVENTUALLY(tree.View() == (std::map<std::string, std::string>{{"/tree/a", ""},
                                                                       {"/tree/a/x", "x"},
                                                                       {"/tree/a/y", "y"},
                                                                       {"/tree/c", "c2"},
                                                                       {"/tree/d", ""}}) &&
                    later.View() == (std::map<std::string, std::string>{{"/later", "here"}}));
  // Found by watches, not by another full re-read.
  EXPECT_EQ(tree.Synced(), tree_synced + 1);
  EXPECT_EQ(later.Synced(), later_synced + 1);
  EXPECT_TRUE(tree.Violations().empty()) << tree.Violations().front();
  EXPECT_TRUE(later.Violations().empty()) << later.Violations().front();
}

}  // namespace
}  // namespace roster::testing
