#include "registry/etcd/etcd_keys.h"

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "etcd/mvcc/mvccpb/kv.pb.h"

namespace roster::registry {

EtcdKeys::EtcdKeys(absl::string_view chroot)
    : prefix_(absl::StartsWith(chroot, "/") ? chroot.substr(1) : chroot) {}

std::string EtcdKeys::Key(absl::string_view path) const { return absl::StrCat(prefix_, path); }

std::string EtcdKeys::SubtreeBegin(absl::string_view path) const {
  return path == "/" ? absl::StrCat(prefix_, "/") : absl::StrCat(prefix_, path, "/");
}

std::string EtcdKeys::SubtreeEnd(absl::string_view path) const {
  return PrefixEnd(SubtreeBegin(path));
}

std::string EtcdKeys::CounterKey(absl::string_view path) const {
  return absl::StrCat(prefix_, absl::string_view("\0cversion", 9), path);
}

std::optional<std::string> EtcdKeys::PathOf(absl::string_view key) const {
  if (!absl::StartsWith(key, prefix_)) return std::nullopt;
  absl::string_view path = key.substr(prefix_.size());
  if (path == "/" || !ValidatePath(path).ok()) return std::nullopt;
  return std::string(path);
}

std::vector<std::string> EtcdKeys::ChildNames(absl::string_view path,
                                              const std::vector<std::string>& keys_below) const {
  const std::string begin = SubtreeBegin(path);
  std::set<std::string> names;
  for (const std::string& key : keys_below) {
    if (!absl::StartsWith(key, begin)) continue;
    absl::string_view rest = absl::string_view(key).substr(begin.size());
    const size_t slash = rest.find('/');
    absl::string_view name = rest.substr(0, slash);
    // A key that is no valid path ("a//b", "a/./b") is no node, and names no child.
    if (!PathOf(key).has_value()) continue;
    names.emplace(name);
  }
  return std::vector<std::string>(names.begin(), names.end());
}

std::string EtcdKeys::PrefixEnd(absl::string_view key) {
  std::string end(key);
  while (!end.empty()) {
    unsigned char& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

Stat StatFromKeyValue(const mvccpb::KeyValue& kv, int32_t cversion, int32_t num_children) {
  Stat stat;
  stat.czxid = kv.create_revision();
  stat.mzxid = kv.mod_revision();
  stat.pzxid = kv.create_revision();
  stat.version = static_cast<int32_t>(kv.version() - 1);
  stat.cversion = cversion;
  stat.ephemeral_owner = kv.lease();
  stat.data_length = static_cast<int32_t>(kv.value().size());
  stat.num_children = num_children;
  return stat;
}

std::vector<internal::WatchEvent> WatchEventsFor(const EtcdKeys& keys, const mvccpb::Event& event) {
  using internal::WatchEvent;
  using internal::WatchEventType;
  std::vector<WatchEvent> out;
  std::optional<std::string> path = keys.PathOf(event.kv().key());
  if (!path.has_value()) return out;
  const bool deleted = event.type() == mvccpb::Event::DELETE;
  const bool created = !deleted && event.kv().version() == 1;
  if (deleted) {
    out.push_back(WatchEvent{WatchEventType::kDataChanged, *path});
    out.push_back(WatchEvent{WatchEventType::kChildrenChanged, *path});
  } else {
    out.push_back(
        WatchEvent{created ? WatchEventType::kCreated : WatchEventType::kDataChanged, *path});
  }
  if (!deleted && !created) return out;
  std::string ancestor = *path;
  do {
    ancestor = ParentPath(ancestor);
    if (created) out.push_back(WatchEvent{WatchEventType::kCreated, ancestor});
    out.push_back(WatchEvent{WatchEventType::kChildrenChanged, ancestor});
  } while (ancestor != "/");
  return out;
}

}  // namespace roster::registry
