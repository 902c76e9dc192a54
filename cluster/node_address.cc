#include "cluster/node_address.h"

#include <arpa/inet.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace roster::cluster {
namespace {

// At most this many bytes of any input are quoted in a message: names may be huge or binary,
// and messages end up in logs, RPC answers and metrics labels.
constexpr size_t kQuoteBytes = 80;
constexpr size_t kMaxAddressHostBytes = 253;
constexpr size_t kMaxDnsLabelBytes = 63;
constexpr size_t kMaxGroupBytes = 128;
constexpr int kMaxPort = 65535;

// `s` quoted for a message: escaped (C hex escapes for anything not printable ASCII) and cut
// to kQuoteBytes of input.
std::string Quote(absl::string_view s) {
  if (s.size() <= kQuoteBytes) return absl::StrCat("'", absl::CHexEscape(s), "'");
  return absl::StrCat("'", absl::CHexEscape(s.substr(0, kQuoteBytes)), "'... (", s.size(),
                      " bytes)");
}

absl::Status Invalid(absl::string_view message) { return absl::InvalidArgumentError(message); }

// DNS name or IPv4 address; the reason it is not, or "".
std::string HostNameProblem(absl::string_view host) {
  if (host.empty()) return "the host is empty";
  if (host.size() > kMaxAddressHostBytes) {
    return absl::StrCat("the host is ", host.size(), " bytes, over the ", kMaxAddressHostBytes,
                        "-byte limit");
  }
  for (char c : host) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') {
      return absl::StrCat("the host contains ", Quote(absl::string_view(&c, 1)),
                          " (allowed: letters, digits, '.', '-', '_')");
    }
  }
  for (absl::string_view label : absl::StrSplit(host, '.')) {
    if (label.empty()) return "the host has an empty label ('..' or a '.' at either end)";
    if (label.size() > kMaxDnsLabelBytes) {
      return absl::StrCat("the host has a label of ", label.size(), " bytes, over the ",
                          kMaxDnsLabelBytes, "-byte limit");
    }
  }
  return "";
}

// The reason `port` is not a canonical port number in [1, 65535], or "".
std::string PortProblem(absl::string_view port) {
  if (port.empty()) return "the port is empty";
  if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c));
      })) {
    return absl::StrCat("port ", Quote(port), " is not a number in [1, ", kMaxPort, "]");
  }
  if (port.size() > 1 && port[0] == '0') {
    return absl::StrCat("port ", Quote(port), " has a leading zero");
  }
  int value = 0;
  if (!absl::SimpleAtoi(port, &value) || value < 1 || value > kMaxPort) {
    return absl::StrCat("port ", port, " is not in [1, ", kMaxPort, "]");
  }
  return "";
}

}  // namespace

absl::StatusOr<std::string> ParseNodeAddress(absl::string_view text) {
  auto bad = [text](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("node address ", Quote(text), " is not host:port: ", why));
  };
  if (text.empty()) return bad("it is empty");
  absl::string_view port;
  if (text.front() == '[') {
    const size_t close = text.find(']');
    if (close == absl::string_view::npos) return bad("'[' without ']'");
    const absl::string_view host = text.substr(1, close - 1);
    const absl::string_view rest = text.substr(close + 1);
    if (host.empty()) return bad("the host is empty");
    if (rest.empty() || rest.front() != ':') return bad("no ':port' after the IPv6 address");
    // inet_pton reads a C string: a NUL inside the brackets would end the address early and
    // let the bytes after it through ("[::1\0junk]:80"). Only its own characters are allowed.
    in6_addr address;
    if (host.size() > INET6_ADDRSTRLEN ||
        host.find_first_not_of("0123456789abcdefABCDEF:.") != absl::string_view::npos ||
        inet_pton(AF_INET6, std::string(host).c_str(), &address) != 1) {
      return bad(absl::StrCat(Quote(host), " is not an IPv6 address"));
    }
    port = rest.substr(1);
  } else {
    const size_t colon = text.find(':');
    if (colon == absl::string_view::npos) return bad("no ':port'");
    if (text.find(':', colon + 1) != absl::string_view::npos) {
      return bad("more than one ':' (write IPv6 addresses in brackets: [::1]:5678)");
    }
    const std::string problem = HostNameProblem(text.substr(0, colon));
    if (!problem.empty()) return bad(problem);
    port = text.substr(colon + 1);
  }
  const std::string problem = PortProblem(port);
  if (!problem.empty()) return bad(problem);
  return std::string(text);
}

absl::Status ValidateGroupName(absl::string_view name, absl::string_view what) {
  if (name.empty()) return Invalid(absl::StrCat(what, " '' is empty"));
  if (name.size() > kMaxGroupBytes) {
    return Invalid(absl::StrCat(what, " ", Quote(name), " is ", name.size(), " bytes, over the ",
                                kMaxGroupBytes, "-byte limit"));
  }
  for (size_t i = 0; i < name.size(); ++i) {
    const unsigned char c = name[i];
    if (c < 0x20 || c > 0x7e) {
      return Invalid(absl::StrCat(what, " ", Quote(name),
                                  " contains a byte that is not printable ASCII at offset ", i));
    }
  }
  if (absl::StrContains(name, '/')) {
    return Invalid(absl::StrCat(what, " ", Quote(name), " contains '/'"));
  }
  if (name == "." || name == "..") {
    return Invalid(absl::StrCat(what, " ", Quote(name), " is not a valid group name"));
  }
  if (name.front() == ' ' || name.back() == ' ') {
    return Invalid(absl::StrCat(what, " ", Quote(name), " has whitespace at either end"));
  }
  return absl::OkStatus();
}

}  // namespace roster::cluster
