// Fuzzes ParseRegistryUri (registry/registry_factory.h). Properties: an accepted URI prints
// (ToString) to a URI that parses to the same fields and prints the same again; zk:// and
// etcd:// hosts are "host:port" pairs with a printable host without spaces and a canonical port in
// [1, 65535]; its chroot is "" or a valid registry path; every error is InvalidArgument naming the
// URI, bounded and escaped.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "registry/registry.h"
#include "registry/registry_factory.h"
#include "tests/fuzz/fuzz_util.h"

namespace roster::fuzz {
namespace {

using registry::RegistryUri;

void CheckHosts(const RegistryUri& parsed, absl::string_view uri) {
  Check(!parsed.hosts.empty(), "a zk:// URI has at least one host", uri);
  for (absl::string_view host_port : absl::StrSplit(parsed.hosts, ',')) {
    const size_t colon = host_port.rfind(':');
    Check(colon != absl::string_view::npos && colon > 0, "each zk host is host:port", uri);
    const absl::string_view host = host_port.substr(0, colon);
    const absl::string_view port_text = host_port.substr(colon + 1);
    Check(IsPrintableAscii(host) && !absl::StrContains(host, ' '),
          "a zk host is printable ASCII without spaces", uri);
    int port = 0;
    Check(absl::SimpleAtoi(port_text, &port) && port >= 1 && port <= 65535 &&
              std::to_string(port) == port_text,
          "a zk port is a canonical number in [1, 65535]", uri);
  }
}

void FuzzUri(absl::string_view uri) {
  absl::StatusOr<RegistryUri> parsed = registry::ParseRegistryUri(uri);
  if (!parsed.ok()) {
    Check(absl::IsInvalidArgument(parsed.status()), "a bad URI is InvalidArgument", uri);
    Check(absl::StrContains(parsed.status().message(), "invalid registry URI"),
          "the error names the URI", uri);
    CheckMessage(parsed.status(), 2048);
    return;
  }
  switch (parsed->scheme) {
    case RegistryUri::Scheme::kZooKeeper:
    case RegistryUri::Scheme::kEtcd:
      CheckHosts(*parsed, uri);
      Check(parsed->memory_name.empty(), "a zk:// or etcd:// URI has no memory name", uri);
      Check(parsed->database.empty(), "a zk:// or etcd:// URI has no database", uri);
      break;
    case RegistryUri::Scheme::kMemory:
      Check(parsed->hosts.empty(), "a memory:// URI has no hosts", uri);
      Check(parsed->database.empty(), "a memory:// URI has no database", uri);
      break;
    case RegistryUri::Scheme::kJdbc:
      // The hosts live inside the database URI, which the database parser checks.
      Check(parsed->hosts.empty() && parsed->memory_name.empty() && parsed->chroot.empty(),
            "a jdbc: URI has only a database", uri);
      Check(!parsed->database.empty(), "a jdbc: URI names a database", uri);
      break;
  }
  Check(parsed->chroot.empty() || registry::ValidatePath(parsed->chroot).ok(),
        "the chroot is empty or a valid path", uri);
  Check(parsed->chroot != "/", "the root chroot is spelled ''", uri);
  const std::string printed = parsed->ToString();
  absl::StatusOr<RegistryUri> again = registry::ParseRegistryUri(printed);
  Check(again.ok(), "a printed URI parses", uri);
  Check(again->scheme == parsed->scheme && again->hosts == parsed->hosts &&
            again->memory_name == parsed->memory_name && again->chroot == parsed->chroot &&
            again->database == parsed->database,
        "a printed URI parses to the same fields", uri);
  Check(again->ToString() == printed, "printing is stable", uri);
}

}  // namespace
}  // namespace roster::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  roster::fuzz::FuzzUri(absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
