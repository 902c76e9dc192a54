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
// A finished call's holder is kept for the next call (up to kMaxIdleHolders): a call then
// allocates no holder either. A holder is over 2 KiB, a size glibc serves from its large bins,
// and allocating one per call consolidated the small free chunks every time (malloc_consolidate
// and unlink_chunk stood out in a profile of SelectWorker in the 10k scenario; docs/scale.md,
// "SelectWorker").
//
// A holder's arena is reset when a call takes it, on the thread that fills it, and not when the
// last call released it: a protobuf arena gives each thread that allocates on it a block of its
// own, and only the thread that last reset it gets the inner block. Reset by the releasing
// thread, a holder that the next call filled on another of gRPC's threads cost that call a
// start block (8 KiB) from malloc and its free, the large-bin request that consolidates the
// small free chunks (tests/server/arena_message_allocator_test.cc).
//
// Thread-safety: thread-safe (every call gets its own holder and arena; the idle holders are
// behind a mutex).
#pragma once

#include <google/protobuf/arena.h>
#include <grpcpp/support/message_allocator.h>

#include <cstddef>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace roster::server {

template <typename Request, typename Response>
class ArenaMessageAllocator final : public grpc::MessageAllocator<Request, Response> {
 public:
  ArenaMessageAllocator() = default;
  ArenaMessageAllocator(const ArenaMessageAllocator&) = delete;
  ArenaMessageAllocator& operator=(const ArenaMessageAllocator&) = delete;
  // gRPC releases every holder before the service that owns this allocator goes.
  ~ArenaMessageAllocator() override {
    for (Holder* holder : idle_) delete holder;
  }

  grpc::MessageHolder<Request, Response>* AllocateMessages() override {
    Holder* holder = nullptr;
    {
      absl::MutexLock lock(&mu_);
      if (!idle_.empty()) {
        holder = idle_.back();
        idle_.pop_back();
      }
    }
    if (holder == nullptr) return new Holder(this);
    holder->Reset();
    return holder;
  }

  // Holders kept idle, at most: about the calls in flight at once on one method.
  static constexpr size_t kMaxIdleHolders = 64;

  // How many holders are idle (for tests).
  size_t idle() const {
    absl::MutexLock lock(&mu_);
    return idle_.size();
  }

  // The bytes the arena of a holder this allocator handed out holds (for tests).
  static size_t SpaceAllocated(const grpc::MessageHolder<Request, Response>* holder) {
    return static_cast<const Holder*>(holder)->SpaceAllocated();
  }

 private:
  // Enough for a SelectWorker answer (one Node and ViewMeta) without another allocation.
  static constexpr size_t kInitialBlockBytes = 2048;
  // Later blocks, for the larger answers (a group's members, the whole view).
  static constexpr size_t kBlockBytes = 8192;

  class Holder final : public grpc::MessageHolder<Request, Response> {
   public:
    explicit Holder(ArenaMessageAllocator* owner) : owner_(owner), arena_(Options(initial_block_)) {
      CreateMessages();
    }
    void Release() override { owner_->Recycle(this); }

    // Frees the messages and every block but the inner one, and creates new messages; the
    // calling thread's allocations then go to the inner block.
    void Reset() {
      arena_.Reset();
      CreateMessages();
    }
    // Frees every block but the inner one while the holder is idle (its messages go too, until
    // Reset()).
    void Shrink() {
      if (arena_.SpaceAllocated() > kInitialBlockBytes) arena_.Reset();
    }
    size_t SpaceAllocated() const { return arena_.SpaceAllocated(); }

   private:
    static google::protobuf::ArenaOptions Options(char* initial_block) {
      google::protobuf::ArenaOptions options;
      options.initial_block = initial_block;
      options.initial_block_size = kInitialBlockBytes;
      options.start_block_size = kBlockBytes;
      options.max_block_size = kBlockBytes * 4;
      return options;
    }

    void CreateMessages() {
      this->set_request(google::protobuf::Arena::CreateMessage<Request>(&arena_));
      this->set_response(google::protobuf::Arena::CreateMessage<Response>(&arena_));
    }

    ArenaMessageAllocator* const owner_;
    // Declared before the arena: it must outlive it.
    alignas(std::max_align_t) char initial_block_[kInitialBlockBytes];
    google::protobuf::Arena arena_;
  };

  // A finished call's holder: kept, its larger blocks freed (outside the lock), or deleted.
  void Recycle(Holder* holder) {
    holder->Shrink();
    {
      absl::MutexLock lock(&mu_);
      if (idle_.size() < kMaxIdleHolders) {
        idle_.push_back(holder);
        return;
      }
    }
    delete holder;
  }

  mutable absl::Mutex mu_;
  std::vector<Holder*> idle_ ABSL_GUARDED_BY(mu_);
};

}  // namespace roster::server
