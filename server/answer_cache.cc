#include "server/answer_cache.h"

#include <algorithm>

#include "google/protobuf/duration.pb.h"
#include "google/protobuf/wire_format_lite.h"
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

// The most AppendHeartbeatAge adds: tag, length, and a Duration of a 10-byte seconds and a
// 10-byte (negative) nanos, each with its tag.
constexpr size_t kMaxAgeBytes = 2 + 2 * (1 + 10);

// Appends `age` to a Node's cached bytes as its heartbeat_age, as FillNode would set it
// (non-negative), without building a Node or allocating: the field's tag, its length (both a
// byte: the field number is under 16 and the Duration under 128 bytes) and the Duration.
void AppendHeartbeatAge(absl::Duration age, std::string* record) {
  using google::protobuf::internal::WireFormatLite;
  static_assert(v1::Node::kHeartbeatAgeFieldNumber < 16, "the tag takes one byte");
  google::protobuf::Duration duration;
  ToProto(std::max(age, absl::ZeroDuration()), &duration);
  record->push_back(static_cast<char>(WireFormatLite::MakeTag(
      v1::Node::kHeartbeatAgeFieldNumber, WireFormatLite::WIRETYPE_LENGTH_DELIMITED)));
  record->push_back(static_cast<char>(duration.ByteSizeLong()));
  duration.AppendToString(record);
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
  // The FULL view's record: the cached bytes, then the node's heartbeat_age, in one allocation.
  auto fill = [&](const cluster::NodeInfo& node, const std::string& bytes, std::string* record) {
    if (basic) {
      *record = bytes;
      return;
    }
    record->reserve(bytes.size() + kMaxAgeBytes);
    record->append(bytes);
    AppendHeartbeatAge(now - node.last_data_change, record);
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
      fill(**node, *cached, record);
    }
  }
  if (missing.empty()) return;
  std::vector<std::pair<const NodeInfoPtr*, std::string>> built;
  built.reserve(missing.size());
  for (auto& [node, record] : missing) {
    built.emplace_back(node, Serialize(**node, basic));
    fill(**node, built.back().second, record);
  }
  Insert(std::move(built), basic);
}

}  // namespace roster::server
