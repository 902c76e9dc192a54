// The etcd transactions behind EtcdRegistry's operations, and how their answers become the
// Registry's results and errors. Pure functions over etcd's messages; no I/O. Every operation
// is one Txn, so it sees (and changes) one revision of the store:
//
//   read (Get/GetChildren/Exists)  ranges: the cversion counter, the keys below (keys only),
//                                  the node's key
//   create   if key absent, parent key present and not ephemeral (or, for an implicit parent:
//            parent key absent and keys below it), [counter version == sequence]
//            then put key (with the lease), put the parent's counter, delete the node's counter
//            else ranges that say which condition failed
//   set      if key present [and version == expected + 1] then put (ignore_lease: an
//            ephemeral keeps its lease) and the reads of the new Stat, else range key
//   delete   if key present [and version] and no key below it then delete key and counter,
//            else ranges that say which condition failed
//
// Thread-safety: functions only; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"
#include "registry/etcd/etcd_keys.h"
#include "registry/registry.h"

namespace roster::registry {

// A range over [key, end) (a single key without `end`).
etcdserverpb::RequestOp RangeOp(std::string key, std::string end = "", bool keys_only = false,
                                int64_t limit = 0);
// The etcd version of the first key in the range answer `index` (0 if none).
int64_t CounterVersion(const etcdserverpb::TxnResponse& response, int index);

// What a read found.
struct NodeRead {
  Node node;                          // an implicit node has empty data and a Stat of zeros
  std::vector<std::string> children;  // sorted names
  int64_t revision = 0;               // the store revision the read saw
};

etcdserverpb::TxnRequest ReadNodeTxn(const EtcdKeys& keys, const std::string& path);
// NotFound ("<op> '<path>': node does not exist") when neither the key nor keys below exist.
absl::StatusOr<NodeRead> ParseReadNode(const EtcdKeys& keys, const std::string& path,
                                       absl::string_view op,
                                       const etcdserverpb::TxnResponse& response);

struct CreateTxnOptions {
  std::string path;  // the final name
  std::string data;
  int64_t lease = 0;      // non-zero: ephemeral
  int64_t sequence = -1;  // >= 0: the parent's counter must still have this version
  bool implicit_parent = false;
};
etcdserverpb::TxnRequest CreateTxn(const EtcdKeys& keys, const CreateTxnOptions& options);

// Why a create transaction did not succeed.
struct CreateFailure {
  bool exists = false;
  bool parent_exists = false;  // the parent's key (always true for children of "/")
  int64_t parent_lease = 0;    // the parent's key is ephemeral
  bool parent_has_children = false;
  int64_t counter_version = 0;
};
CreateFailure ParseCreateFailure(const std::string& path,
                                 const etcdserverpb::TxnResponse& response);

etcdserverpb::TxnRequest SetTxn(const EtcdKeys& keys, const std::string& path,
                                const std::string& data, int32_t expected_version);
// The new Stat; NotFound, or Aborted for a version mismatch.
absl::StatusOr<Stat> ParseSet(const EtcdKeys& keys, const std::string& path,
                              const etcdserverpb::TxnResponse& response);

etcdserverpb::TxnRequest DeleteTxn(const EtcdKeys& keys, const std::string& path,
                                   int32_t expected_version);
// OK; NotFound, Aborted (version) or FailedPrecondition (the node has children).
absl::Status ParseDelete(const std::string& path, const etcdserverpb::TxnResponse& response);

}  // namespace roster::registry
