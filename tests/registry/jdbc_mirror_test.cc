// JdbcMirror (DS JDBC registry rows replayed into a MemoryStore) and the change-event JSON, with
// no database: rows in, the tree a MemoryRegistry reads out. Expected trees are written by hand
// from the mapping in docs/registry-jdbc.md.
#include "registry/jdbc/jdbc_mirror.h"

#include <map>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/jdbc/ds_jdbc_tables.h"
#include "registry/memory/memory_registry.h"
#include "tests/testing/status_matchers.h"

namespace roster::registry::jdbc {
namespace {

using ::roster::testing::StatusIs;
using ::testing::ElementsAre;
using Rows = std::map<std::string, DsDataRow>;

DsDataRow Row(const std::string& key, const std::string& value, bool ephemeral, int64_t client) {
  return DsDataRow{key, value, ephemeral, client};
}

class JdbcMirrorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::make_shared<MemoryStore>();
    mirror_ = std::make_unique<JdbcMirror>(store_);
    reader_ = std::make_unique<MemoryRegistry>(store_, "", RegistryOptions{});
    ASSERT_OK(reader_->Start());
    ASSERT_OK(reader_->WaitConnected(absl::Seconds(10)));
  }
  void TearDown() override { reader_->Shutdown(); }

  void Apply(const std::vector<DsDataRow>& rows) {
    Rows by_key;
    for (const DsDataRow& row : rows) by_key[row.key] = row;
    ASSERT_OK(mirror_->Reconcile(by_key));
  }

  // path -> "data|e" (ephemeral) or "data|p", every node of the store.
  std::map<std::string, std::string> Tree(const std::string& path = "/") {
    std::map<std::string, std::string> out;
    absl::StatusOr<Children> children = reader_->GetChildren(path);
    if (!children.ok()) return out;
    for (const std::string& name : children->names) {
      const std::string child = JoinPath(path, name);
      absl::StatusOr<Node> node = reader_->Get(child);
      if (!node.ok()) continue;
      out[child] = node->data + (node->stat.ephemeral_owner != 0 ? "|e" : "|p");
      for (const auto& entry : Tree(child)) out.insert(entry);
    }
    return out;
  }

  std::shared_ptr<MemoryStore> store_;
  std::unique_ptr<JdbcMirror> mirror_;
  std::unique_ptr<MemoryRegistry> reader_;
};

TEST_F(JdbcMirrorTest, RowsBecomeNodesWithImpliedParents) {
  Apply({Row("/nodes/worker/10.0.0.1:1234", "w1", true, 7),
         Row("/nodes/master/10.0.0.2:5678", "m1", true, 8), Row("/flag", "on", false, 7)});
  EXPECT_EQ(Tree(), (std::map<std::string, std::string>{{"/flag", "on|p"},
                                                        {"/nodes", "|p"},
                                                        {"/nodes/master", "|p"},
                                                        {"/nodes/master/10.0.0.2:5678", "m1|e"},
                                                        {"/nodes/worker", "|p"},
                                                        {"/nodes/worker/10.0.0.1:1234", "w1|e"}}));
  // One owner per DS client.
  ASSERT_OK_AND_ASSIGN(Node w1, reader_->Get("/nodes/worker/10.0.0.1:1234"));
  ASSERT_OK_AND_ASSIGN(Node m1, reader_->Get("/nodes/master/10.0.0.2:5678"));
  EXPECT_NE(w1.stat.ephemeral_owner, m1.stat.ephemeral_owner);
}

TEST_F(JdbcMirrorTest, ParentsGoWithTheirLastChildAndUpdatesKeepTheNode) {
  Apply({Row("/nodes/worker/a:1", "1", true, 7), Row("/nodes/worker/b:1", "1", true, 7)});
  ASSERT_OK_AND_ASSIGN(Node before, reader_->Get("/nodes/worker/a:1"));
  Apply({Row("/nodes/worker/a:1", "2", true, 7)});
  ASSERT_OK_AND_ASSIGN(Node after, reader_->Get("/nodes/worker/a:1"));
  EXPECT_EQ(after.data, "2");
  EXPECT_EQ(after.stat.czxid, before.stat.czxid);  // the same node, updated
  EXPECT_GT(after.stat.mzxid, before.stat.mzxid);
  Apply({});
  EXPECT_THAT(Tree(), ::testing::IsEmpty());
}

TEST_F(JdbcMirrorTest, AnotherClientRecreatesTheNode) {
  Apply({Row("/nodes/worker/a:1", "1", true, 7)});
  ASSERT_OK_AND_ASSIGN(Node first, reader_->Get("/nodes/worker/a:1"));
  Apply({Row("/nodes/worker/a:1", "1", true, 9)});  // the server restarted: a new client id
  ASSERT_OK_AND_ASSIGN(Node second, reader_->Get("/nodes/worker/a:1"));
  EXPECT_NE(second.stat.czxid, first.stat.czxid);
  EXPECT_NE(second.stat.ephemeral_owner, first.stat.ephemeral_owner);
}

TEST_F(JdbcMirrorTest, AnEphemeralRowWithRowsBelowIsPersistentAndBadKeysAreSkipped) {
  Apply({Row("/a", "x", true, 7), Row("/a/b", "y", true, 7), Row("no-slash", "z", false, 7),
         Row("/c/", "z", false, 7), Row("/", "root", false, 7)});
  EXPECT_EQ(Tree(), (std::map<std::string, std::string>{{"/a", "x|p"}, {"/a/b", "y|e"}}));
  EXPECT_EQ(mirror_->skipped_keys(), 3u);
  Apply({Row("/a", "x", true, 7)});  // its child gone: ephemeral again
  EXPECT_EQ(Tree(), (std::map<std::string, std::string>{{"/a", "x|e"}}));
}

// Jackson's JSON of JdbcRegistryDataDTO, as DS writes it in jdbc_registry_data.
TEST(EventDataKeyTest, ReadsDataKeyOfDsJson) {
  EXPECT_THAT(EventDataKey(R"({"id":12,"dataKey":"/nodes/worker/10.0.0.1:1234",)"
                           R"("dataValue":"{\"cpuUsage\":0.1}","dataType":"EPHEMERAL",)"
                           R"("clientId":1730000000001,"createTime":"2024-10-18 19:00:41",)"
                           R"("lastUpdateTime":"2024-10-18 19:00:41"})"),
              ::roster::testing::IsOkAndHolds(std::string("/nodes/worker/10.0.0.1:1234")));
  EXPECT_THAT(EventDataKey("not json"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(EventDataKey(R"({"dataKey":12})"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(EventDataKey(R"({"dataValue":"x"})"), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace roster::registry::jdbc
