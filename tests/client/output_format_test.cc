// rosterctl's JSON and YAML output. The oracle for YAML is PyYAML (Debian's python3-yaml under
// /usr/bin/python3): whatever we emit must load back as exactly the JSON protobuf prints.
#include "client/output_format.h"

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "gtest/gtest.h"
#include "roster/v1/roster.pb.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace roster::client {
namespace {

namespace v1 = ::roster::v1;
using ::roster::testing::StatusIs;
using ::testing::HasSubstr;

// PyYAML's and Python's json's readings of `yaml` and `json` are equal: "same", or what
// differs.
std::string PythonCompares(const std::string& yaml, const std::string& json) {
  ::roster::testing::TempDir dir("output-format");
  ::roster::testing::WriteFileOrDie(dir.Child("a.yaml"), yaml);
  ::roster::testing::WriteFileOrDie(dir.Child("a.json"), json);
  const std::string command =
      absl::StrCat("/usr/bin/python3 -c '", R"(
import json, sys, yaml
a = yaml.safe_load(open(sys.argv[1]))
b = json.load(open(sys.argv[2]))
print("same" if a == b else "differ: yaml=%r json=%r" % (a, b), end="")
)",
                   "' ", dir.Child("a.yaml"), " ", dir.Child("a.json"), " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return "cannot run python3";
  std::string out;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
  pclose(pipe);
  return out;
}

std::string YamlOf(const google::protobuf::Message& message) {
  absl::StatusOr<std::string> yaml = MessageToYaml(message);
  EXPECT_TRUE(yaml.ok()) << yaml.status();
  return yaml.ok() ? *yaml : "";
}

std::string JsonOf(const google::protobuf::Message& message) {
  absl::StatusOr<std::string> json = MessageToJson(message);
  EXPECT_TRUE(json.ok()) << json.status();
  return json.ok() ? *json : "";
}

TEST(OutputFormatTest, ParseOutput) {
  EXPECT_EQ(*ParseOutput("table"), Output::kTable);
  EXPECT_EQ(*ParseOutput("JSON"), Output::kJson);
  EXPECT_EQ(*ParseOutput("yaml"), Output::kYaml);
  EXPECT_THAT(ParseOutput("yml").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--output='yml' is not table, json or yaml")));
}

// Strings that a careless emitter writes plain and a YAML reader then reads as something
// else (a number, a boolean, null, a timestamp, a mapping, a comment, an alias...).
TEST(OutputFormatTest, TrickyStringsSurviveAYamlReader) {
  const std::vector<std::string> tricky = {"",
                                           " ",
                                           "yes",
                                           "No",
                                           "ON",
                                           "off",
                                           "y",
                                           "n",
                                           "true",
                                           "False",
                                           "null",
                                           "~",
                                           "Null",
                                           "0",
                                           "0123",
                                           "1e3",
                                           "0x1F",
                                           "-1",
                                           "+1",
                                           ".5",
                                           ".inf",
                                           "-.inf",
                                           ".NaN",
                                           "1_000",
                                           "12:30:00",
                                           "10.0.0.1:5678",
                                           "2024-10-18",
                                           "2024-10-18T08:00:00Z",
                                           "a: b",
                                           "a #b",
                                           "#comment",
                                           "- item",
                                           "? key",
                                           "[1, 2]",
                                           "{a: 1}",
                                           "&anchor",
                                           "*alias",
                                           "!tag",
                                           "|",
                                           ">",
                                           "'single'",
                                           "\"double\"",
                                           "%percent",
                                           "@at",
                                           "`tick",
                                           "back\\slash",
                                           "line\nbreak",
                                           "tab\there",
                                           "trailing ",
                                           " leading",
                                           "nul\x01byte",
                                           "del\x7f",
                                           "ünïcødé",
                                           "heartbeat NORMAL",
                                           "RUNNING",
                                           "no heartbeat for 30s",
                                           "a,b",
                                           "=",
                                           "<<",
                                           "-",
                                           "---",
                                           "...",
                                           "/dolphinscheduler/nodes/worker/10.0.0.2:1234"};
  google::protobuf::Struct object;
  google::protobuf::ListValue* list = (*object.mutable_fields())["list"].mutable_list_value();
  for (size_t i = 0; i < tricky.size(); ++i) {
    list->add_values()->set_string_value(tricky[i]);
    // As keys too.
    (*object.mutable_fields())[tricky[i]].set_number_value(static_cast<double>(i));
  }
  EXPECT_EQ(PythonCompares(YamlOf(object), JsonOf(object)), "same") << YamlOf(object);
}

TEST(OutputFormatTest, NestedMessagesListsAndEmptyCollections) {
  v1::GetClusterViewResponse view;
  view.mutable_meta()->set_version(42);
  view.mutable_meta()->set_instance_id("i-1");
  view.mutable_meta()->mutable_since_last_sync()->set_seconds(12);
  v1::Node* worker = view.add_workers();
  worker->set_address("10.0.0.2:1234");
  worker->set_state(v1::OVERLOAD);
  worker->add_groups("default");
  worker->add_groups("etl");
  worker->mutable_heartbeat()->set_cpu_usage(0.2319);
  worker->mutable_heartbeat()->set_memory_usage(1.0 / 3.0);
  worker->mutable_state_since()->set_seconds(1729238400);
  v1::Transition* t = worker->add_history();
  t->set_from(v1::RUNNING);
  t->set_to(v1::OVERLOAD);
  t->set_cause("heartbeat BUSY");
  view.add_workers()->set_address("10.0.0.3:1234");  // mostly defaults: empty lists
  (*view.add_groups()->mutable_by_state())["RUNNING"] = 3;
  view.mutable_slots()->add_masters("10.0.0.1:5678");
  view.mutable_slots()->set_epoch(18446744073709551615u);  // uint64: a string in JSON

  const std::string yaml = YamlOf(view);
  EXPECT_EQ(PythonCompares(yaml, JsonOf(view)), "same") << yaml;
  // What a person reads: nested blocks, lists of mappings, doubles as printed by protobuf.
  EXPECT_THAT(yaml, HasSubstr("workers:\n  - address: \"10.0.0.2:1234\"\n"));
  EXPECT_THAT(yaml, HasSubstr("      cpuUsage: 0.2319\n"));
  EXPECT_THAT(yaml, HasSubstr("    groups:\n      - default\n      - etl\n"));
  EXPECT_THAT(yaml, HasSubstr("    groups: []\n"));
  EXPECT_THAT(yaml, HasSubstr("  epoch: \"18446744073709551615\"\n"));
  EXPECT_THAT(yaml, HasSubstr("  sinceLastSync: \"12s\"\n"));
}

TEST(OutputFormatTest, JsonOnOneLineOrIndented) {
  v1::GetLeaderResponse leader;
  leader.mutable_leader()->set_address("10.0.0.1:5678");
  leader.mutable_leader()->set_fencing_token(7);
  const std::string one_line = *MessageToJson(leader, /*one_line=*/true);
  EXPECT_EQ(one_line.find('\n'), std::string::npos) << one_line;
  EXPECT_THAT(one_line, HasSubstr(R"("fencingToken":"7")"));
  const std::string indented = *MessageToJson(leader);
  EXPECT_THAT(indented, HasSubstr("\n"));
  EXPECT_NE(indented.back(), '\n');
}

}  // namespace
}  // namespace roster::client
