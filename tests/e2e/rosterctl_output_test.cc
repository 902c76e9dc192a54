// rosterctl against a real rosterd reading a real ZooKeeper (roster-sim's cluster): every
// command in every --output format, and `top` printing frames when stdout is not a terminal.
//
// Oracles: JSON is parsed by protobuf into the command's response type; YAML by PyYAML
// (Debian's python3-yaml, /usr/bin/python3), turned into JSON by Python and parsed the same
// way; the facts each answer must carry (addresses, the leader, a slot) come from the
// simulator's own numbering, not from rosterd.
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_env.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"

namespace roster::testing {
namespace {

using ::testing::Contains;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Python's verdict on a YAML stream: one JSON document per line, or a failure naming why.
constexpr char kYamlToJson[] = R"PY(
import json, sys, yaml
with open(sys.argv[1]) as f:
    for doc in yaml.safe_load_all(f):
        print(json.dumps(doc))
)PY";

class RosterctlOutputTest : public E2eTest {
 protected:
  // rosterctl against daemon_, which must succeed and print nothing on stderr.
  std::string Ok(std::vector<std::string> args) {
    const std::string what = absl::StrJoin(args, " ");
    args.insert(args.begin(), "--target=" + daemon_->target());
    CliResult result = RunRosterctl(dir_.path(), args);
    EXPECT_EQ(result.exit_code, 0) << what << ": " << result.err;
    EXPECT_EQ(result.err, "") << what;
    return result.out;
  }

  // The YAML documents of `text` as JSON documents, by PyYAML.
  std::vector<std::string> YamlAsJson(const std::string& text) {
    const std::string path = absl::StrCat(dir_.path(), "/answer-", ++serial_, ".yaml");
    WriteFileOrDie(path, text);
    Subprocess::Options options;
    options.argv = {"/usr/bin/python3", "-c", kYamlToJson, path};
    options.log_path = path + ".err";
    options.pipe_stdout = true;
    absl::StatusOr<std::unique_ptr<Subprocess>> python = Subprocess::Start(options);
    EXPECT_OK(python.status());
    if (!python.ok()) return {};
    absl::StatusOr<std::string> out = (*python)->ReadAll(kReactTimeout);
    absl::StatusOr<int> status = (*python)->Wait(kReactTimeout);
    EXPECT_TRUE(status.ok() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
        << "PyYAML rejects:\n"
        << text << "\n"
        << (*python)->LogTail();
    if (!out.ok()) return {};
    return absl::StrSplit(*out, '\n', absl::SkipEmpty());
  }

  // `args` with --output=json and --output=yaml: both must parse into `Response`, and
  // `check` must hold for each.
  template <typename Response>
  void BothParse(const std::vector<std::string>& args,
                 const std::function<void(const Response&)>& check) {
    const std::string what = absl::StrJoin(args, " ");
    std::vector<std::string> json_args = args;
    json_args.push_back("--output=json");
    Response from_json;
    const std::string json = Ok(json_args);
    const auto parsed = google::protobuf::util::JsonStringToMessage(json, &from_json);
    EXPECT_TRUE(parsed.ok()) << what << " --output=json: " << parsed.ToString() << "\n" << json;
    check(from_json);

    std::vector<std::string> yaml_args = args;
    yaml_args.push_back("--output=yaml");
    const std::vector<std::string> docs = YamlAsJson(Ok(yaml_args));
    ASSERT_EQ(docs.size(), 1u) << what << " --output=yaml";
    Response from_yaml;
    const auto reparsed = google::protobuf::util::JsonStringToMessage(docs[0], &from_yaml);
    EXPECT_TRUE(reparsed.ok()) << what << " --output=yaml: " << reparsed.ToString() << "\n"
                               << docs[0];
    check(from_yaml);
  }

  // A table for people: the answer, then the view line (and the DolphinScheduler profile).
  void TableEndsWithViewLine(const std::vector<std::string>& args) {
    const std::vector<std::string> lines = absl::StrSplit(Ok(args), '\n', absl::SkipEmpty());
    ASSERT_GE(lines.size(), 3u) << absl::StrJoin(args, " ");
    EXPECT_THAT(lines[lines.size() - 2], StartsWith("view version ")) << absl::StrJoin(args, " ");
    EXPECT_THAT(lines.back(), StartsWith("DolphinScheduler 3.3 ")) << absl::StrJoin(args, " ");
  }

  std::vector<std::string> AllNodes() const {
    std::vector<std::string> all = masters_;
    all.insert(all.end(), workers_.begin(), workers_.end());
    std::sort(all.begin(), all.end());
    return all;
  }

  int serial_ = 0;
};

TEST_F(RosterctlOutputTest, EveryCommandInEveryOutput) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  const std::vector<std::string> all = AllNodes();

  BothParse<v1::ListNodesResponse>({"members"}, [&](const v1::ListNodesResponse& r) {
    EXPECT_THAT(Addresses(r.nodes()), ElementsAreArray(all));
    EXPECT_FALSE(r.meta().instance_id().empty());
  });
  // Two workers a page: rosterctl follows the pages to the end.
  BothParse<v1::ListNodesResponse>({"members", "--role=worker", "--page_size=2"},
                                   [&](const v1::ListNodesResponse& r) {
                                     EXPECT_THAT(Addresses(r.nodes()), ElementsAreArray(workers_));
                                   });
  BothParse<v1::ListGroupsResponse>({"groups"}, [&](const v1::ListGroupsResponse& r) {
    ASSERT_EQ(r.groups_size(), 3);
    EXPECT_EQ(r.groups(0).name(), "default");
    EXPECT_EQ(r.groups(0).selectable(), 6);
  });
  BothParse<v1::SelectWorkerResponse>({"select", "--group=etl", "--explain"},
                                      [&](const v1::SelectWorkerResponse& r) {
                                        EXPECT_THAT(groups_["etl"], Contains(r.worker().address()));
                                        EXPECT_EQ(r.candidates_size(), 3);
                                      });
  BothParse<v1::GetMasterSlotResponse>({"slot", masters_[1]},
                                       [&](const v1::GetMasterSlotResponse& r) {
                                         EXPECT_EQ(r.slot(), 1);
                                         EXPECT_EQ(r.total(), 3);
                                       });
  BothParse<v1::GetLeaderResponse>({"leader"}, [&](const v1::GetLeaderResponse& r) {
    EXPECT_EQ(r.leader().address(), masters_[0]);
    EXPECT_GT(r.leader().fencing_token(), 0);
  });
  BothParse<v1::GetNodeResponse>({"node", workers_[0]}, [&](const v1::GetNodeResponse& r) {
    EXPECT_EQ(r.node().address(), workers_[0]);
    EXPECT_EQ(r.node().state(), v1::RUNNING);
    EXPECT_FALSE(r.node().history().empty());
  });
  BothParse<v1::GetClusterViewResponse>(
      {"view", "--page_size=3"}, [&](const v1::GetClusterViewResponse& r) {
        EXPECT_THAT(Addresses(r.masters()), ElementsAreArray(masters_));
        EXPECT_THAT(Addresses(r.workers()), ElementsAreArray(workers_));
        EXPECT_EQ(r.leader().address(), masters_[0]);
        EXPECT_EQ(r.slots().masters_size(), 3);
      });
  // Admin calls from loopback need no token.
  BothParse<v1::DrainNodeResponse>({"drain", workers_[5], "--reason=disk: 'swap' #1"},
                                   [&](const v1::DrainNodeResponse& r) {
                                     EXPECT_TRUE(r.node().drained());
                                     EXPECT_EQ(r.node().drain_reason(), "disk: 'swap' #1");
                                   });
  BothParse<v1::UndrainNodeResponse>(
      {"undrain", workers_[5]},
      [&](const v1::UndrainNodeResponse& r) { EXPECT_FALSE(r.node().drained()); });
  BothParse<v1::AcceptHeldLossesResponse>(
      {"accept-held-losses", "--reason=test"},
      [&](const v1::AcceptHeldLossesResponse& r) { EXPECT_EQ(r.accepted(), 0); });

  // The same commands as tables (what people read) end with the view line.
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"members"},
                                             {"members", "--role=worker", "--page_size=2"},
                                             {"groups"},
                                             {"select", "--group=etl"},
                                             {"slot", masters_[1]},
                                             {"leader"},
                                             {"node", workers_[0]},
                                             {"view", "--page_size=3"},
                                             {"undrain", workers_[5]},
                                             {"accept-held-losses", "--reason=test"},
                                             {"members", "--output=table"}}) {
    TableEndsWithViewLine(args);
  }
}

TEST_F(RosterctlOutputTest, WatchStreamsInEveryOutput) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  // JSON: one document per line; the first is the snapshot.
  const std::vector<std::string> lines =
      absl::StrSplit(Ok({"watch", "--count=3", "--output=json"}), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u);
  for (size_t i = 0; i < lines.size(); ++i) {
    v1::WatchClusterResponse message;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(lines[i], &message).ok()) << lines[i];
    EXPECT_EQ(message.has_snapshot(), i == 0) << lines[i];
  }
  // YAML: one document per message.
  const std::vector<std::string> docs = YamlAsJson(Ok({"watch", "--count=3", "--output=yaml"}));
  ASSERT_EQ(docs.size(), 3u);
  v1::WatchClusterResponse snapshot;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(docs[0], &snapshot).ok()) << docs[0];
  EXPECT_THAT(Addresses(snapshot.snapshot().workers()), ElementsAreArray(workers_));
  // Table: one line per message.
  const std::vector<std::string> table =
      absl::StrSplit(Ok({"watch", "--count=2"}), '\n', absl::SkipEmpty());
  ASSERT_EQ(table.size(), 2u);
  EXPECT_THAT(table[0], HasSubstr(" SNAPSHOT masters=3 workers=6 "));
}

TEST_F(RosterctlOutputTest, OutputIsCheckedBeforeAnyCall) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  const std::string target = "--target=" + daemon_->target();
  CliResult bad = RunRosterctl(dir_.path(), {target, "--output=xml", "groups"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("--output='xml' is not table, json or yaml"));
  CliResult both = RunRosterctl(dir_.path(), {target, "--json", "--output=yaml", "groups"});
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_THAT(both.err, HasSubstr("--json contradicts --output=yaml"));
  // --json is --output=json.
  v1::ListGroupsResponse groups;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(Ok({"--json", "groups"}), &groups).ok());
  EXPECT_EQ(groups.groups_size(), 3);
  CliResult top = RunRosterctl(dir_.path(), {target, "--output=json", "top"});
  EXPECT_EQ(top.exit_code, 2);
  EXPECT_THAT(top.err, HasSubstr("top draws a table"));
}

// The CPU column of a `top` worker row ("95%"), as a number.
int CpuPercent(const std::string& row) {
  const std::vector<std::string> cells = absl::StrSplit(row, ' ', absl::SkipEmpty());
  int percent = -1;
  if (cells.size() > 2 && absl::EndsWith(cells[2], "%")) {
    EXPECT_TRUE(absl::SimpleAtoi(cells[2].substr(0, cells[2].size() - 1), &percent)) << row;
  }
  return percent;
}

TEST_F(RosterctlOutputTest, TopPrintsOneFrameWithTheWorkersBusiestFirst) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  // A BUSY worker reports at least 92% CPU (roster-sim), the others at most 60%.
  const std::string busy = workers_[3];
  ASSERT_OK(sim_->Command("busy " + busy).status());
  ASSERT_EVENTUALLY(StateOf(busy) == v1::OVERLOAD);

  const std::string frame = Ok({"top"});
  const std::vector<std::string> lines = absl::StrSplit(frame, '\n', absl::SkipEmpty());
  ASSERT_GT(lines.size(), 7u) << frame;
  EXPECT_THAT(lines[0], StartsWith("rosterctl top " + daemon_->target() + "  view v"));
  EXPECT_THAT(frame, HasSubstr(absl::StrCat("leader: ", masters_[0], " (fencing token ")));
  EXPECT_THAT(frame, HasSubstr(absl::StrCat("masters 3: ", masters_[0], " slot 0, ", masters_[1],
                                            " slot 1, ", masters_[2], " slot 2")));
  EXPECT_THAT(frame, HasSubstr("workers 6: OVERLOAD 1, RUNNING 5"));
  // The busy worker's group has one selectable worker fewer than members.
  const std::string busy_group =
      std::find(groups_["etl"].begin(), groups_["etl"].end(), busy) != groups_["etl"].end()
          ? "etl"
          : "spark";
  const size_t members = groups_[busy_group].size();
  EXPECT_THAT(frame, HasSubstr(absl::StrCat("default 5/6")));
  EXPECT_THAT(frame, HasSubstr(absl::StrCat(busy_group, " ", members - 1, "/", members)));

  // The table: a header, then the six workers, busiest (by CPU) first.
  const auto header = std::find_if(lines.begin(), lines.end(), [](const std::string& line) {
    return absl::StartsWith(line, "ADDRESS ");
  });
  ASSERT_NE(header, lines.end()) << frame;
  const std::vector<std::string> rows(header + 1, lines.end());
  ASSERT_EQ(rows.size(), 6u) << frame;
  EXPECT_THAT(rows[0], StartsWith(busy + " ")) << frame;
  EXPECT_THAT(rows[0], HasSubstr("OVERLOAD")) << frame;
  std::vector<std::string> shown;
  std::vector<int> cpu;
  for (const std::string& row : rows) {
    shown.push_back(row.substr(0, row.find(' ')));
    cpu.push_back(CpuPercent(row));
  }
  std::sort(shown.begin(), shown.end());
  EXPECT_THAT(shown, ElementsAreArray(workers_));
  EXPECT_GE(cpu[0], 92) << frame;
  EXPECT_TRUE(std::is_sorted(cpu.rbegin(), cpu.rend())) << frame;
}

TEST_F(RosterctlOutputTest, TopIterationsPrintsThatManyFrames) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  // roster-sim's heartbeats change the load figures every few hundred milliseconds: each
  // change is a frame.
  const std::string out = Ok({"top", "--iterations=3"});
  const std::vector<std::string> titles = absl::StrSplit(out, '\n', absl::SkipEmpty());
  EXPECT_EQ(std::count_if(
                titles.begin(), titles.end(),
                [](const std::string& line) { return absl::StartsWith(line, "rosterctl top "); }),
            3)
      << out;
}

// `rosterctl top` on a pseudo-terminal (40x160): everything it wrote, and its exit code after
// `key` was typed once the screen showed every string in `wanted`.
struct TerminalRun {
  std::string screen;
  bool saw_wanted = false;
  int exit_code = -1;
};

TerminalRun RunTopOnTerminal(const std::string& target, char key,
                             const std::vector<std::string>& wanted) {
  TerminalRun run;
  // Everything the child needs is built before fork(): the test process has threads.
  std::vector<std::string> args = {ROSTERCTL_PATH, "--target=" + target, "top"};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  winsize size{};
  size.ws_row = 40;
  size.ws_col = 160;
  int fd = -1;
  const pid_t pid = forkpty(&fd, nullptr, nullptr, &size);
  if (pid < 0) {
    ADD_FAILURE() << "forkpty: " << strerror(errno);
    return run;
  }
  if (pid == 0) {
    execv(argv[0], argv.data());
    _exit(127);
  }
  // Reads what is there within `wait`; false at the end of output (the child is gone).
  auto read_some = [&](absl::Duration wait) {
    pollfd poll_fd{fd, POLLIN, 0};
    if (poll(&poll_fd, 1, static_cast<int>(absl::ToInt64Milliseconds(wait))) <= 0) return true;
    char buffer[65536];
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) return false;  // EIO once the child closed the terminal
    run.screen.append(buffer, static_cast<size_t>(n));
    return true;
  };
  const absl::Time deadline = absl::Now() + kReactTimeout;
  auto shows_all = [&] {
    return std::all_of(wanted.begin(), wanted.end(), [&](const std::string& text) {
      return run.screen.find(text) != std::string::npos;
    });
  };
  while (!(run.saw_wanted = shows_all()) && absl::Now() < deadline) {
    if (!read_some(absl::Milliseconds(100))) break;
  }
  EXPECT_EQ(write(fd, &key, 1), 1);
  while (absl::Now() < deadline && read_some(absl::Milliseconds(100))) {
  }
  // The terminal closes as the child exits, a moment before it can be reaped.
  int status = 0;
  pid_t reaped = 0;
  while ((reaped = waitpid(pid, &status, WNOHANG)) == 0 && absl::Now() < deadline) {
    poll(nullptr, 0, 10);  // a 10 ms tick of this bounded wait for the exit
  }
  if (reaped == pid) {
    if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  } else {
    ADD_FAILURE() << "rosterctl top did not exit after the key " << static_cast<int>(key);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  close(fd);
  return run;
}

TEST_F(RosterctlOutputTest, TopOnATerminalDrawsTheWorkersAndQuitsOnQOrCtrlC) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  std::vector<std::string> wanted = workers_;
  wanted.push_back("q or Ctrl-C: quit");
  for (const char key : {'q', '\x03'}) {
    SCOPED_TRACE(static_cast<int>(key));
    const TerminalRun run = RunTopOnTerminal(daemon_->target(), key, wanted);
    EXPECT_TRUE(run.saw_wanted) << run.screen;
    EXPECT_EQ(run.exit_code, 0) << run.screen;
    // The alternate screen is taken, and given back with the cursor.
    EXPECT_TRUE(absl::StartsWith(run.screen, "\x1b[?1049h")) << run.screen;
    EXPECT_TRUE(absl::EndsWith(run.screen, "\x1b[?25h\x1b[?1049l")) << run.screen;
  }
}

TEST_F(RosterctlOutputTest, TopFailsWhenRosterdCannotBeReached) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  RosterdProcess* other = StartRosterd();
  ASSERT_NE(other, nullptr);
  const std::string gone = other->target();
  ASSERT_OK(other->process().Kill().status());
  CliResult result = RunRosterctl(dir_.path(), {"--target=" + gone, "top"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, StartsWith("rosterctl: top: UNAVAILABLE: "));
  EXPECT_EQ(result.out, "");
}

}  // namespace
}  // namespace roster::testing
