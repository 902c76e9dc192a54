#include "server/authz.h"

#include <glog/logging.h>
#include <grpc/grpc_security_constants.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <sys/stat.h>

#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/admin_service.h"
#include "util/log_escape.h"
#include "util/secret_file.h"

namespace roster::server {
namespace {

constexpr absl::string_view kBearer = "bearer ";
constexpr absl::string_view kSha256Prefix = "sha256:";

absl::StatusOr<uint32_t> ParseScopes(absl::string_view text) {
  uint32_t scopes = 0;
  for (absl::string_view word : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    if (word == "read") {
      scopes |= kScopeRead;
    } else if (word == "register") {
      scopes |= kScopeRegister;
    } else if (word == "admin") {
      scopes |= kScopeAdmin;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown scope '", LogSafe(word, 64), "' (scopes: read, register, admin)"));
    }
  }
  if (scopes == 0) return absl::InvalidArgumentError("no scope (scopes: read, register, admin)");
  return scopes;
}

absl::StatusOr<Sha256> ParseHash(absl::string_view text) {
  Sha256 hash{};
  if (!absl::StartsWith(text, kSha256Prefix) || text.size() != kSha256Prefix.size() + 64) {
    return absl::InvalidArgumentError(
        "a token is given by its hash: sha256:<64 hex digits> (printf %s TOKEN | sha256sum)");
  }
  const absl::string_view hex = text.substr(kSha256Prefix.size());
  for (char c : hex) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError("the token hash is not hexadecimal");
    }
  }
  const std::string bytes = absl::HexStringToBytes(hex);
  std::copy(bytes.begin(), bytes.end(), hash.begin());
  return hash;
}

absl::Status ParseLine(const std::vector<absl::string_view>& words, std::set<std::string>* names,
                       AccessTable* table) {
  if (words[0] == "cert" && words.size() == 3) {
    absl::StatusOr<uint32_t> scopes = ParseScopes(words[2]);
    if (!scopes.ok()) return scopes.status();
    if (!table->certs.emplace(std::string(words[1]), *scopes).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("certificate name '", LogSafe(words[1], 128), "' is listed twice"));
    }
    return absl::OkStatus();
  }
  if (words[0] == "token" && words.size() == 4) {
    absl::StatusOr<Sha256> hash = ParseHash(words[2]);
    if (!hash.ok()) return hash.status();
    absl::StatusOr<uint32_t> scopes = ParseScopes(words[3]);
    if (!scopes.ok()) return scopes.status();
    if (!names->insert(std::string(words[1])).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("token name '", LogSafe(words[1], 128), "' is listed twice"));
    }
    table->tokens.push_back({std::string(words[1]), *hash, *scopes});
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      "expected 'cert NAME SCOPES' or 'token NAME sha256:HEX SCOPES'");
}

bool IsLoopback(absl::string_view peer) { return IsLoopbackPeer(peer); }

}  // namespace

std::string ScopeNames(uint32_t scopes) {
  std::vector<absl::string_view> names;
  if (scopes & kScopeRead) names.push_back("read");
  if (scopes & kScopeRegister) names.push_back("register");
  if (scopes & kScopeAdmin) names.push_back("admin");
  return names.empty() ? "none" : absl::StrJoin(names, ",");
}

Sha256 HashToken(absl::string_view token) {
  Sha256 hash{};
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), hash.data());
  return hash;
}

absl::StatusOr<AccessTable> ParseAccessFile(absl::string_view path, absl::string_view contents) {
  AccessTable table;
  std::set<std::string> token_names;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++number;
    line = line.substr(0, line.find('#'));
    const std::vector<absl::string_view> words =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (words.empty()) continue;
    if (absl::Status status = ParseLine(words, &token_names, &table); !status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--access_file=", path, " line ", number, ": ", status.message()));
    }
  }
  return table;
}

CallCredentials CredentialsOf(const grpc::ServerContextBase& call) {
  CallCredentials credentials;
  credentials.peer = call.peer();
  const auto& metadata = call.client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    credentials.has_authorization = true;
    credentials.authorization.assign(it->second.data(), it->second.size());
  }
  const std::shared_ptr<const grpc::AuthContext> auth = call.auth_context();
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    for (const char* property : {GRPC_X509_CN_PROPERTY_NAME, GRPC_X509_SAN_PROPERTY_NAME}) {
      for (const grpc::string_ref& value : auth->FindPropertyValues(property)) {
        credentials.cert_names.emplace_back(value.data(), value.size());
      }
    }
  }
  return credentials;
}

Authorizer::Authorizer(AuthorizerOptions options)
    : options_(std::move(options)),
      admin_token_hash_(HashToken(options_.admin_token)),
      table_(std::make_shared<const AccessTable>()),
      executor_("access-file", options_.clock) {}

Authorizer::~Authorizer() { Shutdown(); }

absl::Status Authorizer::Start() {
  if (options_.access_file.empty()) return absl::OkStatus();
  if (absl::Status status = ReloadIfChanged(); !status.ok()) return status;
  executor_.Start();
  SchedulePoll();
  return absl::OkStatus();
}

void Authorizer::Shutdown() { executor_.Shutdown(); }

void Authorizer::SchedulePoll() {
  executor_.PostAfter(options_.poll_interval, [this] {
    if (absl::Status status = ReloadIfChanged(); !status.ok()) {
      LOG_EVERY_N(ERROR, 30) << "access file not reloaded, the previous one stays in force: "
                             << status.message();
    }
    SchedulePoll();
  });
}

uint64_t Authorizer::loads() const {
  absl::MutexLock lock(&mu_);
  return loads_;
}

absl::Status Authorizer::ReloadIfChanged() {
  absl::StatusOr<std::string> path = ResolveSecretPath("access_file", options_.access_file);
  if (!path.ok()) return path.status();
  struct stat info {};
  if (stat(path->c_str(), &info) != 0) {
    return absl::NotFoundError(absl::StrCat("--access_file=", *path, ": cannot stat"));
  }
  const FileStamp stamp{
      static_cast<uint64_t>(info.st_ino), static_cast<int64_t>(info.st_size),
      static_cast<int64_t>(info.st_mtim.tv_sec) * 1000000000 + info.st_mtim.tv_nsec};
  {
    absl::MutexLock lock(&mu_);
    if (loads_ > 0 && stamp == stamp_) return absl::OkStatus();
  }
  absl::StatusOr<std::string> contents = ReadSecretFile("access_file", *path);
  if (!contents.ok()) return contents.status();
  absl::StatusOr<AccessTable> table = ParseAccessFile(*path, *contents);
  if (!table.ok()) return table.status();
  LOG(INFO) << "access file " << *path << " loaded: " << table->certs.size()
            << " certificate name(s), " << table->tokens.size() << " token(s)";
  absl::MutexLock lock(&mu_);
  table_ = std::make_shared<const AccessTable>(*std::move(table));
  stamp_ = stamp;
  ++loads_;
  return absl::OkStatus();
}

absl::StatusOr<Caller> Authorizer::Identify(const CallCredentials& call) const {
  std::shared_ptr<const AccessTable> table;
  {
    absl::MutexLock lock(&mu_);
    table = table_;
  }
  Caller caller;
  if (call.has_authorization) {
    const absl::string_view value = call.authorization;
    if (value.size() <= kBearer.size() ||
        !absl::EqualsIgnoreCase(value.substr(0, kBearer.size()), kBearer)) {
      return absl::UnauthenticatedError("the authorization metadata is not 'Bearer <token>'");
    }
    const Sha256 hash = HashToken(absl::StripAsciiWhitespace(value.substr(kBearer.size())));
    // Every entry is compared, in constant time, whatever matched before: the time taken
    // tells nothing about which token, or how much of one, was right.
    const AccessTable::Token* found = nullptr;
    for (const AccessTable::Token& token : table->tokens) {
      if (CRYPTO_memcmp(hash.data(), token.hash.data(), hash.size()) == 0) found = &token;
    }
    const bool admin = !options_.admin_token.empty() &&
                       CRYPTO_memcmp(hash.data(), admin_token_hash_.data(), hash.size()) == 0;
    if (found != nullptr) {
      caller.identity = absl::StrCat("token:", found->name);
      caller.scopes = found->scopes;
    } else if (admin) {
      caller.identity = "admin-token";
      caller.scopes = kScopeAdmin;
    } else {
      return absl::PermissionDeniedError(
          "the bearer token is wrong: not in --access_file, nor rosterd's --admin_token_file");
    }
    caller.authenticated = true;
    return caller;
  }
  for (const std::string& name : call.cert_names) {
    if (auto it = table->certs.find(name); it != table->certs.end()) {
      caller.identity = absl::StrCat("cert:", name);
      caller.scopes = it->second;
      caller.authenticated = true;
      return caller;
    }
  }
  if (!call.cert_names.empty()) {
    caller.identity = absl::StrCat("cert:", call.cert_names.front());  // known, not listed
    caller.authenticated = true;
    return caller;
  }
  caller.identity = IsLoopback(call.peer) ? "loopback" : "anonymous";
  return caller;
}

absl::StatusOr<Caller> Authorizer::Authorize(const CallCredentials& call, Scope scope,
                                             absl::string_view method) const {
  if (scope == kScopeRead && options_.allow_unauthenticated_read) {
    // Open reads: the credentials are not even looked at (the read path stays cheap).
    return Caller{"anyone", kScopeRead, false};
  }
  absl::StatusOr<Caller> caller = Identify(call);
  if (!caller.ok()) return caller.status();
  if (options_.allow_unauthenticated_read) caller->scopes |= kScopeRead;
  if (!caller->authenticated && options_.allow_loopback_writes && IsLoopback(call.peer)) {
    caller->scopes |= kScopeRegister;
    if (options_.admin_token.empty()) caller->scopes |= kScopeAdmin;
  }
  if ((caller->scopes & scope) != 0) return caller;
  const std::string needs = absl::StrCat(method, " needs the ", ScopeNames(scope), " scope");
  if (!caller->authenticated) {
    return absl::UnauthenticatedError(
        absl::StrCat(needs,
                     ": send 'authorization: Bearer <token>' metadata with a token of that scope "
                     "(rosterd's --access_file",
                     scope == kScopeAdmin ? " or --admin_token_file" : "",
                     "), or a client certificate listed there (mTLS)"));
  }
  return absl::PermissionDeniedError(
      absl::StrCat(needs, "; identity '", LogSafe(caller->identity, 256), "' has ",
                   ScopeNames(caller->scopes), " (rosterd's --access_file)"));
}

}  // namespace roster::server
