// FakeRosterServer: a scripted stand-in for rosterd's gRPC services, for testing the client
// library and rosterctl. It is a test double of the *server* (real gRPC, a real loopback
// socket); the registry is never mocked.
//
//   FakeRosterServer server;
//   server.roster().get_leader.Push(Error(grpc::StatusCode::UNAVAILABLE, "down"));
//   server.roster().get_leader.Push(Ok(response));
//   ... a client calls server.target() ...
//   EXPECT_EQ(server.roster().get_leader.calls(), 2);
//
// Each unary method answers from its script (first in, first out), then from its default
// answer (UNIMPLEMENTED unless set). An answer can `hold`: the call is never answered and ends
// only when the client gives up (deadline, cancel) or the server shuts down. WatchCluster plays
// StreamScripts the same way.
//
// Thread-safety: thread-safe.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/server.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "grpcpp/support/status.h"
#include "roster/v1/roster.grpc.pb.h"
#include "roster/v1/roster.pb.h"

namespace roster::testing {

template <typename Response>
struct Answer {
  grpc::Status status;  // OK: send `response`
  Response response;
  bool hold = false;  // never answer (see the file comment)
};

template <typename Response>
Answer<Response> Ok(Response response) {
  return Answer<Response>{grpc::Status::OK, std::move(response), false};
}

// An error answer for any method: `Answer<Response> a = Error(...)` via the conversion below.
struct ErrorAnswer {
  grpc::Status status;
  template <typename Response>
  operator Answer<Response>() const {  // NOLINT: implicit by design
    return Answer<Response>{status, Response(), false};
  }
};
inline ErrorAnswer Error(grpc::StatusCode code, std::string message) {
  return ErrorAnswer{grpc::Status(code, std::move(message))};
}

struct HoldAnswer {
  template <typename Response>
  operator Answer<Response>() const {  // NOLINT: implicit by design
    return Answer<Response>{grpc::Status::OK, Response(), true};
  }
};
inline HoldAnswer Hold() { return HoldAnswer(); }

// A ViewMeta with this instance and version.
roster::v1::ViewMeta Meta(const std::string& instance_id, uint64_t version);

// One unary method's script and what it received.
template <typename Request, typename Response>
class ScriptedMethod {
 public:
  void Push(Answer<Response> answer) {
    absl::MutexLock lock(&mu_);
    script_.push_back(std::move(answer));
  }
  void SetDefault(Answer<Response> answer) {
    absl::MutexLock lock(&mu_);
    default_ = std::move(answer);
  }
  int calls() const {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(requests_.size());
  }
  std::vector<Request> requests() const {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  // The `authorization` metadata of each call ("" when absent).
  std::vector<std::string> authorizations() const {
    absl::MutexLock lock(&mu_);
    return authorizations_;
  }

  grpc::ServerUnaryReactor* Serve(grpc::CallbackServerContext* context, const Request* request,
                                  Response* response);

 private:
  mutable absl::Mutex mu_;
  std::deque<Answer<Response>> script_ ABSL_GUARDED_BY(mu_);
  std::optional<Answer<Response>> default_ ABSL_GUARDED_BY(mu_);
  std::vector<Request> requests_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> authorizations_ ABSL_GUARDED_BY(mu_);
};

// One WatchCluster stream: these messages, then the end with `end` (or, with `hold`, no end
// until the client cancels or the server shuts down).
struct StreamScript {
  std::vector<roster::v1::WatchClusterResponse> messages;
  grpc::Status end = grpc::Status::OK;
  bool hold = false;
};

class FakeRoster final : public roster::v1::Roster::CallbackService {
 public:
  // Scripts, one per method.

  ScriptedMethod<roster::v1::GetClusterViewRequest, roster::v1::GetClusterViewResponse>
      get_cluster_view;
  ScriptedMethod<roster::v1::ListMastersRequest, roster::v1::ListNodesResponse> list_masters;
  ScriptedMethod<roster::v1::ListWorkersRequest, roster::v1::ListNodesResponse> list_workers;
  ScriptedMethod<roster::v1::ListGroupsRequest, roster::v1::ListGroupsResponse> list_groups;
  ScriptedMethod<roster::v1::GetWorkerGroupRequest, roster::v1::GetWorkerGroupResponse>
      get_worker_group;
  ScriptedMethod<roster::v1::GetNodeRequest, roster::v1::GetNodeResponse> get_node;
  ScriptedMethod<roster::v1::SelectWorkerRequest, roster::v1::SelectWorkerResponse> select_worker;
  ScriptedMethod<roster::v1::GetMasterSlotRequest, roster::v1::GetMasterSlotResponse>
      get_master_slot;
  ScriptedMethod<roster::v1::GetLeaderRequest, roster::v1::GetLeaderResponse> get_leader;
  ScriptedMethod<roster::v1::PingRequest, roster::v1::PingResponse> ping;

  void PushStream(StreamScript script);
  // The requests of every WatchCluster call so far.
  std::vector<roster::v1::WatchClusterRequest> watch_requests() const;
  // WatchCluster streams the client cancelled (or whose deadline passed).
  int stream_cancels() const { return stream_cancels_.load(); }

  grpc::ServerUnaryReactor* GetClusterView(grpc::CallbackServerContext* c,
                                           const roster::v1::GetClusterViewRequest* q,
                                           roster::v1::GetClusterViewResponse* r) override {
    return get_cluster_view.Serve(c, q, r);
  }
  grpc::ServerUnaryReactor* ListMasters(grpc::CallbackServerContext* c,
                                        const roster::v1::ListMastersRequest* q,
                                        roster::v1::ListNodesResponse* r) override {
    return list_masters.Serve(c, q, r);
  }
  grpc::ServerUnaryReactor* ListWorkers(grpc::CallbackServerContext* c,
                                        const roster::v1::ListWorkersRequest* q,
                                        roster::v1::ListNodesResponse* r) override {
    return list_workers.Serve(c, q, r);
  }
  grpc::ServerUnaryReactor* ListGroups(grpc::CallbackServerContext* c,
                                       const roster::v1::ListGroupsRequest* q,
                                       roster::v1::ListGroupsResponse* r) override {
    return list_groups.Serve(c, q, r);
  }
  grpc::ServerUnaryReactor* GetWorkerGroup(grpc::CallbackServerContext* c,
                                           const roster::v1::GetWorkerGroupRequest* q,
                                           roster::v1::GetWorkerGroupResponse* r) override {
    return get_worker_group.Serve(c, q, r);
  }
  grpc::ServerUnaryReactor* GetNode(grpc::CallbackServerContext* c,
                                    const roster::v1::GetNodeRequest* q,
                                    roster::v1::GetNodeResponse* r) override {
    return get_node.Serve(c, q, r);
  }
  grpc::ServerUnaryReactor* SelectWorker(grpc::CallbackServerContext* c,
                                         const roster::v1::SelectWorkerRequest* q,
                                         roster::v1::SelectWorkerResponse* r) override {
    return select_worker.Serve(c, q, r);
  }
  grpc::ServerUnaryReactor* GetMasterSlot(grpc::CallbackServerContext* c,
                                          const roster::v1::GetMasterSlotRequest* q,
                                          roster::v1::GetMasterSlotResponse* r) override {
    return get_master_slot.Serve(c, q, r);
  }
  grpc::ServerUnaryReactor* GetLeader(grpc::CallbackServerContext* c,
                                      const roster::v1::GetLeaderRequest* q,
                                      roster::v1::GetLeaderResponse* r) override {
    return get_leader.Serve(c, q, r);
  }
  grpc::ServerUnaryReactor* Ping(grpc::CallbackServerContext* c, const roster::v1::PingRequest* q,
                                 roster::v1::PingResponse* r) override {
    return ping.Serve(c, q, r);
  }
  grpc::ServerWriteReactor<roster::v1::WatchClusterResponse>* WatchCluster(
      grpc::CallbackServerContext* context,
      const roster::v1::WatchClusterRequest* request) override;

 private:
  mutable absl::Mutex mu_;
  std::deque<StreamScript> streams_ ABSL_GUARDED_BY(mu_);
  std::vector<roster::v1::WatchClusterRequest> watch_requests_ ABSL_GUARDED_BY(mu_);
  std::atomic<int> stream_cancels_{0};
};

class FakeRegistration final : public roster::v1::Registration::CallbackService {
 public:
  ScriptedMethod<roster::v1::RegisterNodeRequest, roster::v1::RegisterNodeResponse> register_node;
  ScriptedMethod<roster::v1::HeartbeatRequest, roster::v1::HeartbeatResponse> heartbeat;
  ScriptedMethod<roster::v1::DeregisterNodeRequest, roster::v1::DeregisterNodeResponse>
      deregister_node;

  grpc::ServerUnaryReactor* RegisterNode(grpc::CallbackServerContext* c,
                                         const roster::v1::RegisterNodeRequest* q,
                                         roster::v1::RegisterNodeResponse* r) override {
    return register_node.Serve(c, q, r);
  }
  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* c,
                                      const roster::v1::HeartbeatRequest* q,
                                      roster::v1::HeartbeatResponse* r) override {
    return heartbeat.Serve(c, q, r);
  }
  grpc::ServerUnaryReactor* DeregisterNode(grpc::CallbackServerContext* c,
                                           const roster::v1::DeregisterNodeRequest* q,
                                           roster::v1::DeregisterNodeResponse* r) override {
    return deregister_node.Serve(c, q, r);
  }
};

class FakeAdmin final : public roster::v1::RosterAdmin::CallbackService {
 public:
  ScriptedMethod<roster::v1::DrainNodeRequest, roster::v1::DrainNodeResponse> drain_node;
  ScriptedMethod<roster::v1::UndrainNodeRequest, roster::v1::UndrainNodeResponse> undrain_node;

  grpc::ServerUnaryReactor* DrainNode(grpc::CallbackServerContext* c,
                                      const roster::v1::DrainNodeRequest* q,
                                      roster::v1::DrainNodeResponse* r) override {
    return drain_node.Serve(c, q, r);
  }
  grpc::ServerUnaryReactor* UndrainNode(grpc::CallbackServerContext* c,
                                        const roster::v1::UndrainNodeRequest* q,
                                        roster::v1::UndrainNodeResponse* r) override {
    return undrain_node.Serve(c, q, r);
  }
};

// The three services on a free loopback port, started by the constructor.
class FakeRosterServer {
 public:
  FakeRosterServer();
  // Shuts the server down: held calls and streams end with CANCELLED.
  ~FakeRosterServer();

  // "127.0.0.1:PORT".
  const std::string& target() const { return target_; }
  FakeRoster& roster() { return roster_; }
  FakeRegistration& registration() { return registration_; }
  FakeAdmin& admin() { return admin_; }

 private:
  FakeRoster roster_;
  FakeRegistration registration_;
  FakeAdmin admin_;
  std::unique_ptr<grpc::Server> server_;
  std::string target_;
};

// --- Implementation of the template ---------------------------------------------------------

namespace internal {

// A call answered only when it is cancelled (client deadline, client cancel, server shutdown).
class HeldUnaryReactor final : public grpc::ServerUnaryReactor {
 public:
  void OnCancel() override { Finish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled")); }
  void OnDone() override { delete this; }
};

std::string Authorization(const grpc::CallbackServerContext* context);

}  // namespace internal

template <typename Request, typename Response>
grpc::ServerUnaryReactor* ScriptedMethod<Request, Response>::Serve(
    grpc::CallbackServerContext* context, const Request* request, Response* response) {
  Answer<Response> answer;
  {
    absl::MutexLock lock(&mu_);
    requests_.push_back(*request);
    authorizations_.push_back(internal::Authorization(context));
    if (!script_.empty()) {
      answer = std::move(script_.front());
      script_.pop_front();
    } else if (default_.has_value()) {
      answer = *default_;
    } else {
      answer.status = grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "not scripted");
    }
  }
  if (answer.hold) return new internal::HeldUnaryReactor();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (answer.status.ok()) *response = std::move(answer.response);
  reactor->Finish(answer.status);
  return reactor;
}

}  // namespace roster::testing
