// The in-memory ZooKeeper server, part 2: the node tree, ACLs, watches and the operations.

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"
#include "registry/memory/memory_store_impl.h"
#include "util/status_macros.h"

namespace roster::registry {
namespace {

using internal::WatchEvent;
using internal::WatchEventType;
using memory_internal::Mailbox;

absl::Status NoNode(absl::string_view op, absl::string_view path) {
  return absl::NotFoundError(absl::StrCat(op, " '", path, "': no such node"));
}

absl::string_view PermName(int32_t perm) {
  switch (perm) {
    case Acl::kRead:
      return "READ";
    case Acl::kWrite:
      return "WRITE";
    case Acl::kCreate:
      return "CREATE";
    case Acl::kDelete:
      return "DELETE";
    case Acl::kAdmin:
      return "ADMIN";
    default:
      return "ALL";
  }
}

// "digest:alice=rwcda,world:anyone=r". Digest ids are shown by user name only.
std::string DescribeAcl(const std::vector<Acl>& acl) {
  return absl::StrJoin(acl, ",", [](std::string* out, const Acl& a) {
    absl::string_view id = a.id;
    if (a.scheme == "digest") id = id.substr(0, id.find(':'));
    std::string perms;
    if (a.perms & Acl::kRead) perms += 'r';
    if (a.perms & Acl::kWrite) perms += 'w';
    if (a.perms & Acl::kCreate) perms += 'c';
    if (a.perms & Acl::kDelete) perms += 'd';
    if (a.perms & Acl::kAdmin) perms += 'a';
    absl::StrAppend(out, a.scheme, ":", id, "=", perms);
  });
}

}  // namespace

template <typename T, typename Fn>
void MemoryStore::Impl::Run(ClientId id, Callback<T> done, Fn op) {
  std::vector<std::shared_ptr<Mailbox>> kicks;
  std::string closed_name;
  {
    absl::MutexLock lock(&mu_);
    ClientRec* client = FindClient(id);
    if (client == nullptr || client->state == SessionState::kClosed) {
      closed_name = client == nullptr ? "?" : client->config.name;
    } else {
      absl::Status admitted = Admit(*client);
      absl::StatusOr<T> result = admitted.ok() ? op(*client) : absl::StatusOr<T>(admitted);
      Post(*client, [done = std::move(done), result = std::move(result)]() mutable {
        std::move(done)(std::move(result));
      });
      kicks = TakeKicks();
    }
  }
  if (!closed_name.empty()) {
    std::move(done)(
        absl::FailedPreconditionError(absl::StrCat("registry '", closed_name, "' is shut down")));
    return;
  }
  KickAll(kicks);
}

// --- Impl: the tree ---------------------------------------------------------------------------

absl::StatusOr<std::vector<Acl>> MemoryStore::Impl::ResolveAcl(
    const ClientRec& client, const std::string& path,
    const std::optional<std::vector<Acl>>& acl) const {
  const std::vector<Acl> requested =
      acl.has_value() ? *acl : (client.digest_id.empty() ? Acl::Open() : Acl::CreatorAll());
  auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("create '", path, "': invalid ACL: ", why, " (ZooKeeper INVALIDACL)"));
  };
  if (requested.empty()) return invalid("empty");
  std::vector<Acl> resolved;
  for (const Acl& entry : requested) {
    if ((entry.perms & ~Acl::kAll) != 0) return invalid("unknown permission bits");
    if (entry.scheme == "world") {
      if (entry.id != "anyone") return invalid("scheme 'world' has the single id 'anyone'");
      resolved.push_back(entry);
    } else if (entry.scheme == "auth") {
      if (client.digest_id.empty()) {
        return invalid("scheme 'auth' needs credentials and this registry has no digest");
      }
      resolved.push_back(Acl{entry.perms, "digest", client.digest_id});
    } else if (entry.scheme == "digest") {
      if (entry.id.find(':') == std::string::npos) {
        return invalid("a digest id is 'user:base64(sha1(user:password))'");
      }
      resolved.push_back(entry);
    } else if (entry.scheme == "ip") {
      resolved.push_back(entry);
    } else {
      return invalid(absl::StrCat("unknown scheme '", entry.scheme, "'"));
    }
  }
  return resolved;
}

bool MemoryStore::Impl::Permitted(const ClientRec& client, const std::vector<Acl>& acl,
                                  int32_t perm) const {
  for (const Acl& entry : acl) {
    if ((entry.perms & perm) == 0) continue;
    if (entry.scheme == "world" && entry.id == "anyone") return true;
    if (entry.scheme == "digest" && !client.digest_id.empty() && entry.id == client.digest_id) {
      return true;
    }
    // Every memory client is local.
    if (entry.scheme == "ip" && absl::StartsWith(entry.id, "127.")) return true;
  }
  return false;
}

absl::Status MemoryStore::Impl::CheckPermission(const ClientRec& client, absl::string_view op,
                                                const std::string& path, const NodeRec& node,
                                                int32_t perm) const {
  if (Permitted(client, node.acl, perm)) return absl::OkStatus();
  const bool on_parent = perm == Acl::kCreate || perm == Acl::kDelete;
  return absl::PermissionDeniedError(
      absl::StrCat(op, " '", path, "': no ", PermName(perm), " permission",
                   on_parent ? absl::StrCat(" on '", ParentPath(path), "'") : "", " (ACL ",
                   DescribeAcl(node.acl), "); check the registry digest credentials"));
}

absl::StatusOr<std::string> MemoryStore::Impl::CreateLocked(
    ClientRec& client, const std::string& path, const std::string& full, std::string data,
    CreateMode mode, const std::vector<Acl>& acl, int64_t owner) {
  const std::string parent_full = ParentPath(full);
  auto parent = nodes_.find(parent_full);
  if (parent == nodes_.end()) {
    return absl::NotFoundError(
        absl::StrCat("create '", path, "': parent '", ParentPath(path), "' does not exist"));
  }
  RETURN_IF_ERROR(CheckPermission(client, "create", path, parent->second, Acl::kCreate));
  std::string name = full;
  std::string client_name = path;
  if (mode == CreateMode::kPersistentSequential || mode == CreateMode::kEphemeralSequential) {
    const std::string suffix = absl::StrFormat("%010d", parent->second.stat.cversion);
    name += suffix;
    client_name += suffix;
  }
  if (nodes_.count(name) > 0) {
    return absl::AlreadyExistsError(
        absl::StrCat("create '", client_name, "': node already exists"));
  }
  if (parent->second.stat.ephemeral_owner != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("create '", client_name, "': parent '", ParentPath(path),
                     "' is ephemeral, and ephemeral nodes cannot have children"));
  }
  const int64_t zxid = ++zxid_;
  const int64_t now = absl::ToUnixMillis(clock_->WallNow());
  NodeRec node;
  node.stat.czxid = node.stat.mzxid = node.stat.pzxid = zxid;
  node.stat.ctime_ms = node.stat.mtime_ms = now;
  node.stat.ephemeral_owner = owner;
  node.stat.data_length = static_cast<int32_t>(data.size());
  node.data = std::move(data);
  node.acl = acl;
  NodeRec& parent_node = parent->second;
  ++parent_node.stat.cversion;
  ++parent_node.stat.num_children;
  parent_node.stat.pzxid = zxid;
  parent_node.children.insert(BaseName(name));
  if (mode == CreateMode::kEphemeral) client.ephemerals[name] = EphemeralRec{node.data, acl};
  nodes_.emplace(name, std::move(node));
  Fire(data_watches_, name, WatchEventType::kCreated, acl, nullptr);
  Fire(child_watches_, parent_full, WatchEventType::kChildrenChanged, parent_node.acl, nullptr);
  return client_name;
}

void MemoryStore::Impl::DeleteLocked(const std::string& full, int64_t zxid) {
  const std::string parent_full = ParentPath(full);
  NodeRec& parent = nodes_[parent_full];
  // As ZooKeeper 3.5+: a delete moves the parent's pzxid, not its cversion (which only creates
  // advance, so sequential names never repeat).
  --parent.stat.num_children;
  parent.stat.pzxid = zxid;
  parent.children.erase(BaseName(full));
  const std::vector<Acl> acl = std::move(nodes_.at(full).acl);
  nodes_.erase(full);
  std::set<int64_t> notified;  // one kDeleted per session, as ZooKeeper does
  Fire(data_watches_, full, WatchEventType::kDeleted, acl, &notified);
  Fire(child_watches_, full, WatchEventType::kDeleted, acl, &notified);
  Fire(child_watches_, parent_full, WatchEventType::kChildrenChanged, parent.acl, nullptr);
}

void MemoryStore::Impl::Fire(std::map<std::string, std::set<int64_t>>& watches,
                             const std::string& full, WatchEventType type,
                             const std::vector<Acl>& acl, std::set<int64_t>* notified) {
  auto it = watches.find(full);
  if (it == watches.end()) return;
  const std::set<int64_t> sessions = std::move(it->second);
  watches.erase(it);
  for (int64_t session_id : sessions) {
    if (notified != nullptr && !notified->insert(session_id).second) continue;
    auto session = sessions_.find(session_id);
    if (session == sessions_.end()) continue;
    ClientRec* client = FindClient(session->second);
    if (client == nullptr || client->state != SessionState::kConnected) continue;
    // As the ZooKeeper server here (3.8 with the CVE-2024-23944 fix): no notification about a
    // node the session may not read. An exists() watch on an unreadable node stays silent.
    if (!Permitted(*client, acl, Acl::kRead)) continue;
    if (client->drop_watch_events > 0) {
      --client->drop_watch_events;
      VLOG(1) << "registry '" << client->config.name << "': dropping a watch event on '" << full
              << "'";
      continue;
    }
    memory_internal::ClientSink* sink = client->sink;
    WatchEvent event{type, ClientPath(*client, full)};
    Post(*client, [sink, event = std::move(event)] { sink->OnWatchEvent(event); });
  }
}

// --- Impl: operations -------------------------------------------------------------------------

void MemoryStore::Impl::GetData(ClientId id, const std::string& path, bool watch,
                                Callback<Node> done) {
  Run<Node>(id, std::move(done),
            [&](ClientRec& client) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<Node> {
              RETURN_IF_ERROR(ValidatePath(path));
              const std::string full = FullPath(client, path);
              auto it = nodes_.find(full);
              if (it == nodes_.end()) return NoNode("get", path);
              RETURN_IF_ERROR(CheckPermission(client, "get", path, it->second, Acl::kRead));
              if (watch) data_watches_[full].insert(client.session_id);
              return Node{path, it->second.data, it->second.stat};
            });
}

void MemoryStore::Impl::GetChildren(ClientId id, const std::string& path, bool watch,
                                    Callback<Children> done) {
  Run<Children>(
      id, std::move(done),
      [&](ClientRec& client) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<Children> {
        RETURN_IF_ERROR(ValidatePath(path));
        const std::string full = FullPath(client, path);
        auto it = nodes_.find(full);
        if (it == nodes_.end()) return NoNode("get children of", path);
        RETURN_IF_ERROR(CheckPermission(client, "get children of", path, it->second, Acl::kRead));
        if (watch) child_watches_[full].insert(client.session_id);
        Children children;
        children.names.assign(it->second.children.begin(), it->second.children.end());
        children.stat = it->second.stat;
        return children;
      });
}

void MemoryStore::Impl::Exists(ClientId id, const std::string& path, bool watch,
                               Callback<std::optional<Stat>> done) {
  Run<std::optional<Stat>>(id, std::move(done),
                           [&](ClientRec& client) ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                               mu_) -> absl::StatusOr<std::optional<Stat>> {
                             RETURN_IF_ERROR(ValidatePath(path));
                             const std::string full = FullPath(client, path);
                             if (watch) data_watches_[full].insert(client.session_id);
                             auto it = nodes_.find(full);
                             if (it == nodes_.end()) return std::optional<Stat>();
                             return std::optional<Stat>(it->second.stat);
                           });
}

void MemoryStore::Impl::Create(ClientId id, const std::string& path, std::string data,
                               CreateOptions options, Callback<std::string> done) {
  Run<std::string>(
      id, std::move(done),
      [&](ClientRec& client) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<std::string> {
        RETURN_IF_ERROR(ValidatePath(path));
        if (path == "/") {
          return absl::InvalidArgumentError("create '/': the root always exists");
        }
        ASSIGN_OR_RETURN(const std::vector<Acl> acl, ResolveAcl(client, path, options.acl));
        if (options.create_parents) {
          std::vector<std::string> missing;
          for (std::string p = ParentPath(path); p != "/"; p = ParentPath(p)) {
            if (nodes_.count(FullPath(client, p)) > 0) break;
            missing.push_back(p);
          }
          for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
            absl::StatusOr<std::string> parent = CreateLocked(
                client, *it, FullPath(client, *it), "", CreateMode::kPersistent, acl, /*owner=*/0);
            if (!parent.ok() && !absl::IsAlreadyExists(parent.status())) {
              return parent.status();
            }
          }
        }
        const bool ephemeral = options.mode == CreateMode::kEphemeral ||
                               options.mode == CreateMode::kEphemeralSequential;
        return CreateLocked(client, path, FullPath(client, path), std::move(data), options.mode,
                            acl, ephemeral ? client.session_id : 0);
      });
}

void MemoryStore::Impl::Set(ClientId id, const std::string& path, std::string data,
                            int32_t expected_version, Callback<Stat> done) {
  Run<Stat>(
      id, std::move(done),
      [&](ClientRec& client) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<Stat> {
        RETURN_IF_ERROR(ValidatePath(path));
        const std::string full = FullPath(client, path);
        auto it = nodes_.find(full);
        if (it == nodes_.end()) return NoNode("set", path);
        NodeRec& node = it->second;
        RETURN_IF_ERROR(CheckPermission(client, "set", path, node, Acl::kWrite));
        if (expected_version != Registry::kAnyVersion && expected_version != node.stat.version) {
          return absl::AbortedError(absl::StrCat("set '", path, "': version mismatch (expected ",
                                                 expected_version, ", node has ", node.stat.version,
                                                 ")"));
        }
        node.stat.mzxid = ++zxid_;
        node.stat.mtime_ms = absl::ToUnixMillis(clock_->WallNow());
        ++node.stat.version;
        node.stat.data_length = static_cast<int32_t>(data.size());
        node.data = std::move(data);
        if (node.stat.ephemeral_owner != 0) {
          // Keep the owner's copy current: it is re-created with its last data.
          auto owner = sessions_.find(node.stat.ephemeral_owner);
          if (owner != sessions_.end()) {
            ClientRec* owner_client = FindClient(owner->second);
            auto rec = owner_client->ephemerals.find(full);
            if (rec != owner_client->ephemerals.end()) rec->second.data = node.data;
          }
        }
        const Stat stat = node.stat;
        Fire(data_watches_, full, WatchEventType::kDataChanged, node.acl, nullptr);
        return stat;
      });
}

void MemoryStore::Impl::Delete(ClientId id, const std::string& path, int32_t expected_version,
                               DoneCallback done) {
  Run<bool>(
      id,
      [done = std::move(done)](absl::StatusOr<bool> result) mutable {
        std::move(done)(result.status());
      },
      [&](ClientRec& client) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<bool> {
        RETURN_IF_ERROR(ValidatePath(path));
        if (path == "/") return absl::InvalidArgumentError("delete '/': cannot delete the root");
        const std::string full = FullPath(client, path);
        auto parent = nodes_.find(ParentPath(full));
        if (parent == nodes_.end()) return NoNode("delete", path);
        RETURN_IF_ERROR(CheckPermission(client, "delete", path, parent->second, Acl::kDelete));
        auto it = nodes_.find(full);
        if (it == nodes_.end()) return NoNode("delete", path);
        const Stat& stat = it->second.stat;
        if (expected_version != Registry::kAnyVersion && expected_version != stat.version) {
          return absl::AbortedError(absl::StrCat("delete '", path, "': version mismatch (expected ",
                                                 expected_version, ", node has ", stat.version,
                                                 ")"));
        }
        if (!it->second.children.empty()) {
          return absl::FailedPreconditionError(absl::StrCat(
              "delete '", path, "': node has ", it->second.children.size(), " children"));
        }
        const int64_t owner = stat.ephemeral_owner;
        DeleteLocked(full, ++zxid_);
        if (owner != 0) {
          // Deleted on purpose: not re-created in a later session.
          auto session = sessions_.find(owner);
          if (session != sessions_.end()) {
            FindClient(session->second)->ephemerals.erase(full);
          }
        }
        return true;
      });
}

}  // namespace roster::registry
