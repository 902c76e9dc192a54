#include "client/rosterctl_commands.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "client/cli_args.h"
#include "client/completion.h"
#include "client/output_format.h"
#include "client/roster_client.h"
#include "client/rosterctl_text.h"
#include "client/table.h"
#include "client/top_command.h"
#include "client/watch_follower.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "roster/v1/roster.pb.h"
#include "roster_version.h"

namespace roster::client {
namespace {

namespace v1 = ::roster::v1;

constexpr absl::string_view kDefaultTarget = "127.0.0.1:9090";
constexpr int64_t kDefaultTimeoutMs = 2000;
// Marks a status as a usage error (exit 2) rather than a failed call (exit 1).
constexpr absl::string_view kUsagePayload = "roster.rosterctl/usage";

absl::Status UsageError(absl::string_view message) {
  absl::Status status = absl::InvalidArgumentError(message);
  status.SetPayload(kUsagePayload, absl::Cord("1"));
  return status;
}

absl::Status AsUsage(absl::Status status) {
  if (!status.ok()) status.SetPayload(kUsagePayload, absl::Cord("1"));
  return status;
}

bool IsUsageError(const absl::Status& status) {
  return status.GetPayload(kUsagePayload).has_value();
}

const std::vector<FlagSpec>& GlobalFlags() {
  static const auto* const flags = new std::vector<FlagSpec>{
      {"target", false, "HOST:PORT",
       absl::StrCat("rosterd's address (default: $ROSTER_TARGET, else ", kDefaultTarget, ")")},
      {"output", false, "table|json|yaml",
       "table for people (default); json (protobuf's JSON mapping) or yaml (the same fields) "
       "for scripts; watch prints one JSON document per line, or YAML documents"},
      {"json", true, "", "the same as --output=json"},
      {"version", true, "", "print rosterctl's version and exit"},
      {"timeout_ms", false, "MS",
       absl::StrCat("deadline of each call, retries included (default ", kDefaultTimeoutMs, ")")},
      {"admin_token_file", false, "FILE",
       "a file whose first line is the admin token (drain, undrain, accept-held-losses)"},
      {"token_file", false, "FILE",
       "a file whose first line is a bearer token sent with every call (an identity in "
       "rosterd's --access_file)"},
      {"tls_ca_file", false, "FILE", "connect over TLS, trusting this PEM CA bundle"},
      {"tls_cert_file", false, "FILE", "present this PEM client certificate (mTLS)"},
      {"tls_key_file", false, "FILE", "the PEM private key of --tls_cert_file"},
      {"tls_server_name", false, "NAME",
       "the name rosterd's certificate must carry, if not --target's host"},
  };
  return *flags;
}

// Nodes per call of a listing that comes in pages (rosterctl follows every page).
FlagSpec PageSizeFlag() {
  return {"page_size", false, "N",
          "nodes per call while fetching every page (default 0: rosterd's, 1000; at most 10000)"};
}

const std::vector<CommandSpec>& Commands() {
  static const auto* const commands = new std::vector<CommandSpec>{
      {"members",
       {},
       {{"role", false, "master|worker|alert", "only nodes of this role"},
        {"group", false, "G", "only workers in group G"},
        {"state", false, "STATE,...", "only nodes in these states (RUNNING, OVERLOAD, FAULT, ...)"},
        PageSizeFlag()},
       "the nodes, with state, slot, groups and load"},
      {"groups", {}, {}, "the worker groups, with member counts"},
      {"select",
       {},
       {{"group", false, "G", "the group to pick from (default: default)"},
        {"strategy", false, "NAME",
         "RANDOM, ROUND_ROBIN, FIXED_WEIGHTED_ROUND_ROBIN, DYNAMIC_WEIGHTED_ROUND_ROBIN, "
         "LOWER_WEIGHT or LOWER_LOAD_WEIGHTED_ROUND_ROBIN"},
        {"exclude", false, "ADDR,...", "never pick these workers"},
        {"allow_overload", true, "", "OVERLOAD workers may be picked"},
        {"explain", true, "", "show every candidate, its weight, or why it was skipped"}},
       "which worker should take the next task"},
      {"slot",
       {"ADDRESS"},
       {{"startup_time_ms", false, "MS", "the master's startupTime: a stale one is refused"},
        {"process_id", false, "PID", "the master's process id: a stale one is refused"}},
       "the slot of master ADDRESS"},
      {"leader", {}, {}, "the leader and its fencing token"},
      {"watch",
       {},
       {{"from", false, "N", "resume after version N (default 0: a snapshot first)"},
        {"state_changes_only", true, "", "skip updates that only change load figures"},
        {"count", false, "N", "stop after N messages (default: follow until interrupted)"},
        {"role", false, "master|worker|alert", "only nodes of this role"},
        {"group", false, "G", "only workers in group G"}},
       "follow changes as they happen; resumes by itself after resyncs and restarts"},
      {"drain",
       {"ADDRESS"},
       {{"reason", false, "TEXT", "why (required)"}},
       "take node ADDRESS out of service (admin)"},
      {"undrain", {"ADDRESS"}, {}, "put node ADDRESS back in service (admin)"},
      {"accept-held-losses",
       {},
       {{"reason", false, "TEXT", "why the outage is real (required)"}},
       "publish the losses self-preservation holds now, not after its maximum hold (admin)"},
      {"diff",
       {},
       {},
       "shadow mode (--shadow_registry): every difference between the primary and the shadow "
       "registry's views"},
      {"node", {"ADDRESS"}, {}, "node ADDRESS in detail, with its transition history"},
      {"view",
       {},
       {PageSizeFlag()},
       "the whole view: nodes, groups, slots, leader, rejected znodes"},
      {"top",
       {},
       {{"iterations", false, "N",
         "frames to draw, then exit (default: until q on a terminal, else 1)"}},
       "a live view like top(1): masters, slots, leader, then workers by load; q quits"},
      {"completion", {"SHELL"}, {}, "print the shell completion script (bash)"},
  };
  return *commands;
}

// --- Proto helpers ----------------------------------------------------------------------------

absl::StatusOr<v1::NodeRole> ParseRole(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "master") return v1::MASTER;
  if (lower == "worker") return v1::WORKER;
  if (lower == "alert" || lower == "alert-server" || lower == "alert_server") {
    return v1::ALERT_SERVER;
  }
  return UsageError(absl::StrCat("--role='", text, "' is not master, worker or alert"));
}

absl::StatusOr<std::vector<v1::NodeState>> ParseStates(const std::vector<std::string>& names) {
  std::vector<v1::NodeState> states;
  for (const std::string& name : names) {
    v1::NodeState state;
    if (!v1::NodeState_Parse(absl::AsciiStrToUpper(name), &state) ||
        state == v1::NODE_STATE_UNSPECIFIED) {
      return UsageError(absl::StrCat(
          "--state: '", name,
          "' is not a state (REGISTERING, RUNNING, OVERLOAD, FAULT, RECOVERING, OFFLINE)"));
    }
    states.push_back(state);
  }
  return states;
}

absl::StatusOr<v1::SelectionStrategy> ParseStrategy(absl::string_view text) {
  std::string upper = absl::AsciiStrToUpper(text);
  absl::StrReplaceAll({{"-", "_"}}, &upper);
  v1::SelectionStrategy strategy;
  if (!v1::SelectionStrategy_Parse(upper, &strategy) ||
      strategy == v1::SELECTION_STRATEGY_UNSPECIFIED) {
    return UsageError(absl::StrCat("--strategy='", text,
                                   "' is not RANDOM, ROUND_ROBIN, FIXED_WEIGHTED_ROUND_ROBIN, "
                                   "DYNAMIC_WEIGHTED_ROUND_ROBIN, LOWER_WEIGHT or "
                                   "LOWER_LOAD_WEIGHTED_ROUND_ROBIN"));
  }
  return strategy;
}

bool StateIn(v1::NodeState state, const std::vector<v1::NodeState>& states) {
  return states.empty() || std::find(states.begin(), states.end(), state) != states.end();
}

// --- The commands -----------------------------------------------------------------------------

class Commander {
 public:
  Commander(const ParsedArgs& args, const RosterctlTerminal& terminal, Output output,
            std::string target, RosterClient* client, std::ostream& out, std::ostream& err)
      : args_(args),
        client_(client),
        out_(out),
        err_(err),
        terminal_(terminal),
        target_(std::move(target)),
        output_(output) {}

  absl::Status Run() {
    const std::string& c = args_.command;
    if (c == "members") return Members();
    if (c == "groups") return Groups();
    if (c == "select") return Select();
    if (c == "slot") return Slot();
    if (c == "leader") return Leader();
    if (c == "watch") return Watch();
    if (c == "drain") return Drain();
    if (c == "undrain") return Undrain();
    if (c == "accept-held-losses") return AcceptHeldLosses();
    if (c == "diff") return Diff();
    if (c == "node") return Node();
    if (c == "view") return View();
    if (c == "top") return Top();
    return UsageError(absl::StrCat("unknown command '", c, "'"));
  }

 private:
  bool structured() const { return output_ != Output::kTable; }

  // Prints `message` in the --output format: JSON indented (or on one line), or a YAML
  // document (with its "---" marker when `one_line`: a stream of documents).
  absl::Status Print(const google::protobuf::Message& message, bool one_line = false) {
    absl::StatusOr<std::string> text =
        output_ == Output::kYaml ? MessageToYaml(message) : MessageToJson(message, one_line);
    if (!text.ok()) return text.status();
    if (output_ == Output::kYaml) {
      out_ << (one_line ? "---\n" : "") << *text;
    } else {
      out_ << *text << "\n";
    }
    return absl::OkStatus();
  }

  // --page_size, or 0 (rosterd's default).
  absl::StatusOr<int32_t> PageSize() const {
    absl::StatusOr<int64_t> size = args_.GetInt("page_size", 0, 0, 10000);
    if (!size.ok()) return AsUsage(size.status());
    return static_cast<int32_t>(*size);
  }

  absl::Status Members() {
    std::optional<v1::NodeRole> role;
    if (args_.Has("role")) {
      auto parsed = ParseRole(args_.Get("role"));
      if (!parsed.ok()) return parsed.status();
      role = *parsed;
    }
    const std::string group = args_.Get("group");
    auto states = ParseStates(args_.GetList("state"));
    if (!states.ok()) return states.status();
    absl::StatusOr<int32_t> page_size = PageSize();
    if (!page_size.ok()) return page_size.status();
    if (!group.empty() && role.has_value() && *role != v1::WORKER) {
      return UsageError("--group applies to workers only");
    }

    v1::ListNodesResponse answer;
    if (role == v1::WORKER || !group.empty()) {
      v1::ListWorkersRequest request;
      request.set_group(group);
      request.set_page_size(*page_size);
      for (v1::NodeState state : *states) request.add_states(state);
      auto workers = client_->ListWorkers(request);
      if (!workers.ok()) return workers.status();
      answer = *std::move(workers);
    } else if (role == v1::MASTER) {
      auto masters = client_->ListMasters();
      if (!masters.ok()) return masters.status();
      answer = *std::move(masters);
    } else {
      v1::GetClusterViewRequest request;
      request.set_page_size(*page_size);
      auto view = client_->GetClusterView(request);
      if (!view.ok()) return view.status();
      *answer.mutable_meta() = view->meta();
      if (!role.has_value()) {
        for (const v1::Node& node : view->masters()) *answer.add_nodes() = node;
        for (const v1::Node& node : view->workers()) *answer.add_nodes() = node;
      }
      for (const v1::Node& node : view->alert_servers()) *answer.add_nodes() = node;
    }
    // The server filters workers by state; masters and alert servers are filtered here.
    auto* nodes = answer.mutable_nodes();
    nodes->erase(
        std::remove_if(nodes->begin(), nodes->end(),
                       [&](const v1::Node& node) { return !StateIn(node.state(), *states); }),
        nodes->end());
    if (structured()) return Print(answer);
    out_ << RenderNodes(answer.nodes()) << MetaLine(answer.meta()) << "\n";
    return absl::OkStatus();
  }

  absl::Status Groups() {
    auto answer = client_->ListGroups();
    if (!answer.ok()) return answer.status();
    if (structured()) return Print(*answer);
    out_ << RenderGroups(answer->groups()) << MetaLine(answer->meta()) << "\n";
    return absl::OkStatus();
  }

  absl::Status Select() {
    v1::SelectWorkerRequest request;
    request.set_group(args_.Get("group"));
    if (args_.Has("strategy")) {
      auto strategy = ParseStrategy(args_.Get("strategy"));
      if (!strategy.ok()) return strategy.status();
      request.set_strategy(*strategy);
    }
    for (const std::string& address : args_.GetList("exclude")) request.add_exclude(address);
    request.set_allow_overload(args_.GetBool("allow_overload"));
    request.set_explain(args_.GetBool("explain"));
    auto answer = client_->SelectWorker(request);
    if (!answer.ok()) return answer.status();
    if (structured()) return Print(*answer);

    const v1::Node& worker = answer->worker();
    if (!answer->candidates().empty()) {
      Table table({"", "ADDRESS", "STATE", "ELIGIBLE", "WEIGHT", "WHY NOT"});
      table.AlignRight(4);
      for (const v1::Candidate& candidate : answer->candidates()) {
        table.AddRow({candidate.address() == worker.address() ? "*" : "", candidate.address(),
                      v1::NodeState_Name(candidate.state()), candidate.eligible() ? "yes" : "no",
                      candidate.eligible() ? absl::StrFormat("%.2f", candidate.weight()) : "-",
                      candidate.skipped()});
      }
      out_ << table.Render();
      if (!answer->rule().empty()) out_ << "rule: " << answer->rule() << "\n";
    }
    out_ << "selected " << worker.address() << " (" << v1::NodeState_Name(worker.state());
    if (worker.has_heartbeat()) {
      out_ << ", cpu " << Percent(worker.heartbeat().cpu_usage()) << ", mem "
           << Percent(worker.heartbeat().memory_usage());
    }
    out_ << ")\n" << MetaLine(answer->meta()) << "\n";
    return absl::OkStatus();
  }

  absl::Status Slot() {
    v1::GetMasterSlotRequest request;
    request.set_address(args_.args[0]);
    if (args_.Has("startup_time_ms")) {
      auto ms = args_.GetInt("startup_time_ms", 0, 0, std::numeric_limits<int64_t>::max());
      if (!ms.ok()) return AsUsage(ms.status());
      request.set_startup_time_ms(*ms);
    }
    if (args_.Has("process_id")) {
      auto pid = args_.GetInt("process_id", 0, 0, std::numeric_limits<int32_t>::max());
      if (!pid.ok()) return AsUsage(pid.status());
      request.set_process_id(static_cast<int32_t>(*pid));
    }
    auto answer = client_->GetMasterSlot(request);
    if (!answer.ok()) return answer.status();
    if (structured()) return Print(*answer);
    Table table({"MASTER", "SLOT", "TOTAL", "EPOCH"});
    table.AddRow({request.address(), absl::StrCat(answer->slot()), absl::StrCat(answer->total()),
                  absl::StrCat(answer->epoch())});
    out_ << table.Render() << MetaLine(answer->meta()) << "\n";
    return absl::OkStatus();
  }

  absl::Status Leader() {
    auto answer = client_->GetLeader();
    if (!answer.ok()) return answer.status();
    if (structured()) return Print(*answer);
    Table table({"LEADER", "FENCING_TOKEN", "SINCE", "STATE"});
    const v1::Leader& leader = answer->leader();
    table.AddRow({leader.address(), absl::StrCat(leader.fencing_token()),
                  HumanTime(ToTime(leader.since())),
                  answer->has_master() ? v1::NodeState_Name(answer->master().state())
                                       : "- (not registered as a master)"});
    out_ << table.Render() << MetaLine(answer->meta()) << "\n";
    return absl::OkStatus();
  }

  absl::Status Watch() {
    auto from = args_.GetInt("from", 0, 0, std::numeric_limits<int64_t>::max());
    if (!from.ok()) return AsUsage(from.status());
    auto count = args_.GetInt("count", 0, 0, std::numeric_limits<int64_t>::max());
    if (!count.ok()) return AsUsage(count.status());
    v1::WatchFilter filter;
    if (args_.Has("role")) {
      auto role = ParseRole(args_.Get("role"));
      if (!role.ok()) return role.status();
      filter.add_roles(*role);
    }
    filter.set_group(args_.Get("group"));
    filter.set_state_changes_only(args_.GetBool("state_changes_only"));

    // Follows rosterd across resyncs and restarts, but if it cannot be reached before anything
    // arrived, the target is probably wrong: fail instead of waiting forever.
    int64_t delivered = 0;
    absl::Status first_failure;
    WatchFollower* follower_ptr = nullptr;
    WatchFollowerOptions options;
    options.on_resume = [&](uint64_t from_version, const absl::Status& why) {
      if (delivered == 0) {
        first_failure = why;
        follower_ptr->Cancel();
        return;
      }
      err_ << "rosterctl: watch: resuming from version " << from_version << ": " << why.message()
           << std::endl;
    };
    WatchFollower follower(client_, static_cast<uint64_t>(*from), filter, options);
    follower_ptr = &follower;
    v1::WatchClusterResponse message;
    while (*count == 0 || delivered < *count) {
      absl::Status status = follower.Next(&message);
      if (!status.ok()) return first_failure.ok() ? status : first_failure;
      ++delivered;
      if (structured()) {
        absl::Status printed = Print(message, /*one_line=*/true);
        if (!printed.ok()) return printed;
      } else {
        out_ << WatchLine(message) << "\n";
      }
      out_.flush();
    }
    return absl::OkStatus();
  }

  absl::Status Drain() {
    const std::string reason = args_.Get("reason");
    if (absl::StripAsciiWhitespace(reason).empty()) {
      return UsageError("--reason is required: say why the node is drained");
    }
    v1::DrainNodeRequest request;
    request.set_address(args_.args[0]);
    request.set_reason(reason);
    return PrintNodeAnswer(client_->DrainNode(request));
  }

  absl::Status Undrain() {
    v1::UndrainNodeRequest request;
    request.set_address(args_.args[0]);
    return PrintNodeAnswer(client_->UndrainNode(request));
  }

  absl::Status AcceptHeldLosses() {
    const std::string reason = args_.Get("reason");
    if (absl::StripAsciiWhitespace(reason).empty()) {
      return UsageError("--reason is required: say why the outage is real");
    }
    v1::AcceptHeldLossesRequest request;
    request.set_reason(reason);
    absl::StatusOr<v1::AcceptHeldLossesResponse> answer = client_->AcceptHeldLosses(request);
    if (!answer.ok()) return answer.status();
    if (structured()) return Print(*answer);
    out_ << "accepted " << answer->accepted() << " held loss(es)\n"
         << MetaLine(answer->meta()) << "\n";
    return absl::OkStatus();
  }

  absl::Status Diff() {
    absl::StatusOr<v1::GetShadowDiffResponse> answer = client_->GetShadowDiff({});
    if (!answer.ok()) return answer.status();
    if (structured()) return Print(*answer);
    out_ << "shadow registry " << answer->shadow_registry() << "\n";
    if (!answer->compared()) {
      out_ << "not compared yet: " << answer->not_compared_reason() << "\n";
      return absl::OkStatus();
    }
    out_ << "compared views " << answer->primary_version() << " (primary) and "
         << answer->shadow_version() << " (shadow) at "
         << absl::FormatTime(ToTime(answer->compared_at())) << "\n";
    if (answer->divergences().empty()) {
      out_ << "no divergence\n";
      return absl::OkStatus();
    }
    Table table({"ADDRESS", "ROLE", "KIND", "SINCE", "DETAIL"});
    for (const v1::ShadowDivergence& d : answer->divergences()) {
      table.AddRow({d.address(), RoleName(d.role()), v1::ShadowDivergence::Kind_Name(d.kind()),
                    absl::FormatTime("%H:%M:%S", ToTime(d.since()), absl::LocalTimeZone()),
                    d.detail()});
    }
    out_ << table.Render() << answer->divergences_size() << " divergence(s)\n";
    return absl::OkStatus();
  }

  // A drain or undrain answer: the node as it is now.
  template <typename Response>
  absl::Status PrintNodeAnswer(const absl::StatusOr<Response>& answer) {
    if (!answer.ok()) return answer.status();
    if (structured()) return Print(*answer);
    Table table = NodeTable();
    AddNodeRow(answer->node(), &table);
    out_ << table.Render() << MetaLine(answer->meta()) << "\n";
    return absl::OkStatus();
  }

  absl::Status Node() {
    v1::GetNodeRequest request;
    request.set_address(args_.args[0]);
    auto answer = client_->GetNode(request);
    if (!answer.ok()) return answer.status();
    if (structured()) return Print(*answer);
    const v1::Node& node = answer->node();
    Table fields;
    fields.AddRow({"address", node.address()});
    fields.AddRow({"role", RoleName(node.role())});
    std::string state = v1::NodeState_Name(node.state());
    if (node.has_state_since())
      absl::StrAppend(&state, " since ", HumanTime(ToTime(node.state_since())));
    if (!node.reason().empty()) absl::StrAppend(&state, ": ", node.reason());
    fields.AddRow({"state", state});
    fields.AddRow({"drained", node.drained() ? absl::StrCat("yes: ", node.drain_reason()) : "no"});
    if (node.has_incarnation()) {
      const v1::Incarnation& inc = node.incarnation();
      fields.AddRow(
          {"incarnation", absl::StrCat("czxid ", inc.czxid(), ", started ",
                                       inc.startup_time_ms() > 0
                                           ? HumanTime(absl::FromUnixMillis(inc.startup_time_ms()))
                                           : "-",
                                       ", pid ", inc.process_id())});
    }
    fields.AddRow({"znodes", node.paths().empty() ? "-" : absl::StrJoin(node.paths(), " ")});
    if (node.role() == v1::WORKER) {
      fields.AddRow({"groups", node.groups().empty() ? "-" : absl::StrJoin(node.groups(), ",")});
    }
    if (node.role() == v1::MASTER) {
      fields.AddRow({"slot", node.has_slot() ? absl::StrCat(node.slot()) : "-"});
    }
    if (node.has_heartbeat()) {
      const v1::Heartbeat& hb = node.heartbeat();
      std::string text =
          absl::StrCat("status ",
                       hb.server_status() == v1::Heartbeat::SERVER_STATUS_UNSPECIFIED
                           ? "- (none reported)"
                           : v1::Heartbeat::ServerStatus_Name(hb.server_status()),
                       ", cpu ", Percent(hb.cpu_usage()), ", mem ", Percent(hb.memory_usage()),
                       ", disk ", Percent(hb.disk_usage()));
      if (node.role() == v1::WORKER) {
        absl::StrAppend(&text, ", threads ", Percent(hb.thread_pool_usage()), ", weight ",
                        hb.host_weight());
      }
      if (hb.has_load_average())
        absl::StrAppend(&text, absl::StrFormat(", load %.2f", hb.load_average()));
      if (hb.legacy_format()) text += ", legacy format";
      fields.AddRow({"heartbeat", text});
      if (hb.report_time_ms() > 0) {
        fields.AddRow(
            {"reported", absl::StrCat(HumanTime(absl::FromUnixMillis(hb.report_time_ms())),
                                      " (the node's clock)")});
      }
    } else {
      fields.AddRow({"heartbeat", "none yet"});
    }
    if (node.has_heartbeat_age()) {
      fields.AddRow({"data age", absl::StrCat(HumanDuration(ToDuration(node.heartbeat_age())),
                                              " since the znode last changed")});
    }
    out_ << fields.Render();
    if (!node.history().empty()) {
      Table history({"AT", "FROM", "TO", "CAUSE"});
      for (const v1::Transition& t : node.history()) {
        history.AddRow({HumanTime(ToTime(t.at())), v1::NodeState_Name(t.from()),
                        v1::NodeState_Name(t.to()), t.cause()});
      }
      out_ << "\nHISTORY\n" << history.Render();
    }
    out_ << MetaLine(answer->meta()) << "\n";
    return absl::OkStatus();
  }

  absl::Status Top() {
    if (structured()) {
      return UsageError("top draws a table; for JSON or YAML use `watch` (changes) or `view`");
    }
    absl::StatusOr<int64_t> iterations =
        args_.GetInt("iterations", 0, 0, std::numeric_limits<int64_t>::max());
    if (!iterations.ok()) return AsUsage(iterations.status());
    TopOptions options;
    options.title = absl::StrCat("rosterctl top ", target_);
    options.iterations = *iterations;
    options.terminal = terminal_.interactive;
    options.input_fd = terminal_.input_fd;
    options.output_fd = terminal_.output_fd;
    return RunTop(client_, options, out_);
  }

  absl::Status View() {
    absl::StatusOr<int32_t> page_size = PageSize();
    if (!page_size.ok()) return page_size.status();
    v1::GetClusterViewRequest request;
    request.set_page_size(*page_size);
    auto answer = client_->GetClusterView(request);
    if (!answer.ok()) return answer.status();
    if (structured()) return Print(*answer);
    out_ << "MASTERS\n" << RenderNodes(answer->masters());
    out_ << "\nWORKERS\n" << RenderNodes(answer->workers());
    if (!answer->alert_servers().empty()) {
      out_ << "\nALERT SERVERS\n" << RenderNodes(answer->alert_servers());
    }
    out_ << "\nGROUPS\n" << RenderGroups(answer->groups()) << "\n";
    out_ << "slots: "
         << (answer->slots().masters().empty()
                 ? std::string("none")
                 : absl::StrCat(answer->slots().masters_size(), " (",
                                absl::StrJoin(answer->slots().masters(), " "), "), epoch ",
                                answer->slots().epoch()))
         << "\n";
    out_ << "leader: " << (answer->has_leader() ? LeaderLine(answer->leader()) : "none") << "\n";
    if (!answer->rejected().empty()) {
      Table rejected({"REJECTED ZNODE", "REASON"});
      for (const v1::RejectedZnode& r : answer->rejected()) rejected.AddRow({r.path(), r.reason()});
      out_ << "\n" << rejected.Render();
    }
    out_ << MetaLine(answer->meta()) << "\n";
    return absl::OkStatus();
  }

  const ParsedArgs& args_;
  RosterClient* const client_;
  std::ostream& out_;
  std::ostream& err_;
  const RosterctlTerminal& terminal_;
  const std::string target_;
  const Output output_;
};

absl::StatusOr<std::string> ReadToken(absl::string_view flag, const std::string& path) {
  std::ifstream in(path);
  if (!in) return UsageError(absl::StrCat("cannot read --", flag, " '", path, "'"));
  std::string line;
  std::getline(in, line);
  absl::StripAsciiWhitespace(&line);
  if (line.empty()) {
    return UsageError(absl::StrCat("--", flag, " '", path, "' holds no token"));
  }
  return line;
}

// The token and TLS flags into `options`.
absl::Status CredentialOptions(const ParsedArgs& parsed, ClientOptions* options) {
  if (parsed.Has("admin_token_file")) {
    absl::StatusOr<std::string> token =
        ReadToken("admin_token_file", parsed.Get("admin_token_file"));
    if (!token.ok()) return token.status();
    options->admin_token = *std::move(token);
  }
  if (parsed.Has("token_file")) {
    absl::StatusOr<std::string> token = ReadToken("token_file", parsed.Get("token_file"));
    if (!token.ok()) return token.status();
    options->token = *std::move(token);
  }
  options->tls_ca_file = parsed.Get("tls_ca_file", "");
  options->tls_cert_file = parsed.Get("tls_cert_file", "");
  options->tls_key_file = parsed.Get("tls_key_file", "");
  options->tls_server_name = parsed.Get("tls_server_name", "");
  return absl::OkStatus();
}

// --output, or --json (the older spelling of --output=json).
absl::StatusOr<Output> OutputFormat(const ParsedArgs& parsed) {
  absl::StatusOr<Output> output = ParseOutput(parsed.Get("output", "table"));
  if (!output.ok()) return output.status();
  if (parsed.GetBool("json")) {
    if (parsed.Has("output") && *output != Output::kJson) {
      return absl::InvalidArgumentError(
          absl::StrCat("--json contradicts --output=", parsed.Get("output")));
    }
    return Output::kJson;
  }
  return output;
}

// Values completed for flags whose value_name does not list them: the API's enums.
std::map<std::string, std::vector<std::string>> CompletionChoices() {
  std::vector<std::string> states;
  for (int s = v1::NodeState_MIN; s <= v1::NodeState_MAX; ++s) {
    if (v1::NodeState_IsValid(s) && s != v1::NODE_STATE_UNSPECIFIED) {
      states.push_back(v1::NodeState_Name(static_cast<v1::NodeState>(s)));
    }
  }
  std::vector<std::string> strategies;
  for (int s = v1::SelectionStrategy_MIN; s <= v1::SelectionStrategy_MAX; ++s) {
    if (v1::SelectionStrategy_IsValid(s) && s != v1::SELECTION_STRATEGY_UNSPECIFIED) {
      strategies.push_back(v1::SelectionStrategy_Name(static_cast<v1::SelectionStrategy>(s)));
    }
  }
  return {{"state", states}, {"strategy", strategies}};
}

// "slot 10.0.0.1:5678", for error lines.
std::string Invocation(const ParsedArgs& args) {
  std::vector<std::string> parts = {args.command};
  parts.insert(parts.end(), args.args.begin(), args.args.end());
  return absl::StrJoin(parts, " ");
}

// One line, whatever the message holds.
std::string OneLine(absl::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return out;
}

}  // namespace

std::string RosterctlUsage() {
  return UsageText("rosterctl", "inspect and operate a roster cluster view (rosterd)",
                   GlobalFlags(), Commands()) +
         "\nExit codes: 0 success, 1 an RPC failed, 2 usage error.\n";
}

int RunRosterctl(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err,
                 const RosterctlTerminal& terminal) {
  absl::StatusOr<ParsedArgs> parsed = ParseArgs(argv, GlobalFlags(), Commands());
  if (!parsed.ok()) {
    err << "rosterctl: " << OneLine(parsed.status().message()) << " (see rosterctl --help)"
        << std::endl;
    return kExitUsage;
  }
  if (parsed->help) {
    out << RosterctlUsage();
    return kExitOk;
  }
  if (parsed->GetBool("version")) {
    out << "rosterctl version " << ROSTER_VERSION_STRING << "\n";
    return kExitOk;
  }
  if (parsed->command.empty()) {
    err << "rosterctl: no command given (see rosterctl --help)" << std::endl;
    return kExitUsage;
  }
  const std::string where = Invocation(*parsed);
  if (parsed->command == "completion") {
    if (parsed->args[0] != "bash") {
      err << "rosterctl: " << where << ": no completion for shell '" << parsed->args[0]
          << "' (bash only)" << std::endl;
      return kExitUsage;
    }
    out << BashCompletion("rosterctl", GlobalFlags(), Commands(), CompletionChoices());
    return kExitOk;
  }
  absl::StatusOr<Output> output = OutputFormat(*parsed);
  if (!output.ok()) {
    err << "rosterctl: " << where << ": " << output.status().message() << " (see rosterctl --help)"
        << std::endl;
    return kExitUsage;
  }

  ClientOptions options;
  const char* env_target = std::getenv("ROSTER_TARGET");
  options.target = parsed->Get(
      "target", env_target != nullptr && *env_target != '\0' ? env_target : kDefaultTarget);
  absl::StatusOr<int64_t> timeout_ms =
      parsed->GetInt("timeout_ms", kDefaultTimeoutMs, 1, int64_t{24} * 3600 * 1000);
  if (!timeout_ms.ok()) {
    err << "rosterctl: " << where << ": " << timeout_ms.status().message()
        << " (see rosterctl --help)" << std::endl;
    return kExitUsage;
  }
  options.deadline = absl::Milliseconds(*timeout_ms);
  if (absl::Status credentials = CredentialOptions(*parsed, &options); !credentials.ok()) {
    err << "rosterctl: " << where << ": " << credentials.message() << std::endl;
    return kExitUsage;
  }
  absl::StatusOr<std::unique_ptr<RosterClient>> client = RosterClient::Create(options);
  if (!client.ok()) {
    err << "rosterctl: " << where << ": " << OneLine(client.status().message()) << std::endl;
    return kExitUsage;
  }

  const absl::Status status =
      Commander(*parsed, terminal, *output, options.target, client->get(), out, err).Run();
  out.flush();
  if (status.ok()) return kExitOk;
  if (IsUsageError(status)) {
    err << "rosterctl: " << where << ": " << OneLine(status.message()) << " (see rosterctl --help)"
        << std::endl;
    return kExitUsage;
  }
  err << "rosterctl: " << where << ": " << absl::StatusCodeToString(status.code()) << ": "
      << OneLine(status.message()) << std::endl;
  return kExitRpcFailed;
}

}  // namespace roster::client
