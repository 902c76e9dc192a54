#include "registry/zookeeper/zk_status.h"

#include <zookeeper/zookeeper.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace roster::registry {

absl::Status ZooKeeperStatus(int rc, absl::string_view operation, absl::string_view path) {
  if (rc == ZOK) return absl::OkStatus();
  auto message = [&](absl::string_view what) {
    return absl::StrCat(operation, " '", path, "': ", what);
  };
  switch (rc) {
    case ZNONODE:
      return absl::NotFoundError(message("no such node"));
    case ZNODEEXISTS:
      return absl::AlreadyExistsError(message("node already exists"));
    case ZBADVERSION:
      return absl::AbortedError(message("version mismatch (the node changed concurrently)"));
    case ZNOTEMPTY:
      return absl::FailedPreconditionError(message("node has children"));
    case ZNOCHILDRENFOREPHEMERALS:
      return absl::FailedPreconditionError(message("ephemeral nodes cannot have children"));
    case ZEPHEMERALONLOCALSESSION:
      return absl::FailedPreconditionError(
          message("ephemeral nodes cannot be created on a local session"));
    case ZNOAUTH:
      // Never quote the credentials; say where they come from.
      return absl::PermissionDeniedError(
          message("not authorised by the node's ACL (check the ZooKeeper digest credentials, "
                  "--zk_digest_file)"));
    case ZINVALIDACL:
      return absl::InvalidArgumentError(message("invalid ACL"));
    case ZBADARGUMENTS:
      return absl::InvalidArgumentError(message("invalid arguments"));
    case ZCONNECTIONLOSS:
      return absl::UnavailableError(message("connection to ZooKeeper lost"));
    case ZOPERATIONTIMEOUT:
      return absl::UnavailableError(message("ZooKeeper did not answer in time"));
    case ZSESSIONEXPIRED:
      return absl::UnavailableError(message("session expired"));
    case ZSESSIONMOVED:
      return absl::UnavailableError(message("session moved to another server"));
    case ZINVALIDSTATE:
      return absl::UnavailableError(message("the ZooKeeper session is not usable (expired)"));
    case ZCLOSING:
      return absl::UnavailableError(message("the ZooKeeper handle is closing"));
    case ZTHROTTLEDOP:
    case ZNOTREADONLY:
    case ZNEWCONFIGNOQUORUM:
    case ZRECONFIGINPROGRESS:
      return absl::UnavailableError(message(zerror(rc)));
    case ZAUTHFAILED:
    case ZSESSIONCLOSEDREQUIRESASLAUTH:
      return absl::UnauthenticatedError(
          message("ZooKeeper rejected our credentials (check the ZooKeeper digest "
                  "credentials, --zk_digest_file)"));
    case ZSYSTEMERROR:
    case ZRUNTIMEINCONSISTENCY:
    case ZDATAINCONSISTENCY:
    case ZMARSHALLINGERROR:
    case ZUNIMPLEMENTED:
    case ZAPIERROR:
    case ZINVALIDCALLBACK:
    case ZNOWATCHER:
    case ZRECONFIGDISABLED:
    case ZSSLCONNECTIONERROR:
      return absl::InternalError(message(absl::StrCat(zerror(rc), " (ZooKeeper code ", rc, ")")));
    default:
      return absl::UnknownError(message(absl::StrCat(zerror(rc), " (ZooKeeper code ", rc, ")")));
  }
}

}  // namespace roster::registry
