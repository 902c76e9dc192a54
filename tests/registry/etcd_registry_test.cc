// EtcdRegistry against a real etcd server (tests/testing/etcd_server.h): DolphinScheduler's
// etcd layout read unchanged, and what etcd does differently from ZooKeeper (asserted here,
// where the contract suite skips). The mapping is in docs/registries.md.

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/registry.h"
#include "registry/registry_factory.h"
#include "tests/registry/event_recorder.h"
#include "tests/testing/etcd_server.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"

namespace roster::testing {
namespace {

using registry::CreateMode;
using registry::CreateOptions;
using registry::EventType;
using registry::Registry;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

class EtcdRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK(server_.Start()); }

  void TearDown() override {
    for (auto& registry : registries_) registry->Shutdown();
  }

  // A started, connected registry on `prefix` ("" or "/dolphinscheduler").
  Registry* Connect(const std::string& prefix, const std::string& name = "etcd") {
    registry::RegistryOptions options;
    options.name = name;
    options.session_timeout = absl::Seconds(8);
    absl::StatusOr<std::unique_ptr<Registry>> created =
        registry::NewRegistry(absl::StrCat("etcd://", server_.Endpoint(), prefix), options);
    if (!created.ok()) {
      ADD_FAILURE() << created.status();
      return nullptr;
    }
    registries_.push_back(*std::move(created));
    Registry* r = registries_.back().get();
    EXPECT_OK(r->Start());
    EXPECT_OK(r->WaitConnected(kDefaultEventuallyTimeout));
    return r;
  }

  EtcdServer server_;
  std::vector<std::unique_ptr<Registry>> registries_;
};

// EtcdRegistry.java @ 3.2.2-release (and dev): jetcd's namespace "dolphinscheduler" is put in
// front of the registry path as bytes, every leaf is written alone (no parent keys), and
// `put(key, value, deleteOnDisconnect=true)` attaches a lease per key. Written here as raw
// keys, the way DolphinScheduler's server writes them.
TEST_F(EtcdRegistryTest, DolphinSchedulerKeysReadUnchanged) {
  ASSERT_OK_AND_ASSIGN(int64_t lease, server_.GrantLease(30));
  ASSERT_OK(server_.Put("dolphinscheduler/nodes/master/10.0.0.1:5678", "master-hb", lease));
  ASSERT_OK(server_.Put("dolphinscheduler/nodes/worker/10.0.0.2:1234", "worker-hb", lease));
  ASSERT_OK(server_.Put("dolphinscheduler/nodes/worker//not-a-path", "x"));
  ASSERT_OK(server_.Put("dolphinschedulerX/nodes/worker/10.0.0.9:1234", "another namespace"));
  Registry* r = Connect("/dolphinscheduler");
  ASSERT_NE(r, nullptr);

  ASSERT_OK_AND_ASSIGN(registry::Children nodes, r->GetChildren("/nodes"));
  EXPECT_THAT(nodes.names, ElementsAre("master", "worker"));
  ASSERT_OK_AND_ASSIGN(registry::Children workers, r->GetChildren("/nodes/worker"));
  EXPECT_THAT(workers.names, ElementsAre("10.0.0.2:1234"));
  ASSERT_OK_AND_ASSIGN(registry::Node worker, r->Get("/nodes/worker/10.0.0.2:1234"));
  EXPECT_EQ(worker.data, "worker-hb");
  EXPECT_EQ(worker.stat.ephemeral_owner, lease) << "a leased key is an ephemeral node";
  EXPECT_EQ(worker.stat.version, 0);
  // "/nodes/worker" has no key: an implicit directory.
  ASSERT_OK_AND_ASSIGN(registry::Node directory, r->Get("/nodes/worker"));
  EXPECT_EQ(directory.data, "");
  EXPECT_EQ(directory.stat.czxid, 0);
  EXPECT_EQ(directory.stat.num_children, 1);

  EventRecorder recorder;
  ASSERT_OK_AND_ASSIGN(auto subscription, r->Subscribe("/nodes/worker", {}, recorder.Listener()));
  ASSERT_EVENTUALLY(recorder.Synced() >= 1);
  EXPECT_EQ(recorder.SnapshotView(),
            (std::map<std::string, std::string>{{"/nodes/worker/10.0.0.2:1234", "worker-hb"}}));
  ASSERT_OK(server_.Put("dolphinscheduler/nodes/worker/10.0.0.3:1234", "second", lease));
  ASSERT_OK(server_.Put("dolphinscheduler/nodes/worker/10.0.0.2:1234", "worker-hb-2", lease));
  ASSERT_EVENTUALLY(recorder.HasEvent(EventType::kUpdated, "/nodes/worker/10.0.0.2:1234"));
  // The worker's process dies: its lease ends and takes its keys along.
  ASSERT_OK(server_.RevokeLease(lease));
  ASSERT_EVENTUALLY(recorder.View().empty());
  // Each node's events in the order of its changes. Two nodes' events may interleave otherwise
  // (a new key is listed, then read, like a new znode; CI saw the update of .2 come first).
  auto changes_of = [&](absl::string_view path) {
    std::vector<std::string> of_path;
    for (const std::string& change : recorder.Changes()) {
      if (absl::StrContains(change, absl::StrCat(" ", path, "="))) of_path.push_back(change);
    }
    return of_path;
  };
  EXPECT_THAT(recorder.Changes(), SizeIs(5));
  EXPECT_THAT(changes_of("/nodes/worker/10.0.0.2:1234"),
              ElementsAre("ADDED /nodes/worker/10.0.0.2:1234=worker-hb",
                          "UPDATED /nodes/worker/10.0.0.2:1234=worker-hb-2",
                          "REMOVED /nodes/worker/10.0.0.2:1234=worker-hb-2"));
  EXPECT_THAT(changes_of("/nodes/worker/10.0.0.3:1234"),
              ElementsAre("ADDED /nodes/worker/10.0.0.3:1234=second",
                          "REMOVED /nodes/worker/10.0.0.3:1234=second"));
  EXPECT_THAT(recorder.Violations(), ::testing::IsEmpty());
  // Every key below "/nodes" had that lease: the implicit directories went with the keys.
  EXPECT_THAT(r->GetChildren("/nodes"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("/nodes")));
}

// Nodes roster writes are keys DolphinScheduler's client reads the same way.
TEST_F(EtcdRegistryTest, NodesAreKeysUnderThePrefix) {
  Registry* r = Connect("/dolphinscheduler");
  ASSERT_NE(r, nullptr);
  CreateOptions parents;
  parents.create_parents = true;
  ASSERT_OK(r->Create("/nodes/worker/10.0.0.5:1234", "w", parents));
  // Seen by a second registry without the prefix, at the key's full name.
  Registry* raw = Connect("", "raw");
  ASSERT_NE(raw, nullptr);
  ASSERT_OK_AND_ASSIGN(registry::Children top, raw->GetChildren("/"));
  EXPECT_THAT(top.names, ElementsAre()) << "keys without a leading '/' are no nodes of ''";
  ASSERT_OK_AND_ASSIGN(int64_t revision,
                       server_.Delete("dolphinscheduler/nodes/worker/10.0.0.5:1234"));
  EXPECT_GT(revision, 0);
  EXPECT_THAT(r->Exists("/nodes/worker/10.0.0.5:1234"),
              IsOkAndHolds(std::optional<registry::Stat>()));
}

TEST_F(EtcdRegistryTest, WhatEtcdDoesNotHave) {
  // Digest credentials: etcd has no per-node ACLs.
  registry::RegistryOptions digest;
  digest.digest = "user:secret";
  EXPECT_THAT(registry::NewRegistry(absl::StrCat("etcd://", server_.Endpoint()), digest),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no per-node ACLs")));
  Registry* r = Connect("");
  ASSERT_NE(r, nullptr);
  CreateOptions creator_only;
  creator_only.acl = registry::Acl::CreatorAll();
  EXPECT_THAT(r->Create("/secret", "", creator_only),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("/secret")));
  CreateOptions open;
  open.acl = registry::Acl::Open();
  EXPECT_OK(r->Create("/open", "", open));

  // No node times.
  ASSERT_OK_AND_ASSIGN(registry::Node node, r->Get("/open"));
  EXPECT_EQ(node.stat.ctime_ms, 0);
  EXPECT_EQ(node.stat.mtime_ms, 0);

  // An implicit directory (keys below it, none of its own) reads, but cannot be set until it
  // is created.
  ASSERT_OK(server_.Put("/implicit/child", "c"));
  ASSERT_OK(r->Get("/implicit"));
  EXPECT_THAT(r->Set("/implicit", "x"), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK(r->Create("/implicit", "now a key"));
  EXPECT_THAT(r->Get("/implicit"),
              IsOkAndHolds(::testing::Field(&registry::Node::data, "now a key")));

  // The cversion counters of sequential names are no nodes.
  ASSERT_OK(r->Create("/q", ""));
  CreateOptions sequential;
  sequential.mode = CreateMode::kPersistentSequential;
  ASSERT_OK(r->Create("/q/n-", "", sequential));
  ASSERT_OK_AND_ASSIGN(registry::Children root, r->GetChildren("/"));
  EXPECT_THAT(root.names, ElementsAre("implicit", "open", "q"));
}

}  // namespace
}  // namespace roster::testing
