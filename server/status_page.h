// StatusPage: the live status page and its JSON API, served by rosterd's HttpServer.
//
//   GET /             the page: one self-contained HTML document (CSS and JS inline, no
//                     external asset), built into the binary (server/status_page.html)
//   GET /api/view     the whole view as JSON: GetClusterViewResponse in proto3 JSON, with meta
//   GET /api/groups   every worker group with its counts: ListGroupsResponse, with meta (the
//                     page asks for it on GROUPS_CHANGED, whose event names no group)
//   GET /api/node?address=HOST:PORT
//                     one node with its transition history (Node in proto3 JSON); 404 if unknown
//   GET /api/events   server-sent events from the same change feed as WatchCluster
//                     (ClusterManager::WatchChanges):
//                       event: snapshot  GetClusterViewResponse with meta, first
//                       event: changes   {"meta": ViewMeta, "events": [ClusterEvent, ...]}, one
//                                        per published batch, in order
//                       event: status    ViewMeta (freshness, session, DS profile) every
//                                        `status_interval`, so a stale view shows without a change
//                       event: resync    the stream fell more than `max_queued_batches` behind
//                                        and ends; the page reconnects and starts from a snapshot
//
// The JSON is the gRPC API's own messages (roster.proto) printed by protobuf's JSON printer, so
// the page and `grpcurl` see the same fields. The page (and these endpoints) show what any
// reader of the view may see; they carry no operator actions.
//
// Readiness (/readyz) is judged here too, from one snapshot of the freshness.
//
// Thread-safety: thread-safe; handlers run on HttpServer worker threads, the change listener on
// the cluster's fan-out thread (it only queues).
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cluster/freshness.h"
#include "server/http_server.h"
#include "server/rpc_util.h"

namespace roster::server {

// The page, as built into the binary.
absl::string_view StatusPageHtml();

// /readyz: ready once the first full read of the registry completed and the view is fresh (the
// session connected, every re-read done, no access problem, no self-preservation); else the
// reason, with how long the view has been stale.
HealthzAnswer ReadinessOf(const cluster::Freshness& freshness);

struct StatusPageOptions {
  // How often an event stream sends a status event (and so notices a client that has gone).
  absl::Duration status_interval = absl::Seconds(1);
  // Change batches an event stream may hold unwritten before it gives up with `resync`.
  size_t max_queued_batches = 4096;
};

class StatusPage {
 public:
  // `context` (its cluster, instance id and clock) must outlive the page.
  StatusPage(const ServiceContext* context, StatusPageOptions options);

  StatusPage(const StatusPage&) = delete;
  StatusPage& operator=(const StatusPage&) = delete;

  // Adds "/", "/api/view", "/api/groups", "/api/node", "/api/events" and "/readyz" to `http`
  // (before its Start()).
  void Register(HttpServer* http);

  // The bodies of the routes above.
  std::string ViewJson() const;
  std::string GroupsJson() const;
  // NotFound naming the address when no role has it.
  absl::StatusOr<std::string> NodeJson(absl::string_view address) const;
  // Runs one event stream until the client goes, the server stops, or the stream falls behind.
  void ServeEvents(HttpStream* out) const;

 private:
  const ServiceContext* const context_;
  const StatusPageOptions options_;
};

}  // namespace roster::server
