#include "registry/etcd/etcd_txn_queue.h"

namespace roster::registry {
namespace {

bool AllRanges(const google::protobuf::RepeatedPtrField<etcdserverpb::RequestOp>& ops) {
  for (const etcdserverpb::RequestOp& op : ops) {
    if (!op.has_request_range()) return false;
  }
  return true;
}

}  // namespace

bool EtcdTxnQueue::ReadOnly(const etcdserverpb::TxnRequest& request) {
  return AllRanges(request.success()) && AllRanges(request.failure());
}

void EtcdTxnQueue::Submit(etcdserverpb::TxnRequest request, Done done) {
  const bool write = !ReadOnly(request);
  queued_.push_back(Queued{std::move(request), write, std::move(done)});
  Pump();
}

void EtcdTxnQueue::Pump() {
  while (!queued_.empty() && !write_in_flight_) {
    Queued& next = queued_.front();
    if (next.write ? reads_in_flight_ > 0 : reads_in_flight_ >= max_in_flight_) return;
    Queued request = std::move(next);
    queued_.pop_front();
    const uint64_t sequence = next_sequence_++;
    issued_.emplace(sequence, Issued{std::move(request.done), request.write, std::nullopt});
    if (request.write) {
      write_in_flight_ = true;
    } else {
      ++reads_in_flight_;
    }
    sender_(std::move(request.request),
            [this, sequence](grpc::Status status, etcdserverpb::TxnResponse response) {
              Arrived(sequence, std::move(status), std::move(response));
            });
  }
}

void EtcdTxnQueue::Arrived(uint64_t sequence, grpc::Status status,
                           etcdserverpb::TxnResponse response) {
  auto it = issued_.find(sequence);
  if (it == issued_.end()) return;
  if (it->second.write) {
    write_in_flight_ = false;
  } else {
    --reads_in_flight_;
  }
  it->second.result.emplace(std::move(status), std::move(response));
  Deliver();
  Pump();
}

void EtcdTxnQueue::Deliver() {
  if (delivering_) return;  // a callback submitted more; the outer loop continues
  delivering_ = true;
  while (!issued_.empty() && issued_.begin()->second.result.has_value()) {
    Issued issued = std::move(issued_.begin()->second);
    issued_.erase(issued_.begin());
    std::move(issued.done)(std::move(issued.result->first), std::move(issued.result->second));
  }
  delivering_ = false;
}

}  // namespace roster::registry
