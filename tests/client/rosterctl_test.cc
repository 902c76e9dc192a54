// rosterctl end to end against a scripted fake rosterd: what people and scripts see (tables,
// JSON, the last view line, one-line errors) and the exit codes.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "client/rosterctl_commands.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/client/fake_roster_server.h"

namespace roster::client {
namespace {

namespace v1 = ::roster::v1;
using ::roster::testing::Error;
using ::roster::testing::FakeRosterServer;
using ::roster::testing::Meta;
using ::roster::testing::Ok;
using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

struct Result {
  int code;
  std::string out;
  std::string err;
};

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

v1::Node Master(const std::string& address, int slot) {
  v1::Node node;
  node.set_address(address);
  node.set_role(v1::MASTER);
  node.set_state(v1::RUNNING);
  node.set_reason("heartbeat NORMAL");
  node.set_slot(slot);
  node.mutable_heartbeat()->set_cpu_usage(0.2319);
  node.mutable_heartbeat()->set_memory_usage(0.6248);
  node.mutable_heartbeat_age()->set_seconds(1);
  node.mutable_heartbeat_age()->set_nanos(200000000);
  return node;
}

v1::Node Worker(const std::string& address, v1::NodeState state, std::vector<std::string> groups,
                double cpu) {
  v1::Node node;
  node.set_address(address);
  node.set_role(v1::WORKER);
  node.set_state(state);
  node.set_reason(state == v1::OVERLOAD ? "heartbeat BUSY" : "heartbeat NORMAL");
  for (const auto& group : groups) node.add_groups(group);
  node.mutable_heartbeat()->set_cpu_usage(cpu);
  node.mutable_heartbeat()->set_memory_usage(0.5);
  node.mutable_heartbeat_age()->set_nanos(800000000);
  return node;
}

v1::ViewMeta FreshMeta(uint64_t version) {
  v1::ViewMeta meta = Meta("i1", version);
  meta.mutable_since_last_sync()->set_seconds(12);
  return meta;
}

class RosterctlTest : public ::testing::Test {
 protected:
  Result Run(std::vector<std::string> args) {
    args.insert(args.begin(), "--target=" + server_.target());
    std::ostringstream out, err;
    const int code = RunRosterctl(args, out, err);
    return {code, out.str(), err.str()};
  }

  void ScriptView() {
    v1::GetClusterViewResponse view;
    *view.mutable_meta() = FreshMeta(42);
    *view.add_masters() = Master("10.0.0.1:5678", 0);
    *view.add_workers() = Worker("10.0.0.2:1234", v1::OVERLOAD, {"default", "etl"}, 0.95);
    v1::Node drained = Worker("10.0.0.13:1234", v1::OFFLINE, {"default"}, 0.1);
    drained.clear_heartbeat();
    drained.clear_heartbeat_age();
    drained.set_drained(true);
    drained.set_drain_reason("disk swap");
    *view.add_workers() = drained;
    server_.roster().get_cluster_view.SetDefault(Ok(view));
  }

  FakeRosterServer server_;
};

TEST_F(RosterctlTest, MembersTable) {
  ScriptView();
  Result r = Run({"members"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.err, IsEmpty());
  EXPECT_EQ(
      r.out,
      "ADDRESS         ROLE    STATE     SLOT  GROUPS       CPU  MEM    AGE  REASON\n"
      "10.0.0.1:5678   master  RUNNING   0     -            23%  62%     1s  heartbeat NORMAL\n"
      "10.0.0.2:1234   worker  OVERLOAD  -     default,etl  95%  50%  800ms  heartbeat BUSY\n"
      "10.0.0.13:1234  worker  OFFLINE   -     default        -    -      -  drained: disk swap\n"
      "view version 42 (session CONNECTED, last full sync 12s ago)\n");
}

TEST_F(RosterctlTest, StaleViewIsFlaggedOnTheLastLine) {
  v1::ListNodesResponse masters;
  *masters.mutable_meta() = FreshMeta(7);
  masters.mutable_meta()->set_stale(true);
  masters.mutable_meta()->set_session_state(v1::SUSPENDED);
  masters.mutable_meta()->mutable_stale_for()->set_seconds(12);
  *masters.add_nodes() = Master("10.0.0.1:5678", 0);
  server_.roster().list_masters.SetDefault(Ok(masters));

  Result r = Run({"members", "--role=master"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(Lines(r.out).back(),
            "view version 7 (session SUSPENDED, last full sync 12s ago) -- STALE for 12s: "
            "answers may be out of date");
}

TEST_F(RosterctlTest, GroupSourceProblemStaysOnItsLine) {
  v1::ListNodesResponse masters;
  *masters.mutable_meta() = FreshMeta(7);
  v1::GroupSource* source = masters.mutable_meta()->add_group_sources();
  source->set_source("postgresql://ds@db:5432/ds");
  source->set_stale(true);
  // libpq's own text, as rosterd passes it on.
  source->set_problem(
      "connect: connection to server at \"db\", port 5432 failed: Connection refused\n"
      "\tIs the server running on that host and accepting TCP/IP connections?\n");
  *masters.add_nodes() = Master("10.0.0.1:5678", 0);
  server_.roster().list_masters.SetDefault(Ok(masters));

  Result r = Run({"members", "--role=master"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(Lines(r.out).back(),
            "worker groups from postgresql://ds@db:5432/ds -- STALE: last known groups in use: "
            "connect: connection to server at \"db\", port 5432 failed: Connection refused Is "
            "the server running on that host and accepting TCP/IP connections?");
}

TEST_F(RosterctlTest, MembersPassesWorkerFiltersToTheServer) {
  v1::ListNodesResponse workers;
  *workers.mutable_meta() = FreshMeta(3);
  *workers.add_nodes() = Worker("10.0.0.2:1234", v1::RUNNING, {"default", "etl"}, 0.2);
  server_.roster().list_workers.SetDefault(Ok(workers));

  Result r = Run({"members", "--role=worker", "--group=etl", "--state=running,OVERLOAD"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  ASSERT_EQ(server_.roster().list_workers.calls(), 1);
  const v1::ListWorkersRequest request = server_.roster().list_workers.requests()[0];
  EXPECT_EQ(request.group(), "etl");
  EXPECT_THAT(request.states(), ElementsAre(v1::RUNNING, v1::OVERLOAD));
  EXPECT_THAT(r.out, HasSubstr("10.0.0.2:1234"));
}

TEST_F(RosterctlTest, MembersFiltersMastersByState) {
  ScriptView();
  Result r = Run({"members", "--state=OFFLINE"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 3u);  // header, the drained worker, the view line
  EXPECT_THAT(lines[1], StartsWith("10.0.0.13:1234"));
}

TEST_F(RosterctlTest, RpcFailureIsOneLineAndExitCode1) {
  server_.roster().get_master_slot.SetDefault(
      Error(grpc::StatusCode::FAILED_PRECONDITION, "master '10.0.0.1:5678' is not registered"));
  Result r = Run({"slot", "10.0.0.1:5678"});
  EXPECT_EQ(r.code, kExitRpcFailed);
  EXPECT_THAT(r.out, IsEmpty());
  EXPECT_EQ(r.err,
            "rosterctl: slot 10.0.0.1:5678: FAILED_PRECONDITION: master '10.0.0.1:5678' is not "
            "registered\n");
}

TEST_F(RosterctlTest, UsageErrorsAreOneLineAndExitCode2) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"members", "--colour"},
           {"members", "--state=SLEEPY"},
           {"members", "--role=master", "--group=etl"},
           {"select", "--strategy=FASTEST"},
           {"drain", "10.0.0.2:1234"},
           {"accept-held-losses"},
           {"accept-held-losses", "--reason= "},
           {"slot"},
           {"watch", "--count=-1"},
           {"nonsense"},
           {"--timeout_ms=0", "leader"},
           {"--admin_token_file=/nonexistent/token", "drain", "a:1", "--reason=x"},
       }) {
    Result r = Run(args);
    EXPECT_EQ(r.code, kExitUsage) << args[0] << ": " << r.err;
    EXPECT_THAT(r.err, StartsWith("rosterctl: "));
    EXPECT_EQ(Lines(r.err).size(), 1u) << r.err;
    EXPECT_THAT(r.out, IsEmpty());
  }
  EXPECT_EQ(server_.roster().list_masters.calls() + server_.roster().get_cluster_view.calls() +
                server_.admin().drain_node.calls(),
            0);
}

TEST_F(RosterctlTest, HelpExitsZero) {
  Result r = Run({"--help"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_THAT(r.out, HasSubstr("Usage: rosterctl"));
  EXPECT_THAT(r.out, HasSubstr("watch [--from=N]"));
}

TEST_F(RosterctlTest, JsonIsTheAnswerItself) {
  v1::GetLeaderResponse leader;
  *leader.mutable_meta() = FreshMeta(9);
  leader.mutable_leader()->set_address("10.0.0.1:5678");
  leader.mutable_leader()->set_fencing_token(4294967302);
  server_.roster().get_leader.SetDefault(Ok(leader));

  Result r = Run({"--json", "leader"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  v1::GetLeaderResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &parsed).ok()) << r.out;
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed, leader));
}

TEST_F(RosterctlTest, LeaderTable) {
  v1::GetLeaderResponse leader;
  *leader.mutable_meta() = FreshMeta(9);
  leader.mutable_leader()->set_address("10.0.0.1:5678");
  leader.mutable_leader()->set_fencing_token(77);
  leader.mutable_leader()->mutable_since()->set_seconds(1729238400);
  *leader.mutable_master() = Master("10.0.0.1:5678", 0);
  server_.roster().get_leader.SetDefault(Ok(leader));

  Result r = Run({"leader"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "LEADER         FENCING_TOKEN  SINCE                 STATE\n"
            "10.0.0.1:5678  77             2024-10-18T08:00:00Z  RUNNING\n"
            "view version 9 (session CONNECTED, last full sync 12s ago)\n");
}

v1::WatchClusterResponse SnapshotMessage() {
  v1::WatchClusterResponse message;
  *message.mutable_meta() = Meta("i1", 10);
  v1::GetClusterViewResponse* view = message.mutable_snapshot();
  *view->mutable_meta() = Meta("i1", 10);
  *view->add_masters() = Master("10.0.0.1:5678", 0);
  *view->add_workers() = Worker("10.0.0.2:1234", v1::RUNNING, {"default"}, 0.1);
  view->mutable_leader()->set_address("10.0.0.1:5678");
  return message;
}

v1::WatchClusterResponse NodeEvent(uint64_t version, v1::NodeState state, bool state_changed) {
  v1::WatchClusterResponse message;
  *message.mutable_meta() = Meta("i1", version);
  v1::ClusterEvent* event = message.mutable_event();
  event->set_version(version);
  event->set_kind(v1::ClusterEvent::NODE_UPDATED);
  event->set_state_changed(state_changed);
  *event->mutable_node() = Worker("10.0.0.2:1234", state, {"default"}, 0.9);
  return message;
}

TEST_F(RosterctlTest, WatchPrintsOneLinePerMessage) {
  v1::WatchClusterResponse slots;
  *slots.mutable_meta() = Meta("i1", 13);
  slots.mutable_event()->set_version(13);
  slots.mutable_event()->set_kind(v1::ClusterEvent::SLOTS_CHANGED);
  slots.mutable_event()->mutable_slots()->add_masters("10.0.0.1:5678");
  slots.mutable_event()->mutable_slots()->add_masters("10.0.0.4:5678");
  slots.mutable_event()->mutable_slots()->set_epoch(99);
  server_.roster().PushStream({{SnapshotMessage(), NodeEvent(11, v1::OVERLOAD, true),
                                NodeEvent(12, v1::OVERLOAD, false), slots},
                               grpc::Status::OK,
                               /*hold=*/true});

  Result r = Run({"watch", "--count=4", "--state_changes_only"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(Lines(r.out),
              ElementsAre("v10 SNAPSHOT masters=1 workers=1 alert_servers=0 groups=0 "
                          "leader=10.0.0.1:5678",
                          "v11 NODE_UPDATED worker 10.0.0.2:1234 OVERLOAD: heartbeat BUSY",
                          "v12 NODE_UPDATED worker 10.0.0.2:1234 OVERLOAD (load): heartbeat BUSY",
                          "v13 SLOTS_CHANGED epoch=99 masters=10.0.0.1:5678,10.0.0.4:5678"));
  ASSERT_EQ(server_.roster().watch_requests().size(), 1u);
  EXPECT_TRUE(server_.roster().watch_requests()[0].filter().state_changes_only());
}

TEST_F(RosterctlTest, WatchJsonIsOneDocumentPerLine) {
  server_.roster().PushStream(
      {{SnapshotMessage(), NodeEvent(11, v1::OVERLOAD, true), NodeEvent(12, v1::RUNNING, true)},
       grpc::Status::OK,
       /*hold=*/true});
  Result r = Run({"--json", "watch", "--from=0", "--count=2"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 2u);
  for (const std::string& line : lines) {
    v1::WatchClusterResponse parsed;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &parsed).ok()) << line;
  }
}

TEST_F(RosterctlTest, WatchFailsWhenRosterdCannotBeReached) {
  std::ostringstream out, err;
  const int code = RunRosterctl({"--target=127.0.0.1:1", "watch"}, out, err);
  EXPECT_EQ(code, kExitRpcFailed);
  EXPECT_THAT(err.str(), StartsWith("rosterctl: watch: UNAVAILABLE: "));
  EXPECT_EQ(Lines(err.str()).size(), 1u);
}

TEST_F(RosterctlTest, DrainSendsReasonAndToken) {
  const std::string token_file = ::testing::TempDir() + "/rosterctl_test_token";
  std::ofstream(token_file) << "  tok-123  \n";
  v1::DrainNodeResponse drained;
  *drained.mutable_meta() = FreshMeta(50);
  *drained.mutable_node() = Worker("10.0.0.2:1234", v1::OFFLINE, {"default"}, 0.1);
  drained.mutable_node()->set_drained(true);
  drained.mutable_node()->set_drain_reason("kernel upgrade");
  server_.admin().drain_node.SetDefault(Ok(drained));

  Result r = Run(
      {"--admin_token_file=" + token_file, "drain", "10.0.0.2:1234", "--reason=kernel upgrade"});
  std::remove(token_file.c_str());
  ASSERT_EQ(r.code, kExitOk) << r.err;
  ASSERT_EQ(server_.admin().drain_node.calls(), 1);
  EXPECT_EQ(server_.admin().drain_node.requests()[0].address(), "10.0.0.2:1234");
  EXPECT_EQ(server_.admin().drain_node.requests()[0].reason(), "kernel upgrade");
  EXPECT_THAT(server_.admin().drain_node.authorizations(), ElementsAre("Bearer tok-123"));
  EXPECT_THAT(r.out, HasSubstr("drained: kernel upgrade"));
}

TEST_F(RosterctlTest, SelectExplainMarksTheChoice) {
  v1::SelectWorkerResponse answer;
  *answer.mutable_meta() = FreshMeta(5);
  *answer.mutable_worker() = Worker("10.0.0.3:1234", v1::RUNNING, {"default"}, 0.2);
  v1::Candidate* a = answer.add_candidates();
  a->set_address("10.0.0.2:1234");
  a->set_state(v1::OVERLOAD);
  a->set_skipped("OVERLOAD (allow_overload is off)");
  v1::Candidate* b = answer.add_candidates();
  b->set_address("10.0.0.3:1234");
  b->set_state(v1::RUNNING);
  b->set_eligible(true);
  b->set_weight(1);
  server_.roster().select_worker.SetDefault(Ok(answer));

  Result r = Run(
      {"select", "--group=etl", "--strategy=lower_weight", "--exclude=10.0.0.9:1,", "--explain"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "   ADDRESS        STATE     ELIGIBLE  WEIGHT  WHY NOT\n"
            "   10.0.0.2:1234  OVERLOAD  no             -  OVERLOAD (allow_overload is off)\n"
            "*  10.0.0.3:1234  RUNNING   yes         1.00\n"
            "selected 10.0.0.3:1234 (RUNNING, cpu 20%, mem 50%)\n"
            "view version 5 (session CONNECTED, last full sync 12s ago)\n");
  const v1::SelectWorkerRequest request = server_.roster().select_worker.requests()[0];
  EXPECT_EQ(request.group(), "etl");
  EXPECT_EQ(request.strategy(), v1::LOWER_WEIGHT);
  EXPECT_THAT(request.exclude(), ElementsAre("10.0.0.9:1"));
  EXPECT_TRUE(request.explain());
  EXPECT_FALSE(request.allow_overload());
}

TEST_F(RosterctlTest, NodeShowsHistory) {
  v1::GetNodeResponse answer;
  *answer.mutable_meta() = FreshMeta(8);
  *answer.mutable_node() = Worker("10.0.0.2:1234", v1::RUNNING, {"default", "etl"}, 0.2);
  v1::Transition* t = answer.mutable_node()->add_history();
  t->mutable_at()->set_seconds(1729238400);
  t->set_from(v1::REGISTERING);
  t->set_to(v1::RUNNING);
  t->set_cause("heartbeat NORMAL");
  server_.roster().get_node.SetDefault(Ok(answer));

  Result r = Run({"node", "10.0.0.2:1234"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("address    10.0.0.2:1234\n"));
  EXPECT_THAT(r.out, HasSubstr("groups     default,etl\n"));
  EXPECT_THAT(r.out, HasSubstr("HISTORY\nAT                    FROM         TO       CAUSE\n"
                               "2024-10-18T08:00:00Z  REGISTERING  RUNNING  heartbeat NORMAL\n"));
  EXPECT_THAT(r.out, EndsWith("view version 8 (session CONNECTED, last full sync 12s ago)\n"));
  EXPECT_EQ(server_.roster().get_node.requests()[0].address(), "10.0.0.2:1234");
}

TEST_F(RosterctlTest, GroupsTable) {
  v1::ListGroupsResponse groups;
  *groups.mutable_meta() = FreshMeta(4);
  v1::Group* etl = groups.add_groups();
  etl->set_name("etl");
  etl->set_members(3);
  etl->set_selectable(1);
  (*etl->mutable_by_state())["OVERLOAD"] = 1;
  (*etl->mutable_by_state())["RUNNING"] = 2;
  (*etl->mutable_by_state())["FAULT"] = 0;
  v1::Group* empty = groups.add_groups();
  empty->set_name("spark");
  server_.roster().list_groups.SetDefault(Ok(groups));

  Result r = Run({"groups"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "GROUP  MEMBERS  SELECTABLE  STATES\n"
            "etl          3           1  RUNNING=2 OVERLOAD=1\n"
            "spark        0           0  -\n"
            "view version 4 (session CONNECTED, last full sync 12s ago)\n");
}

TEST_F(RosterctlTest, ViewShowsEverySection) {
  ScriptView();
  v1::GetClusterViewResponse view;
  *view.mutable_meta() = FreshMeta(42);
  *view.add_masters() = Master("10.0.0.1:5678", 0);
  view.mutable_slots()->add_masters("10.0.0.1:5678");
  view.mutable_slots()->set_epoch(7);
  view.mutable_leader()->set_address("10.0.0.1:5678");
  view.mutable_leader()->set_fencing_token(12);
  v1::RejectedZnode* rejected = view.add_rejected();
  rejected->set_path("/nodes/worker/foo");
  rejected->set_reason("znode name 'foo' is not host:port");
  server_.roster().get_cluster_view.SetDefault(Ok(view));

  Result r = Run({"view"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, StartsWith("MASTERS\nADDRESS  "));
  EXPECT_THAT(r.out, HasSubstr("\nWORKERS\nADDRESS  "));
  EXPECT_THAT(r.out, HasSubstr("slots: 1 (10.0.0.1:5678), epoch 7\n"));
  EXPECT_THAT(r.out, HasSubstr("leader: 10.0.0.1:5678 (fencing token 12, since "));
  EXPECT_THAT(r.out, HasSubstr("/nodes/worker/foo  znode name 'foo' is not host:port\n"));
  EXPECT_THAT(r.out, EndsWith("view version 42 (session CONNECTED, last full sync 12s ago)\n"));
}

TEST_F(RosterctlTest, UndrainWithoutTokenSendsNone) {
  server_.admin().undrain_node.SetDefault(
      Error(grpc::StatusCode::PERMISSION_DENIED, "admin calls need a token from non-loopback"));
  Result r = Run({"undrain", "10.0.0.2:1234"});
  EXPECT_EQ(r.code, kExitRpcFailed);
  EXPECT_EQ(r.err,
            "rosterctl: undrain 10.0.0.2:1234: PERMISSION_DENIED: admin calls need a token from "
            "non-loopback\n");
  EXPECT_THAT(server_.admin().undrain_node.authorizations(), ElementsAre(""));
}

}  // namespace
}  // namespace roster::client
