// The etcd:// environment of the registry contract suite: a real etcd server per test
// (Debian's etcd-server, one member on free loopback ports), stopped and deleted afterwards.
//
// A session is an etcd lease. It is expired the way etcd ends a lease whose TTL passed: the
// lease is revoked on the server (its keys go with it), and the registry learns it from the
// next keep-alive answer (TTL 0).

#include <memory>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/registry/registry_test_env.h"
#include "tests/testing/etcd_server.h"
#include "tests/testing/eventually.h"

namespace roster::testing {
namespace {

class EtcdTestEnv final : public RegistryTestEnv {
 public:
  std::string Name() const override { return "etcd"; }

  void SetUp() override {
    server_ = std::make_unique<EtcdServer>();
    absl::Status started = server_->Start();
    ASSERT_TRUE(started.ok()) << started;
  }

  void TearDown() override { server_.reset(); }

  std::string Uri() const override { return absl::StrCat("etcd://", server_->Endpoint()); }

  void ExpireSession(registry::Registry* registry) override {
    const registry::SessionInfo before = registry->session();
    ASSERT_NE(before.session_id, 0) << "the registry holds no lease";
    absl::Status revoked = server_->RevokeLease(before.session_id);
    ASSERT_TRUE(revoked.ok()) << revoked;
    // The registry learns it with its next keep-alive (a third of the TTL at most).
    ASSERT_EVENTUALLY(registry->session().session > before.session ||
                      registry->session().state == registry::SessionState::kExpired);
  }

  void StopServer() override {
    absl::Status stopped = server_->Stop();
    EXPECT_TRUE(stopped.ok()) << stopped;
  }

  void StartServer() override {
    absl::Status started = server_->Start();
    EXPECT_TRUE(started.ok()) << started;
  }

  bool HasNodeTimes() const override { return false; }

 private:
  std::unique_ptr<EtcdServer> server_;
};

}  // namespace

std::unique_ptr<RegistryTestEnv> NewEtcdTestEnv() { return std::make_unique<EtcdTestEnv>(); }

}  // namespace roster::testing
