#include "registry/registry_factory.h"

#include <fstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cluster/dsdb/database_uri.h"
#include "registry/etcd/etcd_registry.h"
#include "registry/jdbc/jdbc_registry.h"
#include "registry/memory/memory_registry.h"
#include "registry/zookeeper/zookeeper_registry.h"
#include "util/secret_file.h"
#include "util/status_macros.h"

namespace roster::registry {
namespace {

constexpr absl::string_view kZkScheme = "zk://";
constexpr absl::string_view kMemoryScheme = "memory://";
constexpr absl::string_view kEtcdScheme = "etcd://";
constexpr absl::string_view kJdbcScheme = "jdbc:";

// At most this many bytes of a URI are quoted in a message.
constexpr size_t kQuoteBytes = 200;

// `s` quoted for a message: C hex escapes for anything not printable ASCII (a flag value can
// hold anything, and the message goes to the log), cut to kQuoteBytes of input.
std::string Quote(absl::string_view s) {
  if (s.size() <= kQuoteBytes) return absl::StrCat("'", absl::CHexEscape(s), "'");
  return absl::StrCat("'", absl::CHexEscape(s.substr(0, kQuoteBytes)), "'... (", s.size(),
                      " bytes)");
}

absl::Status BadUri(absl::string_view uri, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid registry URI ", Quote(uri), ": ", why,
                   " (expected zk://host:port[,host:port...][/chroot], "
                   "etcd://host:port[,host:port...][/prefix], "
                   "jdbc:postgresql://user@host[:port]/db, jdbc:mysql://user@host[:port]/db or "
                   "memory://[name][/chroot])"));
}

// "host:port": a non-empty host of printable ASCII without '/', '@' or spaces, and a port of
// decimal digits in [1, 65535] (the ZooKeeper client reads it with strtol-like functions that
// would take "+2181" or " 2181" differently from us).
absl::Status ValidateHostPort(absl::string_view uri, absl::string_view host_port) {
  const size_t colon = host_port.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) {
    return BadUri(uri, absl::StrCat(Quote(host_port), " is not host:port"));
  }
  absl::string_view host = host_port.substr(0, colon);
  for (char c : host) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u <= ' ' || u >= 0x7f || c == '/' || c == '@') {
      return BadUri(uri, absl::StrCat("bad character in host ", Quote(host)));
    }
  }
  const absl::string_view port_text = host_port.substr(colon + 1);
  int port = 0;
  if (port_text.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != absl::string_view::npos ||
      (port_text.size() > 1 && port_text[0] == '0') || !absl::SimpleAtoi(port_text, &port) ||
      port < 1 || port > 65535) {
    return BadUri(uri, absl::StrCat("port of ", Quote(host_port), " is not in [1, 65535]"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ParseChroot(absl::string_view uri, absl::string_view chroot) {
  if (chroot.empty() || chroot == "/") return std::string();
  if (!ValidatePath(chroot).ok()) {
    return BadUri(uri, absl::StrCat("chroot ", Quote(chroot), " is not a valid path"));
  }
  return std::string(chroot);
}

absl::StatusOr<std::string> ReadDigestFile(const std::string& path) {
  // Refuses a file others can read, and resolves `cred:NAME` (util/secret_file.h).
  ASSIGN_OR_RETURN(std::string line, ReadSecretLine("zk_digest_file", path));
  if (line.find(':') == std::string::npos) {
    // Never quote the content: it is a secret.
    return absl::InvalidArgumentError(
        absl::StrCat("the ZooKeeper digest file '", path, "' must hold one line 'user:password'"));
  }
  return line;
}

// jdbc:postgresql://... / jdbc:mysql://...: the rest is a database URI as
// --worker_group_db_uri takes it (cluster/dsdb/database_uri.h), which refuses passwords.
absl::StatusOr<RegistryUri> ParseJdbcUri(absl::string_view uri) {
  absl::StatusOr<cluster::dsdb::DatabaseUri> database =
      cluster::dsdb::ParseDatabaseUri(uri.substr(kJdbcScheme.size()));
  if (!database.ok()) {
    // Never the URI itself: it may hold a password, which the database parser masks in its
    // message (quoted raw there: escaped and bounded here, as BadUri does).
    const std::string why(database.status().message());
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid registry URI (jdbc:): ", absl::CHexEscape(why.substr(0, kQuoteBytes)),
        " (expected jdbc:postgresql://user@host[:port]/db or jdbc:mysql://user@host[:port]/db; "
        "the password goes in --jdbc_registry_password_file)"));
  }
  RegistryUri parsed;
  parsed.scheme = RegistryUri::Scheme::kJdbc;
  parsed.database = database->ToString();
  return parsed;
}

absl::StatusOr<std::unique_ptr<Registry>> NewJdbc(absl::string_view uri, RegistryOptions options) {
  ASSIGN_OR_RETURN(const cluster::dsdb::DatabaseUri database,
                   cluster::dsdb::ParseDatabaseUri(uri.substr(kJdbcScheme.size())));
  if (options.jdbc_password.empty() && !options.jdbc_password_file.empty()) {
    ASSIGN_OR_RETURN(options.jdbc_password,
                     ReadSecretPassword("jdbc_registry_password_file", options.jdbc_password_file));
  }
  if (options.jdbc_poll_interval <= absl::ZeroDuration() ||
      options.jdbc_full_read_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("JDBC registry poll and full-read intervals must be > 0");
  }
  return NewJdbcRegistry(database, std::move(options));
}

}  // namespace

std::string RegistryUri::ToString() const {
  if (scheme == Scheme::kJdbc) return absl::StrCat(kJdbcScheme, database);
  if (scheme == Scheme::kZooKeeper) return absl::StrCat(kZkScheme, hosts, chroot);
  if (scheme == Scheme::kEtcd) return absl::StrCat(kEtcdScheme, hosts, chroot);
  return absl::StrCat(kMemoryScheme, memory_name, chroot);
}

absl::StatusOr<RegistryUri> ParseRegistryUri(absl::string_view uri) {
  if (absl::StartsWith(uri, kJdbcScheme)) return ParseJdbcUri(uri);
  RegistryUri parsed;
  absl::string_view rest;
  if (absl::StartsWith(uri, kZkScheme)) {
    parsed.scheme = RegistryUri::Scheme::kZooKeeper;
    rest = uri.substr(kZkScheme.size());
  } else if (absl::StartsWith(uri, kEtcdScheme)) {
    parsed.scheme = RegistryUri::Scheme::kEtcd;
    rest = uri.substr(kEtcdScheme.size());
  } else if (absl::StartsWith(uri, kMemoryScheme)) {
    parsed.scheme = RegistryUri::Scheme::kMemory;
    rest = uri.substr(kMemoryScheme.size());
  } else {
    return BadUri(uri, "unknown scheme");
  }
  if (rest.find('@') != absl::string_view::npos) {
    return BadUri(uri,
                  "credentials do not belong in the URI (it gets logged); use "
                  "--zk_digest_file");
  }
  if (rest.find_first_of("?#") != absl::string_view::npos) {
    return BadUri(uri, "query strings and fragments are not supported");
  }
  const size_t slash = rest.find('/');
  absl::string_view authority = rest.substr(0, slash);
  absl::string_view path = slash == absl::string_view::npos ? "" : rest.substr(slash);
  ASSIGN_OR_RETURN(parsed.chroot, ParseChroot(uri, path));

  if (parsed.scheme != RegistryUri::Scheme::kMemory) {
    if (authority.empty()) {
      return BadUri(
          uri, parsed.scheme == RegistryUri::Scheme::kEtcd ? "no etcd host" : "no ZooKeeper host");
    }
    for (absl::string_view host_port : absl::StrSplit(authority, ',')) {
      RETURN_IF_ERROR(ValidateHostPort(uri, host_port));
    }
    parsed.hosts = std::string(authority);
  } else {
    for (char c : authority) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
        return BadUri(uri, "a memory store name is made of letters, digits, '-', '_', '.'");
      }
    }
    parsed.memory_name = std::string(authority);
  }
  return parsed;
}

absl::StatusOr<std::unique_ptr<Registry>> NewRegistry(absl::string_view uri,
                                                      RegistryOptions options) {
  ASSIGN_OR_RETURN(RegistryUri parsed, ParseRegistryUri(uri));
  if (options.session_timeout < absl::Milliseconds(100)) {
    return absl::InvalidArgumentError(absl::StrCat("session timeout ",
                                                   absl::FormatDuration(options.session_timeout),
                                                   " is too short (--zk_session_timeout_ms)"));
  }
  if (options.max_in_flight < 1) {
    return absl::InvalidArgumentError("max_in_flight must be at least 1");
  }
  if (options.digest.empty() && !options.digest_file.empty()) {
    ASSIGN_OR_RETURN(options.digest, ReadDigestFile(options.digest_file));
  }
  if (!options.digest.empty() && options.digest.find(':') == std::string::npos) {
    return absl::InvalidArgumentError("ZooKeeper digest credentials must be 'user:password'");
  }
  if (parsed.scheme == RegistryUri::Scheme::kJdbc) return NewJdbc(uri, std::move(options));
  if (parsed.scheme == RegistryUri::Scheme::kZooKeeper) {
    return NewZooKeeperRegistry(parsed, std::move(options));
  }
  if (parsed.scheme == RegistryUri::Scheme::kEtcd)
    return NewEtcdRegistry(parsed, std::move(options));
  std::shared_ptr<MemoryStore> store = parsed.memory_name.empty()
                                           ? std::make_shared<MemoryStore>()
                                           : MemoryStore::Named(parsed.memory_name);
  return std::unique_ptr<Registry>(
      new MemoryRegistry(std::move(store), parsed.chroot, std::move(options)));
}

}  // namespace roster::registry
