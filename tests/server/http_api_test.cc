// rosterd's HTTP API besides /metrics and /healthz, on a whole in-process daemon over a memory
// registry: /readyz before and after the first full read, /api/view, /api/groups and /api/node
// (parsed back into the gRPC API's messages), the /api/events stream (a snapshot, then each change,
// then status messages), and the page at / (self-contained). The browser test is
// tests/e2e/status_page_test.cc.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "registry/memory/memory_registry.h"
#include "server/status_page.h"
#include "tests/server/server_test_env.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"

namespace roster::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

template <typename Message>
Message Parse(const std::string& json) {
  Message message;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &message);
  EXPECT_TRUE(status.ok()) << status.ToString() << " in " << json.substr(0, 300);
  return message;
}

// An /api/events reader over a raw socket: each call of Next() returns the next event.
class EventReader {
 public:
  explicit EventReader(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const timeval timeout{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
      const std::string request = "GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n";
      send(fd_, request.data(), request.size(), MSG_NOSIGNAL);
    }
  }
  ~EventReader() { close(fd_); }

  // {name, data} of the next event; {"", ""} when the stream ends or stalls for 10 s.
  std::pair<std::string, std::string> Next() {
    while (true) {
      const size_t end = buffer_.find("\n\n");
      if (end != std::string::npos) {
        const std::string block = buffer_.substr(0, end);
        buffer_.erase(0, end + 2);
        std::string name, data;
        for (absl::string_view line : absl::StrSplit(block, '\n')) {
          if (absl::ConsumePrefix(&line, "event: ")) name = std::string(line);
          if (absl::ConsumePrefix(&line, "data: ")) data = std::string(line);
        }
        if (!name.empty()) return {name, data};
        continue;  // the headers, or "retry:"
      }
      char chunk[65536];
      const ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
      if (n <= 0) return {"", ""};
      buffer_.append(chunk, static_cast<size_t>(n));
      // The headers end in \r\n\r\n: make them one block like the events.
      const size_t headers = buffer_.find("\r\n\r\n");
      if (headers != std::string::npos) buffer_.replace(headers, 4, "\n\n");
    }
  }
  // The next event called `name`, skipping others (status messages come every second).
  std::string NextNamed(const std::string& name) {
    for (int i = 0; i < 1000; ++i) {
      auto [got, data] = Next();
      if (got.empty()) return "";
      if (got == name) return data;
    }
    return "";
  }

 private:
  int fd_ = -1;
  std::string buffer_;
};

class HttpApiTest : public ServerTest {};

TEST(ReadinessTest, ReadyOnlyWhenSyncedFreshAndReadable) {
  cluster::Freshness fresh;
  fresh.session_state = registry::SessionState::kConnected;
  fresh.ever_synced = true;
  fresh.stale = false;
  EXPECT_TRUE(server::ReadinessOf(fresh).serving);
  EXPECT_EQ(server::ReadinessOf(fresh).reason, "");

  cluster::Freshness starting;  // the defaults: connecting, never synced, stale
  EXPECT_FALSE(server::ReadinessOf(starting).serving);
  EXPECT_EQ(server::ReadinessOf(starting).reason,
            "registry session CONNECTING, first full read pending");

  cluster::Freshness suspended = fresh;
  suspended.session_state = registry::SessionState::kSuspended;
  suspended.stale = true;
  suspended.stale_for = absl::Milliseconds(2500);
  EXPECT_FALSE(server::ReadinessOf(suspended).serving);
  EXPECT_EQ(server::ReadinessOf(suspended).reason, "registry session SUSPENDED (stale for 2.5s)");

  cluster::Freshness rereading = fresh;
  rereading.stale = true;
  rereading.stale_for = absl::Seconds(1);
  EXPECT_EQ(server::ReadinessOf(rereading).reason,
            "view stale: a re-read of the registry is pending (stale for 1s)");

  cluster::Freshness forbidden = fresh;
  forbidden.access_problem = "cannot list '/nodes/master': NOAUTH (--zk_digest_file)";
  EXPECT_FALSE(server::ReadinessOf(forbidden).serving);
  EXPECT_EQ(server::ReadinessOf(forbidden).reason, forbidden.access_problem);
}

TEST_F(HttpApiTest, ReadyzWaitsForTheFirstFullReadAndFollowsTheSession) {
  AddWorker("10.0.0.21:1234");
  CreateDaemon();
  registry::MemoryRegistry* memory = nullptr;
  daemon_->SetRegistryStartedHookForTesting([&memory](registry::Registry* registry) {
    memory = dynamic_cast<registry::MemoryRegistry*>(registry);
    ASSERT_NE(memory, nullptr);
    ASSERT_OK(memory->WaitConnected(absl::Seconds(10)));
    memory->Disconnect();
  });
  StartCreatedDaemon(/*wait_until_serving=*/false);
  ASSERT_NE(memory, nullptr);
  ASSERT_OK_AND_ASSIGN(auto readyz, HttpGet(daemon_->metrics_port(), "/readyz"));
  EXPECT_EQ(readyz.first, 503);
  EXPECT_THAT(readyz.second, StartsWith("NOT_SERVING\nregistry session SUSPENDED"));
  EXPECT_THAT(readyz.second, HasSubstr("first full read pending"));

  memory->Reconnect();
  ASSERT_EVENTUALLY(HttpGet(daemon_->metrics_port(), "/readyz")->first == 200);
  ASSERT_OK_AND_ASSIGN(readyz, HttpGet(daemon_->metrics_port(), "/readyz"));
  EXPECT_EQ(readyz.second, "SERVING\n");

  memory->Disconnect();
  ASSERT_EVENTUALLY(HttpGet(daemon_->metrics_port(), "/readyz")->first == 503);
  ASSERT_OK_AND_ASSIGN(readyz, HttpGet(daemon_->metrics_port(), "/readyz"));
  EXPECT_THAT(readyz.second, HasSubstr("registry session SUSPENDED (stale for "));
}

TEST_F(HttpApiTest, ViewGroupsAndNodeAreTheApiMessagesInJson) {
  AddMaster("10.0.0.1:5678");
  AddWorker("10.0.0.21:1234", "NORMAL", "etl");
  AddWorker("10.0.0.22:1234", "BUSY", "etl");
  StartDaemon();
  ASSERT_EVENTUALLY(
      InState(cluster::NodeRole::kWorker, "10.0.0.22:1234", cluster::NodeState::kOverload));

  ASSERT_OK_AND_ASSIGN(auto view, HttpGet(daemon_->metrics_port(), "/api/view"));
  ASSERT_EQ(view.first, 200);
  const auto parsed = Parse<v1::GetClusterViewResponse>(view.second);
  EXPECT_EQ(parsed.meta().instance_id(), daemon_->instance_id());
  EXPECT_EQ(parsed.meta().session_state(), v1::CONNECTED);
  ASSERT_EQ(parsed.masters_size(), 1);
  EXPECT_EQ(parsed.masters(0).address(), "10.0.0.1:5678");
  ASSERT_EQ(parsed.workers_size(), 2);
  EXPECT_EQ(parsed.workers(0).address(), "10.0.0.21:1234");
  EXPECT_EQ(parsed.workers(0).state(), v1::RUNNING);
  EXPECT_EQ(parsed.workers(1).state(), v1::OVERLOAD);
  EXPECT_THAT(parsed.workers(1).groups(), ElementsAre("default", "etl"));

  ASSERT_OK_AND_ASSIGN(auto groups, HttpGet(daemon_->metrics_port(), "/api/groups"));
  ASSERT_EQ(groups.first, 200);
  const auto listed = Parse<v1::ListGroupsResponse>(groups.second);
  EXPECT_EQ(listed.meta().instance_id(), daemon_->instance_id());
  ASSERT_EQ(listed.groups_size(), 2);
  EXPECT_EQ(listed.groups(0).name(), "default");
  EXPECT_EQ(listed.groups(1).name(), "etl");
  EXPECT_EQ(listed.groups(1).members(), 2);
  EXPECT_EQ(listed.groups(1).selectable(), 1) << "10.0.0.22:1234 is OVERLOAD";

  ASSERT_OK_AND_ASSIGN(auto node,
                       HttpGet(daemon_->metrics_port(), "/api/node?address=10.0.0.22%3A1234"));
  ASSERT_EQ(node.first, 200);
  const auto busy = Parse<v1::Node>(node.second);
  EXPECT_EQ(busy.address(), "10.0.0.22:1234");
  EXPECT_EQ(busy.state(), v1::OVERLOAD);
  ASSERT_GE(busy.history_size(), 1);
  EXPECT_EQ(busy.history(busy.history_size() - 1).to(), v1::OVERLOAD);

  ASSERT_OK_AND_ASSIGN(auto missing,
                       HttpGet(daemon_->metrics_port(), "/api/node?address=10.9.9.9:1"));
  EXPECT_EQ(missing.first, 404);
  EXPECT_THAT(missing.second, HasSubstr("no node '10.9.9.9:1'"));
}

TEST_F(HttpApiTest, EventsStartWithASnapshotThenFollowEveryChange) {
  AddWorker("10.0.0.21:1234");
  StartDaemon();
  EventReader events(daemon_->metrics_port());
  const auto snapshot = Parse<v1::GetClusterViewResponse>(events.NextNamed("snapshot"));
  ASSERT_EQ(snapshot.workers_size(), 1);
  EXPECT_EQ(snapshot.workers(0).address(), "10.0.0.21:1234");
  const uint64_t from = snapshot.meta().version();

  AddWorker("10.0.0.22:1234");
  // Changes arrive in order, each batch with its versions; the new worker among them.
  bool added = false;
  uint64_t last = from;
  while (!added) {
    const std::string data = events.NextNamed("changes");
    ASSERT_FALSE(data.empty()) << "the stream ended before the new worker showed";
    const auto batch = Parse<v1::WatchClusterResponse>(
        absl::StrCat("{\"meta\":", data.substr(8, data.find(",\"events\":") - 8), "}"));
    EXPECT_GT(batch.meta().version(), last);
    last = batch.meta().version();
    added = absl::StrContains(data, "\"kind\":\"NODE_ADDED\"") &&
            absl::StrContains(data, "\"address\":\"10.0.0.22:1234\"");
  }
  // Status messages carry freshness even when nothing changes.
  const auto status = Parse<v1::ViewMeta>(events.NextNamed("status"));
  EXPECT_EQ(status.session_state(), v1::CONNECTED);
  EXPECT_FALSE(status.stale());
}

TEST_F(HttpApiTest, ThePageIsOneDocumentWithNoExternalAsset) {
  StartDaemon();
  ASSERT_OK_AND_ASSIGN(auto page, HttpGet(daemon_->metrics_port(), "/"));
  EXPECT_EQ(page.first, 200);
  EXPECT_THAT(page.second, StartsWith("<!doctype html>"));
  EXPECT_THAT(page.second, HasSubstr("new EventSource(\"/api/events\")"));
  for (const char* external : {"http://", "https://", "src=", "<link", "@import", "url("}) {
    EXPECT_THAT(page.second, Not(HasSubstr(external))) << external;
  }
}

}  // namespace
}  // namespace roster::testing
