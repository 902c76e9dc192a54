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

void NodeBytesCache::Fill(absl::Span<const NodeInfoPtr* const> nodes, bool basic) {
  std::vector<std::pair<const NodeInfoPtr*, std::string>> built;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const NodeInfoPtr* node : nodes) {
      auto it = entries_.find(node->get());
      if (it == entries_.end() || (basic ? it->second.basic : it->second.full).empty()) {
        built.emplace_back(node, std::string());
      }
    }
  }
  if (built.empty()) return;
  for (auto& [node, bytes] : built) bytes = Serialize(**node, basic);
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
  Fill(nodes, basic);
  v1::Node age;
  absl::ReaderMutexLock lock(&mu_);
  for (const NodeInfoPtr* node : nodes) {
    std::string* record = out->AddLengthDelimited(field_number);
    // Fill() inserted every entry, and a sweep removes none of a node the caller holds.
    auto it = entries_.find(node->get());
    const std::string* cached = nullptr;
    if (it != entries_.end()) cached = basic ? &it->second.basic : &it->second.full;
    *record = cached != nullptr && !cached->empty() ? *cached : Serialize(**node, basic);
    if (basic) continue;
    ToProto(std::max(now - (*node)->last_data_change, absl::ZeroDuration()),
            age.mutable_heartbeat_age());
    age.AppendToString(record);
  }
}

}  // namespace roster::server
