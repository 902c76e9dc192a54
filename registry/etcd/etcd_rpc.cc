#include "registry/etcd/etcd_rpc.h"

#include <vector>

#include "absl/strings/str_cat.h"

namespace roster::registry {

absl::Status EtcdStatus(const grpc::Status& status, absl::string_view op, absl::string_view path) {
  if (status.ok()) return absl::OkStatus();
  // gRPC's codes are the canonical codes, number for number.
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(op, " '", path, "': etcd: ", status.error_message()));
}

std::unique_ptr<CallTracker::Ticket> CallTracker::Add(
    std::shared_ptr<grpc::ClientContext> context) {
  absl::MutexLock lock(&mu_);
  if (closed_) return nullptr;
  calls_.insert(std::move(context));
  ++tickets_;
  return std::make_unique<Ticket>(this);
}

void CallTracker::Remove(const std::shared_ptr<grpc::ClientContext>& context) {
  std::shared_ptr<grpc::ClientContext> removed;  // destroyed outside the lock
  absl::MutexLock lock(&mu_);
  auto it = calls_.find(context);
  if (it == calls_.end()) return;
  removed = *it;
  calls_.erase(it);
}

void CallTracker::Released() {
  absl::MutexLock lock(&mu_);
  --tickets_;
}

void CallTracker::CancelAllAndWait() {
  std::vector<std::shared_ptr<grpc::ClientContext>> calls;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    calls.assign(calls_.begin(), calls_.end());
  }
  // Outside the lock: gRPC may run a call's callback inline, and it calls Remove().
  for (const auto& context : calls) context->TryCancel();
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(this, &CallTracker::Idle));
}

}  // namespace roster::registry
