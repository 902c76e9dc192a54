#include "tests/client/fake_roster_server.h"

#include <chrono>
#include <functional>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace roster::testing {
namespace {

namespace v1 = ::roster::v1;

// Plays one StreamScript. Decisions are taken under mu_, and gRPC is called outside it (a
// reaction may run inline); `finished_` makes Finish() happen exactly once, and no write
// starts after it.
class ScriptedWriter final : public grpc::ServerWriteReactor<v1::WatchClusterResponse> {
 public:
  // `on_cancel` runs once if the client cancels the stream (or its deadline passes).
  ScriptedWriter(StreamScript script, std::function<void()> on_cancel)
      : script_(std::move(script)), on_cancel_(std::move(on_cancel)) {
    WriteNext();
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) cancelled_ = true;
    }
    WriteNext();
  }

  void OnCancel() override {
    on_cancel_();
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      // With a write in flight, OnWriteDone() finishes.
      if (!writing_ && !finished_) finish = finished_ = true;
    }
    if (finish) Finish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
  }

  void OnDone() override { delete this; }

 private:
  void WriteNext() {
    const v1::WatchClusterResponse* message = nullptr;
    std::optional<grpc::Status> finish;
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      if (cancelled_) {
        finish = grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
      } else if (next_ < script_.messages.size()) {
        message = &script_.messages[next_++];
        writing_ = true;
      } else if (!script_.hold) {
        finish = script_.end;
      }
      if (finish.has_value()) finished_ = true;
    }
    if (message != nullptr) StartWrite(message);
    if (finish.has_value()) Finish(*finish);
  }

  const StreamScript script_;
  const std::function<void()> on_cancel_;
  absl::Mutex mu_;
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

namespace internal {

std::string Authorization(const grpc::CallbackServerContext* context) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

}  // namespace internal

v1::ViewMeta Meta(const std::string& instance_id, uint64_t version) {
  v1::ViewMeta meta;
  meta.set_instance_id(instance_id);
  meta.set_version(version);
  meta.set_session_state(v1::CONNECTED);
  return meta;
}

void FakeRoster::PushStream(StreamScript script) {
  absl::MutexLock lock(&mu_);
  streams_.push_back(std::move(script));
}

std::vector<v1::WatchClusterRequest> FakeRoster::watch_requests() const {
  absl::MutexLock lock(&mu_);
  return watch_requests_;
}

grpc::ServerWriteReactor<v1::WatchClusterResponse>* FakeRoster::WatchCluster(
    grpc::CallbackServerContext* /*context*/, const v1::WatchClusterRequest* request) {
  StreamScript script;
  {
    absl::MutexLock lock(&mu_);
    watch_requests_.push_back(*request);
    if (!streams_.empty()) {
      script = std::move(streams_.front());
      streams_.pop_front();
    } else {
      script.end = grpc::Status(grpc::StatusCode::UNAVAILABLE, "no stream scripted");
    }
  }
  return new ScriptedWriter(std::move(script), [this] { stream_cancels_.fetch_add(1); });
}

FakeRosterServer::FakeRosterServer() {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&roster_);
  builder.RegisterService(&registration_);
  builder.RegisterService(&admin_);
  server_ = builder.BuildAndStart();
  CHECK(server_ != nullptr && port > 0) << "cannot start the fake rosterd";
  target_ = absl::StrCat("127.0.0.1:", port);
}

FakeRosterServer::~FakeRosterServer() {
  // A deadline of now cancels held calls and streams at once.
  server_->Shutdown(std::chrono::system_clock::now());
  server_->Wait();
}

}  // namespace roster::testing
