// rosterctl's text for people: the tables and lines its commands print (nodes, groups, the
// leader, one line per watch message, the view line that ends every answer), and the proto
// time helpers they share. Used by client/rosterctl_commands.cc and client/top_view.cc.
//
//   out << RenderNodes(answer.nodes()) << MetaLine(answer.meta()) << "\n";
//   // ADDRESS        ROLE    STATE    SLOT ...
//   // view version 42 (session CONNECTED, last full sync 12s ago)
//
// Thread-safety: the functions are thread-safe.
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/table.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "google/protobuf/timestamp.pb.h"
#include "roster/v1/roster.pb.h"

namespace roster::client {

absl::Time ToTime(const google::protobuf::Timestamp& ts);
absl::Duration ToDuration(const google::protobuf::Duration& d);

// "master", "worker", "alert"; "-" for anything else.
std::string RoleName(roster::v1::NodeRole role);

// `text` on one line: line breaks and tabs (a database client's multi-line error) become
// single spaces.
std::string Flatten(absl::string_view text);

// The last line(s) of every answer: the view version, the session, staleness, the
// DolphinScheduler profile and the worker group sources.
std::string MetaLine(const roster::v1::ViewMeta& meta);

// A node's reason, or "drained: REASON".
std::string NodeReason(const roster::v1::Node& node);

// The node table: its header, and one row per node.
Table NodeTable();
void AddNodeRow(const roster::v1::Node& node, Table* table);
std::string RenderNodes(const google::protobuf::RepeatedPtrField<roster::v1::Node>& nodes);

// Groups with member and selectable counts and their members by state.
std::string RenderGroups(const google::protobuf::RepeatedPtrField<roster::v1::Group>& groups);

// "10.0.0.1:5678 (fencing token 7, since 2024-10-18T08:00:00Z)".
std::string LeaderLine(const roster::v1::Leader& leader);

// One line per watch message: "v42 NODE_UPDATED worker 10.0.0.2:1234 OVERLOAD: heartbeat BUSY".
std::string WatchLine(const roster::v1::WatchClusterResponse& message);

}  // namespace roster::client
