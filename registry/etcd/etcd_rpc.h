// gRPC plumbing for EtcdRegistry: unary calls and bidirectional streams on gRPC's callback
// API whose results are posted to the registry's executor, and the bookkeeping that lets
// Shutdown() cancel every call and wait for its last callback.
//
// gRPC runs completions on its own threads (sometimes inline, inside a call into gRPC, such
// as TryCancel()). There they only move the result into a task for the executor; no lock of
// ours is held while calling into gRPC.
//
// Thread-safety: CallTracker and EtcdStream are thread-safe; their callbacks run on the
// executor given.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/client_callback.h>

#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "util/executor.h"

namespace roster::registry {

// A gRPC status as an absl::Status for operation `op` on `path`: "get '/a': etcd: <message>".
absl::Status EtcdStatus(const grpc::Status& status, absl::string_view op, absl::string_view path);

// The outstanding calls of one registry, and the objects that carry them (a call's context,
// request and response; a stream's reactor). gRPC may still hold such an object for a moment
// after its last callback; Shutdown() waits until every one is destroyed, so that none
// outlives the registry's channel.
class CallTracker {
 public:
  // Held by a call's object, declared first (destroyed last): its end is the object's end.
  class Ticket {
   public:
    explicit Ticket(CallTracker* tracker) : tracker_(tracker) {}
    ~Ticket() { tracker_->Released(); }
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;

   private:
    CallTracker* const tracker_;
  };

  // Registers a call's context; null once CancelAllAndWait() has begun (do not start it).
  std::unique_ptr<Ticket> Add(std::shared_ptr<grpc::ClientContext> context);
  // The call's last callback has run (or is about to return): nothing left to cancel.
  void Remove(const std::shared_ptr<grpc::ClientContext>& context);
  // Refuses new calls, cancels the outstanding ones and waits until every ticket is gone.
  void CancelAllAndWait();

 private:
  void Released();
  bool Idle() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return tickets_ == 0; }

  absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  int64_t tickets_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<std::shared_ptr<grpc::ClientContext>> calls_ ABSL_GUARDED_BY(mu_);
};

// One unary call: `start(context, &request, &response, on_done)` is the stub's async() method
// (bound); `done` runs on `executor` with the status and the response. `done` is dropped
// unrun if the tracker is closed or the executor refuses the task (both only at shutdown,
// after the registry has failed its own callbacks).
template <typename Request, typename Response>
using UnaryStart = std::function<void(grpc::ClientContext*, const Request*, Response*,
                                      std::function<void(grpc::Status)>)>;

template <typename Request, typename Response>
void StartUnary(CallTracker* tracker, SerialExecutor* executor, absl::Duration timeout,
                UnaryStart<Request, Response> start, Request request,
                absl::AnyInvocable<void(grpc::Status, Response) &&> done) {
  struct Call {
    std::unique_ptr<CallTracker::Ticket> ticket;
    std::shared_ptr<grpc::ClientContext> context = std::make_shared<grpc::ClientContext>();
    Request request;
    Response response;
    absl::AnyInvocable<void(grpc::Status, Response) &&> done;
  };
  auto call = std::make_shared<Call>();
  call->request = std::move(request);
  call->done = std::move(done);
  // Waits for a connection (as ZooKeeper's client holds requests while it reconnects), up to
  // the operation timeout.
  call->context->set_wait_for_ready(true);
  call->context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  call->ticket = tracker->Add(call->context);
  if (call->ticket == nullptr) {
    executor->Post([call] {
      std::move(call->done)(grpc::Status(grpc::StatusCode::CANCELLED, "registry shut down"),
                            Response());
    });
    return;
  }
  start(call->context.get(), &call->request, &call->response,
        [tracker, executor, call](grpc::Status status) {
          executor->Post([call, status = std::move(status)]() mutable {
            std::move(call->done)(std::move(status), std::move(call->response));
          });
          tracker->Remove(call->context);
        });
}

// A bidirectional stream (Watch, LeaseKeepAlive). Responses and the end of the stream are
// delivered on the executor through the handlers; Write() and Cancel() are called on the
// executor too, and writes are sent one at a time, in order. Keep the shared_ptr while using
// the stream; it stays alive by itself until gRPC has finished with it.
//
// gRPC forbids starting an operation once OnDone() may run. A hold (AddHold) keeps OnDone()
// away until the stream has failed to read (it is over) and the executor has released the
// hold: a write, issued on the executor, can never race with the end of the stream.
template <typename Request, typename Response>
class EtcdStream final : public grpc::ClientBidiReactor<Request, Response> {
 public:
  struct Handlers {
    absl::AnyInvocable<void(Response)> on_read;      // on the executor
    absl::AnyInvocable<void(grpc::Status)> on_done;  // on the executor, once, last
  };
  using Start =
      std::function<void(grpc::ClientContext*, grpc::ClientBidiReactor<Request, Response>*)>;

  // Null if the tracker is closed.
  static std::shared_ptr<EtcdStream> Open(CallTracker* tracker, SerialExecutor* executor,
                                          const Start& start, Handlers handlers) {
    std::shared_ptr<EtcdStream> stream(new EtcdStream(tracker, executor, std::move(handlers)));
    stream->ticket_ = tracker->Add(stream->context_);
    if (stream->ticket_ == nullptr) return nullptr;
    stream->self_ = stream;
    start(stream->context_.get(), stream.get());
    stream->AddHold();
    stream->StartRead(&stream->response_);
    stream->StartCall();
    return stream;
  }

  // On the executor.
  void Write(Request request) {
    if (hold_released_) return;  // the stream is over
    {
      absl::MutexLock lock(&mu_);
      pending_.push_back(std::move(request));
      if (writing_) return;
      writing_ = true;
      current_ = std::move(pending_.front());
      pending_.pop_front();
    }
    this->StartWrite(&current_);
  }

  // Ends the stream; on_done follows (CANCELLED).
  void Cancel() { context_->TryCancel(); }

 private:
  EtcdStream(CallTracker* tracker, SerialExecutor* executor, Handlers handlers)
      : tracker_(tracker), executor_(executor), handlers_(std::move(handlers)) {}

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The stream is over; OnDone follows once the executor lets go of the hold.
      executor_->Post([stream = self_] {
        if (stream->hold_released_) return;
        stream->hold_released_ = true;
        stream->RemoveHold();
      });
      return;
    }
    executor_->Post([stream = self_, response = std::move(response_)]() mutable {
      stream->handlers_.on_read(std::move(response));
    });
    response_ = Response();
    this->StartRead(&response_);
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      if (!ok || pending_.empty()) {
        writing_ = false;
        return;
      }
      current_ = std::move(pending_.front());
      pending_.pop_front();
    }
    this->StartWrite(&current_);
  }

  void OnDone(const grpc::Status& status) override {
    std::shared_ptr<EtcdStream> self = std::move(self_);
    executor_->Post([self, status] { self->handlers_.on_done(status); });
    tracker_->Remove(context_);
  }

  std::unique_ptr<CallTracker::Ticket> ticket_;  // first: destroyed last
  CallTracker* const tracker_;
  SerialExecutor* const executor_;
  // Called on the executor only, one task at a time.
  Handlers handlers_;
  const std::shared_ptr<grpc::ClientContext> context_ = std::make_shared<grpc::ClientContext>();
  std::shared_ptr<EtcdStream> self_;  // set until OnDone
  Response response_;                 // gRPC's: one read outstanding at a time

  // On the executor: the hold is released, no write may start.
  bool hold_released_ = false;
  absl::Mutex mu_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  Request current_;  // the write in flight (gRPC reads it until OnWriteDone)
  std::deque<Request> pending_ ABSL_GUARDED_BY(mu_);
};

}  // namespace roster::registry
