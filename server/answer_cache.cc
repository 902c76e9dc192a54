#include "server/answer_cache.h"

#include <algorithm>

#include "roster/v1/roster.pb.h"
#include "server/convert.h"

namespace roster::server {
namespace {

using cluster::NodeInfoPtr;

std::string Serialize(const cluster::NodeInfo& node, bool basic) {
  NodeDetail detail;
  detail.basic = basic;
  v1::Node message;
  FillNode(node, absl::InfinitePast(), detail, &message);
  message.clear_heartbeat_age();  // appended per call
  return message.SerializeAsString();
}

}  // namespace

size_t NodeBytesCache::size() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

void NodeBytesCache::Insert(std::vector<std::pair<const NodeInfoPtr*, std::string>> built,
                            bool basic) {
  absl::MutexLock lock(&mu_);
  for (auto& [node, bytes] : built) {
    Entry& entry = entries_[node->get()];
    if (entry.node == nullptr) entry.node = *node;
    (basic ? entry.basic : entry.full) = std::move(bytes);
  }
  if (entries_.size() >= sweep_at_) SweepLocked();
}

void NodeBytesCache::SweepLocked() {
  // use_count() 1: only this entry holds the node, and no one can take it from here while
  // the lock is held, so no view has it and none will.
  absl::erase_if(entries_, [](const auto& item) { return item.second.node.use_count() == 1; });
  sweep_at_ = std::max<size_t>(1024, 2 * entries_.size());
}

void NodeBytesCache::Append(absl::Span<const NodeInfoPtr* const> nodes, absl::Time now, bool basic,
                            int field_number, google::protobuf::UnknownFieldSet* out) {
  v1::Node age;
  auto append_age = [&](const cluster::NodeInfo& node, std::string* record) {
    if (basic) return;
    ToProto(std::max(now - node.last_data_change, absl::ZeroDuration()),
            age.mutable_heartbeat_age());
    age.AppendToString(record);
  };
  // One shared lock and one lookup a node in the usual case, every node cached (SelectWorker's
  // one node, on every call); the others are serialized outside the lock and then cached.
  std::vector<std::pair<const NodeInfoPtr*, std::string*>> missing;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const NodeInfoPtr* node : nodes) {
      // A record's address is stable: UnknownFieldSet holds each string by pointer.
      std::string* record = out->AddLengthDelimited(field_number);
      auto it = entries_.find(node->get());
      const std::string* cached = nullptr;
      if (it != entries_.end()) cached = basic ? &it->second.basic : &it->second.full;
      if (cached == nullptr || cached->empty()) {
        missing.emplace_back(node, record);
        continue;
      }
      *record = *cached;
      append_age(**node, record);
    }
  }
  if (missing.empty()) return;
  std::vector<std::pair<const NodeInfoPtr*, std::string>> built;
  built.reserve(missing.size());
  for (auto& [node, record] : missing) {
    built.emplace_back(node, Serialize(**node, basic));
    *record = built.back().second;
    append_age(**node, record);
  }
  Insert(std::move(built), basic);
}

}  // namespace roster::server
