#include "client/roster_client.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/support/channel_arguments.h"

namespace roster::client {
namespace {

namespace v1 = ::roster::v1;

// Every response but PingResponse carries a ViewMeta.
template <typename Response>
const v1::ViewMeta* MetaOf(const Response& response) {
  return &response.meta();
}
template <>
const v1::ViewMeta* MetaOf(const v1::PingResponse&) {
  return nullptr;
}

// The whole listing: `fetch` (one call, retried as any) from request.page_token on, following
// next_page_token to the last page. `merge` appends a later page's nodes to the first page;
// the answer carries the last page's ViewMeta (the newest view any of its pages came from).
template <typename Request, typename Fetch, typename Merge>
auto AllPages(Request request, Fetch fetch, Merge merge) -> decltype(fetch(request)) {
  auto whole = fetch(request);
  if (!whole.ok()) return whole;
  while (!whole->next_page_token().empty()) {
    request.set_page_token(whole->next_page_token());
    auto page = fetch(request);
    if (!page.ok()) return page.status();
    if (page->next_page_token() == request.page_token()) {
      return absl::InternalError(
          absl::StrCat("rosterd answered page_token '", request.page_token(),
                       "' with the same next_page_token: the listing would never end"));
    }
    merge(&*page, &*whole);
    whole->mutable_meta()->Swap(page->mutable_meta());
    whole->set_next_page_token(page->next_page_token());
  }
  return whole;
}

// Moves the elements of `from` to the end of `to`.
template <typename Message>
void Append(google::protobuf::RepeatedPtrField<Message>* from,
            google::protobuf::RepeatedPtrField<Message>* to) {
  to->Reserve(to->size() + from->size());
  for (Message& message : *from) to->Add()->Swap(&message);
}

int ClampMillis(absl::Duration d) {
  return static_cast<int>(
      std::clamp<int64_t>(absl::ToInt64Milliseconds(d), 1, std::numeric_limits<int>::max()));
}

}  // namespace

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  // gRPC and Abseil share the canonical code numbers.
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

// ---------------------------------------------------------------------------------------------
// WatchStream

WatchStream::WatchStream(std::unique_ptr<grpc::ClientContext> context,
                         v1::Roster::StubInterface* stub, const v1::WatchClusterRequest& request)
    : context_(std::move(context)), reader_(stub->WatchCluster(context_.get(), request)) {}

WatchStream::~WatchStream() {
  if (finished_) return;
  // Finish() needs the stream drained; cancelling first makes that immediate.
  context_->TryCancel();
  v1::WatchClusterResponse ignored;
  while (reader_->Read(&ignored)) {
  }
  reader_->Finish().IgnoreError();
}

absl::StatusOr<bool> WatchStream::Next(v1::WatchClusterResponse* response) {
  if (finished_) return final_;
  if (reader_->Read(response)) return true;
  finished_ = true;
  const grpc::Status status = reader_->Finish();
  final_ = status.ok() ? absl::StatusOr<bool>(false) : FromGrpcStatus(status);
  return final_;
}

void WatchStream::Cancel() { context_->TryCancel(); }

// ---------------------------------------------------------------------------------------------
// RosterClient

namespace {

absl::StatusOr<std::string> ReadPem(absl::string_view option, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) {
    return absl::InvalidArgumentError(
        absl::StrCat("roster client: cannot read ", option, " '", path, "'"));
  }
  if (contents.find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("roster client: ", option, " '", path, "' holds no PEM data"));
  }
  return contents;
}

// TLS from the options' files, or plaintext when none is set.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFor(
    const ClientOptions& options) {
  if (options.tls_ca_file.empty()) {
    if (!options.tls_cert_file.empty() || !options.tls_key_file.empty()) {
      return absl::InvalidArgumentError(
          "roster client: tls_cert_file and tls_key_file need tls_ca_file (the CA that signed "
          "rosterd's certificate)");
    }
    return grpc::InsecureChannelCredentials();
  }
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "roster client: tls_cert_file and tls_key_file go together: give both, or neither");
  }
  grpc::SslCredentialsOptions ssl;
  absl::StatusOr<std::string> ca = ReadPem("tls_ca_file", options.tls_ca_file);
  if (!ca.ok()) return ca.status();
  ssl.pem_root_certs = *std::move(ca);
  if (!options.tls_cert_file.empty()) {
    absl::StatusOr<std::string> cert = ReadPem("tls_cert_file", options.tls_cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadPem("tls_key_file", options.tls_key_file);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *std::move(cert);
    ssl.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(ssl);
}

}  // namespace

absl::StatusOr<std::unique_ptr<RosterClient>> RosterClient::Create(ClientOptions options) {
  if (options.target.empty()) {
    return absl::InvalidArgumentError("roster client: no target (expected host:port)");
  }
  if (options.deadline <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "roster client: deadline ", absl::FormatDuration(options.deadline), " is not positive"));
  }
  if (options.max_attempts < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("roster client: max_attempts ", options.max_attempts, " is less than 1"));
  }
  if (options.initial_backoff <= absl::ZeroDuration() ||
      options.max_backoff < options.initial_backoff) {
    return absl::InvalidArgumentError(
        absl::StrCat("roster client: backoff must satisfy 0 < initial (",
                     absl::FormatDuration(options.initial_backoff), ") <= max (",
                     absl::FormatDuration(options.max_backoff), ")"));
  }
  if (options.max_receive_message_bytes < 1) {
    return absl::InvalidArgumentError("roster client: max_receive_message_bytes must be positive");
  }
  if (options.credentials == nullptr) {
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
        ChannelCredentialsFor(options);
    if (!credentials.ok()) return credentials.status();
    options.credentials = *std::move(credentials);
  }

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  // gRPC's own reconnect backoff grows to 2 minutes; while it waits, every call fails at once
  // with UNAVAILABLE. Bounding it by our retry backoff lets a restarted rosterd be reached
  // within one max_backoff.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, ClampMillis(options.initial_backoff));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, ClampMillis(options.max_backoff));
  if (!options.tls_server_name.empty()) args.SetSslTargetNameOverride(options.tls_server_name);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(options.target, options.credentials, args);
  return std::unique_ptr<RosterClient>(new RosterClient(std::move(options), std::move(channel)));
}

RosterClient::RosterClient(ClientOptions options, std::shared_ptr<grpc::Channel> channel)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      roster_(v1::Roster::NewStub(channel_)),
      registration_(v1::Registration::NewStub(channel_)),
      admin_(v1::RosterAdmin::NewStub(channel_)) {}

RosterClient::~RosterClient() = default;

ViewPosition RosterClient::last_seen() const {
  absl::MutexLock lock(&mu_);
  return seen_;
}

absl::Status RosterClient::ObserveView(const v1::ViewMeta& meta) {
  if (meta.instance_id().empty()) return absl::OkStatus();  // nothing to compare with
  absl::MutexLock lock(&mu_);
  if (meta.instance_id() != seen_.instance_id) {
    // A rosterd we have not heard from (restarted, or another replica): versions of different
    // runs are not comparable, so start over.
    seen_.instance_id = meta.instance_id();
    seen_.version = meta.version();
    return absl::OkStatus();
  }
  if (meta.version() < seen_.version) {
    return absl::AbortedError(
        absl::StrCat("answer from view version ", meta.version(), " is older than version ",
                     seen_.version, " already seen (rosterd instance '", seen_.instance_id, "')"));
  }
  seen_.version = meta.version();
  return absl::OkStatus();
}

absl::Duration RosterClient::Backoff(int attempt) {
  absl::Duration base = options_.initial_backoff;
  for (int i = 1; i < attempt && base < options_.max_backoff; ++i) base *= 2;
  base = std::min(base, options_.max_backoff);
  double jitter;
  {
    absl::MutexLock lock(&mu_);
    jitter = absl::Uniform(bitgen_, 0.8, 1.2);
  }
  return std::min(base * jitter, options_.max_backoff);
}

absl::Status RosterClient::Invoke(const CallPolicy& policy,
                                  absl::FunctionRef<grpc::Status(grpc::ClientContext*)> attempt,
                                  absl::FunctionRef<const v1::ViewMeta*()> meta) {
  const absl::Time deadline = absl::Now() + options_.deadline;
  const int max_attempts = policy.retry ? options_.max_attempts : 1;
  absl::Status last;
  for (int n = 1;; ++n) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(deadline));
    if (policy.admin && !options_.admin_token.empty()) {
      context.AddMetadata("authorization", absl::StrCat("Bearer ", options_.admin_token));
    } else if (!options_.token.empty()) {
      context.AddMetadata("authorization", absl::StrCat("Bearer ", options_.token));
    }
    const grpc::Status status = attempt(&context);
    if (status.ok()) {
      const v1::ViewMeta* view = meta();
      if (!policy.retry || view == nullptr) return absl::OkStatus();
      last = ObserveView(*view);
      if (last.ok()) return last;
      // An older answer than one already seen: another attempt may reach a fresher replica.
    } else {
      last = FromGrpcStatus(status);
      if (last.code() == absl::StatusCode::kCancelled) {
        // Nobody cancels this attempt's context here, so the server did: gRPC 1.51 cancels
        // the calls that reach a server beginning to shut down, before any handler runs
        // (grpc/grpc#41785). To the caller that is a server going away, not a cancellation.
        last = absl::UnavailableError(absl::StrCat(
            "rosterd cancelled the call unhandled (shutting down?): ", last.message()));
      }
      if (last.code() != absl::StatusCode::kUnavailable) return last;
    }
    if (n >= max_attempts) {
      if (n > 1) {
        last = absl::Status(last.code(), absl::StrCat(last.message(), " (", policy.method,
                                                      ": gave up after ", n, " attempts)"));
      }
      return last;
    }
    // Never wait past the deadline: the next attempt could not run anyway.
    const absl::Duration wait = Backoff(n);
    if (absl::Now() + wait >= deadline) {
      return absl::Status(
          last.code(), absl::StrCat(last.message(), " (", policy.method, ": deadline of ",
                                    absl::FormatDuration(options_.deadline), " reached after ", n,
                                    n == 1 ? " attempt)" : " attempts)"));
    }
    absl::SleepFor(wait);
  }
}

template <typename Stub, typename Request, typename Response>
absl::StatusOr<Response> RosterClient::Call(const CallPolicy& policy, Stub* stub,
                                            grpc::Status (Stub::*method)(grpc::ClientContext*,
                                                                         const Request&, Response*),
                                            const Request& request) {
  Response response;
  absl::Status status = Invoke(
      policy,
      [&](grpc::ClientContext* context) {
        response.Clear();
        return (stub->*method)(context, request, &response);
      },
      [&]() { return MetaOf(response); });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::GetClusterViewResponse> RosterClient::GetClusterView(
    const v1::GetClusterViewRequest& request) {
  return AllPages(
      request,
      [this](const v1::GetClusterViewRequest& page) {
        return Call({"GetClusterView", /*retry=*/true, /*admin=*/false}, roster_.get(),
                    &v1::Roster::Stub::GetClusterView, page);
      },
      [](v1::GetClusterViewResponse* page, v1::GetClusterViewResponse* whole) {
        Append(page->mutable_masters(), whole->mutable_masters());
        Append(page->mutable_workers(), whole->mutable_workers());
        Append(page->mutable_alert_servers(), whole->mutable_alert_servers());
      });
}

absl::StatusOr<v1::ListNodesResponse> RosterClient::ListMasters(
    const v1::ListMastersRequest& request) {
  return Call({"ListMasters", /*retry=*/true, /*admin=*/false}, roster_.get(),
              &v1::Roster::Stub::ListMasters, request);
}

absl::StatusOr<v1::ListNodesResponse> RosterClient::ListWorkers(
    const v1::ListWorkersRequest& request) {
  return AllPages(
      request,
      [this](const v1::ListWorkersRequest& page) {
        return Call({"ListWorkers", /*retry=*/true, /*admin=*/false}, roster_.get(),
                    &v1::Roster::Stub::ListWorkers, page);
      },
      [](v1::ListNodesResponse* page, v1::ListNodesResponse* whole) {
        Append(page->mutable_nodes(), whole->mutable_nodes());
      });
}

absl::StatusOr<v1::ListGroupsResponse> RosterClient::ListGroups(
    const v1::ListGroupsRequest& request) {
  return Call({"ListGroups", /*retry=*/true, /*admin=*/false}, roster_.get(),
              &v1::Roster::Stub::ListGroups, request);
}

absl::StatusOr<v1::GetWorkerGroupResponse> RosterClient::GetWorkerGroup(
    const v1::GetWorkerGroupRequest& request) {
  return AllPages(
      request,
      [this](const v1::GetWorkerGroupRequest& page) {
        return Call({"GetWorkerGroup", /*retry=*/true, /*admin=*/false}, roster_.get(),
                    &v1::Roster::Stub::GetWorkerGroup, page);
      },
      [](v1::GetWorkerGroupResponse* page, v1::GetWorkerGroupResponse* whole) {
        Append(page->mutable_workers(), whole->mutable_workers());
        whole->mutable_group()->Swap(page->mutable_group());  // the newest counts
      });
}

absl::StatusOr<v1::GetNodeResponse> RosterClient::GetNode(const v1::GetNodeRequest& request) {
  return Call({"GetNode", /*retry=*/true, /*admin=*/false}, roster_.get(),
              &v1::Roster::Stub::GetNode, request);
}

absl::StatusOr<v1::SelectWorkerResponse> RosterClient::SelectWorker(
    const v1::SelectWorkerRequest& request) {
  return Call({"SelectWorker", /*retry=*/true, /*admin=*/false}, roster_.get(),
              &v1::Roster::Stub::SelectWorker, request);
}

absl::StatusOr<v1::GetMasterSlotResponse> RosterClient::GetMasterSlot(
    const v1::GetMasterSlotRequest& request) {
  return Call({"GetMasterSlot", /*retry=*/true, /*admin=*/false}, roster_.get(),
              &v1::Roster::Stub::GetMasterSlot, request);
}

absl::StatusOr<v1::GetLeaderResponse> RosterClient::GetLeader(const v1::GetLeaderRequest& request) {
  return Call({"GetLeader", /*retry=*/true, /*admin=*/false}, roster_.get(),
              &v1::Roster::Stub::GetLeader, request);
}

absl::StatusOr<v1::PingResponse> RosterClient::Ping(const v1::PingRequest& request) {
  return Call({"Ping", /*retry=*/true, /*admin=*/false}, roster_.get(), &v1::Roster::Stub::Ping,
              request);
}

absl::StatusOr<v1::RegisterNodeResponse> RosterClient::RegisterNode(
    const v1::RegisterNodeRequest& request) {
  return Call({"RegisterNode", /*retry=*/false, /*admin=*/false}, registration_.get(),
              &v1::Registration::Stub::RegisterNode, request);
}

absl::StatusOr<v1::HeartbeatResponse> RosterClient::Heartbeat(const v1::HeartbeatRequest& request) {
  return Call({"Heartbeat", /*retry=*/true, /*admin=*/false}, registration_.get(),
              &v1::Registration::Stub::Heartbeat, request);
}

absl::StatusOr<v1::DeregisterNodeResponse> RosterClient::DeregisterNode(
    const v1::DeregisterNodeRequest& request) {
  return Call({"DeregisterNode", /*retry=*/false, /*admin=*/false}, registration_.get(),
              &v1::Registration::Stub::DeregisterNode, request);
}

absl::StatusOr<v1::DrainNodeResponse> RosterClient::DrainNode(const v1::DrainNodeRequest& request) {
  return Call({"DrainNode", /*retry=*/true, /*admin=*/true}, admin_.get(),
              &v1::RosterAdmin::Stub::DrainNode, request);
}

absl::StatusOr<v1::UndrainNodeResponse> RosterClient::UndrainNode(
    const v1::UndrainNodeRequest& request) {
  return Call({"UndrainNode", /*retry=*/true, /*admin=*/true}, admin_.get(),
              &v1::RosterAdmin::Stub::UndrainNode, request);
}

absl::StatusOr<v1::AcceptHeldLossesResponse> RosterClient::AcceptHeldLosses(
    const v1::AcceptHeldLossesRequest& request) {
  return Call({"AcceptHeldLosses", /*retry=*/false, /*admin=*/true}, admin_.get(),
              &v1::RosterAdmin::Stub::AcceptHeldLosses, request);
}

absl::StatusOr<v1::GetShadowDiffResponse> RosterClient::GetShadowDiff(
    const v1::GetShadowDiffRequest& request) {
  return Call({"GetShadowDiff", /*retry=*/true, /*admin=*/true}, admin_.get(),
              &v1::RosterAdmin::Stub::GetShadowDiff, request);
}

std::unique_ptr<WatchStream> RosterClient::Watch(uint64_t from_version,
                                                 const v1::WatchFilter& filter,
                                                 const std::string& instance_id) {
  v1::WatchClusterRequest request;
  request.set_from_version(from_version);
  if (from_version > 0) request.set_instance_id(instance_id);
  *request.mutable_filter() = filter;
  auto context = std::make_unique<grpc::ClientContext>();
  if (!options_.token.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", options_.token));
  }
  return std::unique_ptr<WatchStream>(new WatchStream(std::move(context), roster_.get(), request));
}

}  // namespace roster::client
