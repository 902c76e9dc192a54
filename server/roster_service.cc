#include "server/roster_service.h"

#include <glog/logging.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cluster/master_cluster.h"
#include "server/convert.h"
#include "server/page_token.h"
#include "server/status_util.h"
#include "util/log_escape.h"

namespace roster::server {
namespace {

using cluster::ClusterViewPtr;
using cluster::NodeInfoPtr;
using cluster::NodeList;

grpc::Status InvalidArgument(const absl::Status& status) { return ToGrpcStatus(status); }

// "no worker group 'etl' (groups: default, ingest)", listing a few so a typo is obvious.
grpc::Status UnknownGroup(const cluster::ClusterView& view, absl::string_view name) {
  std::vector<absl::string_view> names;
  for (const auto& [group, members] : view.groups) {
    if (names.size() == 20) {
      names.push_back("...");
      break;
    }
    names.push_back(group);
  }
  return grpc::Status(grpc::StatusCode::NOT_FOUND,
                      absl::StrCat("no worker group '", name, "' (groups: ",
                                   names.empty() ? "none" : absl::StrJoin(names, ", "), ")"));
}

// One page being filled (server/page_token.h): room left, the last node added, and whether a
// node that would have followed exists (then the page carries a next_page_token).
class PageFiller {
 public:
  explicit PageFiller(const PageRequest& page) : page_(page), left_(page.size) {}

  // Adds, through `add` (taking a NodeInfoPtr), the nodes of `nodes` (sorted by address) that
  // `keep` accepts and whose key, `prefix` + address, comes after the token's key, until the page
  // is full.
  template <typename Keep, typename Add>
  void Offer(const NodeList& nodes, absl::string_view prefix, Keep keep, Add add) {
    if (more_) return;
    auto it = nodes.begin();
    if (!page_.first()) {
      const absl::string_view after = page_.after;
      if (absl::StartsWith(after, prefix)) {
        const absl::string_view address = after.substr(prefix.size());
        it = std::upper_bound(
            nodes.begin(), nodes.end(), address,
            [](absl::string_view key, const NodeInfoPtr& node) { return key < node->address; });
      } else if (after > prefix) {
        return;  // the token is past this list
      }
    }
    for (; it != nodes.end(); ++it) {
      if (!keep(**it)) continue;
      if (left_ == 0) {
        more_ = true;
        return;
      }
      add(*it);
      --left_;
      last_ = it->get();
      last_prefix_ = prefix;
    }
  }

  // Empty when the listing ended on this page.
  std::string NextToken() const {
    return more_ ? NextPageToken(page_, absl::StrCat(last_prefix_, last_->address)) : "";
  }

 private:
  const PageRequest& page_;
  int left_;
  const cluster::NodeInfo* last_ = nullptr;
  absl::string_view last_prefix_;
  bool more_ = false;
};

// GetClusterView's pages run over the masters, workers and alert servers in this order: their
// keys are prefixed so that they sort so.
constexpr absl::string_view kMasterKey = "1/";
constexpr absl::string_view kWorkerKey = "2/";
constexpr absl::string_view kAlertServerKey = "3/";

bool KeepAll(const cluster::NodeInfo&) { return true; }

// Where NodeBytesCache puts a response's nodes (server/answer_cache.h).
google::protobuf::UnknownFieldSet* UnknownFields(google::protobuf::Message* response) {
  return response->GetReflection()->MutableUnknownFields(response);
}

std::string DescribeListWorkers(const v1::ListWorkersRequest& request) {
  std::vector<absl::string_view> states;
  for (int state : request.states()) states.push_back(v1::NodeState_Name(state));
  return absl::StrCat("ListWorkers(group=", request.group(),
                      ", states=", absl::StrJoin(states, ","), ")");
}

std::string DescribeGetWorkerGroup(const v1::GetWorkerGroupRequest& request) {
  return absl::StrCat("GetWorkerGroup(name=", request.name(),
                      ", selectable_only=", request.selectable_only() ? "true" : "false",
                      ", view=", request.view() == v1::NODE_VIEW_BASIC ? "BASIC" : "FULL", ")");
}

}  // namespace

RosterService::RosterService(const ServiceContext* context, RosterServiceOptions options)
    : context_(context), options_(options) {
  SetMessageAllocatorFor_GetClusterView(&get_cluster_view_allocator_);
  SetMessageAllocatorFor_ListMasters(&list_masters_allocator_);
  SetMessageAllocatorFor_ListWorkers(&list_workers_allocator_);
  SetMessageAllocatorFor_ListGroups(&list_groups_allocator_);
  SetMessageAllocatorFor_GetWorkerGroup(&get_worker_group_allocator_);
  SetMessageAllocatorFor_GetNode(&get_node_allocator_);
  SetMessageAllocatorFor_SelectWorker(&select_worker_allocator_);
  SetMessageAllocatorFor_GetMasterSlot(&get_master_slot_allocator_);
  SetMessageAllocatorFor_GetLeader(&get_leader_allocator_);
}

RosterService::~RosterService() { EndWatches(); }

void RosterService::EndWatches() {
  std::vector<std::shared_ptr<WatchStream>> streams;
  {
    absl::MutexLock lock(&streams_mu_);
    ending_ = true;
    for (const auto& [key, stream] : streams_) streams.push_back(stream);
  }
  for (const std::shared_ptr<WatchStream>& stream : streams) {
    stream->End(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                             "rosterd is shutting down: watch again, from the last version "
                             "received, on another replica or after the restart"));
  }
}

size_t RosterService::max_queued() const {
  absl::MutexLock lock(&streams_mu_);
  size_t most = 0;
  for (const auto& [key, stream] : streams_) most = std::max(most, stream->queued());
  return most;
}

grpc::ServerUnaryReactor* RosterService::Refuse(grpc::CallbackServerContext* call,
                                                absl::string_view method) {
  absl::StatusOr<Caller> caller = AuthorizeCall(*context_, *call, kScopeRead, method);
  return caller.ok() ? nullptr : Finish(call, method, ToGrpcStatus(caller.status()));
}

grpc::ServerUnaryReactor* RosterService::Finish(grpc::CallbackServerContext* call,
                                                absl::string_view method,
                                                const grpc::Status& status) {
  grpc::ServerUnaryReactor* reactor = call->DefaultReactor();
  FinishRpc(*context_, reactor, method, status);
  return reactor;
}

grpc::ServerUnaryReactor* RosterService::GetClusterView(grpc::CallbackServerContext* call,
                                                        const v1::GetClusterViewRequest* request,
                                                        v1::GetClusterViewResponse* response) {
  if (grpc::ServerUnaryReactor* refused = Refuse(call, "Roster/GetClusterView")) return refused;
  return Finish(call, "Roster/GetClusterView", DoGetClusterView(*request, response));
}

grpc::Status RosterService::DoGetClusterView(const v1::GetClusterViewRequest& request,
                                             v1::GetClusterViewResponse* response) {
  absl::StatusOr<PageRequest> page =
      ToPageRequest(request.page_size(), request.page_token(), "GetClusterView()");
  if (!page.ok()) return InvalidArgument(page.status());
  const cluster::ViewSnapshot snapshot = context_->cluster->Snapshot();
  const ClusterViewPtr& view = snapshot.view;
  const absl::Time now = context_->clock->Now();
  const NodeDetail detail{/*history=*/false, &view->slots};
  PageFiller filler(*page);
  // Masters carry their slot, from the view: built here. The others come from the cache.
  filler.Offer(view->masters, kMasterKey, KeepAll, [&](const NodeInfoPtr& node) {
    FillNode(*node, now, detail, response->add_masters());
  });
  std::vector<const NodeInfoPtr*> workers;
  filler.Offer(view->workers, kWorkerKey, KeepAll,
               [&](const NodeInfoPtr& node) { workers.push_back(&node); });
  std::vector<const NodeInfoPtr*> alert_servers;
  filler.Offer(view->alert_servers, kAlertServerKey, KeepAll,
               [&](const NodeInfoPtr& node) { alert_servers.push_back(&node); });
  google::protobuf::UnknownFieldSet* raw = UnknownFields(response);
  node_bytes_.Append(workers, now, /*basic=*/false, v1::GetClusterViewResponse::kWorkersFieldNumber,
                     raw);
  node_bytes_.Append(alert_servers, now, /*basic=*/false,
                     v1::GetClusterViewResponse::kAlertServersFieldNumber, raw);
  if (page->first()) FillClusterViewRest(*view, response);
  response->set_next_page_token(filler.NextToken());
  FillMeta(*context_, snapshot, response->mutable_meta());
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* RosterService::ListMasters(grpc::CallbackServerContext* call,
                                                     const v1::ListMastersRequest*,
                                                     v1::ListNodesResponse* response) {
  if (grpc::ServerUnaryReactor* refused = Refuse(call, "Roster/ListMasters")) return refused;
  const cluster::ViewSnapshot snapshot = context_->cluster->Snapshot();
  const ClusterViewPtr& view = snapshot.view;
  const absl::Time now = context_->clock->Now();
  const NodeDetail detail{/*history=*/false, &view->slots};
  for (const NodeInfoPtr& node : view->masters) FillNode(*node, now, detail, response->add_nodes());
  FillMeta(*context_, snapshot, response->mutable_meta());
  return Finish(call, "Roster/ListMasters", grpc::Status::OK);
}

grpc::ServerUnaryReactor* RosterService::ListWorkers(grpc::CallbackServerContext* call,
                                                     const v1::ListWorkersRequest* request,
                                                     v1::ListNodesResponse* response) {
  if (grpc::ServerUnaryReactor* refused = Refuse(call, "Roster/ListWorkers")) return refused;
  return Finish(call, "Roster/ListWorkers", DoListWorkers(*request, response));
}

grpc::Status RosterService::DoListWorkers(const v1::ListWorkersRequest& request,
                                          v1::ListNodesResponse* response) {
  absl::StatusOr<std::vector<cluster::NodeState>> states = ToStateFilter(request.states());
  if (!states.ok()) return InvalidArgument(states.status());
  if (!request.group().empty()) {
    if (absl::Status status = ValidateGroupField("group", request.group()); !status.ok()) {
      return InvalidArgument(status);
    }
  }
  absl::StatusOr<PageRequest> page =
      ToPageRequest(request.page_size(), request.page_token(), DescribeListWorkers(request));
  if (!page.ok()) return InvalidArgument(page.status());
  const cluster::ViewSnapshot snapshot = context_->cluster->Snapshot();
  const ClusterViewPtr& view = snapshot.view;
  const NodeList* workers = &view->workers;
  if (!request.group().empty()) {
    const cluster::GroupView* group = view->FindGroup(request.group());
    if (group == nullptr) return UnknownGroup(*view, request.group());
    workers = &group->members;
  }
  const absl::Time now = context_->clock->Now();
  PageFiller filler(*page);
  std::vector<const NodeInfoPtr*> page_nodes;
  filler.Offer(
      *workers, "",
      [&](const cluster::NodeInfo& node) {
        return states->empty() ||
               std::find(states->begin(), states->end(), node.state) != states->end();
      },
      [&](const NodeInfoPtr& node) { page_nodes.push_back(&node); });
  node_bytes_.Append(page_nodes, now, /*basic=*/false, v1::ListNodesResponse::kNodesFieldNumber,
                     UnknownFields(response));
  response->set_next_page_token(filler.NextToken());
  FillMeta(*context_, snapshot, response->mutable_meta());
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* RosterService::ListGroups(grpc::CallbackServerContext* call,
                                                    const v1::ListGroupsRequest*,
                                                    v1::ListGroupsResponse* response) {
  if (grpc::ServerUnaryReactor* refused = Refuse(call, "Roster/ListGroups")) return refused;
  const cluster::ViewSnapshot snapshot = context_->cluster->Snapshot();
  const ClusterViewPtr& view = snapshot.view;
  for (const auto& [name, group] : view->groups) FillGroup(group, response->add_groups());
  FillMeta(*context_, snapshot, response->mutable_meta());
  return Finish(call, "Roster/ListGroups", grpc::Status::OK);
}

grpc::ServerUnaryReactor* RosterService::GetWorkerGroup(grpc::CallbackServerContext* call,
                                                        const v1::GetWorkerGroupRequest* request,
                                                        v1::GetWorkerGroupResponse* response) {
  if (grpc::ServerUnaryReactor* refused = Refuse(call, "Roster/GetWorkerGroup")) return refused;
  return Finish(call, "Roster/GetWorkerGroup", DoGetWorkerGroup(*request, response));
}

grpc::Status RosterService::DoGetWorkerGroup(const v1::GetWorkerGroupRequest& request,
                                             v1::GetWorkerGroupResponse* response) {
  if (absl::Status status = ValidateGetWorkerGroup(request); !status.ok()) {
    return InvalidArgument(status);
  }
  absl::StatusOr<PageRequest> page =
      ToPageRequest(request.page_size(), request.page_token(), DescribeGetWorkerGroup(request));
  if (!page.ok()) return InvalidArgument(page.status());
  const cluster::ViewSnapshot snapshot = context_->cluster->Snapshot();
  const ClusterViewPtr& view = snapshot.view;
  const cluster::GroupView* group = view->FindGroup(request.name());
  if (group == nullptr) return UnknownGroup(*view, request.name());
  FillGroup(*group, response->mutable_group());
  const absl::Time now = context_->clock->Now();
  PageFiller filler(*page);
  std::vector<const NodeInfoPtr*> page_nodes;
  filler.Offer(
      group->members, "",
      [&](const cluster::NodeInfo& node) {
        return !request.selectable_only() ||
               (node.state == cluster::NodeState::kRunning && !node.drained);
      },
      [&](const NodeInfoPtr& node) { page_nodes.push_back(&node); });
  node_bytes_.Append(page_nodes, now, /*basic=*/request.view() == v1::NODE_VIEW_BASIC,
                     v1::GetWorkerGroupResponse::kWorkersFieldNumber, UnknownFields(response));
  response->set_next_page_token(filler.NextToken());
  FillMeta(*context_, snapshot, response->mutable_meta());
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* RosterService::GetNode(grpc::CallbackServerContext* call,
                                                 const v1::GetNodeRequest* request,
                                                 v1::GetNodeResponse* response) {
  if (grpc::ServerUnaryReactor* refused = Refuse(call, "Roster/GetNode")) return refused;
  return Finish(call, "Roster/GetNode", DoGetNode(*request, response));
}

grpc::Status RosterService::DoGetNode(const v1::GetNodeRequest& request,
                                      v1::GetNodeResponse* response) {
  absl::StatusOr<std::string> address = ParseAddressField("address", request.address());
  if (!address.ok()) return InvalidArgument(address.status());
  const cluster::ViewSnapshot snapshot = context_->cluster->Snapshot();
  const ClusterViewPtr& view = snapshot.view;
  const NodeInfoPtr node = view->FindAny(*address);
  if (node == nullptr) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("no node '", *address,
                                     "' is known: it is not a master, worker or alert server in "
                                     "view version ",
                                     view->version, view->synced ? "" : " (not synced yet)"));
  }
  FillNode(*node, context_->clock->Now(), NodeDetail{/*history=*/true, &view->slots},
           response->mutable_node());
  FillMeta(*context_, snapshot, response->mutable_meta());
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* RosterService::SelectWorker(grpc::CallbackServerContext* call,
                                                      const v1::SelectWorkerRequest* request,
                                                      v1::SelectWorkerResponse* response) {
  if (grpc::ServerUnaryReactor* refused = Refuse(call, "Roster/SelectWorker")) return refused;
  return Finish(call, "Roster/SelectWorker", DoSelectWorker(*request, response));
}

grpc::Status RosterService::DoSelectWorker(const v1::SelectWorkerRequest& request,
                                           v1::SelectWorkerResponse* response) {
  absl::StatusOr<cluster::SelectRequest> select = ToSelectRequest(request);
  if (!select.ok()) return InvalidArgument(select.status());
  const cluster::ViewSnapshot snapshot = context_->cluster->Snapshot();
  absl::StatusOr<cluster::Selection> selection = context_->cluster->SelectWorker(snapshot, *select);
  if (!selection.ok()) return ToGrpcStatus(selection.status());
  // The worker as FillNode fills it (NodeDetail{}, or its BASIC view), from the bytes cached
  // for its NodeInfo.
  const cluster::NodeInfoPtr* worker[] = {selection->picked};
  node_bytes_.Append(worker, context_->clock->Now(),
                     /*basic=*/request.view() == v1::NODE_VIEW_BASIC,
                     v1::SelectWorkerResponse::kWorkerFieldNumber, UnknownFields(response));
  response->set_rule(selection->rule.data(), selection->rule.size());
  for (const cluster::CandidateExplanation& candidate : selection->candidates) {
    FillCandidate(candidate, response->add_candidates());
  }
  FillMeta(*context_, snapshot, response->mutable_meta());
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* RosterService::GetMasterSlot(grpc::CallbackServerContext* call,
                                                       const v1::GetMasterSlotRequest* request,
                                                       v1::GetMasterSlotResponse* response) {
  if (grpc::ServerUnaryReactor* refused = Refuse(call, "Roster/GetMasterSlot")) return refused;
  return Finish(call, "Roster/GetMasterSlot", DoGetMasterSlot(*request, response));
}

grpc::Status RosterService::DoGetMasterSlot(const v1::GetMasterSlotRequest& request,
                                            v1::GetMasterSlotResponse* response) {
  absl::StatusOr<std::string> address = ParseAddressField("address", request.address());
  if (!address.ok()) return InvalidArgument(address.status());
  absl::StatusOr<std::optional<cluster::IncarnationClaim>> claim = ToIncarnationClaim(request);
  if (!claim.ok()) return InvalidArgument(claim.status());
  // The answer, its refusal and its ViewMeta all come from one snapshot.
  const cluster::ViewSnapshot snapshot = context_->cluster->Snapshot();
  absl::StatusOr<cluster::SlotAnswer> answer =
      context_->cluster->GetMasterSlot(snapshot, *address, *claim);
  if (!answer.ok()) return ToGrpcStatus(answer.status());
  response->set_slot(answer->slot);
  response->set_total(answer->total);
  response->set_epoch(answer->epoch);
  FillMeta(*context_, snapshot, response->mutable_meta());
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* RosterService::GetLeader(grpc::CallbackServerContext* call,
                                                   const v1::GetLeaderRequest*,
                                                   v1::GetLeaderResponse* response) {
  if (grpc::ServerUnaryReactor* refused = Refuse(call, "Roster/GetLeader")) return refused;
  return Finish(call, "Roster/GetLeader", DoGetLeader(response));
}

grpc::Status RosterService::DoGetLeader(v1::GetLeaderResponse* response) {
  const cluster::ViewSnapshot snapshot = context_->cluster->Snapshot();
  absl::StatusOr<cluster::LeaderAnswer> answer = context_->cluster->GetLeader(snapshot);
  if (!answer.ok()) return ToGrpcStatus(answer.status());
  FillLeader(answer->leader, response->mutable_leader());
  if (answer->master != nullptr) {
    FillNode(*answer->master, context_->clock->Now(),
             NodeDetail{/*history=*/false, &snapshot.view->slots}, response->mutable_master());
  }
  FillMeta(*context_, snapshot, response->mutable_meta());
  return grpc::Status::OK;
}

bool RosterService::TakeClientWatchSlot(const std::string& client) {
  absl::MutexLock lock(&streams_mu_);
  int& open = streams_per_client_[client];
  if (options_.max_watch_streams_per_client > 0 && open >= options_.max_watch_streams_per_client) {
    if (open == 0) streams_per_client_.erase(client);
    return false;
  }
  ++open;
  return true;
}

void RosterService::ReleaseClientWatchSlot(const std::string& client) {
  absl::MutexLock lock(&streams_mu_);
  auto it = streams_per_client_.find(client);
  if (it != streams_per_client_.end() && --it->second <= 0) streams_per_client_.erase(it);
}

grpc::ServerWriteReactor<v1::WatchClusterResponse>* RosterService::WatchCluster(
    grpc::CallbackServerContext* call, const v1::WatchClusterRequest* request) {
  constexpr absl::string_view kMethod = "Roster/WatchCluster";
  absl::StatusOr<Caller> caller = AuthorizeCall(*context_, *call, kScopeRead, kMethod);
  if (!caller.ok()) {
    const grpc::Status status = ToGrpcStatus(caller.status());
    context_->metrics->CountRpc(kMethod, status.error_code());
    return new FinishedWriteReactor(status);
  }
  const std::string client = ClientKey(*caller, call->peer());
  if (!TakeClientWatchSlot(client)) {
    context_->metrics->watch_streams_refused().Increment();
    context_->metrics->CountRpc(kMethod, grpc::StatusCode::RESOURCE_EXHAUSTED);
    LOG_EVERY_N(WARNING, 100) << "refused a WatchCluster stream of '" << LogSafe(client)
                              << "': it holds " << options_.max_watch_streams_per_client
                              << " (--max_watch_streams_per_client)";
    return new FinishedWriteReactor(grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("this client already holds ", options_.max_watch_streams_per_client,
                     " watch streams (--max_watch_streams_per_client)")));
  }
  absl::StatusOr<WatchFilterSpec> filter = WatchFilterSpec::FromProto(request->filter());
  if (!filter.ok()) {
    const grpc::Status status = ToGrpcStatus(filter.status());
    context_->metrics->CountRpc(kMethod, status.error_code());
    return new FinishedWriteReactor(status);
  }
  if (open_watch_streams_.fetch_add(1) >= options_.max_watch_streams) {
    open_watch_streams_.fetch_sub(1);
    ReleaseClientWatchSlot(client);
    context_->metrics->watch_streams_refused().Increment();
    context_->metrics->CountRpc(kMethod, grpc::StatusCode::RESOURCE_EXHAUSTED);
    LOG_EVERY_N(WARNING, 100) << "refused a WatchCluster stream: " << options_.max_watch_streams
                              << " are open (--max_watch_streams)";
    return new FinishedWriteReactor(grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("this rosterd already serves ", options_.max_watch_streams,
                     " watch streams (--max_watch_streams); retry later or use another "
                     "replica")));
  }
  context_->metrics->watch_streams_open().Add(1);
  auto* reactor = new WatchReactor(context_, *std::move(filter), options_.watch_buffer_messages,
                                   [this, client](WatchStream* stream) {
                                     {
                                       absl::MutexLock lock(&streams_mu_);
                                       streams_.erase(stream);
                                     }
                                     ReleaseClientWatchSlot(client);
                                     open_watch_streams_.fetch_sub(1);
                                     context_->metrics->watch_streams_open().Add(-1);
                                   });
  bool ending;
  {
    absl::MutexLock lock(&streams_mu_);
    ending = ending_;
    if (!ending) streams_[reactor->stream().get()] = reactor->stream();
  }
  if (ending) {
    reactor->stream()->End(grpc::Status(grpc::StatusCode::UNAVAILABLE, "rosterd is shutting down"));
    return reactor;
  }
  // Versions of another daemon run (a restarted rosterd, another replica) mean nothing here:
  // start from a snapshot. A version named with our instance id is resumed. Without an
  // instance id, a version above ours cannot be from this run (versions only grow).
  uint64_t from_version = request->from_version();
  if (from_version > 0 && !request->instance_id().empty() &&
      request->instance_id() != context_->instance_id) {
    VLOG(1) << "WatchCluster from_version " << from_version << " of instance '"
            << request->instance_id() << "', not this one ('" << context_->instance_id
            << "'); sending a snapshot";
    from_version = 0;
  } else if (from_version > context_->cluster->view()->version) {
    VLOG(1) << "WatchCluster from_version " << from_version
            << " is ahead of this daemon's view; sending a snapshot";
    from_version = 0;
  }
  reactor->stream()->Start(from_version);
  return reactor;
}

grpc::ServerUnaryReactor* RosterService::Ping(grpc::CallbackServerContext* call,
                                              const v1::PingRequest* request,
                                              v1::PingResponse* response) {
  if (grpc::ServerUnaryReactor* refused = Refuse(call, "Roster/Ping")) return refused;
  static constexpr int kMaxPingBytes = 65536;
  const int bytes = request->response_bytes();
  if (bytes < 0 || bytes > kMaxPingBytes) {
    return Finish(call, "Roster/Ping",
                  InvalidArgument(absl::InvalidArgumentError(absl::StrCat(
                      "response_bytes: ", bytes, " is not in [0, ", kMaxPingBytes, "]"))));
  }
  if (bytes > 0) response->mutable_payload()->assign(static_cast<size_t>(bytes), '\0');
  return Finish(call, "Roster/Ping", grpc::Status::OK);
}

}  // namespace roster::server
