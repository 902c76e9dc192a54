// The in-memory ZooKeeper server, part 1: the client Mailbox, MemoryStore, and the Impl's
// plumbing and session state machine. The tree, ACLs and operations are in
// memory_store_ops.cc.

#include <openssl/sha.h>

#include <utility>

#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "glog/logging.h"
#include "registry/memory/memory_store_impl.h"

namespace roster::registry {

// --- Helpers ----------------------------------------------------------------------------------

namespace memory_internal {

std::string DigestId(absl::string_view user_password) {
  unsigned char hash[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(user_password.data()), user_password.size(), hash);
  const absl::string_view user = user_password.substr(0, user_password.find(':'));
  return absl::StrCat(
      user, ":",
      absl::Base64Escape(absl::string_view(reinterpret_cast<const char*>(hash), sizeof(hash))));
}

void Mailbox::Enqueue(SerialExecutor::Task message) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(message));
}

void Mailbox::Kick() {
  {
    absl::MutexLock lock(&mu_);
    if (executor_ != nullptr) {
      if (drain_scheduled_ || queue_.empty()) return;
      drain_scheduled_ = true;
      if (!executor_->Post([self = shared_from_this()] { self->RunQueued(); })) {
        drain_scheduled_ = false;  // shutting down: Detach() runs what is left
      }
      return;
    }
  }
  RunQueued();
}

void Mailbox::Detach() {
  {
    absl::MutexLock lock(&mu_);
    executor_ = nullptr;
    drain_scheduled_ = false;
  }
  RunQueued();
}

void Mailbox::RunQueued() {
  while (true) {
    SerialExecutor::Task message;
    {
      absl::MutexLock lock(&mu_);
      if (queue_.empty()) {
        drain_scheduled_ = false;
        return;
      }
      message = std::move(queue_.front());
      queue_.pop_front();
    }
    std::move(message)();
  }
}

}  // namespace memory_internal

namespace {

using memory_internal::Mailbox;

std::string HexId(int64_t id) { return absl::StrFormat("0x%x", id); }

}  // namespace

// --- Impl: plumbing ---------------------------------------------------------------------------

MemoryStore::Impl::Impl(Clock* clock)
    : session_base_([] {
        absl::BitGen gen;
        return absl::Uniform<int64_t>(gen, 1, int64_t{1} << 20) << 32;
      }()),
      clock_(clock) {
  absl::MutexLock lock(&mu_);
  NodeRec& root = nodes_["/"];
  root.acl = Acl::Open();
}

MemoryStore::Impl::ClientRec* MemoryStore::Impl::FindClient(ClientId id) {
  auto it = clients_.find(id);
  return it == clients_.end() ? nullptr : &it->second;
}

const MemoryStore::Impl::ClientRec* MemoryStore::Impl::FindClient(ClientId id) const {
  auto it = clients_.find(id);
  return it == clients_.end() ? nullptr : &it->second;
}

void MemoryStore::Impl::Post(ClientRec& client, SerialExecutor::Task message) {
  if (client.mailbox == nullptr) return;
  client.mailbox->Enqueue(std::move(message));
  kicks_.push_back(client.mailbox);
}

std::vector<std::shared_ptr<Mailbox>> MemoryStore::Impl::TakeKicks() {
  std::vector<std::shared_ptr<Mailbox>> kicks;
  kicks.swap(kicks_);
  std::sort(kicks.begin(), kicks.end());
  kicks.erase(std::unique(kicks.begin(), kicks.end()), kicks.end());
  return kicks;
}

void MemoryStore::Impl::KickAll(const std::vector<std::shared_ptr<Mailbox>>& kicks) {
  for (const auto& mailbox : kicks) mailbox->Kick();
}

absl::Status MemoryStore::Impl::Admit(ClientRec& client) {
  if (client.fail_next.has_value()) {
    absl::Status status = std::move(*client.fail_next);
    client.fail_next.reset();
    return status;
  }
  if (client.state != SessionState::kConnected) {
    return absl::UnavailableError(absl::StrCat("registry '", client.config.name,
                                               "': not connected (session ",
                                               SessionStateName(client.state), ")"));
  }
  return absl::OkStatus();
}

std::string MemoryStore::Impl::FullPath(const ClientRec& client, const std::string& path) const {
  const std::string& chroot = client.config.chroot;
  if (chroot.empty()) return path;
  return path == "/" ? chroot : chroot + path;
}

std::string MemoryStore::Impl::ClientPath(const ClientRec& client, const std::string& full) const {
  const std::string& chroot = client.config.chroot;
  if (chroot.empty()) return full;
  if (full == chroot) return "/";
  if (absl::StartsWith(full, chroot) && full.size() > chroot.size() && full[chroot.size()] == '/') {
    return full.substr(chroot.size());
  }
  return full;
}

// --- Impl: sessions ---------------------------------------------------------------------------

MemoryStore::Impl::ClientId MemoryStore::Impl::AddClient(memory_internal::ClientConfig config,
                                                         memory_internal::ClientSink* sink,
                                                         std::shared_ptr<Mailbox> mailbox) {
  absl::MutexLock lock(&mu_);
  const ClientId id = next_client_++;
  ClientRec& client = clients_[id];
  client.id = id;
  if (!config.digest.empty()) client.digest_id = memory_internal::DigestId(config.digest);
  client.config = std::move(config);
  client.sink = sink;
  client.mailbox = std::move(mailbox);
  client.state_since = client.config.clock->Now();
  return id;
}

void MemoryStore::Impl::SetState(ClientRec& client, SessionState state, SessionEventType type,
                                 std::string detail) {
  client.state = state;
  client.state_since = client.config.clock->Now();
  SessionEvent event;
  event.type = type;
  event.session = client.session_number;
  event.session_id = client.session_id;
  event.state = state;
  event.detail = std::move(detail);
  event.sequence = ++client.session_events;
  LOG(INFO) << "registry '" << client.config.name << "': session " << client.session_number << " ("
            << HexId(client.session_id) << ") " << SessionEventTypeName(type) << ": "
            << event.detail;
  memory_internal::ClientSink* sink = client.sink;
  Post(client, [sink, event = std::move(event)] { sink->OnSessionEvent(event); });
}

void MemoryStore::Impl::NewSession(ClientRec& client) {
  ++client.session_number;
  client.session_id = session_base_ + next_session_++;
  client.session_alive = true;
  sessions_[client.session_id] = client.id;
}

void MemoryStore::Impl::EndSession(ClientRec& client) {
  if (!client.session_alive) return;
  client.session_alive = false;
  const int64_t session_id = client.session_id;
  sessions_.erase(session_id);
  RemoveWatches(session_id);
  std::vector<std::string> owned;
  for (const auto& [path, node] : nodes_) {
    if (node.stat.ephemeral_owner == session_id) owned.push_back(path);
  }
  if (owned.empty()) return;
  // ZooKeeper's closeSession is one transaction: every ephemeral goes with one zxid.
  const int64_t zxid = ++zxid_;
  for (const std::string& path : owned) DeleteLocked(path, zxid);
}

void MemoryStore::Impl::ExpireAndRenew(ClientRec& client) {
  EndSession(client);
  SetState(client, SessionState::kExpired, SessionEventType::kExpired,
           "the session expired; its ephemeral nodes are gone");
  NewSession(client);
  RecreateEphemerals(client);
  SetState(client, SessionState::kConnected, SessionEventType::kConnected,
           absl::StrCat("new session ", HexId(client.session_id)));
}

void MemoryStore::Impl::RecreateEphemerals(ClientRec& client) {
  for (auto it = client.ephemerals.begin(); it != client.ephemerals.end();) {
    const std::string full = it->first;
    const EphemeralRec rec = it->second;
    absl::StatusOr<std::string> created =
        CreateLocked(client, ClientPath(client, full), full, rec.data, CreateMode::kEphemeral,
                     rec.acl, client.session_id);
    if (created.ok()) {
      ++it;
    } else {
      LOG(WARNING) << "registry '" << client.config.name << "': cannot re-create ephemeral '"
                   << full << "' in the new session: " << created.status();
      it = client.ephemerals.erase(it);
    }
  }
}

void MemoryStore::Impl::RemoveWatches(int64_t session_id) {
  for (auto* watches : {&data_watches_, &child_watches_}) {
    for (auto it = watches->begin(); it != watches->end();) {
      it->second.erase(session_id);
      it = it->second.empty() ? watches->erase(it) : std::next(it);
    }
  }
}

void MemoryStore::Impl::DisconnectLocked(ClientRec& client) {
  if (client.state != SessionState::kConnected) return;
  client.suspended_since = client.config.clock->Now();
  // The server forgets a dropped connection's watches; the client re-reads after reconnecting.
  RemoveWatches(client.session_id);
  SetState(client, SessionState::kSuspended, SessionEventType::kSuspended,
           "disconnected from the memory store");
  memory_internal::ClientSink* sink = client.sink;
  const absl::Time deadline = client.suspended_since + client.config.session_timeout;
  Post(client, [sink, deadline] { sink->ArmLossTimer(deadline); });
}

void MemoryStore::Impl::ReconnectLocked(ClientRec& client) {
  if (client.state != SessionState::kSuspended && client.state != SessionState::kLost) return;
  const bool timed_out =
      client.config.clock->Now() - client.suspended_since >= client.config.session_timeout;
  if (!client.session_alive || timed_out) {
    ExpireAndRenew(client);
  } else {
    SetState(client, SessionState::kConnected, SessionEventType::kReconnected,
             absl::StrCat("session ", HexId(client.session_id), " reconnected"));
  }
}

void MemoryStore::Impl::Connect(ClientId id) {
  std::vector<std::shared_ptr<Mailbox>> kicks;
  {
    absl::MutexLock lock(&mu_);
    ClientRec* client = FindClient(id);
    if (client == nullptr || client->state != SessionState::kConnecting) return;
    NewSession(*client);
    SetState(*client, SessionState::kConnected, SessionEventType::kConnected,
             absl::StrCat("memory store session ", HexId(client->session_id)));
    kicks = TakeKicks();
  }
  KickAll(kicks);
}

void MemoryStore::Impl::Close(ClientId id) {
  std::vector<std::shared_ptr<Mailbox>> kicks;
  {
    absl::MutexLock lock(&mu_);
    ClientRec* client = FindClient(id);
    if (client == nullptr || client->state == SessionState::kClosed) return;
    EndSession(*client);
    SetState(*client, SessionState::kClosed, SessionEventType::kClosed, "shut down");
    client->ephemerals.clear();
    client->sink = nullptr;
    client->mailbox.reset();  // kicks_ still holds it for the kClosed message
    kicks = TakeKicks();
  }
  KickAll(kicks);
}

SessionInfo MemoryStore::Impl::Session(ClientId id) const {
  absl::ReaderMutexLock lock(&mu_);  // every lookup asks (ClusterManager::Snapshot)
  SessionInfo info;
  const ClientRec* client = FindClient(id);
  if (client == nullptr) return info;
  info.state = client->state;
  info.session = client->session_number;
  info.session_id = client->session_id;
  info.state_since = client->state_since;
  info.events = client->session_events;
  return info;
}

int64_t MemoryStore::Impl::SessionId(ClientId id) const {
  absl::MutexLock lock(&mu_);
  const ClientRec* client = FindClient(id);
  return client == nullptr ? 0 : client->session_id;
}

template <typename Fn>
void MemoryStore::Impl::WithClient(ClientId id, Fn fn) {
  std::vector<std::shared_ptr<Mailbox>> kicks;
  {
    absl::MutexLock lock(&mu_);
    if (ClientRec* client = FindClient(id)) fn(*client);
    kicks = TakeKicks();
  }
  KickAll(kicks);
}

void MemoryStore::Impl::Disconnect(ClientId id) {
  WithClient(id, [this](ClientRec& client)
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { DisconnectLocked(client); });
}

void MemoryStore::Impl::Reconnect(ClientId id) {
  WithClient(id, [this](ClientRec& client)
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { ReconnectLocked(client); });
}

void MemoryStore::Impl::ExpireClient(ClientId id) {
  WithClient(id, [this](ClientRec& client) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!client.session_alive) return;
    EndSession(client);
    // A connected client learns at once; a disconnected one when it reconnects.
    if (client.state == SessionState::kConnected) ExpireAndRenew(client);
  });
}

void MemoryStore::Impl::CheckLoss(ClientId id) {
  std::vector<std::shared_ptr<Mailbox>> kicks;
  {
    absl::MutexLock lock(&mu_);
    ClientRec* client = FindClient(id);
    if (client == nullptr || client->state != SessionState::kSuspended) return;
    const absl::Duration suspended = client->config.clock->Now() - client->suspended_since;
    if (suspended >= client->config.session_timeout) {
      SetState(*client, SessionState::kLost, SessionEventType::kLost,
               absl::StrCat("suspended for ", absl::FormatDuration(suspended),
                            ", longer than the session timeout ",
                            absl::FormatDuration(client->config.session_timeout)));
      // The server expires the session after the timeout: others see its ephemerals go.
      EndSession(*client);
    }
    kicks = TakeKicks();
  }
  KickAll(kicks);
}

void MemoryStore::Impl::FailNextOperation(ClientId id, absl::Status status) {
  absl::MutexLock lock(&mu_);
  if (ClientRec* client = FindClient(id)) client->fail_next = std::move(status);
}

void MemoryStore::Impl::DropNextWatchEvents(ClientId id, int count) {
  absl::MutexLock lock(&mu_);
  if (ClientRec* client = FindClient(id)) client->drop_watch_events += count;
}

void MemoryStore::Impl::DisconnectAll() {
  std::vector<std::shared_ptr<Mailbox>> kicks;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [id, client] : clients_) DisconnectLocked(client);
    kicks = TakeKicks();
  }
  KickAll(kicks);
}

void MemoryStore::Impl::ReconnectAll() {
  std::vector<std::shared_ptr<Mailbox>> kicks;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [id, client] : clients_) ReconnectLocked(client);
    kicks = TakeKicks();
  }
  KickAll(kicks);
}

void MemoryStore::Impl::ExpireSession(int64_t session_id) {
  ClientId id = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = sessions_.find(session_id);
    if (it == sessions_.end()) return;
    id = it->second;
  }
  ExpireClient(id);
}

size_t MemoryStore::Impl::NodeCount() const {
  absl::MutexLock lock(&mu_);
  return nodes_.size() - 1;  // not the root
}

// --- MemoryStore ------------------------------------------------------------------------------

MemoryStore::MemoryStore() : MemoryStore(Clock::Real()) {}

MemoryStore::MemoryStore(Clock* clock) : impl_(std::make_unique<Impl>(clock)) {}

MemoryStore::~MemoryStore() = default;

std::shared_ptr<MemoryStore> MemoryStore::Named(absl::string_view name) {
  static absl::Mutex mu(absl::kConstInit);
  // Never destroyed: named stores live until exit, like a server process.
  static auto* stores = new std::map<std::string, std::shared_ptr<MemoryStore>>();
  absl::MutexLock lock(&mu);
  std::shared_ptr<MemoryStore>& store = (*stores)[std::string(name)];
  if (store == nullptr) store = std::make_shared<MemoryStore>();
  return store;
}

void MemoryStore::DisconnectAll() { impl_->DisconnectAll(); }

void MemoryStore::ReconnectAll() { impl_->ReconnectAll(); }

void MemoryStore::ExpireSession(int64_t session_id) { impl_->ExpireSession(session_id); }

size_t MemoryStore::NodeCount() const { return impl_->NodeCount(); }

}  // namespace roster::registry
