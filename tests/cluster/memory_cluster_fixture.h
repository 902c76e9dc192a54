// The fixture of the ClusterManager tests on the in-memory registry: a store standing for the
// ZooKeeper ensemble, rosterd's own session on it, and one session per DolphinScheduler process,
// each holding that process's ephemeral znode. Clocks are injected: `clock_` is rosterd's,
// `zk_clock_` the registry server's (it stamps every znode's mtime); tests move them apart.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "registry/memory/memory_registry.h"
#include "tests/testing/status_matchers.h"
#include "util/clock.h"

namespace roster::cluster {

class MemoryClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = NewSession("rosterd");
    for (const char* path : {"/nodes/master", "/nodes/worker", "/nodes/alert-server"}) {
      registry::CreateOptions options;
      options.create_parents = true;
      ASSERT_OK(registry_->Create(path, "", options));
    }
  }

  // Derived fixtures stop their ClusterManagers in StopManagers(): they hold rosterd's session.
  void TearDown() override {
    StopManagers();
    nodes_.clear();
    registry_->Shutdown();
  }
  virtual void StopManagers() {}

  // A client session on the shared store, as a scheduler process or a rosterd replica has.
  std::unique_ptr<registry::MemoryRegistry> NewSession(absl::string_view name) {
    registry::RegistryOptions options;
    options.name = std::string(name);
    options.clock = &clock_;
    options.session_timeout = absl::Seconds(30);
    auto session = std::make_unique<registry::MemoryRegistry>(store_, "", options);
    EXPECT_OK(session->Start());
    EXPECT_OK(session->WaitConnected(absl::Seconds(10)));
    return session;
  }

  // Registers a node the way a DolphinScheduler process does: the ephemeral znode
  // `dir`/`address`, in a session of its own (kept in nodes_ under `address`), holding
  // `payload`.
  registry::MemoryRegistry* Register(absl::string_view dir, absl::string_view address,
                                     const std::string& payload) {
    auto session = NewSession(address);
    registry::CreateOptions options;
    options.mode = registry::CreateMode::kEphemeral;
    options.create_parents = true;
    EXPECT_OK(session->Create(absl::StrCat(dir, "/", address), payload, options));
    registry::MemoryRegistry* raw = session.get();
    nodes_[std::string(address)] = std::move(session);
    return raw;
  }

  FakeClock clock_;     // rosterd's
  FakeClock zk_clock_;  // the registry server's
  std::shared_ptr<registry::MemoryStore> store_ =
      std::make_shared<registry::MemoryStore>(&zk_clock_);
  std::unique_ptr<registry::MemoryRegistry> registry_;
  std::map<std::string, std::unique_ptr<registry::MemoryRegistry>> nodes_;
};

}  // namespace roster::cluster
