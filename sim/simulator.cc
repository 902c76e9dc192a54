#include "sim/simulator.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "cluster/ds_version.h"
#include "cluster/heartbeat_codec.h"
#include "cluster/node_address.h"
#include "glog/logging.h"
#include "registry/registry_factory.h"
#include "roster/v1/heartbeat.pb.h"
#include "util/status_macros.h"

namespace roster::sim {

using cluster::NodeRole;

struct Simulator::Node {
  int index = 0;
  NodeRole role = NodeRole::kWorker;
  std::string address;  // "host:port"
  std::string host;
  int port = 0;
  std::string group;  // workers
  std::string path;   // the znode

  // Guarded by Simulator::mu_.
  bool busy = false;
  bool registered = false;    // its znode exists (as far as we know)
  bool heartbeating = false;  // false after stop / bad
  bool bad = false;
  int64_t startup_time_ms = 0;
  int32_t process_id = 0;
  std::shared_ptr<registry::Registry> session;  // its own, or its block's (shared)
  absl::Time next_heartbeat;
  // Heartbeat writes taken from the schedule and not yet answered. "stop" and "bad" wait for
  // them, so no heartbeat lands after their "ok" (a late one would overwrite the bad payload).
  int writes_in_flight = 0;
  uint64_t writes = 0;
  std::string last_error;
  // Load figures, a bounded random walk.
  double cpu = 0.2;
  double memory = 0.45;
  double disk = 0.35;
  double jvm_cpu = 0.02;
  double jvm_memory = 0.25;
  double thread_pool = 0.1;
  double load_average = 1.5;
};

namespace {

absl::string_view RoleWord(NodeRole role) {
  switch (role) {
    case NodeRole::kMaster:
      return "master";
    case NodeRole::kWorker:
      return "worker";
    case NodeRole::kAlertServer:
      return "alert-server";
  }
  return "?";
}

std::string JoinHostPort(absl::string_view host, int port) {
  if (host.find(':') != absl::string_view::npos && host.front() != '[') {
    return absl::StrCat("[", host, "]:", port);  // IPv6
  }
  return absl::StrCat(host, ":", port);
}

// One step of a bounded random walk.
void Walk(absl::BitGen& bitgen, double* value, double lo, double hi, double step) {
  *value = std::clamp(*value + absl::Uniform(bitgen, -step, step), lo, hi);
}

// The node counts, ports, host and interval.
absl::Status ValidateCounts(const SimulatorOptions& o) {
  const int total = o.masters + o.workers + o.alert_servers;
  if (o.masters < 0 || o.workers < 0 || o.alert_servers < 0 || total == 0) {
    return absl::InvalidArgumentError(absl::StrCat("no nodes to simulate (--masters=", o.masters,
                                                   " --workers=", o.workers,
                                                   " --alert_servers=", o.alert_servers, ")"));
  }
  if (o.base_port < 1 || o.base_port + total - 1 > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("ports ", o.base_port, "..",
                                                   o.base_port + total - 1,
                                                   " are not all in [1, 65535] (--base_port)"));
  }
  if (o.host.empty()) return absl::InvalidArgumentError("--host is empty");
  if (o.heartbeat_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--heartbeat_interval_ms must be positive");
  }
  if (o.nodes_per_session < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--nodes_per_session=", o.nodes_per_session, ": must be at least 1"));
  }
  return absl::OkStatus();
}

// Why registering a node failed, with a hint for the usual causes.
absl::Status RegisterError(absl::string_view role, absl::string_view address,
                           absl::string_view path, const absl::Status& status,
                           bool create_parents) {
  std::string hint;
  if (absl::IsAlreadyExists(status)) {
    hint = " (another process holds it, or a previous run's session has not expired yet)";
  } else if (absl::IsNotFound(status) && !create_parents) {
    hint = " (the parent is missing: use --create_parents)";
  }
  return absl::Status(status.code(), absl::StrCat("register ", role, " '", address, "' at '", path,
                                                  "': ", status.message(), hint));
}

// A truncated write, as a crashed or buggy node might leave behind.
constexpr absl::string_view kMalformedPayload = "{\"processId\":4242,\"startupTime\":";

}  // namespace

Simulator::Simulator(SimulatorOptions options) : options_(std::move(options)) {}

Simulator::~Simulator() { Shutdown(); }

int Simulator::node_count() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(nodes_.size());
}

std::vector<std::string> Simulator::addresses() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& node : nodes_) out.push_back(node->address);
  return out;
}

absl::StatusOr<std::shared_ptr<registry::Registry>> Simulator::OpenSession(absl::string_view name) {
  registry::RegistryOptions options;
  options.session_timeout = options_.session_timeout;
  options.digest_file = options_.digest_file;
  options.name = std::string(name);
  ASSIGN_OR_RETURN(std::unique_ptr<registry::Registry> session,
                   registry::NewRegistry(uri_, std::move(options)));
  RETURN_IF_ERROR(session->Start());
  absl::Status connected = session->WaitConnected(options_.connect_timeout);
  if (!connected.ok()) {
    session->Shutdown();
    return absl::Status(connected.code(),
                        absl::StrCat("session '", name, "' on ", uri_, ": ", connected.message()));
  }
  return std::shared_ptr<registry::Registry>(std::move(session));
}

absl::Status Simulator::CreateChroot() {
  ASSIGN_OR_RETURN(registry::RegistryUri parsed, registry::ParseRegistryUri(uri_));
  if (parsed.chroot.empty() || !options_.create_parents) return absl::OkStatus();
  const std::string chroot = parsed.chroot;
  parsed.chroot.clear();
  registry::RegistryOptions options;
  options.session_timeout = options_.session_timeout;
  options.digest_file = options_.digest_file;
  options.name = "sim-setup";
  ASSIGN_OR_RETURN(std::unique_ptr<registry::Registry> root,
                   registry::NewRegistry(parsed.ToString(), std::move(options)));
  RETURN_IF_ERROR(root->Start());
  absl::Status status = root->WaitConnected(options_.connect_timeout);
  if (status.ok()) {
    registry::CreateOptions create;
    create.create_parents = true;
    status = root->Create(chroot, "", create).status();
    if (absl::IsAlreadyExists(status)) status = absl::OkStatus();
  }
  root->Shutdown();
  if (!status.ok()) {
    return absl::Status(status.code(),
                        absl::StrCat("create the chroot '", chroot, "': ", status.message()));
  }
  return absl::OkStatus();
}

absl::Status Simulator::Start() {
  absl::MutexLock command_lock(&command_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (started_) return absl::FailedPreconditionError("the simulator was already started");
    started_ = true;
  }
  const SimulatorOptions& o = options_;
  RETURN_IF_ERROR(ValidateCounts(o));
  std::vector<std::string> groups = o.groups;
  if (groups.empty()) groups.push_back("default");
  for (const std::string& group : groups) {
    absl::Status valid = cluster::ValidateGroupName(group);
    if (!valid.ok()) return absl::InvalidArgumentError(absl::StrCat("--groups: ", valid.message()));
  }
  RETURN_IF_ERROR(o.paths.Validate());
  RETURN_IF_ERROR(SetUpRelease());

  ASSIGN_OR_RETURN(registry::RegistryUri parsed, registry::ParseRegistryUri(o.registry_uri));
  if (parsed.scheme == registry::RegistryUri::Scheme::kMemory && parsed.memory_name.empty()) {
    parsed.memory_name = "roster-sim";  // one store for every node's session
  }
  uri_ = parsed.ToString();

  {
    absl::MutexLock lock(&mu_);
    int port = o.base_port;
    const std::pair<NodeRole, int> counts[] = {{NodeRole::kMaster, o.masters},
                                               {NodeRole::kWorker, o.workers},
                                               {NodeRole::kAlertServer, o.alert_servers}};
    for (const auto& [role, count] : counts) {
      for (int i = 0; i < count; ++i) {
        auto node = std::make_unique<Node>();
        node->index = static_cast<int>(nodes_.size());
        node->role = role;
        node->host = o.host;
        node->port = port++;
        node->address = JoinHostPort(o.host, node->port);
        if (role == NodeRole::kWorker) node->group = groups[i % groups.size()];
        node->path = PathOf(*node);
        // Spread the load figures so the nodes differ.
        node->cpu = absl::Uniform(bitgen_, 0.05, 0.5);
        node->memory = absl::Uniform(bitgen_, 0.3, 0.6);
        node->disk = absl::Uniform(bitgen_, 0.1, 0.6);
        node->thread_pool = absl::Uniform(bitgen_, 0.0, 0.3);
        nodes_.push_back(std::move(node));
      }
    }
    for (const std::string& busy : o.busy) {
      Node* node = Find(busy);
      if (node == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("--busy: '", busy, "' is neither a node address nor an index in [0, ",
                         nodes_.size(), ")"));
      }
      node->busy = true;
    }
  }

  RETURN_IF_ERROR(CreateChroot());
  std::vector<Node*> nodes;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& node : nodes_) nodes.push_back(node.get());
  }
  if (o.nodes_per_session > 1) RETURN_IF_ERROR(OpenBlockSessions(nodes.size()));
  RETURN_IF_ERROR(Register(nodes));
  const bool coordinator =
      roster_dialect_ || profile_->coordinator == cluster::CoordinatorMode::kZnode;
  if (o.coordinator && coordinator && o.masters > 0) RETURN_IF_ERROR(MoveLeader(nodes[0]));
  if (group_writer_ != nullptr) RETURN_IF_ERROR(WriteGroupRows());

  heartbeat_thread_ = std::thread([this] { HeartbeatLoop(); });
  LOG(INFO) << "simulating " << nodes.size() << " nodes on " << uri_ << " ("
            << (o.nodes_per_session == 1 ? "a session each"
                                         : absl::StrCat(o.nodes_per_session, " per session"))
            << ")";
  return absl::OkStatus();
}

absl::Status Simulator::SetUpRelease() {
  const SimulatorOptions& o = options_;
  if (o.dolphinscheduler_version == "roster") {
    roster_dialect_ = true;
    profile_ = &cluster::ProfileOf(cluster::DsVersion::k3_3);
  } else {
    absl::StatusOr<cluster::DsVersion> version =
        cluster::ParseDsVersion(o.dolphinscheduler_version);
    if (version.ok() && *version == cluster::DsVersion::kAuto) {
      version = absl::InvalidArgumentError("'auto' plays no release: name one");
    }
    if (!version.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--dolphinscheduler_version: ", version.status().message(), " (or 'roster')"));
    }
    profile_ = &cluster::ProfileOf(*version);
  }
  if (o.alert_servers > 0 && !roster_dialect_ && !profile_->alert_servers) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--alert_servers=", o.alert_servers, ": DolphinScheduler ", profile_->name, " (",
        profile_->releases,
        ") registers no alert servers (they register from 3.2.0 on); use --alert_servers=0"));
  }
  if (!o.worker_group_db_uri.empty()) {
    cluster::dsdb::WorkerGroupWriterOptions db;
    db.uri = o.worker_group_db_uri;
    db.password_file = o.worker_group_db_password_file;
    absl::StatusOr<std::unique_ptr<cluster::dsdb::WorkerGroupWriter>> writer =
        cluster::dsdb::NewWorkerGroupWriter(std::move(db));
    if (!writer.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--worker_group_db_uri: ", writer.status().message()));
    }
    group_writer_ = *std::move(writer);
  }
  return absl::OkStatus();
}

std::string Simulator::PathOf(const Node& node) const {
  const std::string& dir = options_.paths.RootOf(node.role);
  if (node.role != NodeRole::kWorker || roster_dialect_ ||
      profile_->groups != cluster::GroupOrigin::kRegistryPath) {
    return registry::JoinPath(dir, node.address);
  }
  // 2.0 and 3.0 workers lower-case their group (WorkerRegistryClient.getWorkerZkPaths @
  // 2.0.9-release, 3.0.6-release); 3.1.0's only trims it (WorkerConfig.validate @
  // 3.1.0-release).
  const std::string group = profile_->version == cluster::DsVersion::k3_1_0
                                ? node.group
                                : absl::AsciiStrToLower(node.group);
  return registry::JoinPath(registry::JoinPath(dir, group), node.address);
}

absl::Status Simulator::WriteGroupRows() {
  std::vector<std::string> names;
  std::map<std::string, std::vector<std::string>> members;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& node : nodes_) {
      if (node->role != NodeRole::kWorker) continue;
      if (members.count(node->group) == 0) names.push_back(node->group);
      members[node->group].push_back(node->address);
    }
  }
  absl::Status status = group_writer_->CreateTable();
  for (const std::string& name : names) {
    if (!status.ok()) break;
    status = group_writer_->Upsert(name, absl::StrJoin(members[name], ","));
  }
  if (!status.ok()) {
    return absl::Status(status.code(),
                        absl::StrCat("write the worker groups to ", options_.worker_group_db_uri,
                                     ": ", status.message()));
  }
  return absl::OkStatus();
}

std::string Simulator::GroupCommand(const std::vector<std::string>& words) {
  if (words.size() != 3) return "error usage: group NAME ADDR[,ADDR]";
  absl::MutexLock command_lock(&command_mu_);
  if (group_writer_ == nullptr) {
    return "error group: no worker group database (--worker_group_db_uri)";
  }
  if (absl::Status valid = cluster::ValidateGroupName(words[1]); !valid.ok()) {
    return absl::StrCat("error group: ", valid.message());
  }
  absl::Status status = group_writer_->Upsert(words[1], words[2]);
  if (!status.ok()) {
    return absl::StrCat("error group ", words[1], ": ", absl::StatusCodeToString(status.code()),
                        ": ", status.message());
  }
  return absl::StrCat("ok group ", words[1], " ", words[2]);
}

absl::Status Simulator::OpenBlockSessions(size_t nodes) {
  const size_t per_session = static_cast<size_t>(options_.nodes_per_session);
  for (size_t i = 0; i < (nodes + per_session - 1) / per_session; ++i) {
    ASSIGN_OR_RETURN(std::shared_ptr<registry::Registry> session,
                     OpenSession(absl::StrCat("sim-session-", i)));
    absl::MutexLock lock(&mu_);
    block_sessions_.push_back(std::move(session));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<registry::Registry>> Simulator::SessionFor(const Node& node) {
  if (options_.nodes_per_session == 1) return OpenSession(absl::StrCat("sim-", node.address));
  absl::MutexLock lock(&mu_);
  const size_t block = static_cast<size_t>(node.index / options_.nodes_per_session);
  if (block >= block_sessions_.size()) {
    return absl::FailedPreconditionError("the simulator is shutting down");
  }
  return block_sessions_[block];
}

absl::Status Simulator::Register(const std::vector<Node*>& nodes) {
  struct Pending {
    Node* node;
    std::shared_ptr<registry::Registry> session;
    std::string payload;
    absl::Status status;
  };
  std::vector<Pending> pending;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::FailedPreconditionError("the simulator is shutting down");
    for (Node* node : nodes) {
      // A new incarnation: DolphinScheduler sets both when the process starts.
      node->startup_time_ms = absl::ToUnixMillis(absl::Now());
      node->process_id = absl::Uniform<int32_t>(bitgen_, 1000, 4194304);
      node->bad = false;
      pending.push_back({node, nullptr, Payload(node), absl::OkStatus()});
    }
  }
  // Creates are pipelined: thousands of nodes register in a few round trips' time.
  absl::Mutex done_mu;
  size_t answered = 0;
  size_t issued = 0;
  absl::Status session_error;
  registry::CreateOptions create;
  create.mode = registry::CreateMode::kEphemeral;
  create.create_parents = options_.create_parents;
  for (Pending& p : pending) {
    absl::StatusOr<std::shared_ptr<registry::Registry>> session = SessionFor(*p.node);
    if (!session.ok()) {
      session_error = session.status();
      break;
    }
    p.session = *std::move(session);
    ++issued;
    p.session->CreateAsync(p.node->path, std::move(p.payload), create,
                           [&done_mu, &answered, &p](absl::StatusOr<std::string> created) {
                             absl::MutexLock lock(&done_mu);
                             p.status = created.status();
                             ++answered;
                           });
  }
  {
    absl::MutexLock lock(&done_mu);
    auto all_answered = [&]() { return answered == issued; };
    done_mu.Await(absl::Condition(&all_answered));
  }
  absl::Status first_error;
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  for (Pending& p : pending) {
    if (p.session == nullptr) continue;
    if (!p.status.ok()) {
      if (options_.nodes_per_session == 1) p.session->Shutdown();
      if (first_error.ok()) {
        first_error = RegisterError(RoleWord(p.node->role), p.node->address, p.node->path, p.status,
                                    options_.create_parents);
      }
      continue;
    }
    Node* node = p.node;
    node->session = std::move(p.session);
    node->registered = true;
    node->heartbeating = true;
    // Spread the first heartbeats over the whole interval, as independent processes would:
    // the writes then come at a steady rate, not in bursts.
    Schedule(node, now + options_.heartbeat_interval * absl::Uniform(bitgen_, 0.0, 1.0));
    VLOG(1) << "registered " << RoleWord(node->role) << " '" << node->address << "' at '"
            << node->path << "'";
  }
  // A session that could not be opened stopped the creates after the nodes answered above.
  return first_error.ok() ? session_error : first_error;
}

void Simulator::Schedule(Node* node, absl::Time at) {
  node->next_heartbeat = at;
  schedule_.emplace(at, node->index);
}

std::string Simulator::Payload(Node* node) {
  Walk(bitgen_, &node->cpu, 0.02, 0.6, 0.05);
  Walk(bitgen_, &node->memory, 0.2, 0.7, 0.02);
  Walk(bitgen_, &node->disk, 0.05, 0.8, 0.002);
  Walk(bitgen_, &node->jvm_cpu, 0.0, 0.2, 0.01);
  Walk(bitgen_, &node->jvm_memory, 0.1, 0.6, 0.02);
  Walk(bitgen_, &node->thread_pool, 0.0, 0.6, 0.05);
  Walk(bitgen_, &node->load_average, 0.1, 6.0, 0.3);
  // A BUSY node is one over DolphinScheduler's thresholds: make the figures agree.
  const double cpu = node->busy ? std::max(node->cpu, 0.92) : node->cpu;
  const double memory = node->busy ? std::max(node->memory, 0.86) : node->memory;
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());

  v1::Heartbeat heartbeat;
  heartbeat.set_server_status(node->busy ? v1::Heartbeat::BUSY : v1::Heartbeat::NORMAL);
  heartbeat.set_process_id(node->process_id);
  heartbeat.set_startup_time_ms(node->startup_time_ms);
  heartbeat.set_report_time_ms(now_ms);
  heartbeat.set_cpu_usage(cpu);
  heartbeat.set_memory_usage(memory);
  heartbeat.set_disk_usage(node->disk);
  heartbeat.set_jvm_cpu_usage(node->jvm_cpu);
  heartbeat.set_jvm_memory_usage(node->jvm_memory);
  heartbeat.set_host(node->host);
  heartbeat.set_port(node->port);
  // The resource figures of 2.0 - 3.2.0 (the encoder drops those a release does not write).
  heartbeat.set_load_average(node->load_average);
  heartbeat.set_available_memory_gb(32.0 * (1 - memory));
  heartbeat.set_reserved_memory(0.3);
  heartbeat.set_max_cpu_load_avg(16.0);
  heartbeat.set_disk_available_gb(500.0 * (1 - node->disk));
  if (node->role == NodeRole::kWorker) {
    const int tasks = static_cast<int>(node->thread_pool * 10);
    heartbeat.set_host_weight(100);
    heartbeat.set_exec_threads(100);
    heartbeat.set_waiting_tasks(tasks);
    if (roster_dialect_) heartbeat.set_worker_group(node->group);
    // 3.2.1 and 3.2.2 write the running + waiting task count where 3.3 writes a fraction
    // (WorkerHeartBeatTask.java @ 3.2.1-release, 3.2.2-release).
    if (profile_->dialect == cluster::HeartbeatDialect::kJson321 ||
        profile_->dialect == cluster::HeartbeatDialect::kJson322) {
      heartbeat.set_running_tasks(tasks);
    } else {
      heartbeat.set_thread_pool_usage(node->thread_pool);
    }
  }
  if (roster_dialect_) return cluster::EncodeHeartbeat(node->role, heartbeat);
  return cluster::EncodeHeartbeat(node->role, heartbeat, profile_->dialect);
}

void Simulator::HeartbeatLoop() {
  struct Write {
    Node* node;
    std::shared_ptr<registry::Registry> session;
    std::string payload;
  };
  // Writes due this close together go out in one batch: one wake-up per millisecond at most.
  constexpr absl::Duration kBatch = absl::Milliseconds(1);
  while (true) {
    std::vector<Write> writes;
    absl::Time wake;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      const absl::Time now = absl::Now();
      while (!schedule_.empty() && schedule_.top().first <= now + kBatch) {
        const auto [due, index] = schedule_.top();
        schedule_.pop();
        Node* node = nodes_[index].get();
        if (!node->registered || !node->heartbeating || node->next_heartbeat != due) continue;
        writes.push_back({node, node->session, Payload(node)});
        ++node->writes_in_flight;
        // Paced from the due time, not from now, so a late wake-up does not shift the node's
        // phase; a node far behind (a stalled process) starts a new interval.
        absl::Time next = due + options_.heartbeat_interval * absl::Uniform(bitgen_, 0.95, 1.05);
        if (next < now) next = now + options_.heartbeat_interval;
        Schedule(node, next);
      }
      wake = schedule_.empty() ? now + options_.heartbeat_interval : schedule_.top().first;
    }
    for (Write& write : writes) {
      Node* node = write.node;
      write.session->SetAsync(node->path, std::move(write.payload), registry::Registry::kAnyVersion,
                              [this, node](absl::StatusOr<registry::Stat> result) {
                                absl::MutexLock lock(&mu_);
                                --node->writes_in_flight;
                                if (result.ok()) {
                                  ++node->writes;
                                  node->last_error.clear();
                                } else {
                                  node->last_error = std::string(result.status().message());
                                  VLOG(1) << "heartbeat of '" << node->address
                                          << "': " << result.status();
                                }
                              });
    }
    absl::MutexLock lock(&mu_);
    // Wakes early for a stop, or for a node scheduled before `wake` (start, resume).
    auto woken = [this, wake]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopping_ || (!schedule_.empty() && schedule_.top().first < wake);
    };
    mu_.AwaitWithDeadline(absl::Condition(&woken), wake);
  }
}

Simulator::Node* Simulator::Find(absl::string_view address_or_index) {
  int index = 0;
  if (absl::SimpleAtoi(address_or_index, &index)) {
    if (index >= 0 && index < static_cast<int>(nodes_.size())) return nodes_[index].get();
    return nullptr;
  }
  for (const auto& node : nodes_) {
    if (node->address == address_or_index) return node.get();
  }
  return nullptr;
}

void Simulator::StopHeartbeats(Node* node) {
  node->heartbeating = false;
  auto answered = [node]() { return node->writes_in_flight == 0; };
  mu_.Await(absl::Condition(&answered));
}

void Simulator::WriteNow(Node* node) {
  // Out of the heartbeat schedule so the change is visible at once (and the answer "ok" means
  // it was written).
  std::shared_ptr<registry::Registry> session;
  std::string payload;
  {
    absl::MutexLock lock(&mu_);
    if (!node->registered || !node->heartbeating) return;
    session = node->session;
    payload = Payload(node);
    Schedule(node, absl::Now() + options_.heartbeat_interval);
  }
  absl::StatusOr<registry::Stat> written = session->Set(node->path, std::move(payload));
  absl::MutexLock lock(&mu_);
  if (written.ok()) {
    ++node->writes;
    node->last_error.clear();
  } else {
    node->last_error = std::string(written.status().message());
  }
}

absl::Status Simulator::MoveLeader(Node* to) {
  std::shared_ptr<registry::Registry> from_session;
  std::shared_ptr<registry::Registry> to_session;
  {
    absl::MutexLock lock(&mu_);
    if (to->role != NodeRole::kMaster) {
      return absl::InvalidArgumentError(absl::StrCat("'", to->address, "' is not a master"));
    }
    if (!to->registered) {
      return absl::FailedPreconditionError(absl::StrCat("'", to->address, "' is not registered"));
    }
    if (leader_ == to) return absl::OkStatus();
    to_session = to->session;
    from_session = leader_ != nullptr ? leader_->session : to_session;
  }
  const std::string& coordinator = options_.paths.coordinator;
  absl::Status deleted = from_session->Delete(coordinator);
  if (!deleted.ok() && !absl::IsNotFound(deleted)) {
    return absl::Status(deleted.code(), absl::StrCat("delete the coordinator '", coordinator,
                                                     "': ", deleted.message()));
  }
  registry::CreateOptions create;
  create.mode = registry::CreateMode::kEphemeral;
  create.create_parents = options_.create_parents;
  absl::StatusOr<std::string> created = to_session->Create(coordinator, to->address, create);
  {
    absl::MutexLock lock(&mu_);
    leader_ = created.ok() ? to : nullptr;
  }
  if (!created.ok()) {
    return absl::Status(created.status().code(),
                        absl::StrCat("create the coordinator '", coordinator, "' for '",
                                     to->address, "': ", created.status().message()));
  }
  LOG(INFO) << "leader is now '" << to->address << "'";
  return absl::OkStatus();
}

std::string Simulator::List() {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> items;
  for (const auto& node : nodes_) {
    std::vector<std::string> fields = {std::string(RoleWord(node->role))};
    if (node->role == NodeRole::kWorker) fields.push_back(node->group);
    fields.push_back(node->busy ? "BUSY" : "NORMAL");
    fields.push_back(!node->registered    ? "killed"
                     : node->bad          ? "bad"
                     : node->heartbeating ? "running"
                                          : "stopped");
    if (leader_ == node.get()) fields.push_back("leader");
    items.push_back(absl::StrCat(node->index, "=", node->address, ",", absl::StrJoin(fields, ",")));
  }
  return absl::StrCat("ok ", nodes_.size(), " nodes: ", absl::StrJoin(items, " "));
}

std::string Simulator::Execute(absl::string_view line) {
  std::vector<std::string> words =
      absl::StrSplit(line, absl::ByAnyChar(" \t\r\n"), absl::SkipEmpty());
  if (words.empty()) return "error empty command";
  const std::string& command = words[0];
  if (command == "list") {
    if (words.size() != 1) return "error usage: list";
    return List();
  }
  if (command == "group") return GroupCommand(words);
  static const std::set<std::string> kNodeCommands = {"busy", "normal", "stop", "resume",
                                                      "kill", "start",  "bad",  "leader"};
  if (kNodeCommands.count(command) == 0) {
    return absl::StrCat("error unknown command '", command,
                        "' (busy, normal, stop, resume, kill, start, bad, leader ADDR; group NAME "
                        "ADDR[,ADDR]; list; quit)");
  }
  if (words.size() != 2) return absl::StrCat("error usage: ", command, " ADDR");

  absl::MutexLock command_lock(&command_mu_);
  Node* node;
  std::shared_ptr<registry::Registry> session;
  bool registered;
  {
    absl::MutexLock lock(&mu_);
    if (!started_ || stopping_) return "error the simulator is not running";
    node = Find(words[1]);
    if (node == nullptr) {
      return absl::StrCat("error unknown node '", words[1], "' (an address or index; see list)");
    }
    session = node->session;
    registered = node->registered;
  }
  return RunNodeCommand(command, node, std::move(session), registered);
}

std::string Simulator::RunNodeCommand(const std::string& command, Node* node,
                                      std::shared_ptr<registry::Registry> session,
                                      bool registered) {
  const std::string& address = node->address;
  auto not_registered = [&]() {
    return absl::StrCat("error '", address, "' is not registered (start ", address, ")");
  };
  auto answer = [&](const absl::Status& status) {
    if (!status.ok()) {
      return absl::StrCat("error ", command, " ", address, ": ",
                          absl::StatusCodeToString(status.code()), ": ", status.message());
    }
    return absl::StrCat("ok ", command, " ", address);
  };

  if (command == "busy" || command == "normal") {
    {
      absl::MutexLock lock(&mu_);
      node->busy = command == "busy";
    }
    WriteNow(node);
    absl::MutexLock lock(&mu_);
    return node->last_error.empty() ? answer(absl::OkStatus())
                                    : answer(absl::UnavailableError(node->last_error));
  }
  if (command == "stop") {
    if (!registered) return not_registered();
    absl::MutexLock lock(&mu_);
    StopHeartbeats(node);
    return answer(absl::OkStatus());
  }
  if (command == "resume") {
    if (!registered) return not_registered();
    {
      absl::MutexLock lock(&mu_);
      node->heartbeating = true;
      node->bad = false;
    }
    WriteNow(node);
    absl::MutexLock lock(&mu_);
    return node->last_error.empty() ? answer(absl::OkStatus())
                                    : answer(absl::UnavailableError(node->last_error));
  }
  if (command == "bad") {
    if (!registered) return not_registered();
    {
      absl::MutexLock lock(&mu_);
      StopHeartbeats(node);
      node->bad = true;
    }
    return answer(session->Set(node->path, std::string(kMalformedPayload)).status());
  }
  if (command == "kill") {
    if (!registered) return not_registered();
    return answer(Kill(node, std::move(session)));
  }
  if (command == "start") {
    if (registered) {
      return absl::StrCat("error '", address, "' is running (kill ", address, " first)");
    }
    absl::Status status = Register({node});
    if (!status.ok()) return answer(status);
    absl::MutexLock lock(&mu_);
    return absl::StrCat("ok start ", address, " startupTime=", node->startup_time_ms,
                        " processId=", node->process_id);
  }
  // leader
  return answer(MoveLeader(node));
}

absl::Status Simulator::Kill(Node* node, std::shared_ptr<registry::Registry> session) {
  bool was_leader;
  {
    absl::MutexLock lock(&mu_);
    node->registered = false;
    node->heartbeating = false;
    node->session = nullptr;
    was_leader = leader_ == node;
    if (was_leader) leader_ = nullptr;
  }
  if (options_.nodes_per_session == 1) {
    session->Shutdown();  // the session ends: its ephemerals (and the coordinator) vanish
    return absl::OkStatus();
  }
  absl::Status deleted = session->Delete(node->path);
  if (deleted.ok() && was_leader) deleted = session->Delete(options_.paths.coordinator);
  return deleted;
}

void Simulator::Shutdown() {
  absl::MutexLock command_lock(&command_mu_);
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
  std::vector<std::shared_ptr<registry::Registry>> sessions;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& node : nodes_) {
      if (node->session != nullptr) sessions.push_back(std::move(node->session));
      node->session = nullptr;
      node->registered = false;
      node->heartbeating = false;
    }
    for (auto& session : block_sessions_) sessions.push_back(std::move(session));
    block_sessions_.clear();
    leader_ = nullptr;
  }
  // Shutdown() is idempotent, so a shared session listed several times is fine.
  for (const auto& session : sessions) session->Shutdown();
}

}  // namespace roster::sim
