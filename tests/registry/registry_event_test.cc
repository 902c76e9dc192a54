// RegistryEvent's helpers.

#include "gtest/gtest.h"
#include "registry/registry.h"

namespace roster::registry {
namespace {

TEST(CopyWithoutDataTest, KeepsEveryFieldButThePayload) {
  RegistryEvent event;
  event.type = EventType::kUpdated;
  event.session = 7;
  event.path = "/nodes/worker/10.0.0.1:1234";
  event.data = R"({"cpuUsage": 0.5})";
  event.stat.czxid = 11;
  event.stat.mzxid = 12;
  event.stat.version = 3;
  event.stat.ephemeral_owner = 0x99;
  event.stat.mtime_ms = 1729238400123;
  event.read_error = absl::PermissionDeniedError("not readable");
  event.from_resync = true;
  event.snapshot = std::make_shared<const std::vector<RegistryEvent>>(1);

  const RegistryEvent copy = CopyWithoutData(event);
  EXPECT_TRUE(copy.data.empty());
  EXPECT_EQ(copy.type, event.type);
  EXPECT_EQ(copy.session, event.session);
  EXPECT_EQ(copy.path, event.path);
  EXPECT_EQ(copy.stat, event.stat);
  EXPECT_EQ(copy.read_error, event.read_error);
  EXPECT_EQ(copy.from_resync, event.from_resync);
  EXPECT_EQ(copy.snapshot, event.snapshot);
  EXPECT_FALSE(event.data.empty()) << "the original keeps its payload";
}

}  // namespace
}  // namespace roster::registry
