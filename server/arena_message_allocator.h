// ArenaMessageAllocator: the request and response of a callback unary RPC on one protobuf
// Arena, released in one go when the call is done. Installed by RosterService on its lookups.
//
// The answers rosterd builds are trees of small messages and strings (a GetWorkerGroup answer
// is a Node per member, each with a Heartbeat, an Incarnation, a Timestamp, a Duration and
// repeated strings). With gRPC's default holder each of those is a malloc when the response is
// filled and a free when it is destroyed, which was most of a lookup's server-side CPU in
// tests/bench/grpc_bench.cc. On an arena they are bump allocations, and the first few KiB
// come from a block inside the holder itself.
//
// Thread-safety: thread-safe (every call gets its own holder and arena).
#pragma once

#include <google/protobuf/arena.h>
#include <grpcpp/support/message_allocator.h>

#include <cstddef>

namespace roster::server {

template <typename Request, typename Response>
class ArenaMessageAllocator final : public grpc::MessageAllocator<Request, Response> {
 public:
  grpc::MessageHolder<Request, Response>* AllocateMessages() override { return new Holder(); }

 private:
  // Enough for a SelectWorker answer (one Node and ViewMeta) without another allocation.
  static constexpr size_t kInitialBlockBytes = 2048;
  // Later blocks, for the larger answers (a group's members, the whole view).
  static constexpr size_t kBlockBytes = 8192;

  class Holder final : public grpc::MessageHolder<Request, Response> {
   public:
    Holder() : arena_(Options(initial_block_)) {
      this->set_request(google::protobuf::Arena::CreateMessage<Request>(&arena_));
      this->set_response(google::protobuf::Arena::CreateMessage<Response>(&arena_));
    }
    void Release() override { delete this; }

   private:
    static google::protobuf::ArenaOptions Options(char* initial_block) {
      google::protobuf::ArenaOptions options;
      options.initial_block = initial_block;
      options.initial_block_size = kInitialBlockBytes;
      options.start_block_size = kBlockBytes;
      options.max_block_size = kBlockBytes * 4;
      return options;
    }

    // Declared before the arena: it must outlive it.
    alignas(std::max_align_t) char initial_block_[kInitialBlockBytes];
    google::protobuf::Arena arena_;
  };
};

}  // namespace roster::server
