// The fixture of the tests on real ZooKeeper servers: servers started on free loopback ports,
// and registries (sessions) on them that are shut down first, while their servers still run.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "registry/registry.h"
#include "registry/registry_factory.h"
#include "tests/testing/eventually.h"
#include "tests/testing/zookeeper_server.h"

namespace roster::testing {

class ZooKeeperSessionsTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (auto& registry : registries_) registry->Shutdown();
    registries_.clear();
    server_.reset();
    ensemble_.reset();
  }

  ZooKeeperServer& StartServer(ZooKeeperServerOptions options = {}) {
    server_ = std::make_unique<ZooKeeperServer>(std::move(options));
    absl::Status started = server_->Start();
    EXPECT_TRUE(started.ok()) << started;
    return *server_;
  }

  // A started registry on `connect` ("h:p[,h:p][/chroot]"). With `wait`, connected too.
  registry::Registry* Open(const std::string& connect, registry::RegistryOptions options,
                           bool wait = true) {
    absl::StatusOr<std::unique_ptr<registry::Registry>> created =
        registry::NewRegistry(absl::StrCat("zk://", connect), std::move(options));
    EXPECT_TRUE(created.ok()) << created.status();
    if (!created.ok()) return nullptr;
    registry::Registry* registry = created->get();
    registries_.push_back(*std::move(created));
    absl::Status status = registry->Start();
    if (status.ok() && wait) status = registry->WaitConnected(kDefaultEventuallyTimeout);
    EXPECT_TRUE(status.ok()) << status;
    return status.ok() ? registry : nullptr;
  }

  static registry::RegistryOptions Options(const std::string& name,
                                           absl::Duration session_timeout = absl::Seconds(8)) {
    registry::RegistryOptions options;
    options.name = name;
    options.session_timeout = session_timeout;
    return options;
  }

  std::unique_ptr<ZooKeeperServer> server_;
  std::unique_ptr<ZooKeeperEnsemble> ensemble_;
  std::vector<std::unique_ptr<registry::Registry>> registries_;
};

}  // namespace roster::testing
