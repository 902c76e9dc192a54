#include "cluster/layout.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cluster/node_address.h"
#include "util/status_macros.h"

namespace roster::cluster {
namespace {

absl::StatusOr<std::string> AddressOf(absl::string_view name) {
  absl::StatusOr<std::string> address = ParseNodeAddress(name);
  if (!address.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("znode name is not host:port: ", address.status().message()));
  }
  return address;
}

}  // namespace

absl::Status ClusterPaths::Validate() const {
  const std::vector<std::pair<absl::string_view, const std::string*>> paths = {
      {"masters", &masters},
      {"workers", &workers},
      {"alert servers", &alert_servers},
      {"coordinator", &coordinator},
      {"drains", &drains}};
  for (const auto& [what, path] : paths) {
    absl::Status status = registry::ValidatePath(*path);
    if (!status.ok() || *path == "/") {
      return absl::InvalidArgumentError(
          absl::StrCat("the ", what, " path '", *path, "' is not a valid registry path"));
    }
  }
  for (const auto& [what_a, a] : paths) {
    for (const auto& [what_b, b] : paths) {
      if (a != b && (*a == *b || absl::StartsWith(*b, absl::StrCat(*a, "/")))) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the ", what_b, " path '", *b, "' lies within the ", what_a, " path '", *a, "'"));
      }
    }
  }
  return absl::OkStatus();
}

const std::string& ClusterPaths::RootOf(NodeRole role) const {
  switch (role) {
    case NodeRole::kMaster:
      return masters;
    case NodeRole::kWorker:
      return workers;
    case NodeRole::kAlertServer:
      return alert_servers;
  }
  return workers;
}

absl::StatusOr<std::optional<ZnodeAddress>> ClassifyZnode(NodeRole role, absl::string_view root,
                                                          const registry::RegistryEvent& event) {
  absl::string_view path = event.path;
  if (!absl::ConsumePrefix(&path, root) || !absl::ConsumePrefix(&path, "/") || path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("not below '", root, "'"));
  }
  std::vector<absl::string_view> segments = absl::StrSplit(path, '/');
  if (segments.size() == 1) {
    absl::StatusOr<std::string> address = AddressOf(segments[0]);
    if (address.ok()) return ZnodeAddress{*std::move(address), ""};
    // Below the workers directory, a persistent child that is not an address is a legacy
    // group directory: not a node, not an error.
    if (role == NodeRole::kWorker && event.stat.ephemeral_owner == 0) {
      absl::Status group = ValidateGroupName(segments[0]);
      if (!group.ok()) return group;
      return std::nullopt;
    }
    return address.status();
  }
  if (segments.size() == 2 && role == NodeRole::kWorker) {
    RETURN_IF_ERROR(ValidateGroupName(segments[0]));
    ASSIGN_OR_RETURN(std::string address, AddressOf(segments[1]));
    return ZnodeAddress{std::move(address), std::string(segments[0])};
  }
  return absl::InvalidArgumentError("too deep for this directory's layout");
}

}  // namespace roster::cluster
