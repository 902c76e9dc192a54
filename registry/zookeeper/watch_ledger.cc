#include "registry/zookeeper/watch_ledger.h"

#include <utility>

namespace roster::registry {
namespace {

// SetWatches (zookeeper.jute) after the length prefix: the request header (xid, type),
// relativeZxid, and the counts of its three vectors (data, exist, child watches).
constexpr size_t kSetWatchesFixedBytes = 4 + 4 + 8 + 3 * 4;
// Each watched path in a vector: its length, then its bytes.
constexpr size_t kBytesPerPath = 4;

int Count(uint8_t kinds) {
  return ((kinds & WatchLedger::kData) ? 1 : 0) + ((kinds & WatchLedger::kChild) ? 1 : 0);
}

}  // namespace

WatchLedger::WatchLedger(int max_kept, std::string chroot)
    : max_kept_(max_kept), chroot_(std::move(chroot)) {}

void WatchLedger::Armed(const std::string& path, Kind kind) {
  uint8_t& kinds = kinds_[path];
  if (kinds & kind) return;
  kinds |= kind;
  ++watches_;
  path_bytes_ += path.size();
}

void WatchLedger::Fired(const std::string& path, internal::WatchEventType event) {
  switch (event) {
    case internal::WatchEventType::kDeleted:
      Remove(path, kData | kChild);
      break;
    case internal::WatchEventType::kCreated:
    case internal::WatchEventType::kDataChanged:
      Remove(path, kData);
      break;
    case internal::WatchEventType::kChildrenChanged:
      Remove(path, kChild);
      break;
  }
}

void WatchLedger::Remove(const std::string& path, uint8_t kinds) {
  auto it = kinds_.find(path);
  if (it == kinds_.end()) return;
  const uint8_t removed = it->second & kinds;
  const int count = Count(removed);
  watches_ -= count;
  path_bytes_ -= count * path.size();
  it->second &= ~kinds;
  if (it->second == 0) kinds_.erase(it);
}

void WatchLedger::Clear() {
  kinds_.clear();
  watches_ = 0;
  path_bytes_ = 0;
}

size_t WatchLedger::SetWatchesBytes() const {
  return kSetWatchesFixedBytes + watches_ * (kBytesPerPath + chroot_.size()) + path_bytes_;
}

bool WatchLedger::ShouldDrop() const {
  return max_kept_ >= 0 && watches_ > static_cast<size_t>(max_kept_);
}

std::vector<std::string> WatchLedger::Paths() const {
  std::vector<std::string> paths;
  paths.reserve(kinds_.size());
  for (const auto& [path, kinds] : kinds_) paths.push_back(path);
  return paths;
}

}  // namespace roster::registry
