// The zk:// environment of the registry contract suite: a real ZooKeeper server per test
// (Debian's package, a java process on a free loopback port), stopped and deleted afterwards.
//
// Sessions are expired the way ZooKeeper lets a client do it: a second handle opened with the
// registry's session id and password takes the session over, and closing it ends the session
// on the server. The registry sees its connection drop (kSuspended, maybe kReconnected when it
// wins the session back for a moment) and, on reconnecting, EXPIRED.

#include <zookeeper/zookeeper.h>

#include <cstring>
#include <memory>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "registry/zookeeper/zookeeper_registry.h"
#include "tests/registry/registry_test_env.h"
#include "tests/testing/eventually.h"
#include "tests/testing/zookeeper_server.h"

namespace roster::testing {
namespace {

// What a raw C-client handle has been told, written by its watcher.
struct HandleState {
  absl::Mutex mu;
  bool connected ABSL_GUARDED_BY(mu) = false;
  bool expired ABSL_GUARDED_BY(mu) = false;
};

void RecordState(zhandle_t* /*zh*/, int type, int state, const char* /*path*/, void* context) {
  if (type != ZOO_SESSION_EVENT) return;
  auto* handle_state = static_cast<HandleState*>(context);
  absl::MutexLock lock(&handle_state->mu);
  if (state == ZOO_CONNECTED_STATE) handle_state->connected = true;
  if (state == ZOO_EXPIRED_SESSION_STATE) handle_state->expired = true;
}

// Ends session `credentials` on the server. A handle opened on the session takes it over;
// closing that handle while it is connected closes the session. The registry may take its
// session back in between (it reconnects at once when the server drops its connection), so
// repeat until a handle on the session is told it has expired.
absl::Status KillSession(const std::string& connect_string,
                         const registry::ZooKeeperSessionCredentials& credentials,
                         absl::Duration timeout) {
  if (credentials.password.size() != sizeof(clientid_t::passwd)) {
    return absl::InternalError("session password is not 16 bytes");
  }
  clientid_t id;
  id.client_id = credentials.session_id;
  std::memcpy(id.passwd, credentials.password.data(), sizeof(id.passwd));
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    HandleState handle_state;
    // A short timeout makes this handle retry quickly when the registry takes the session back.
    zhandle_t* zh = zookeeper_init(connect_string.c_str(), &RecordState, /*recv_timeout=*/2000, &id,
                                   &handle_state, 0);
    if (zh == nullptr) return absl::InternalError("zookeeper_init failed");
    bool expired = false;
    {
      absl::MutexLock lock(&handle_state.mu);
      auto settled = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(handle_state.mu) {
        return handle_state.connected || handle_state.expired;
      };
      handle_state.mu.AwaitWithDeadline(absl::Condition(&settled), deadline);
      expired = handle_state.expired;
    }
    // Still connected: closing sends closeSession for the shared session.
    zookeeper_close(zh);
    if (expired) return absl::OkStatus();
  }
  return absl::DeadlineExceededError(absl::StrCat("session 0x", absl::Hex(credentials.session_id),
                                                  " still alive after ",
                                                  absl::FormatDuration(timeout)));
}

class ZooKeeperTestEnv final : public RegistryTestEnv {
 public:
  std::string Name() const override { return "zookeeper"; }

  void SetUp() override {
    server_ = std::make_unique<ZooKeeperServer>();
    absl::Status started = server_->Start();
    ASSERT_TRUE(started.ok()) << started;
  }

  void TearDown() override { server_.reset(); }

  std::string Uri() const override { return absl::StrCat("zk://", server_->ConnectString()); }

  void ExpireSession(registry::Registry* registry) override {
    const std::optional<registry::ZooKeeperSessionCredentials> credentials =
        registry::GetZooKeeperSessionCredentials(*registry);
    ASSERT_TRUE(credentials.has_value()) << "not a connected ZooKeeperRegistry";
    const uint64_t before = registry->session().session;
    absl::Status killed =
        KillSession(server_->ConnectString(), *credentials, kDefaultEventuallyTimeout);
    ASSERT_TRUE(killed.ok()) << killed;
    // The registry learns it when it next reconnects, a moment later.
    ASSERT_EVENTUALLY(registry->session().session > before ||
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

 private:
  std::unique_ptr<ZooKeeperServer> server_;
};

}  // namespace

std::unique_ptr<RegistryTestEnv> NewZooKeeperTestEnv() {
  return std::make_unique<ZooKeeperTestEnv>();
}

}  // namespace roster::testing
