#include "server/status_page.h"

#include <google/protobuf/util/json_util.h>

#include <deque>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "cluster/change_fanout.h"
#include "cluster/cluster_manager.h"
#include "server/convert.h"
#include "server/health_reporter.h"

namespace roster::server {
namespace {

// A JSON answer no cache may keep: the view it shows moves on.
HttpResponse JsonAnswer(std::string body) {
  HttpResponse response;
  response.content_type = "application/json";
  response.body = std::move(body);
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

std::string Json(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok()) {
    // Only a message with an unresolvable Any could fail; ours have none.
    return "{}";
  }
  return out;
}

// What one event stream has been handed by the fan-out thread and not yet written.
class EventQueue {
 public:
  explicit EventQueue(size_t max_batches) : max_batches_(max_batches) {}

  void Start(cluster::WatchStart start) {
    absl::MutexLock lock(&mu_);
    start_ = std::move(start);
  }
  void Changes(const std::shared_ptr<const cluster::ChangeBatch>& batch) {
    absl::MutexLock lock(&mu_);
    if (lost_) return;
    if (batches_.size() >= max_batches_) {
      // The client reads too slowly: drop what is queued rather than grow without bound.
      batches_.clear();
      lost_ = true;
      return;
    }
    batches_.push_back(batch);
  }
  void Lost() {
    absl::MutexLock lock(&mu_);
    lost_ = true;
  }

  struct Taken {
    std::optional<cluster::WatchStart> start;
    std::deque<std::shared_ptr<const cluster::ChangeBatch>> batches;
    bool lost = false;
  };
  // What is queued, once there is something or `deadline` passes.
  Taken Take(absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithDeadline(absl::Condition(this, &EventQueue::HasWorkLocked), deadline);
    Taken taken;
    taken.start = std::move(start_);
    start_.reset();
    taken.batches.swap(batches_);
    taken.lost = lost_;
    return taken;
  }

 private:
  bool HasWorkLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return start_.has_value() || !batches_.empty() || lost_;
  }

  const size_t max_batches_;
  absl::Mutex mu_;
  std::optional<cluster::WatchStart> start_ ABSL_GUARDED_BY(mu_);
  std::deque<std::shared_ptr<const cluster::ChangeBatch>> batches_ ABSL_GUARDED_BY(mu_);
  bool lost_ ABSL_GUARDED_BY(mu_) = false;
};

std::string Event(absl::string_view name, absl::string_view data) {
  return absl::StrCat("event: ", name, "\ndata: ", data, "\n\n");
}

// How often a stream checks that the server is still running while nothing happens.
constexpr absl::Duration kWakeUp = absl::Milliseconds(250);

}  // namespace

HealthzAnswer ReadinessOf(const cluster::Freshness& freshness) {
  if (HealthReporter::ShouldServe(freshness)) return {true, ""};
  std::string reason = HealthReporter::NotServingReason(freshness);
  if (freshness.ever_synced && freshness.stale) {
    absl::StrAppend(&reason, " (stale for ",
                    absl::FormatDuration(absl::Trunc(freshness.stale_for, absl::Milliseconds(1))),
                    ")");
  }
  return {false, std::move(reason)};
}

StatusPage::StatusPage(const ServiceContext* context, StatusPageOptions options)
    : context_(context), options_(options) {}

void StatusPage::Register(HttpServer* http) {
  http->Handle("/", [](const HttpRequest&) {
    HttpResponse response;
    response.content_type = "text/html; charset=utf-8";
    response.body = std::string(StatusPageHtml());
    response.headers.emplace_back("Cache-Control", "no-cache");
    return response;
  });
  http->Handle("/api/view", [this](const HttpRequest&) { return JsonAnswer(ViewJson()); });
  http->Handle("/api/groups", [this](const HttpRequest&) { return JsonAnswer(GroupsJson()); });
  http->Handle("/api/node", [this](const HttpRequest& request) {
    absl::StatusOr<std::string> node = NodeJson(request.Param("address"));
    if (!node.ok()) {
      HttpResponse response;
      response.code = 404;
      response.body = absl::StrCat(node.status().message(), "\n");
      return response;
    }
    return JsonAnswer(*std::move(node));
  });
  http->Handle("/readyz", [this](const HttpRequest&) {
    return HealthzResponse(ReadinessOf(context_->cluster->freshness()));
  });
  http->HandleStream("/api/events", "text/event-stream",
                     [this](const HttpRequest&, HttpStream* out) { ServeEvents(out); });
}

std::string StatusPage::ViewJson() const {
  const cluster::ViewSnapshot snapshot = context_->cluster->Snapshot();
  v1::GetClusterViewResponse response;
  FillMeta(*context_, snapshot, response.mutable_meta());
  FillClusterView(*snapshot.view, context_->clock->Now(), &response);
  return Json(response);
}

std::string StatusPage::GroupsJson() const {
  const cluster::ViewSnapshot snapshot = context_->cluster->Snapshot();
  v1::ListGroupsResponse response;
  for (const auto& [name, group] : snapshot.view->groups) FillGroup(group, response.add_groups());
  FillMeta(*context_, snapshot, response.mutable_meta());
  return Json(response);
}

absl::StatusOr<std::string> StatusPage::NodeJson(absl::string_view address) const {
  const cluster::ClusterViewPtr view = context_->cluster->view();
  const cluster::NodeInfoPtr node = view->FindAny(address);
  if (node == nullptr) {
    return absl::NotFoundError(absl::StrCat("no node '", address, "' in the view"));
  }
  v1::Node out;
  FillNode(*node, context_->clock->Now(), NodeDetail{/*history=*/true, &view->slots}, &out);
  return Json(out);
}

void StatusPage::ServeEvents(HttpStream* out) const {
  auto queue = std::make_shared<EventQueue>(options_.max_queued_batches);
  cluster::WatchListener listener;
  listener.on_start = [queue](cluster::WatchStart start) { queue->Start(std::move(start)); };
  listener.on_changes = [queue](const std::shared_ptr<const cluster::ChangeBatch>& batch) {
    queue->Changes(batch);
  };
  listener.on_lost = [queue](bool) { queue->Lost(); };
  const std::unique_ptr<cluster::ChangeWatch> watch =
      context_->cluster->WatchChanges(/*from_version=*/0, std::move(listener));
  // Reconnect after a second when the stream ends (resync, restart).
  if (!out->Write("retry: 1000\n\n")) return;
  absl::Time next_status = absl::Now() + options_.status_interval;
  while (out->open()) {
    EventQueue::Taken taken = queue->Take(std::min(next_status, absl::Now() + kWakeUp));
    if (taken.start.has_value()) {
      const cluster::ClusterViewPtr& view =
          taken.start->snapshot != nullptr ? taken.start->snapshot : taken.start->view;
      v1::GetClusterViewResponse snapshot;
      FillMeta(*context_, taken.start->version, snapshot.mutable_meta());
      FillClusterView(*view, context_->clock->Now(), &snapshot);
      if (!out->Write(Event("snapshot", Json(snapshot)))) return;
    }
    for (const std::shared_ptr<const cluster::ChangeBatch>& batch : taken.batches) {
      if (batch->empty()) continue;
      v1::ViewMeta meta;
      FillMeta(*context_, batch->back().version, &meta);
      std::string data = absl::StrCat("{\"meta\":", Json(meta), ",\"events\":[");
      const absl::Time now = context_->clock->Now();
      for (size_t i = 0; i < batch->size(); ++i) {
        v1::ClusterEvent event;
        FillClusterEvent((*batch)[i], now, &event);
        absl::StrAppend(&data, i == 0 ? "" : ",", Json(event));
      }
      data += "]}";
      if (!out->Write(Event("changes", data))) return;
    }
    if (taken.lost) {
      out->Write(Event("resync", "{\"reason\":\"the page fell behind the change stream\"}"));
      return;
    }
    if (absl::Now() >= next_status) {
      v1::ViewMeta meta;
      FillMeta(*context_, context_->cluster->view()->version, &meta);
      if (!out->Write(Event("status", Json(meta)))) return;
      next_status = absl::Now() + options_.status_interval;
    }
  }
}

}  // namespace roster::server
