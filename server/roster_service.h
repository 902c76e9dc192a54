// RosterService: roster.v1.Roster over the gRPC callback API. Lookups, selection, slots, the
// leader and the WatchCluster stream, answered from ClusterManager's published view.
//
// Unary handlers never block: they take the current immutable view (and the freshness), fill
// the response and finish the reactor on the calling gRPC thread; no lock is held across and no
// I/O is done. Every response carries ViewMeta for the exact view version it was computed from.
// WatchCluster streams are WatchStreams (server/watch_stream.h), at most
// `max_watch_streams` at once (RESOURCE_EXHAUSTED beyond). ListWorkers, GetWorkerGroup and
// GetClusterView answer in pages keyed by address (server/page_token.h), their nodes copied as
// bytes serialized once per node version (server/answer_cache.h).
//
// Thread-safety: thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstddef>
#include <map>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "roster/v1/roster.grpc.pb.h"
#include "server/answer_cache.h"
#include "server/arena_message_allocator.h"
#include "server/rpc_util.h"
#include "server/watch_stream.h"

namespace roster::server {

struct RosterServiceOptions {
  // Messages a watch stream may queue for a slow reader before it is told to resync.
  size_t watch_buffer_messages = 4096;
  // Concurrent WatchCluster streams; more are refused with RESOURCE_EXHAUSTED.
  int max_watch_streams = 1024;
  // Watch streams one client may hold (its identity, or its IP address when it has none);
  // 0: no limit per client.
  int max_watch_streams_per_client = 128;
};

class RosterService final : public v1::Roster::CallbackService {
 public:
  // `context` must outlive the service (and every call it serves).
  RosterService(const ServiceContext* context, RosterServiceOptions options);
  ~RosterService() override;

  RosterService(const RosterService&) = delete;
  RosterService& operator=(const RosterService&) = delete;

  // Ends every open watch stream with UNAVAILABLE ("shutting down") and refuses new ones, so
  // that grpc::Server::Shutdown() need not wait for them. Idempotent.
  void EndWatches();
  int open_watch_streams() const { return open_watch_streams_.load(); }
  // Messages queued by the fullest open stream now (tests).
  size_t max_queued() const;

  grpc::ServerUnaryReactor* GetClusterView(grpc::CallbackServerContext* call,
                                           const v1::GetClusterViewRequest* request,
                                           v1::GetClusterViewResponse* response) override;
  grpc::ServerUnaryReactor* ListMasters(grpc::CallbackServerContext* call,
                                        const v1::ListMastersRequest* request,
                                        v1::ListNodesResponse* response) override;
  grpc::ServerUnaryReactor* ListWorkers(grpc::CallbackServerContext* call,
                                        const v1::ListWorkersRequest* request,
                                        v1::ListNodesResponse* response) override;
  grpc::ServerUnaryReactor* ListGroups(grpc::CallbackServerContext* call,
                                       const v1::ListGroupsRequest* request,
                                       v1::ListGroupsResponse* response) override;
  grpc::ServerUnaryReactor* GetWorkerGroup(grpc::CallbackServerContext* call,
                                           const v1::GetWorkerGroupRequest* request,
                                           v1::GetWorkerGroupResponse* response) override;
  grpc::ServerUnaryReactor* GetNode(grpc::CallbackServerContext* call,
                                    const v1::GetNodeRequest* request,
                                    v1::GetNodeResponse* response) override;
  grpc::ServerUnaryReactor* SelectWorker(grpc::CallbackServerContext* call,
                                         const v1::SelectWorkerRequest* request,
                                         v1::SelectWorkerResponse* response) override;
  grpc::ServerUnaryReactor* GetMasterSlot(grpc::CallbackServerContext* call,
                                          const v1::GetMasterSlotRequest* request,
                                          v1::GetMasterSlotResponse* response) override;
  grpc::ServerUnaryReactor* GetLeader(grpc::CallbackServerContext* call,
                                      const v1::GetLeaderRequest* request,
                                      v1::GetLeaderResponse* response) override;
  grpc::ServerWriteReactor<v1::WatchClusterResponse>* WatchCluster(
      grpc::CallbackServerContext* call, const v1::WatchClusterRequest* request) override;
  grpc::ServerUnaryReactor* Ping(grpc::CallbackServerContext* call, const v1::PingRequest* request,
                                 v1::PingResponse* response) override;

 private:
  // Each handler's body: fills the response, returns the status to finish with.
  grpc::Status DoGetClusterView(const v1::GetClusterViewRequest& request,
                                v1::GetClusterViewResponse* response);
  grpc::Status DoListWorkers(const v1::ListWorkersRequest& request,
                             v1::ListNodesResponse* response);
  grpc::Status DoGetWorkerGroup(const v1::GetWorkerGroupRequest& request,
                                v1::GetWorkerGroupResponse* response);
  grpc::Status DoGetNode(const v1::GetNodeRequest& request, v1::GetNodeResponse* response);
  grpc::Status DoSelectWorker(const v1::SelectWorkerRequest& request,
                              v1::SelectWorkerResponse* response);
  grpc::Status DoGetMasterSlot(const v1::GetMasterSlotRequest& request,
                               v1::GetMasterSlotResponse* response);
  grpc::Status DoGetLeader(v1::GetLeaderResponse* response);
  // Counts one more stream for `client`; false when it holds its maximum already.
  bool TakeClientWatchSlot(const std::string& client);
  void ReleaseClientWatchSlot(const std::string& client);
  // Finishes the call refused and returns its reactor, or null when the caller may read.
  grpc::ServerUnaryReactor* Refuse(grpc::CallbackServerContext* call, absl::string_view method);
  grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* call, absl::string_view method,
                                   const grpc::Status& status);

  const ServiceContext* const context_;
  const RosterServiceOptions options_;

  // Each call's request and response on one arena (server/arena_message_allocator.h). Ping
  // keeps gRPC's default holder: it has nothing to allocate.
  template <typename Request, typename Response>
  using Allocator = ArenaMessageAllocator<Request, Response>;
  Allocator<v1::GetClusterViewRequest, v1::GetClusterViewResponse> get_cluster_view_allocator_;
  Allocator<v1::ListMastersRequest, v1::ListNodesResponse> list_masters_allocator_;
  Allocator<v1::ListWorkersRequest, v1::ListNodesResponse> list_workers_allocator_;
  Allocator<v1::ListGroupsRequest, v1::ListGroupsResponse> list_groups_allocator_;
  Allocator<v1::GetWorkerGroupRequest, v1::GetWorkerGroupResponse> get_worker_group_allocator_;
  Allocator<v1::GetNodeRequest, v1::GetNodeResponse> get_node_allocator_;
  Allocator<v1::SelectWorkerRequest, v1::SelectWorkerResponse> select_worker_allocator_;
  Allocator<v1::GetMasterSlotRequest, v1::GetMasterSlotResponse> get_master_slot_allocator_;
  Allocator<v1::GetLeaderRequest, v1::GetLeaderResponse> get_leader_allocator_;

  // The nodes of ListWorkers, GetWorkerGroup and GetClusterView, serialized once per NodeInfo.
  NodeBytesCache node_bytes_;

  std::atomic<int> open_watch_streams_{0};
  mutable absl::Mutex streams_mu_;
  // Open streams, so EndWatches() can reach them; a stream leaves in its reactor's OnDone().
  std::map<const WatchStream*, std::shared_ptr<WatchStream>> streams_ ABSL_GUARDED_BY(streams_mu_);
  bool ending_ ABSL_GUARDED_BY(streams_mu_) = false;
  // Open watch streams per client (WatchClientKey).
  std::map<std::string, int> streams_per_client_ ABSL_GUARDED_BY(streams_mu_);
};

}  // namespace roster::server
