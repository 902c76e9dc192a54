// RosterClient: the C++ client of rosterd's gRPC API (proto/roster/v1/roster.proto, the API
// reference). Used by scheduler masters, by rosterctl, and by anything that links
// `roster::roster_client` from an installed roster (find_package(roster CONFIG)).
//
//   ClientOptions options;
//   options.target = "127.0.0.1:9090";
//   absl::StatusOr<std::unique_ptr<RosterClient>> client = RosterClient::Create(options);
//   v1::GetMasterSlotRequest request;
//   request.set_address("10.0.0.11:5678");
//   absl::StatusOr<v1::GetMasterSlotResponse> slot = (*client)->GetMasterSlot(request);
//   if (!slot.ok()) ...  // e.g. FAILED_PRECONDITION: master '10.0.0.11:5678' is not registered
//
// Every call:
//  - has a deadline (ClientOptions::deadline, retries included);
//  - is retried only on UNAVAILABLE, and only when repeating it is harmless (see "Retries"),
//    at most max_attempts times, with exponential, jittered backoff, never past the deadline;
//  - returns the server's status as an absl::Status with the same code and message
//    (FromGrpcStatus), or the response. One exception: a unary call the server cancelled
//    (gRPC does so with calls that arrive while the server starts shutting down, before any
//    handler ran) is UNAVAILABLE, and retried as such: the caller never cancels these calls.
//
// Retries. The Roster reads, Heartbeat, DrainNode and UndrainNode are retried: a read changes
// nothing; Heartbeat overwrites the node's heartbeat with the same data; DrainNode and
// UndrainNode set a state (drained with a reason / not drained), so applying one twice leaves
// the same state. RegisterNode and DeregisterNode are never retried: if the first attempt was
// applied and only its answer was lost, a second one would fail (ALREADY_EXISTS for our own
// registration, NOT_FOUND for the node we just removed) and hide the success. Their UNAVAILABLE
// is returned to the caller, who knows whether to check and try again.
//
// Staleness. Answers never go back in time: the client remembers the rosterd instance it last
// heard from (ViewMeta.instance_id) and the highest view version seen from it. An answer from
// the same instance with a lower version (say, from a lagging replica behind a load balancer)
// is retried like UNAVAILABLE and, if older answers persist, the call fails with ABORTED
// "answer from view version N is older than version M already seen". An answer from another
// instance id (rosterd restarted, or another replica) starts tracking afresh. Only retried
// calls are checked: the answer of a RegisterNode or DeregisterNode reports an action that has
// happened, whatever its version. Watch streams are not checked (they carry their own
// versions; see WatchFollower).
//
// Thread-safety: RosterClient is thread-safe; all calls share one channel. A WatchStream is
// used by one thread at a time, except Cancel(), which any thread may call.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/status.h"
#include "grpcpp/support/sync_stream.h"
#include "roster/v1/roster.grpc.pb.h"
#include "roster/v1/roster.pb.h"

namespace roster::client {

struct ClientOptions {
  // A gRPC target: "127.0.0.1:9090", "dns:///roster.example:9090", "unix:///run/roster.sock".
  std::string target;
  // How long a call may take, retries and backoff included. Watch streams have no deadline.
  absl::Duration deadline = absl::Seconds(2);
  // Attempts per call, the first one included (1: never retry).
  int max_attempts = 4;
  // Backoff before the second attempt; doubles per attempt up to max_backoff; each wait is
  // jittered by +-20% (and never longer than max_backoff). Also bounds how long the channel
  // waits before reconnecting to a rosterd that went away.
  absl::Duration initial_backoff = absl::Milliseconds(50);
  absl::Duration max_backoff = absl::Seconds(1);
  // Sent as `authorization: Bearer <token>` with RosterAdmin calls (and only those). Empty:
  // none (rosterd then accepts admin calls from loopback clients only). Never logged.
  std::string admin_token;
  // Sent as `authorization: Bearer <token>` with every call: an identity in rosterd's
  // --access_file. On RosterAdmin calls admin_token, when set, is sent instead. Never logged.
  std::string token;
  // TLS (docs/security.md). tls_ca_file: the PEM bundle that signed rosterd's certificate; set,
  // the channel uses TLS. With tls_cert_file and tls_key_file (PEM) the client also presents
  // its certificate (mTLS, for a rosterd with --tls_client_ca_file). tls_server_name: the name
  // rosterd's certificate must carry, when it is not the target's host.
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_server_name;
  // Channel credentials; null means the TLS settings above, or else insecure (plaintext).
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // The largest response accepted (GetClusterView of a large cluster is a few MiB).
  int max_receive_message_bytes = 64 * 1024 * 1024;
};

// The freshest view this client has seen: which rosterd run, and the highest version.
struct ViewPosition {
  std::string instance_id;  // empty until an answer carrying a ViewMeta arrived
  uint64_t version = 0;
};

// grpc::Status -> absl::Status: the same canonical code, the message kept as it is.
absl::Status FromGrpcStatus(const grpc::Status& status);

// One WatchCluster stream, as the server sends it (see roster.proto): a snapshot or the
// missed events, then events in order; maybe `resync_required` and the end. Created by
// RosterClient::Watch(). Destroying it cancels the stream if it is still open.
//
// Thread-safety: Next() from one thread at a time; Cancel() from any thread.
class WatchStream {
 public:
  ~WatchStream();

  WatchStream(const WatchStream&) = delete;
  WatchStream& operator=(const WatchStream&) = delete;

  // Blocks until the next message. true: `*response` holds it. false: the server ended the
  // stream cleanly (after `resync_required`, or when it shuts down). An error: the stream
  // failed (UNAVAILABLE when rosterd is unreachable or went away, CANCELLED after Cancel(),
  // the server's status otherwise). Once it returned false or an error, it keeps doing so.
  absl::StatusOr<bool> Next(roster::v1::WatchClusterResponse* response);

  // Ends the stream: a blocked or later Next() returns CANCELLED. Idempotent.
  void Cancel();

 private:
  friend class RosterClient;
  WatchStream(std::unique_ptr<grpc::ClientContext> context, roster::v1::Roster::StubInterface* stub,
              const roster::v1::WatchClusterRequest& request);

  const std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReaderInterface<roster::v1::WatchClusterResponse>> reader_;
  // Owned by the Next() caller.
  bool finished_ = false;
  absl::StatusOr<bool> final_ = false;
};

// The client. Create one per target and share it. Thread-safe.
class RosterClient {
 public:
  // InvalidArgument naming the option when `options` make no sense (empty target,
  // non-positive deadline or backoff, max_attempts < 1, a TLS file that cannot be read). Reads
  // the TLS files, nothing else: the channel connects on the first call.
  static absl::StatusOr<std::unique_ptr<RosterClient>> Create(ClientOptions options);

  ~RosterClient();

  RosterClient(const RosterClient&) = delete;
  RosterClient& operator=(const RosterClient&) = delete;

  // --- Roster: lookups, selection, slots, leader (all retried) --------------------------------
  // GetClusterView, ListWorkers and GetWorkerGroup return the whole listing: they follow
  // next_page_token from request.page_token (empty: the first page) to the last page, each
  // page a call of its own (request.page_size nodes; 0: rosterd's default). Pages may come
  // from successive views (roster.proto, "Pagination"): the answer carries the last page's
  // ViewMeta; GetWorkerGroup the last page's group counts. For one page at a time, use the
  // generated stub.
  absl::StatusOr<roster::v1::GetClusterViewResponse> GetClusterView(
      const roster::v1::GetClusterViewRequest& request = {});
  absl::StatusOr<roster::v1::ListNodesResponse> ListMasters(
      const roster::v1::ListMastersRequest& request = {});
  absl::StatusOr<roster::v1::ListNodesResponse> ListWorkers(
      const roster::v1::ListWorkersRequest& request = {});
  absl::StatusOr<roster::v1::ListGroupsResponse> ListGroups(
      const roster::v1::ListGroupsRequest& request = {});
  absl::StatusOr<roster::v1::GetWorkerGroupResponse> GetWorkerGroup(
      const roster::v1::GetWorkerGroupRequest& request);
  absl::StatusOr<roster::v1::GetNodeResponse> GetNode(const roster::v1::GetNodeRequest& request);
  // Retried: a selection that never reached the caller has no effect on the caller's work
  // (it may advance a round-robin cursor, which only shifts the rotation).
  absl::StatusOr<roster::v1::SelectWorkerResponse> SelectWorker(
      const roster::v1::SelectWorkerRequest& request);
  absl::StatusOr<roster::v1::GetMasterSlotResponse> GetMasterSlot(
      const roster::v1::GetMasterSlotRequest& request);
  absl::StatusOr<roster::v1::GetLeaderResponse> GetLeader(
      const roster::v1::GetLeaderRequest& request = {});
  absl::StatusOr<roster::v1::PingResponse> Ping(const roster::v1::PingRequest& request = {});

  // Opens a WatchCluster stream from `from_version` (0: a snapshot first) of the daemon run
  // `instance_id` (the ViewMeta.instance_id the version came with; a rosterd of another run
  // then sends a snapshot instead). Never null; a failure to connect shows up in the first
  // Next(). No deadline: the stream lasts until the server ends it or it is cancelled. For a
  // stream that survives resyncs and rosterd restarts, use WatchFollower
  // (client/watch_follower.h).
  std::unique_ptr<WatchStream> Watch(uint64_t from_version,
                                     const roster::v1::WatchFilter& filter = {},
                                     const std::string& instance_id = "");

  // --- Registration -----------------------------------------------------------------------
  // Never retried (see the file comment).
  absl::StatusOr<roster::v1::RegisterNodeResponse> RegisterNode(
      const roster::v1::RegisterNodeRequest& request);
  // Retried.
  absl::StatusOr<roster::v1::HeartbeatResponse> Heartbeat(
      const roster::v1::HeartbeatRequest& request);
  // Never retried (see the file comment).
  absl::StatusOr<roster::v1::DeregisterNodeResponse> DeregisterNode(
      const roster::v1::DeregisterNodeRequest& request);

  // --- RosterAdmin: carry the admin token; retried ----------------------------------------
  absl::StatusOr<roster::v1::DrainNodeResponse> DrainNode(
      const roster::v1::DrainNodeRequest& request);
  absl::StatusOr<roster::v1::UndrainNodeResponse> UndrainNode(
      const roster::v1::UndrainNodeRequest& request);
  // Never retried: a retry could accept losses held after the first attempt.
  absl::StatusOr<roster::v1::AcceptHeldLossesResponse> AcceptHeldLosses(
      const roster::v1::AcceptHeldLossesRequest& request);
  // Shadow mode's divergences (read-only; retried).
  absl::StatusOr<roster::v1::GetShadowDiffResponse> GetShadowDiff(
      const roster::v1::GetShadowDiffRequest& request);

  // The freshest view seen so far (see "Staleness" in the file comment).
  ViewPosition last_seen() const;

  const ClientOptions& options() const { return options_; }

 private:
  struct CallPolicy {
    absl::string_view method;  // for error messages: "GetLeader"
    bool retry = true;         // repeating the call is harmless
    bool admin = false;        // attach the admin token
  };

  explicit RosterClient(ClientOptions options, std::shared_ptr<grpc::Channel> channel);

  // Runs `attempt` until it succeeds with a fresh answer, fails for good, or the policy, the
  // attempt budget or the deadline says stop. `meta` returns the answer's ViewMeta (or null).
  absl::Status Invoke(const CallPolicy& policy,
                      absl::FunctionRef<grpc::Status(grpc::ClientContext*)> attempt,
                      absl::FunctionRef<const roster::v1::ViewMeta*()> meta);

  // One unary call through Invoke(): the policy, the stub and its blocking method.
  template <typename Stub, typename Request, typename Response>
  absl::StatusOr<Response> Call(const CallPolicy& policy, Stub* stub,
                                grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                             Response*),
                                const Request& request);

  // Records an answer's (instance, version). ABORTED if it is older than one already seen.
  absl::Status ObserveView(const roster::v1::ViewMeta& meta);

  // The wait before attempt `attempt` + 1 (attempt >= 1), jittered.
  absl::Duration Backoff(int attempt);

  const ClientOptions options_;
  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<roster::v1::Roster::Stub> roster_;
  const std::unique_ptr<roster::v1::Registration::Stub> registration_;
  const std::unique_ptr<roster::v1::RosterAdmin::Stub> admin_;

  mutable absl::Mutex mu_;
  ViewPosition seen_ ABSL_GUARDED_BY(mu_);
  absl::BitGen bitgen_ ABSL_GUARDED_BY(mu_);
};

}  // namespace roster::client
