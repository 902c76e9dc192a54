// EtcdTxnQueue: EtcdRegistry's transactions, in ZooKeeper's order. A ZooKeeper client's
// requests are applied and answered in the order it sent them; etcd serves the concurrent
// calls of one channel in any order. The queue gives back that order:
//  - a write (any transaction that is not only ranges) starts once every earlier transaction
//    has been answered, and nothing starts while it is outstanding, so one registry's writes
//    apply in the order they were submitted and a read sees every earlier write;
//  - reads are pipelined, at most `max_in_flight` at once (RegistryOptions::max_in_flight);
//  - answers are delivered in submission order, whatever order they arrive in.
//
// Thread-safety: confined to the registry executor (Submit and the sender's completions).
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"

namespace roster::registry {

class EtcdTxnQueue {
 public:
  using Done = absl::AnyInvocable<void(grpc::Status, etcdserverpb::TxnResponse) &&>;
  // Starts the call; runs `done` later, on the executor.
  using Sender = std::function<void(etcdserverpb::TxnRequest, Done)>;

  EtcdTxnQueue(int max_in_flight, Sender sender)
      : max_in_flight_(max_in_flight < 1 ? 1 : max_in_flight), sender_(std::move(sender)) {}

  void Submit(etcdserverpb::TxnRequest request, Done done);

  // A transaction that changes nothing.
  static bool ReadOnly(const etcdserverpb::TxnRequest& request);

 private:
  struct Queued {
    etcdserverpb::TxnRequest request;
    bool write = false;
    Done done;
  };
  struct Issued {
    Done done;
    bool write = false;
    std::optional<std::pair<grpc::Status, etcdserverpb::TxnResponse>> result;
  };

  void Pump();
  void Arrived(uint64_t sequence, grpc::Status status, etcdserverpb::TxnResponse response);
  void Deliver();

  const int max_in_flight_;
  const Sender sender_;
  std::deque<Queued> queued_;
  std::map<uint64_t, Issued> issued_;  // by sequence: delivered in this order
  uint64_t next_sequence_ = 1;
  int reads_in_flight_ = 0;
  bool write_in_flight_ = false;
  bool delivering_ = false;
};

}  // namespace roster::registry
