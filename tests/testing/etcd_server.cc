#include "tests/testing/etcd_server.h"

#include <grpcpp/grpcpp.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "glog/logging.h"
#include "tests/testing/ports.h"

namespace roster::testing {
namespace {

namespace pb = etcdserverpb;

constexpr char kEtcd[] = "/usr/bin/etcd";
constexpr int kStartAttempts = 3;

std::shared_ptr<grpc::Channel> Channel(int port) {
  return grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
}

void SetDeadline(grpc::ClientContext* context, absl::Duration timeout) {
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

absl::Status FromGrpc(const grpc::Status& status, absl::string_view what) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(what, ": ", status.error_message()));
}

}  // namespace

EtcdServer::EtcdServer()
    : name_("etcd0"), standalone_(true), dir_("etcd"), data_dir_(dir_.Child("data")) {}

EtcdServer::EtcdServer(std::string name, int client_port, int peer_port,
                       std::string initial_cluster)
    : name_(std::move(name)),
      standalone_(false),
      initial_cluster_(std::move(initial_cluster)),
      dir_("etcd"),
      data_dir_(dir_.Child("data")),
      client_port_(client_port),
      peer_port_(peer_port) {}

EtcdServer::~EtcdServer() {
  if (process_ != nullptr) process_->Kill().IgnoreError();
}

absl::Status EtcdServer::Start(absl::Duration timeout) {
  if (running()) {
    return absl::FailedPreconditionError(
        absl::StrCat("etcd on port ", client_port_, " is already running"));
  }
  const bool pick_ports = standalone_ && client_port_ == 0;
  const absl::Time deadline = absl::Now() + timeout;
  absl::Status status;
  for (int attempt = 1; attempt <= (pick_ports ? kStartAttempts : 1); ++attempt) {
    if (pick_ports) {
      client_port_ = PickUnusedPort();
      peer_port_ = PickUnusedPort();
      initial_cluster_ = absl::StrCat(name_, "=http://127.0.0.1:", peer_port_);
    }
    status = StartOnce();
    if (status.ok()) status = WaitServing(deadline);
    if (status.ok()) return status;
    const bool port_taken =
        process_ != nullptr && absl::StrContains(process_->LogTail(), "address already in use");
    if (process_ != nullptr) process_->Kill().IgnoreError();
    process_.reset();
    if (!pick_ports || !port_taken) break;
    LOG(WARNING) << "etcd: port " << client_port_ << " or " << peer_port_
                 << " was taken; trying others";
    client_port_ = 0;
  }
  return status;
}

absl::Status EtcdServer::StartOnce() {
  const std::string client_url = absl::StrCat("http://127.0.0.1:", client_port_);
  const std::string peer_url = absl::StrCat("http://127.0.0.1:", peer_port_);
  Subprocess::Options options;
  options.argv = {kEtcd,
                  absl::StrCat("--name=", name_),
                  absl::StrCat("--data-dir=", data_dir_),
                  absl::StrCat("--listen-client-urls=", client_url),
                  absl::StrCat("--advertise-client-urls=", client_url),
                  absl::StrCat("--listen-peer-urls=", peer_url),
                  absl::StrCat("--initial-advertise-peer-urls=", peer_url),
                  absl::StrCat("--initial-cluster=", initial_cluster_),
                  "--initial-cluster-state=new",
                  "--initial-cluster-token=roster-test",
                  "--log-level=warn",
                  "--logger=zap"};
  options.log_path = dir_.Child("etcd.log");
  options.working_dir = dir_.path();
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(std::move(options));
  if (!process.ok()) return process.status();
  process_ = *std::move(process);
  return absl::OkStatus();
}

absl::Status EtcdServer::WaitServing(absl::Time deadline) {
  absl::Status last = absl::UnavailableError("not asked yet");
  while (absl::Now() < deadline) {
    if (!process_->Running()) {
      return absl::InternalError(
          absl::StrCat("etcd '", name_, "' exited during start-up: ", process_->LogTail()));
    }
    absl::StatusOr<Status> status = GetStatus(absl::Milliseconds(500));
    if (status.ok() && status->leader_id != 0) return absl::OkStatus();
    last = status.ok() ? absl::UnavailableError("no leader yet") : status.status();
    // Bounded polling of a process that gives no other signal of readiness; GetStatus()
    // itself waits up to 500 ms for an answer.
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError(absl::StrCat("etcd '", name_, "' on port ", client_port_,
                                                  " not serving: ", last.message(), "\n",
                                                  process_->LogTail()));
}

absl::Status EtcdServer::Stop() {
  if (process_ == nullptr) return absl::OkStatus();
  absl::StatusOr<int> status = process_->Terminate(absl::Seconds(10));
  process_.reset();
  return status.status();
}

absl::Status EtcdServer::Kill() {
  if (process_ == nullptr) return absl::OkStatus();
  absl::StatusOr<int> status = process_->Kill();
  process_.reset();
  return status.status();
}

absl::Status EtcdServer::Restart() {
  if (absl::Status status = Stop(); !status.ok()) return status;
  return Start();
}

bool EtcdServer::running() { return process_ != nullptr && process_->Running(); }

std::string EtcdServer::Endpoint() const { return absl::StrCat("127.0.0.1:", client_port_); }

absl::StatusOr<EtcdServer::Status> EtcdServer::GetStatus(absl::Duration timeout) const {
  auto stub = pb::Maintenance::NewStub(Channel(client_port_));
  grpc::ClientContext context;
  SetDeadline(&context, timeout);
  pb::StatusRequest request;
  pb::StatusResponse response;
  grpc::Status status = stub->Status(&context, request, &response);
  if (!status.ok()) return FromGrpc(status, absl::StrCat("etcd status on ", Endpoint()));
  return Status{response.header().member_id(), response.leader(), response.header().revision()};
}

absl::Status EtcdServer::RevokeLease(int64_t lease_id) const {
  auto stub = pb::Lease::NewStub(Channel(client_port_));
  grpc::ClientContext context;
  SetDeadline(&context, absl::Seconds(10));
  pb::LeaseRevokeRequest request;
  request.set_id(lease_id);
  pb::LeaseRevokeResponse response;
  return FromGrpc(stub->LeaseRevoke(&context, request, &response),
                  absl::StrCat("revoke lease ", lease_id));
}

absl::Status EtcdServer::Compact(int64_t revision) const {
  auto stub = pb::KV::NewStub(Channel(client_port_));
  grpc::ClientContext context;
  SetDeadline(&context, absl::Seconds(10));
  pb::CompactionRequest request;
  request.set_revision(revision);
  request.set_physical(true);
  pb::CompactionResponse response;
  return FromGrpc(stub->Compact(&context, request, &response),
                  absl::StrCat("compact to ", revision));
}

absl::StatusOr<int64_t> EtcdServer::Delete(const std::string& key) const {
  auto stub = pb::KV::NewStub(Channel(client_port_));
  grpc::ClientContext context;
  SetDeadline(&context, absl::Seconds(10));
  pb::DeleteRangeRequest request;
  request.set_key(key);
  pb::DeleteRangeResponse response;
  grpc::Status status = stub->DeleteRange(&context, request, &response);
  if (!status.ok()) return FromGrpc(status, absl::StrCat("delete '", key, "'"));
  return response.header().revision();
}

absl::StatusOr<int64_t> EtcdServer::GrantLease(int64_t ttl_seconds) const {
  auto stub = pb::Lease::NewStub(Channel(client_port_));
  grpc::ClientContext context;
  SetDeadline(&context, absl::Seconds(10));
  pb::LeaseGrantRequest request;
  request.set_ttl(ttl_seconds);
  pb::LeaseGrantResponse response;
  grpc::Status status = stub->LeaseGrant(&context, request, &response);
  if (!status.ok()) return FromGrpc(status, "grant a lease");
  return response.id();
}

absl::StatusOr<int64_t> EtcdServer::Put(const std::string& key, const std::string& value,
                                        int64_t lease_id) const {
  auto stub = pb::KV::NewStub(Channel(client_port_));
  grpc::ClientContext context;
  SetDeadline(&context, absl::Seconds(10));
  pb::PutRequest request;
  request.set_key(key);
  request.set_value(value);
  request.set_lease(lease_id);
  pb::PutResponse response;
  grpc::Status status = stub->Put(&context, request, &response);
  if (!status.ok()) return FromGrpc(status, absl::StrCat("put '", key, "'"));
  return response.header().revision();
}

EtcdCluster::EtcdCluster(int size) {
  CHECK_GE(size, 1);
  std::vector<std::pair<int, int>> ports;
  std::vector<std::string> initial;
  for (int i = 0; i < size; ++i) {
    ports.emplace_back(PickUnusedPort(), PickUnusedPort());
    initial.push_back(absl::StrCat("etcd", i, "=http://127.0.0.1:", ports.back().second));
  }
  const std::string initial_cluster = absl::StrJoin(initial, ",");
  for (int i = 0; i < size; ++i) {
    members_.push_back(std::unique_ptr<EtcdServer>(
        new EtcdServer(absl::StrCat("etcd", i), ports[i].first, ports[i].second, initial_cluster)));
  }
}

EtcdCluster::~EtcdCluster() = default;

absl::Status EtcdCluster::Start() {
  // Every member must run before any can elect a leader.
  for (auto& member : members_) {
    if (absl::Status status = member->StartOnce(); !status.ok()) return status;
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  for (auto& member : members_) {
    if (absl::Status status = member->WaitServing(deadline); !status.ok()) return status;
  }
  return absl::OkStatus();
}

std::string EtcdCluster::Endpoints() const {
  std::vector<std::string> endpoints;
  for (const auto& member : members_) endpoints.push_back(member->Endpoint());
  return absl::StrJoin(endpoints, ",");
}

absl::StatusOr<int> EtcdCluster::LeaderIndex() {
  for (auto& member : members_) {
    if (!member->running()) continue;
    absl::StatusOr<EtcdServer::Status> status = member->GetStatus();
    if (!status.ok() || status->leader_id == 0) continue;
    for (int i = 0; i < size(); ++i) {
      if (!members_[i]->running()) continue;
      absl::StatusOr<EtcdServer::Status> other = members_[i]->GetStatus();
      if (other.ok() && other->member_id == status->leader_id) return i;
    }
  }
  return absl::UnavailableError("no running etcd member names a running leader");
}

}  // namespace roster::testing
