#include "cluster/dsdb/database_uri.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace roster::cluster::dsdb {
namespace {

// The URI as it may appear in an error: anything between "//" and "@" after a ':' masked.
std::string Masked(absl::string_view uri) {
  const size_t scheme_end = uri.find("://");
  const size_t at = uri.rfind('@');
  if (scheme_end == absl::string_view::npos || at == absl::string_view::npos || at < scheme_end) {
    return std::string(uri);
  }
  const size_t colon = uri.substr(0, at).find(':', scheme_end + 3);
  if (colon == absl::string_view::npos) return std::string(uri);
  return absl::StrCat(uri.substr(0, colon), ":***", uri.substr(at));
}

// User, host and database names are printable ASCII without spaces; a host holds none of the
// URI's own delimiters, so that ToString prints a URI that parses back to the same fields.
bool IsPlainName(absl::string_view name, absl::string_view also_refused = "") {
  for (const char c : name) {
    if (c <= ' ' || c > '~' || also_refused.find(c) != absl::string_view::npos) return false;
  }
  return true;
}

}  // namespace

std::string DatabaseUri::ToString() const {
  const bool bracket = host.find(':') != std::string::npos;
  return absl::StrCat(kind == Kind::kPostgreSql ? "postgresql" : "mysql", "://", user,
                      user.empty() ? "" : "@", bracket ? "[" : "", host, bracket ? "]" : "", ":",
                      port, "/", database);
}

absl::StatusOr<DatabaseUri> ParseDatabaseUri(absl::string_view uri) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "database URI '", Masked(uri), "': ", why,
        " (expected postgresql://user@host:port/dbname or mysql://user@host:port/dbname)"));
  };
  DatabaseUri parsed;
  absl::string_view rest = uri;
  if (absl::ConsumePrefix(&rest, "postgresql://") || absl::ConsumePrefix(&rest, "postgres://")) {
    parsed.kind = DatabaseUri::Kind::kPostgreSql;
    parsed.port = 5432;
  } else if (absl::ConsumePrefix(&rest, "mysql://") || absl::ConsumePrefix(&rest, "mariadb://")) {
    parsed.kind = DatabaseUri::Kind::kMySql;
    parsed.port = 3306;
  } else {
    return bad("unknown scheme");
  }
  if (rest.find_first_of("?#%") != absl::string_view::npos) {
    return bad("query strings, fragments and percent-escapes are not supported");
  }
  const size_t slash = rest.find('/');
  if (slash == absl::string_view::npos || slash + 1 == rest.size()) {
    return bad("no database name");
  }
  parsed.database = std::string(rest.substr(slash + 1));
  if (parsed.database.find('/') != std::string::npos) return bad("bad database name");
  absl::string_view authority = rest.substr(0, slash);
  if (const size_t at = authority.rfind('@'); at != absl::string_view::npos) {
    const absl::string_view user = authority.substr(0, at);
    if (user.find(':') != absl::string_view::npos) {
      return bad("a password in the URI is refused; put it in the password file");
    }
    if (user.empty()) return bad("empty user name before '@'");
    parsed.user = std::string(user);
    authority.remove_prefix(at + 1);
  }
  absl::string_view port_text;
  if (absl::ConsumePrefix(&authority, "[")) {
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) return bad("unclosed '[' in the host");
    parsed.host = std::string(authority.substr(0, close));
    authority.remove_prefix(close + 1);
    if (!authority.empty() && !absl::ConsumePrefix(&authority, ":")) {
      return bad("text after the bracketed host");
    }
    port_text = authority;
  } else {
    const size_t colon = authority.find(':');
    parsed.host = std::string(authority.substr(0, colon));
    if (colon != absl::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (parsed.host.empty()) return bad("no host");
  if (!IsPlainName(parsed.host, "[]@/")) return bad("bad host name");
  if (!IsPlainName(parsed.user)) return bad("bad user name");
  if (!IsPlainName(parsed.database)) return bad("bad database name");
  if (!port_text.empty() &&
      (!absl::SimpleAtoi(port_text, &parsed.port) || parsed.port < 1 || parsed.port > 65535)) {
    return bad(absl::StrCat("bad port '", port_text, "'"));
  }
  return parsed;
}

}  // namespace roster::cluster::dsdb
