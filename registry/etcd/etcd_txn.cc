#include "registry/etcd/etcd_txn.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace roster::registry {
namespace {

namespace pb = etcdserverpb;

pb::Compare Compare(pb::Compare::CompareTarget target, pb::Compare::CompareResult result,
                    std::string key, int64_t value, std::string range_end = "") {
  pb::Compare compare;
  compare.set_target(target);
  compare.set_result(result);
  compare.set_key(std::move(key));
  if (!range_end.empty()) compare.set_range_end(std::move(range_end));
  switch (target) {
    case pb::Compare::VERSION:
      compare.set_version(value);
      break;
    case pb::Compare::CREATE:
      compare.set_create_revision(value);
      break;
    case pb::Compare::MOD:
      compare.set_mod_revision(value);
      break;
    case pb::Compare::LEASE:
      compare.set_lease(value);
      break;
    default:
      break;
  }
  return compare;
}

pb::RequestOp PutOp(std::string key, std::string value, int64_t lease, bool ignore_lease) {
  pb::RequestOp op;
  pb::PutRequest* put = op.mutable_request_put();
  put->set_key(std::move(key));
  put->set_value(std::move(value));
  if (lease != 0) put->set_lease(lease);
  put->set_ignore_lease(ignore_lease);
  return op;
}

pb::RequestOp DeleteOp(std::string key) {
  pb::RequestOp op;
  op.mutable_request_delete_range()->set_key(std::move(key));
  return op;
}

const pb::RangeResponse& RangeAt(const pb::TxnResponse& response, int index) {
  if (index < response.responses_size() && response.responses(index).has_response_range()) {
    return response.responses(index).response_range();
  }
  return pb::RangeResponse::default_instance();
}

std::vector<std::string> KeysAt(const pb::TxnResponse& response, int index) {
  std::vector<std::string> keys;
  for (const mvccpb::KeyValue& kv : RangeAt(response, index).kvs()) keys.push_back(kv.key());
  return keys;
}

// The reads that describe a node, appended to `ops` (layout: counter, keys below, key).
void AppendNodeReads(const EtcdKeys& keys, const std::string& path,
                     google::protobuf::RepeatedPtrField<pb::RequestOp>* ops) {
  *ops->Add() = RangeOp(keys.CounterKey(path));
  *ops->Add() = RangeOp(keys.SubtreeBegin(path), keys.SubtreeEnd(path), /*keys_only=*/true);
  if (path != "/") *ops->Add() = RangeOp(keys.Key(path));
}

// The node from the reads AppendNodeReads() put at `first`; false if it does not exist.
bool NodeFromReads(const EtcdKeys& keys, const std::string& path, const pb::TxnResponse& response,
                   int first, NodeRead* read) {
  const int64_t cversion = CounterVersion(response, first);
  read->children = keys.ChildNames(path, KeysAt(response, first + 1));
  read->node.path = path;
  read->revision = response.header().revision();
  const pb::RangeResponse& key = RangeAt(response, first + 2);
  if (path != "/" && key.kvs_size() > 0) {
    read->node.data = key.kvs(0).value();
    read->node.stat = StatFromKeyValue(key.kvs(0), static_cast<int32_t>(cversion),
                                       static_cast<int32_t>(read->children.size()));
    return true;
  }
  if (path != "/" && read->children.empty()) return false;
  // The root, or an implicit directory: it exists because keys exist below it.
  read->node.stat = Stat();
  read->node.stat.cversion = static_cast<int32_t>(cversion);
  read->node.stat.num_children = static_cast<int32_t>(read->children.size());
  return true;
}

}  // namespace

pb::RequestOp RangeOp(std::string key, std::string end, bool keys_only, int64_t limit) {
  pb::RequestOp op;
  pb::RangeRequest* range = op.mutable_request_range();
  range->set_key(std::move(key));
  if (!end.empty()) range->set_range_end(std::move(end));
  range->set_keys_only(keys_only);
  range->set_limit(limit);
  return op;
}

int64_t CounterVersion(const pb::TxnResponse& response, int index) {
  const pb::RangeResponse& range = RangeAt(response, index);
  return range.kvs_size() > 0 ? range.kvs(0).version() : 0;
}

pb::TxnRequest ReadNodeTxn(const EtcdKeys& keys, const std::string& path) {
  pb::TxnRequest txn;
  AppendNodeReads(keys, path, txn.mutable_success());
  return txn;
}

absl::StatusOr<NodeRead> ParseReadNode(const EtcdKeys& keys, const std::string& path,
                                       absl::string_view op, const pb::TxnResponse& response) {
  NodeRead read;
  if (!NodeFromReads(keys, path, response, 0, &read)) {
    return absl::NotFoundError(absl::StrCat(op, " '", path, "': node does not exist"));
  }
  return read;
}

pb::TxnRequest CreateTxn(const EtcdKeys& keys, const CreateTxnOptions& options) {
  const std::string parent = ParentPath(options.path);
  const std::string key = keys.Key(options.path);
  pb::TxnRequest txn;
  *txn.add_compare() = Compare(pb::Compare::CREATE, pb::Compare::EQUAL, key, 0);
  if (parent != "/" && options.implicit_parent) {
    *txn.add_compare() = Compare(pb::Compare::CREATE, pb::Compare::EQUAL, keys.Key(parent), 0);
    *txn.add_compare() = Compare(pb::Compare::CREATE, pb::Compare::GREATER,
                                 keys.SubtreeBegin(parent), 0, keys.SubtreeEnd(parent));
  } else if (parent != "/") {
    *txn.add_compare() = Compare(pb::Compare::CREATE, pb::Compare::GREATER, keys.Key(parent), 0);
    *txn.add_compare() = Compare(pb::Compare::LEASE, pb::Compare::EQUAL, keys.Key(parent), 0);
  }
  if (options.sequence >= 0) {
    *txn.add_compare() = Compare(pb::Compare::VERSION, pb::Compare::EQUAL, keys.CounterKey(parent),
                                 options.sequence);
  }
  *txn.add_success() = PutOp(key, options.data, options.lease, /*ignore_lease=*/false);
  *txn.add_success() = PutOp(keys.CounterKey(parent), "", 0, /*ignore_lease=*/false);
  *txn.add_success() = DeleteOp(keys.CounterKey(options.path));
  // Failure layout: key, parent key, one key below the parent, parent counter.
  *txn.add_failure() = RangeOp(key, "", /*keys_only=*/true);
  *txn.add_failure() = RangeOp(parent == "/" ? key : keys.Key(parent), "", /*keys_only=*/true);
  *txn.add_failure() = RangeOp(keys.SubtreeBegin(parent), keys.SubtreeEnd(parent),
                               /*keys_only=*/true, /*limit=*/1);
  *txn.add_failure() = RangeOp(keys.CounterKey(parent), "", /*keys_only=*/true);
  return txn;
}

CreateFailure ParseCreateFailure(const std::string& path, const pb::TxnResponse& response) {
  CreateFailure failure;
  failure.exists = RangeAt(response, 0).kvs_size() > 0;
  if (ParentPath(path) == "/") {
    failure.parent_exists = true;
  } else if (RangeAt(response, 1).kvs_size() > 0) {
    failure.parent_exists = true;
    failure.parent_lease = RangeAt(response, 1).kvs(0).lease();
  }
  failure.parent_has_children = RangeAt(response, 2).kvs_size() > 0;
  failure.counter_version = CounterVersion(response, 3);
  return failure;
}

pb::TxnRequest SetTxn(const EtcdKeys& keys, const std::string& path, const std::string& data,
                      int32_t expected_version) {
  const std::string key = keys.Key(path);
  pb::TxnRequest txn;
  *txn.add_compare() = Compare(pb::Compare::CREATE, pb::Compare::GREATER, key, 0);
  if (expected_version != Registry::kAnyVersion) {
    *txn.add_compare() =
        Compare(pb::Compare::VERSION, pb::Compare::EQUAL, key, int64_t{expected_version} + 1);
  }
  *txn.add_success() = PutOp(key, data, 0, /*ignore_lease=*/true);
  AppendNodeReads(keys, path, txn.mutable_success());
  *txn.add_failure() = RangeOp(key, "", /*keys_only=*/true);
  return txn;
}

absl::StatusOr<Stat> ParseSet(const EtcdKeys& keys, const std::string& path,
                              const pb::TxnResponse& response) {
  if (response.succeeded()) {
    NodeRead read;
    if (!NodeFromReads(keys, path, response, 1, &read)) {
      return absl::NotFoundError(absl::StrCat("set '", path, "': node does not exist"));
    }
    return read.node.stat;
  }
  const pb::RangeResponse& key = RangeAt(response, 0);
  if (key.kvs_size() == 0) {
    return absl::NotFoundError(absl::StrCat("set '", path, "': node does not exist"));
  }
  return absl::AbortedError(absl::StrCat("set '", path, "': the node's version is ",
                                         key.kvs(0).version() - 1, ", not the one expected"));
}

pb::TxnRequest DeleteTxn(const EtcdKeys& keys, const std::string& path, int32_t expected_version) {
  const std::string key = keys.Key(path);
  pb::TxnRequest txn;
  *txn.add_compare() = Compare(pb::Compare::CREATE, pb::Compare::GREATER, key, 0);
  if (expected_version != Registry::kAnyVersion) {
    *txn.add_compare() =
        Compare(pb::Compare::VERSION, pb::Compare::EQUAL, key, int64_t{expected_version} + 1);
  }
  *txn.add_compare() = Compare(pb::Compare::CREATE, pb::Compare::EQUAL, keys.SubtreeBegin(path), 0,
                               keys.SubtreeEnd(path));
  *txn.add_success() = DeleteOp(key);
  *txn.add_success() = DeleteOp(keys.CounterKey(path));
  *txn.add_failure() = RangeOp(key, "", /*keys_only=*/true);
  *txn.add_failure() =
      RangeOp(keys.SubtreeBegin(path), keys.SubtreeEnd(path), /*keys_only=*/true, /*limit=*/1);
  return txn;
}

absl::Status ParseDelete(const std::string& path, const pb::TxnResponse& response) {
  if (response.succeeded()) return absl::OkStatus();
  if (RangeAt(response, 0).kvs_size() == 0) {
    return absl::NotFoundError(absl::StrCat("delete '", path, "': node does not exist"));
  }
  if (RangeAt(response, 1).kvs_size() > 0) {
    return absl::FailedPreconditionError(absl::StrCat("delete '", path, "': node has children"));
  }
  return absl::AbortedError(absl::StrCat("delete '", path, "': the node's version is ",
                                         RangeAt(response, 0).kvs(0).version() - 1,
                                         ", not the one expected"));
}

}  // namespace roster::registry
