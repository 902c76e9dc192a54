// ArenaMessageAllocator: every call gets empty messages on an arena, a finished call's holder
// serves the next call with its arena reset, on whichever thread takes it, and no more than
// kMaxIdleHolders are kept.
#include "server/arena_message_allocator.h"

#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "roster/v1/roster.pb.h"

namespace roster::server {
namespace {

using Allocator = ArenaMessageAllocator<v1::SelectWorkerRequest, v1::SelectWorkerResponse>;
using Holder = grpc::MessageHolder<v1::SelectWorkerRequest, v1::SelectWorkerResponse>;

// Fills a call's messages as SelectWorker does, past the holder's inner block.
void Fill(Holder* holder) {
  holder->request()->set_group("g1");
  for (int i = 0; i < 100; ++i) {
    v1::Candidate* candidate = holder->response()->add_candidates();
    candidate->set_address("10.0.0.1:1234");
    candidate->set_skipped("OVERLOAD (allow_overload is off)");
  }
}

TEST(ArenaMessageAllocatorTest, AFinishedCallsHolderServesTheNextCallWithEmptyMessages) {
  Allocator allocator;
  Holder* first = allocator.AllocateMessages();
  ASSERT_NE(first->request()->GetArena(), nullptr);
  EXPECT_EQ(first->response()->GetArena(), first->request()->GetArena());
  Fill(first);
  first->Release();
  EXPECT_EQ(allocator.idle(), 1u);

  Holder* second = allocator.AllocateMessages();
  EXPECT_EQ(second, first);
  EXPECT_EQ(allocator.idle(), 0u);
  EXPECT_EQ(second->request()->ByteSizeLong(), 0u);
  EXPECT_EQ(second->response()->ByteSizeLong(), 0u);
  EXPECT_NE(second->response()->GetArena(), nullptr);
  Fill(second);
  EXPECT_EQ(second->response()->candidates_size(), 100);
  second->Release();
}

// gRPC runs a call on whichever of its threads is free: a holder released by one thread and
// taken by another must still fill its answer from the inner block, not from a block of its own
// for the new thread (a malloc and a free of 8 KiB per call).
TEST(ArenaMessageAllocatorTest, AHolderTakenOnAnotherThreadFillsFromItsInnerBlock) {
  Allocator allocator;
  // Small answers, as SelectWorker's: they fit the inner block.
  auto fill_small = [](Holder* holder) {
    holder->request()->set_group("g1");
    holder->response()->set_rule("RoundRobin (DolphinScheduler 3.3)");
    holder->response()->mutable_meta()->set_version(7);
    holder->response()->mutable_meta()->set_instance_id("5f0c2a9e-rosterd-instance");
  };
  Holder* holder = allocator.AllocateMessages();
  fill_small(holder);
  const size_t one_thread = Allocator::SpaceAllocated(holder);
  holder->Release();
  for (int call = 0; call < 3; ++call) {
    // Taken, filled and released on a thread of its own each time.
    std::thread([&] {
      Holder* taken = allocator.AllocateMessages();
      EXPECT_EQ(taken, holder);
      EXPECT_EQ(taken->response()->ByteSizeLong(), 0u);
      fill_small(taken);
      EXPECT_EQ(Allocator::SpaceAllocated(taken), one_thread) << "call " << call;
      taken->Release();
    }).join();
  }
}

TEST(ArenaMessageAllocatorTest, AnIdleHolderKeepsOnlyItsInnerBlock) {
  Allocator allocator;
  Holder* holder = allocator.AllocateMessages();
  const size_t inner = Allocator::SpaceAllocated(holder);
  Fill(holder);  // past the inner block
  EXPECT_GT(Allocator::SpaceAllocated(holder), inner);
  holder->Release();
  EXPECT_EQ(Allocator::SpaceAllocated(holder), inner);
}

TEST(ArenaMessageAllocatorTest, CallsInFlightGetHoldersOfTheirOwnAndTheIdleOnesAreBounded) {
  Allocator allocator;
  std::vector<Holder*> in_flight;
  std::set<Holder*> distinct;
  const size_t calls = Allocator::kMaxIdleHolders + 16;
  for (size_t i = 0; i < calls; ++i) {
    in_flight.push_back(allocator.AllocateMessages());
    distinct.insert(in_flight.back());
    Fill(in_flight.back());
  }
  EXPECT_EQ(distinct.size(), calls);
  for (Holder* holder : in_flight) holder->Release();
  EXPECT_EQ(allocator.idle(), Allocator::kMaxIdleHolders);
}

}  // namespace
}  // namespace roster::server
